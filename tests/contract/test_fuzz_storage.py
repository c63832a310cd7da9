"""Fuzz: hostile values through every public storage entry point raise only crmkit errors.

Each example seeds a customer with a timeline, then drives a few calls (repositories, the unit
of work, `crm.unit_of_work` and `crm.run`) with hostile values: None, wrong types, huge
integers, floats and NaN, lone surrogates, control characters, naive datetimes and aware ones
at years 1 and 9999, empty and very long text, bytes, and valid domain objects with one field
forced to such a value behind the domain's back. Only `CrmkitError` may come out. Afterwards the
store holds exactly what the unit of work wrote if it committed, and what it held before if it
did not: never a part.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from collections.abc import Callable
from typing import Any
from uuid import UUID

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit.customers import Customer, Interaction
from crmkit.errors import CrmkitError, NotFound
from crmkit.storage import UnitOfWork
from crmkit.testing import strategies as cs

from .conftest import Backend
from .test_customers import call, full_customer

_ODD_TEXT = [
    "",
    " ",
    "\ud800",
    "a\ud800@b.cn",
    "a\x00b",
    "\x1b[2J",
    "line\nbreak",
    "x" * 100_000,
    "𠀋" * 300,
    "+8613912345678\ud800",
]
_AWARE_EDGES = [
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    pendulum.datetime(9999, 12, 31, 12, 0, 0),
    pendulum.datetime(999, 12, 31, 23, 59, 59, 999999),
]

HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([2**64, -(2**70), 2**63, 2**63 - 1, -(2**63) - 1, 0, -1, 10**5000]),
    st.integers(),
    st.floats(),
    st.sampled_from(_ODD_TEXT),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.datetimes(),  # naive
    st.sampled_from(_AWARE_EDGES),
    st.dates(),
    st.uuids(),
    st.lists(st.none() | st.integers() | st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
"""Values no public entry point may turn into anything but a crmkit error."""


@st.composite
def forced(draw: st.DrawFn, obj: Any) -> Any:
    """`obj` (an attrs instance), often with one field assigned a hostile value.

    An assignment the domain refuses raises a crmkit error at once, and `obj` stays as it
    was; one it accepts (a lone surrogate in text, say) is what a repository then gets. Lists
    and dicts change without an assignment: a hostile item goes into them as well.
    """
    if draw(st.booleans()):
        field = draw(st.sampled_from([f.name for f in attrs.fields(type(obj))]))
        value = draw(HOSTILE)
        current = getattr(obj, field)
        with contextlib.suppress(CrmkitError):
            if isinstance(current, list):
                current.append(value)
            elif isinstance(current, dict):
                current[draw(st.sampled_from(["n", "\ud800", ""]))] = value
            else:
                setattr(obj, field, value)
    return obj


@st.composite
def hostile_customers(draw: st.DrawFn) -> Any:
    """Customers with a field, or a contact's field, set to a hostile value; or not customers."""
    customer = draw(cs.customers(max_contacts=2))
    a_contact = draw(st.booleans())
    if customer.contacts and a_contact:
        draw(forced(customer.contacts[0]))
    else:
        draw(forced(customer))
    return draw(st.just(customer) | HOSTILE)


@st.composite
def hostile_interactions(draw: st.DrawFn, customer_id: UUID) -> Any:
    """Interactions of `customer_id` with a hostile field; or not interactions."""
    interaction = draw(cs.interactions(customer_id))
    return draw(st.just(draw(forced(interaction))) | HOSTILE)


def _or_hostile(value: Any) -> st.SearchStrategy[Any]:
    return st.just(value) | HOSTILE


@attrs.frozen
class Step:
    """One call of a repository method: ``uow.<repo>.<method>(*args, **kwargs)``."""

    repo: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.Factory(dict)

    def run(self, uow: UnitOfWork) -> object:
        return getattr(getattr(uow, self.repo), self.method)(*self.args, **self.kwargs)

    def __str__(self) -> str:
        shown = [repr(a)[:200] for a in self.args]
        shown += [f"{k}={v!r}"[:200] for k, v in self.kwargs.items()]
        return f"uow.{self.repo}.{self.method}({', '.join(shown)})"


