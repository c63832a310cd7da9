"""Fuzz: hostile values through the leads' and opportunities' repositories raise only crmkit
errors, and a unit of work writes all of its calls or none.

Like `test_fuzz_storage` for customers: valid leads and deals with one field forced to a hostile
value behind the domain's back, or hostile values in place of them and of every argument.
"""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit.customers import Customer
from crmkit.errors import CrmkitError, NotFound
from crmkit.pipeline import Lead, Opportunity
from crmkit.testing import strategies as cs

from .conftest import Backend
from .test_fuzz_storage import HOSTILE, Step, forced

_CALLS = [
    "leads.add",
    "leads.add_many",
    "leads.get",
    "leads.get_many",
    "leads.update",
    "leads.remove",
    "leads.due",
    "leads.open_counts",
    "leads.by_owner",
    "leads.page",
    "opportunities.add",
    "opportunities.add_many",
    "opportunities.get",
    "opportunities.update",
    "opportunities.remove",
    "opportunities.for_customer",
    "opportunities.by_owner",
]


@st.composite
def _hostile(draw: st.DrawFn, thing: st.SearchStrategy[Any]) -> Any:
    return draw(st.just(draw(forced(draw(thing)))) | HOSTILE)


@st.composite
def calls(draw: st.DrawFn, customer: Customer, lead: Lead, deal: Opportunity) -> Step:
    """One public call of the pipeline's repositories with hostile arguments."""
    repo, method = draw(st.sampled_from(_CALLS)).split(".")

    def x(value: object) -> st.SearchStrategy[Any]:
        return st.just(value) | HOSTILE

    new = cs.leads() if repo == "leads" else cs.opportunities(customer_id=customer.id)
    stored = lead if repo == "leads" else deal
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if method == "add":
        args = (draw(_hostile(new)),)
    elif method == "add_many":
        args = (draw(st.lists(_hostile(new), max_size=3) | HOSTILE),)
    elif method == "get":
        args = (draw(x(stored.id)),)
    elif method == "get_many":
        args = (draw(st.lists(x(stored.id), max_size=3) | HOSTILE),)
    elif method in ("update", "remove"):
        again = copy.deepcopy(stored)
        args = (draw(st.just(draw(forced(again))) | HOSTILE),)
    elif method == "due":
        args = (draw(x(crmkit.to_utc("2026-03-09T00:00:00Z"))),)
        kwargs = {"limit": draw(st.just(100) | HOSTILE)}
    elif method == "by_owner":
        args = (draw(x("li.na")),)
        kwargs = {"after": draw(st.none() | HOSTILE), "limit": draw(st.none() | HOSTILE)}
    elif method == "page":
        kwargs = {"after": draw(st.none() | HOSTILE), "limit": draw(st.just(100) | HOSTILE)}
    elif method == "for_customer":
        args = (draw(x(customer.id)),)
    return Step(repo, method, args, kwargs)


def _state(crm: crmkit.CRM) -> tuple[list[Lead], list[Opportunity]]:
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        return uow.leads.page(limit=1000), uow.opportunities.page(limit=1000)


def _fuzz(backend: Backend, data: st.DataObject) -> None:
    crm = backend.fresh()
    customer = Customer(name="Acme", owner_id="li.na")
    lead = data.draw(cs.leads(), label="lead")
    deal = data.draw(cs.opportunities(customer_id=customer.id), label="deal")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.leads.add(lead)
        uow.opportunities.add(deal)
    before = _state(crm)
    written: dict[UUID, Any] = {}
    try:
        with crm.unit_of_work(actor="fuzz") as uow:
            for _ in range(data.draw(st.integers(1, 4), label="calls")):
                step = data.draw(calls(customer, lead, deal), label="call")
                try:
                    step.run(uow)
                except CrmkitError:
                    continue
                except Exception as e:  # the point: anything else is a finding
                    pytest.fail(f"{step} raised {type(e).__name__}: {e}")
                argument: Any = step.args[0] if step.args else None
                if step.method in ("add", "update"):
                    written[argument.id] = copy.deepcopy(argument)
                elif step.method == "add_many":
                    written.update({a.id: copy.deepcopy(a) for a in argument})
                elif step.method == "remove":
                    written[argument.id] = None
    except CrmkitError:  # the commit at the end of the block, of a spoilt unit of work
        assert _state(crm) == before, "a unit of work that did not commit changed the store"
        return
    _state(crm)  # everything stored loads
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        for key, obj in written.items():
            is_lead = isinstance(obj, Lead) or key == lead.id
            repository: Any = uow.leads if is_lead else uow.opportunities
            if obj is None:
                with pytest.raises(NotFound):
                    repository.get(key)
            else:
                assert repository.get(key) == obj


_LOCAL = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SERVER = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_LOCAL
@given(data=st.data())
def test_hostile_pipeline_calls_raise_only_crmkit_errors_and_write_all_or_nothing(
    backend: Backend, data: st.DataObject
) -> None:
    if backend.name not in ("memory", "sqlite"):
        pytest.skip("the servers run the shorter test below")
    _fuzz(backend, data)


@_SERVER
@given(data=st.data())
def test_hostile_pipeline_calls_on_a_server_raise_only_crmkit_errors(
    backend: Backend, data: st.DataObject
) -> None:
    if backend.name in ("memory", "sqlite"):
        pytest.skip("memory and SQLite run the longer test above")
    _fuzz(backend, data)
