"""Whatever the domain accepts, every store reads back equal; what no store can hold is refused.

The values at the edges of what the domain accepts (64-bit integers, decimals with extreme
exponents, dates in years 1 and 9999, non-BMP text) round-trip on every backend; values beyond
them (wider integers, NaN, datetimes where dates are meant, unpaired surrogates) are refused with
a `ValidationError` before anything reaches a driver.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crmkit.customers import Customer, CustomValue
from crmkit.customers._model import MAX_VERSION
from crmkit.errors import ValidationError

from .conftest import Backend

EDGES: dict[str, CustomValue] = {
    "int_max": 2**63 - 1,
    "int_min": -(2**63),
    "huge_exponent": Decimal("1E+999999999999999999"),
    "tiny_exponent": Decimal("-1.5E-999999999999999999"),
    "hundred_digits": Decimal("9" * 98 + ".5"),
    "negative_zero": Decimal("-0.000"),
    "trailing_zeros": Decimal("12.3000"),
    "first_day": dt.date(1, 1, 1),
    "last_day": dt.date(9999, 12, 31),
    "text": "𠀀 😀 line\nbreak\ttab",
}


def test_edge_custom_values_read_back_equal_and_exact(backend: Backend) -> None:
    crm = backend.fresh()
    customer = Customer(name="Edges", owner_id="li", code="E-1", custom_fields=dict(EDGES))
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    with crm.unit_of_work(actor="li") as uow:
        stored = uow.customers.get(customer.id)
        [paged] = uow.customers.by_owner("li")
    assert stored == customer
    assert paged == customer
    for name, value in EDGES.items():
        # Equal is not enough for decimals (-0 == 0, 12.3 == 12.3000): the digits must survive.
        assert str(stored.custom_fields[name]) == str(value), name
        assert type(stored.custom_fields[name]) is type(value), name


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (2**63, "out of range"),
        (-(2**63) - 1, "out of range"),
        (10**5000, "out of range"),
        (Decimal("NaN"), "not a finite number"),
        (Decimal("-Infinity"), "not a finite number"),
        (Decimal("1" * 101), "more than 100 digits"),
        (dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC), "not a datetime"),
        ("li\ud800na", "unpaired surrogate"),
    ],
    ids=["2**63", "-2**63-1", "10**5000", "NaN", "-inf", "101 digits", "datetime", "surrogate"],
)
def test_values_no_store_holds_are_refused_before_the_write(
    backend: Backend, value: Any, problem: str
) -> None:
    crm = backend.fresh()
    customer = Customer(name="Acme", owner_id="li")
    customer.custom_fields["x"] = value  # a dict's content is checked when it is written
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError, match=f"custom_fields.x: .*{problem}"):
            uow.customers.add(customer)
        assert uow.customers.count() == 0
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 0


def test_a_version_beyond_the_column_is_refused(backend: Backend) -> None:
    crm = backend.fresh()
    customer = Customer(name="Acme", owner_id="li")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    with pytest.raises(ValidationError, match="version: .*out of range"):
        customer.version = MAX_VERSION + 1
    with pytest.raises(ValidationError, match="version: .*out of range"):
        customer.version = 2**63


@pytest.mark.parametrize("email", ["li\ud800@example.com", "li@exa\udfffmple.com"])
def test_a_lookup_with_a_lone_surrogate_is_refused(backend: Backend, email: str) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError, match="email: .*not an email address"):
            uow.customers.by_email(email)
        with pytest.raises(ValidationError, match="contains an unpaired surrogate"):
            uow.customers.by_code("C-\ud800")
        assert uow.customers.count() == 0  # the unit of work is still usable
    with pytest.raises(ValidationError, match="tenant: contains an unpaired surrogate"):
        crm.unit_of_work(actor="li", tenant="t\ud800")
    with pytest.raises(ValidationError, match="actor: contains an unpaired surrogate"):
        crm.unit_of_work(actor="li\ud800")