@st.composite
def calls(draw: st.DrawFn, seeded: Customer, entry: Interaction) -> Step:  # noqa: PLR0912 (a table of entry points)
    """One public repository call with hostile arguments."""
    c, i = "customers", "interactions"
    name = draw(
        st.sampled_from(
            [
                "add",
                "add_many",
                "get",
                "get_many",
                "by_code",
                "by_owner",
                "by_phone",
                "by_email",
                "page",
                "count",
                "update",
                "update stored",
                "remove",
                "remove stored",
                "interactions.add",
                "interactions.get",
                "for_customer",
                "interactions.update",
                "interactions.remove",
            ]
        )
    )
    x = _or_hostile
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    repo, method = c, name
    if name == "add":
        args = (draw(hostile_customers()),)
    elif name == "add_many":
        args = (draw(st.lists(hostile_customers(), max_size=3) | HOSTILE),)
    elif name == "get":
        args = (draw(x(seeded.id)),)
    elif name == "get_many":
        args = (draw(st.lists(x(seeded.id), max_size=3) | HOSTILE),)
    elif name == "by_code":
        args = (draw(x(seeded.code)),)
    elif name == "by_owner":
        args = (draw(x(seeded.owner_id)),)
        kwargs = {"after": draw(st.none() | HOSTILE), "limit": draw(st.none() | HOSTILE)}
    elif name == "by_phone":
        args = (draw(x(seeded.contacts[0].phones[0])),)
    elif name == "by_email":
        args = (draw(x(seeded.contacts[0].emails[0].address)),)
    elif name == "page":
        kwargs = {"after": draw(st.none() | HOSTILE), "limit": draw(st.just(100) | HOSTILE)}
    elif name == "count":
        pass
    elif name in ("update", "remove"):
        args = (draw(hostile_customers()),)
    elif name in ("update stored", "remove stored"):
        method = name.split()[0]
        stored = copy.deepcopy(seeded)
        stored.version = 1
        args = (draw(forced(stored)),)
    elif name == "interactions.add":
        repo, method = i, "add"
        args = (draw(hostile_interactions(seeded.id)),)
    elif name == "interactions.get":
        repo, method = i, "get"
        args = (draw(x(entry.id)),)
    elif name == "for_customer":
        repo, method = i, "for_customer"
        args = (draw(x(seeded.id)),)
        kwargs = {"since": draw(st.none() | HOSTILE), "until": draw(st.none() | HOSTILE)}
    else:
        repo, method = i, name.split(".")[1]
        stored_entry = copy.deepcopy(entry)
        stored_entry.version = 1
        args = (draw(forced(stored_entry) | hostile_interactions(seeded.id)),)

    return Step(repo, method, args, kwargs)


def _seed(crm: crmkit.CRM) -> tuple[Customer, Interaction]:
    customer = full_customer()
    entry = call(customer, "2026-03-02T10:00:00+08:00")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.interactions.add(entry)
    return copy.deepcopy(customer), copy.deepcopy(entry)


def _state(crm: crmkit.CRM) -> tuple[list[Customer], list[list[Interaction]]]:
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        stored = uow.customers.page(limit=1000)
        assert uow.customers.count() == len(stored)
        return stored, [uow.interactions.for_customer(c.id) for c in stored]


def _fuzz(backend: Backend, data: st.DataObject) -> None:
    crm = backend.fresh()
    seeded, entry = _seed(crm)
    before = _state(crm)
    # What the unit of work wrote, by id: the object as written, or None once removed.
    customers: dict[UUID, Customer | None] = {}
    interactions: dict[UUID, Interaction | None] = {}
    try:
        with crm.unit_of_work(actor="fuzz") as uow:
            for _ in range(data.draw(st.integers(1, 5), label="calls")):
                step = data.draw(calls(seeded, entry), label="call")
                try:
                    step.run(uow)
                except CrmkitError:
                    continue
                except Exception as e:  # the point: anything else is a finding
                    pytest.fail(f"{step} raised {type(e).__name__}: {e}")
                _remember(step, customers, interactions)
    except CrmkitError:  # the commit at the end of the block, of a spoilt unit of work
        committed = False
    else:
        committed = True
    if committed and (customers or interactions):
        _check_written(crm, customers, interactions)
    elif not committed:
        assert _state(crm) == before, "a unit of work that did not commit changed the store"


