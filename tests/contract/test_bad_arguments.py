"""Bad arguments to a repository get a ValidationError naming them, on every adapter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pendulum
import pytest

import crmkit
from crmkit.customers import Customer, CustomerRegistered, Interaction, InteractionKind
from crmkit.errors import ValidationError

_YEAR_1_EAST = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
_YEAR_9999_WEST = dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))

CALLS: list[tuple[str, Callable[[Any], object], str]] = [
    ("get by a string", lambda uow: uow.customers.get("C-1"), "customer_id"),
    ("get by None", lambda uow: uow.customers.get(None), "customer_id"),
    (
        "get_many with a bad id",
        lambda uow: uow.customers.get_many([crmkit.new_id(), 7]),
        "customer_ids[1]",
    ),
    ("by_code with a number", lambda uow: uow.customers.by_code(17), "code"),
    ("by_owner with None", lambda uow: uow.customers.by_owner(None), "owner_id"),
    ("by_owner after a code", lambda uow: uow.customers.by_owner("li", after="C-1"), "after"),
    ("by_owner limit as text", lambda uow: uow.customers.by_owner("li", limit="9"), "limit"),
    ("by_phone with national digits", lambda uow: uow.customers.by_phone("13912345678"), "phone"),
    ("by_phone with a number", lambda uow: uow.customers.by_phone(8613912345678), "phone"),
    ("by_email without @", lambda uow: uow.customers.by_email("li.ming"), "email"),
    ("by_email with None", lambda uow: uow.customers.by_email(None), "email"),
    ("page after a string", lambda uow: uow.customers.page(after="x"), "after"),
    ("add a dict", lambda uow: uow.customers.add({"name": "x"}), ""),
    ("remove an id", lambda uow: uow.customers.remove(crmkit.new_id()), ""),
    ("remove an interaction's id", lambda uow: uow.interactions.remove(crmkit.new_id()), ""),
    ("interaction by a string", lambda uow: uow.interactions.get("x"), "interaction_id"),
    ("timeline of a number", lambda uow: uow.interactions.for_customer(3), "customer_id"),
    (
        "timeline since a naive string",
        lambda uow: uow.interactions.for_customer(crmkit.new_id(), since="2026-01-01"),
        "since",
    ),
    # Each of these once escaped as OverflowError or TypeError.
    ("page of 2**64", lambda uow: uow.customers.page(limit=2**64), "limit"),
    ("by_owner limit 2**64", lambda uow: uow.customers.by_owner("li", limit=2**64), "limit"),
    ("page of a huge negative", lambda uow: uow.customers.page(limit=-(10**5000)), "limit"),
    ("add_many of None", lambda uow: uow.customers.add_many(None), "customers"),
    ("add_many of a dict", lambda uow: uow.customers.add_many({"name": "x"}), "customers"),
    (
        "timeline since year 1 east of UTC",
        lambda uow: uow.interactions.for_customer(crmkit.new_id(), since=_YEAR_1_EAST),
        "since",
    ),
    (
        "timeline until the end of 9999 west of UTC",
        lambda uow: uow.interactions.for_customer(crmkit.new_id(), until=_YEAR_9999_WEST),
        "until",
    ),
]


@pytest.mark.parametrize(("what", "call", "path"), CALLS, ids=[c[0] for c in CALLS])
def test_a_bad_argument_is_named_and_spoils_nothing(
    crm: crmkit.CRM, what: str, call: Callable[[Any], object], path: str
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError) as caught:
            call(uow)
        assert [i.path for i in caught.value.issues] == [path]
        assert uow.customers.count() == 0  # the unit of work still works


# The calls are typed loosely on purpose: each passes what the signature forbids.
FACADE: list[tuple[str, Callable[[Any], object], list[str]]] = [
    ("subscribe to a name", lambda crm: crm.subscribe("CustomerRegistered", print), ["kind"]),
    ("subscribe a number", lambda crm: crm.subscribe(CustomerRegistered, 3), ["handler"]),
    (
        "a string connection",
        lambda crm: crm.unit_of_work(actor="li", connection="c"),
        ["connection"],
    ),
    ("read_only as text", lambda crm: crm.unit_of_work(actor="li", read_only="yes"), ["read_only"]),
    ("run a number", lambda crm: crm.run(3, actor="li"), ["work"]),
    (
        "read_only a huge integer",
        lambda crm: crm.unit_of_work(actor="li", read_only=10**5000),
        ["read_only"],
    ),
    (
        "attempts a huge negative",
        lambda crm: crm.run(lambda uow: None, actor="li", attempts=-(10**5000)),
        ["attempts"],
    ),
    ("a blank tenant", lambda crm: crm.unit_of_work(actor="li", tenant=" "), ["tenant"]),
    ("record a non-event", lambda crm: _record(crm, int, x=1), ["kind"]),
    (
        "record with wrong fields",
        lambda crm: _record(crm, CustomerRegistered, id=1, foo=2, owner_id="li"),
        ["id", "foo", "customer_id"],
    ),
]


def _record(crm: crmkit.CRM, kind: Any, **fields: Any) -> object:
    with crm.unit_of_work(actor="li") as uow:
        return uow.record(kind, **fields)


@pytest.mark.parametrize(("what", "call", "paths"), FACADE, ids=[c[0] for c in FACADE])
def test_a_bad_argument_to_the_crm_is_named(
    crm: crmkit.CRM, what: str, call: Callable[[Any], object], paths: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        call(crm)
    assert [i.path for i in caught.value.issues] == paths
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 0  # nothing half-done


def test_timeline_bounds_beyond_what_a_store_holds_bound_nothing(crm: crmkit.CRM) -> None:
    customer = Customer(name="Acme", owner_id="li")
    entries = [
        Interaction(
            customer_id=customer.id,
            kind=InteractionKind.NOTE,
            occurred_at=crmkit.to_utc(at),
            actor_id="li",
            summary="edge",
        )
        for at in ("1000-01-01T00:00:00Z", "9999-12-30T23:59:59.999999Z")
    ]
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        for entry in entries:
            uow.interactions.add(entry)
    first = pendulum.datetime(1, 1, 1)
    last = pendulum.datetime(9999, 12, 31, 23, 59, 59, 999999)
    with crm.unit_of_work(actor="li") as uow:
        timeline = uow.interactions.for_customer
        assert timeline(customer.id, since=first, until=last) == entries
        assert timeline(customer.id, since=last) == []
        assert timeline(customer.id, until=first) == []
        assert timeline(customer.id, until=entries[0].occurred_at) == []


def test_a_bad_clock_or_schema_is_refused_when_opening() -> None:
    with pytest.raises(ValidationError, match="clock: must be a Clock"):
        crmkit.open("memory://", clock="now")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="custom_fields: must be a CustomFieldSchema"):
        crmkit.open("memory://", custom_fields={"segment": "text"})  # type: ignore[arg-type]
