"""What the domain accepts, a store can hold; and bad input is refused with crmkit's own errors.

Named examples of issue 14: each was accepted and then failed in a store, or escaped as a raw
builtin exception. `test_fuzz_domain.py` looks for more of the same.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pendulum
import pytest

import crmkit
from crmkit import EmailAddress, FixedClock, Money, from_dict, to_dict, to_utc
from crmkit._validation import recheck
from crmkit.customers import (
    Anniversary,
    Contact,
    Customer,
    CustomField,
    CustomFieldSchema,
    CustomValue,
    DoNotContact,
    FieldType,
    Interaction,
    InteractionKind,
    Tier,
)
from crmkit.customers._model import MAX_VERSION
from crmkit.errors import CrmkitError, ValidationError

NOON = dt.datetime(2026, 3, 8, 12, tzinfo=dt.UTC)
HUGE = 10**5000  # str() and repr() of it raise ValueError


def test_a_custom_value_must_be_a_date_not_a_datetime() -> None:
    with pytest.raises(
        ValidationError, match="custom_fields.signed: must be a date, not a datetime"
    ):
        Customer(name="Acme", owner_id="li", custom_fields={"signed": NOON})
    customer = Customer(name="Acme", owner_id="li", custom_fields={"signed": NOON.date()})
    with pytest.raises(ValidationError, match="custom_fields.signed: must be a date"):
        customer.custom_fields = {"signed": pendulum.instance(NOON)}
    customer.custom_fields["signed"] = NOON  # not seen until the customer is checked again
    assert [str(i) for i in recheck(customer)] == [
        "custom_fields.signed: must be a date, not a datetime (a custom field holds no time of day)"
    ]
    field = CustomField(name="signed", type=FieldType.DATE)
    assert (
        field.problem(NOON)
        == "must be a date, not a datetime (a custom field holds no time of day)"
    )
    assert field.problem(pendulum.date(2026, 3, 8)) is None


SURROGATE = "li\ud800na"

TEXT_FIELDS: list[tuple[str, Any]] = [
    ("", lambda: EmailAddress("li\ud800@example.com")),
    ("", lambda: EmailAddress("li@exa\udfffmple.com")),
    ("name", lambda: Contact(name=SURROGATE)),
    ("title", lambda: Contact(name="Li", title=SURROGATE)),
    ("name", lambda: Customer(name=SURROGATE, owner_id="li")),
    ("owner_id", lambda: Customer(name="Acme", owner_id=SURROGATE)),
    ("code", lambda: Customer(name="Acme", owner_id="li", code=SURROGATE)),
    ("source", lambda: Customer(name="Acme", owner_id="li", source=SURROGATE)),
    ("tags[0]", lambda: Customer(name="Acme", owner_id="li", tags={SURROGATE})),
    ("preferences[0]", lambda: Customer(name="Acme", owner_id="li", preferences=[SURROGATE])),
    ("timezone", lambda: Customer(name="Acme", owner_id="li", timezone=SURROGATE)),
    ("custom_fields.x", lambda: Customer(name="A", owner_id="li", custom_fields={"x": SURROGATE})),
    ("custom_fields", lambda: Customer(name="A", owner_id="li", custom_fields={SURROGATE: 1})),
    ("code", lambda: Tier(code=SURROGATE)),
    ("service_level", lambda: Tier(code="A", service_level=SURROGATE)),
    ("label", lambda: Anniversary(label=SURROGATE, date=dt.date(2020, 1, 1))),
    (
        "reason",
        lambda: DoNotContact(
            start=pendulum.instance(NOON),
            end=pendulum.instance(NOON).add(days=1),
            reason=SURROGATE,
        ),
    ),
    ("name", lambda: CustomField(name=SURROGATE, type=FieldType.TEXT)),
    ("label", lambda: CustomField(name="x", type=FieldType.TEXT, label=SURROGATE)),
    ("choices[0]", lambda: CustomField(name="x", type=FieldType.CHOICE, choices=[SURROGATE])),
    (
        "actor_id",
        lambda: Interaction(
            customer_id=uuid4(),
            kind=InteractionKind.CALL,
            occurred_at=pendulum.instance(NOON),
            actor_id=SURROGATE,
            summary="called",
        ),
    ),
    (
        "summary",
        lambda: Interaction(
            customer_id=uuid4(),
            kind=InteractionKind.CALL,
            occurred_at=pendulum.instance(NOON),
            actor_id="li",
            summary=SURROGATE,
        ),
    ),
    ("tenant", lambda: crmkit.open("memory://", tenant=SURROGATE)),
    ("actor", lambda: crmkit.open("memory://").unit_of_work(actor=SURROGATE)),
]


@pytest.mark.parametrize(("path", "build"), TEXT_FIELDS)
def test_unpaired_surrogates_are_refused_in_every_text_field(path: str, build: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        build()
    [issue] = caught.value.issues
    assert issue.path.startswith(path)
    assert "surrogate" in issue.problem or "not an email address" in issue.problem


@pytest.mark.parametrize(
    "value", [2**63, -(2**63) - 1, HUGE, -HUGE], ids=["2**63", "-2**63-1", "huge", "-huge"]
)
def test_custom_integers_must_fit_64_bits(value: int) -> None:
    with pytest.raises(ValidationError, match=r"custom_fields.n: .* is out of range; it must be"):
        Customer(name="Acme", owner_id="li", custom_fields={"n": value})
    field = CustomField(name="n", type=FieldType.INTEGER)
    assert "out of range" in (field.problem(value) or "")
    edges: dict[str, CustomValue] = {"low": -(2**63), "high": 2**63 - 1}
    assert Customer(name="Acme", owner_id="li", custom_fields=edges).custom_fields == edges


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Decimal("NaN"), "NaN is not a finite number"),
        (Decimal("sNaN"), "sNaN is not a finite number"),
        (Decimal("-Infinity"), "-Infinity is not a finite number"),
        (Decimal("1" * 101), "has more than 100 digits"),
    ],
)
def test_custom_decimals_must_be_finite_and_of_bounded_size(value: Decimal, problem: str) -> None:
    with pytest.raises(ValidationError, match=f"custom_fields.d: {problem}"):
        Customer(name="Acme", owner_id="li", custom_fields={"d": value})


@pytest.mark.parametrize("cls", [Customer, Interaction])
def test_versions_must_fit_the_stores_version_column(cls: type) -> None:
    kwargs: dict[str, Any] = (
        {"name": "Acme", "owner_id": "li"}
        if cls is Customer
        else {
            "customer_id": uuid4(),
            "kind": InteractionKind.NOTE,
            "occurred_at": pendulum.instance(NOON),
            "actor_id": "li",
            "summary": "noted",
        }
    )
    assert cls(**kwargs, version=MAX_VERSION).version == MAX_VERSION
    for bad in (MAX_VERSION + 1, 2**63, HUGE):
        with pytest.raises(ValidationError, match="version: .* is out of range"):
            cls(**kwargs, version=bad)
    entity = cls(**kwargs)
    with pytest.raises(ValidationError, match="version: .* is out of range"):
        entity.version = HUGE


@pytest.mark.parametrize(
    "call",
    [
        lambda: to_utc("0001-01-01T00:00:00+01:00"),
        lambda: to_utc(dt.datetime.max.replace(tzinfo=dt.timezone(-dt.timedelta(hours=1)))),
        lambda: FixedClock("0001-01-01T00:30:00+01:00"),
        lambda: FixedClock("9999-12-31T00:00:00Z").advance(days=1),
        lambda: FixedClock("2026-01-01T00:00:00Z").advance(days=10**20),
        lambda: FixedClock("2026-01-01T00:00:00Z").advance(seconds=float("nan")),
        lambda: FixedClock("2026-01-01T00:00:00Z").advance(hours="1"),  # type: ignore[arg-type]
        lambda: FixedClock("2026-01-01T00:00:00Z").set("9999-12-31T23:00:00-05:00"),
        lambda: from_dict(
            {
                "customer_id": str(uuid4()),
                "kind": "call",
                "occurred_at": "0001-01-01T00:00:00+01:00",
                "actor_id": "li",
                "summary": "called",
            },
            Interaction,
        ),
        lambda: from_dict({"name": "Acme", "owner_id": "li", "kind": HUGE}, Customer),
        lambda: from_dict({"name": "Acme", "owner_id": "li", HUGE: 1}, Customer),
        lambda: from_dict({"amount": "1", "currency": "CNY", None: 1, False: 2}, Money),
        lambda: from_dict({}, object),
        lambda: from_dict({}, Customer, phone_region=["CN"]),  # type: ignore[arg-type]
        lambda: to_dict({Tier(code="A"): 1}),
        lambda: CustomFieldSchema(None),
        lambda: CustomFieldSchema([1]),
        lambda: CustomFieldSchema([]).issues(None),  # type: ignore[arg-type]
        lambda: Customer(name="Acme", owner_id="li", timezone="America"),
        lambda: Customer(name="Acme", owner_id="li").contact(HUGE),  # type: ignore[arg-type]
        lambda: Customer(name="Acme", owner_id="li").add_contact(None),  # type: ignore[arg-type]
        lambda: Customer(name="Acme", owner_id="li").is_contactable(None),  # type: ignore[arg-type]
        lambda: Money(1, "CNY") + HUGE,  # type: ignore[operator]
        lambda: Money(1, "CNY") + "1",  # type: ignore[operator]
        lambda: "1" - Money(1, "CNY"),
        lambda: 1 / Money(1, "CNY"),
        lambda: Money(1, "CNY") * (10**100 + 1),
        lambda: Money("1.11", "CNY").multiply(Decimal("1E+999999999999999999")),
        lambda: Money(1, "CNY").allocate([Decimal("1E+101"), 1]),
        lambda: Money(1, "CNY").allocate([Decimal("1E-101"), 1]),
        lambda: Money("1.11", "CNY").multiply("1.5", rounding="nearest"),
        lambda: Money(1, "CNY").allocate(None),  # type: ignore[arg-type]
        lambda: Money.total([1], currency="CNY"),  # type: ignore[list-item]
        lambda: crmkit.open(HUGE),
        lambda: crmkit.open("memory://", create="yes"),  # type: ignore[arg-type]
        lambda: crmkit.CRM(None),  # type: ignore[arg-type]
        lambda: crmkit.open("memory://").run(lambda uow: None, actor="li", attempts=-HUGE),
        lambda: crmkit.open("memory://").run(lambda uow: None, actor="li", backoff=HUGE),
        lambda: crmkit.open("memory://").run(HUGE, actor="li"),  # type: ignore[arg-type]
        lambda: crmkit.open("memory://").unsubscribe([], print),  # type: ignore[arg-type]
    ],
)
def test_bad_input_raises_only_crmkit_errors(call: Any) -> None:
    with pytest.raises(CrmkitError):
        call()


def test_money_still_adds_up_exactly_with_long_factors_and_ratios() -> None:
    assert Money("1.11", "CNY").multiply(Decimal("1." + "0" * 100 + "1")) == Money("1.11", "CNY")
    # A difference in the 92nd digit of a ratio decides who gets the last cent; ties go first.
    slightly_more = Decimal("1." + "0" * 90 + "1")
    cent = Money("0.01", "CNY")
    assert cent.allocate([1, slightly_more]) == [Money(0, "CNY"), cent]
    assert cent.allocate([1, 1]) == [cent, Money(0, "CNY")]
    assert Money("10", "CNY").allocate([Decimal("0.1"), 1, 1]) == [
        Money("0.48", "CNY"),
        Money("4.76", "CNY"),
        Money("4.76", "CNY"),
    ]
    parts = Money("100", "CNY").allocate([10**100, 1])
    assert parts == [Money("100.00", "CNY"), Money("0.00", "CNY")]