def _remember(
    step: Step,
    customers: dict[UUID, Customer | None],
    interactions: dict[UUID, Interaction | None],
) -> None:
    """Note what a call that succeeded wrote (its argument, now stamped with a version)."""
    method = f"{step.repo}.{step.method}"
    if not step.args:
        return
    argument: Any = step.args[0]
    if method in ("customers.add", "customers.update"):
        customers[argument.id] = copy.deepcopy(argument)
    elif method == "customers.add_many":
        for c in argument:
            customers[c.id] = copy.deepcopy(c)
    elif method == "customers.remove":
        customers[argument.id] = None
        for key, i in list(interactions.items()):
            if i is not None and i.customer_id == argument.id:
                interactions[key] = None
    elif method in ("interactions.add", "interactions.update"):
        interactions[argument.id] = copy.deepcopy(argument)
    elif method == "interactions.remove":
        interactions[argument.id] = None


def _check_written(
    crm: crmkit.CRM,
    customers: dict[UUID, Customer | None],
    interactions: dict[UUID, Interaction | None],
) -> None:
    _state(crm)  # everything stored loads
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        for key, customer in customers.items():
            if customer is None:
                with pytest.raises(NotFound):
                    uow.customers.get(key)
            else:
                assert uow.customers.get(key) == customer
        for key, interaction in interactions.items():
            gone = interaction is None or customers.get(interaction.customer_id, True) is None
            if gone:
                with pytest.raises(NotFound):
                    uow.interactions.get(key)
            else:
                assert uow.interactions.get(key) == interaction


_LOCAL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SERVER = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_LOCAL
@given(data=st.data())
def test_hostile_calls_raise_only_crmkit_errors_and_write_all_or_nothing(
    backend: Backend, data: st.DataObject
) -> None:
    if backend.name not in ("memory", "sqlite"):
        pytest.skip("the servers run the shorter test below")
    _fuzz(backend, data)


@_SERVER
@given(data=st.data())
def test_hostile_calls_on_a_server_raise_only_crmkit_errors_and_write_all_or_nothing(
    backend: Backend, data: st.DataObject
) -> None:
    if backend.name in ("memory", "sqlite"):
        pytest.skip("memory and SQLite run the longer test above")
    _fuzz(backend, data)


@_LOCAL
@given(
    actor=_or_hostile("li"),
    tenant=st.none() | _or_hostile("acme"),
    read_only=_or_hostile(False),
    connection=st.none() | HOSTILE,
    work=st.just(lambda uow: uow.customers.count()) | HOSTILE,
    attempts=_or_hostile(3),
)
def test_hostile_arguments_to_the_crm_raise_only_crmkit_errors(
    backend: Backend,
    actor: Any,
    tenant: Any,
    read_only: Any,
    connection: Any,
    work: Any,
    attempts: Any,
) -> None:
    if backend.name not in ("memory", "sqlite"):
        pytest.skip("the CRM's argument checks are the same on every store")
    crm = backend.fresh()
    with contextlib.suppress(CrmkitError):
        uow = crm.unit_of_work(
            actor=actor, tenant=tenant, read_only=read_only, connection=connection
        )
        uow.rollback()
    with contextlib.suppress(CrmkitError):
        crm.run(work, actor=actor, tenant=tenant, attempts=attempts)


LOOKUPS: dict[str, Callable[[UnitOfWork, str], object]] = {
    "get_many": lambda uow, text: uow.customers.get_many([text]),  # type: ignore[list-item]
    "by_code": lambda uow, text: uow.customers.by_code(text),
    "by_owner": lambda uow, text: uow.customers.by_owner(text),
    "by_phone": lambda uow, text: uow.customers.by_phone(text),
    "by_email": lambda uow, text: uow.customers.by_email(text),
}


@pytest.mark.parametrize("text", _ODD_TEXT, ids=[repr(t)[:20] for t in _ODD_TEXT])
@pytest.mark.parametrize("lookup", list(LOOKUPS))
def test_odd_text_in_every_lookup_raises_only_crmkit_errors(
    crm: crmkit.CRM, lookup: str, text: str
) -> None:
    with contextlib.suppress(CrmkitError), crm.unit_of_work(actor="li") as uow:
        LOOKUPS[lookup](uow, text)
