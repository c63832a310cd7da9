"""The change log on every store: each write recorded with its commit, queryable, never skipped."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import FixedClock
from crmkit.customers import Customer, Interaction, InteractionKind
from crmkit.errors import (
    ConcurrencyError,
    NotFound,
    StorageError,
    UnitOfWorkClosed,
    ValidationError,
)
from crmkit.storage import Change, ChangePage
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._changes import replay
from crmkit.storage._customers import INTERACTIONS
from tests.contract.conftest import Backend

AT = pendulum.datetime(2026, 3, 2, 1, 30)


def _customer(name: str = "Acme") -> Customer:
    return Customer(name=name, owner_id="li")


def _interaction(customer: Customer, summary: str = "called") -> Interaction:
    return Interaction(
        customer_id=customer.id,
        kind=InteractionKind.CALL,
        occurred_at=AT,
        actor_id="li",
        summary=summary,
    )


def _all(crm: crmkit.CRM, tenant: str | None = None) -> list[Change]:
    found: list[Change] = []
    cursor = 0
    while True:
        page = crm.changes_since(cursor, tenant=tenant, limit=3)
        found.extend(page.changes)
        if not page.changes:
            return found
        cursor = page.cursor


def test_every_write_is_recorded_with_tenant_actor_time_and_fields(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        customer = _customer()
        uow.customers.add(customer)
        created = crmkit.to_dict(customer)
    with crm.unit_of_work(actor="wang", tenant="acme") as uow:
        customer.name = "Acme Ltd"
        uow.customers.update(customer)
    with crm.unit_of_work(actor="zhao", tenant="acme") as uow:
        uow.customers.remove(customer)
        removed = crmkit.to_dict(customer)
    changes = _all(crm, "acme")
    now = crm.clock.now()
    assert [(c.seq, c.tenant_id, c.actor_id, c.at, c.record, c.record_id) for c in changes] == [
        (1, "acme", "li", now, "customer", customer.id),
        (2, "acme", "wang", now, "customer", customer.id),
        (3, "acme", "zhao", now, "customer", customer.id),
    ]
    assert [(c.operation, c.before, c.after) for c in changes] == [
        ("create", None, created),
        # An update holds the changed fields only.
        ("update", {"name": "Acme", "version": 1}, {"name": "Acme Ltd", "version": 2}),
        ("delete", removed, None),
    ]
    assert _all(crm, "other") == []


def test_the_records_a_removal_takes_with_it_are_recorded(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        customer = _customer()
        uow.customers.add(customer)
        calls = [_interaction(customer, f"call {i}") for i in range(2)]
        uow.repository(INTERACTIONS).add_many(calls)
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.remove(customer)
    deleted = [(c.record, c.record_id) for c in _all(crm) if c.operation == "delete"]
    assert sorted(deleted[:2]) == sorted(("interaction", i.id) for i in calls)
    assert deleted[2:] == [("customer", customer.id)]


def test_a_record_added_under_a_removed_parent_by_another_unit_of_work_is_recorded(
    backend: Backend,
) -> None:
    # The removal looked for the customer's interactions before this one was committed.
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        customer = _customer()
        uow.customers.add(customer)
    remover = crm.unit_of_work(actor="li")
    if backend.name == "memory":
        remover.customers.remove(customer)
        with crm.unit_of_work(actor="wang") as uow:
            late = _interaction(customer)
            uow.interactions.add(late)
        remover.commit()
        deleted = [(c.record, c.record_id) for c in _all(crm) if c.operation == "delete"]
        assert sorted(deleted) == sorted([("interaction", late.id), ("customer", customer.id)])
    else:
        # SQL stores lock the customer before reading what belongs to it: an interaction
        # added meanwhile waits for the removal, and then finds no customer.
        remover.customers.remove(customer)
        outcome: list[BaseException | None] = []

        def add_late() -> None:
            try:
                with crm.unit_of_work(actor="wang") as uow:
                    uow.interactions.add(_interaction(customer))
                outcome.append(None)
            except (NotFound, ConcurrencyError) as e:
                outcome.append(e)

        adder = threading.Thread(target=add_late)
        adder.start()
        adder.join(timeout=0.5)
        remover.commit()
        adder.join(timeout=10)
        assert len(outcome) == 1
        assert isinstance(outcome[0], NotFound | ConcurrencyError)
    state = replay(_all(crm))
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.repository(INTERACTIONS).count() == 0
        assert uow.customers.count() == 0
    assert state == {}


def test_a_rolled_back_unit_of_work_leaves_no_change(backend: Backend) -> None:
    crm = backend.fresh()
    with pytest.raises(RuntimeError), crm.unit_of_work(actor="li") as uow:
        uow.customers.add(_customer())
        raise RuntimeError
    uow = crm.unit_of_work(actor="li")
    uow.customers.add(_customer())
    uow.rollback()
    assert _all(crm) == []


def test_a_failed_change_log_write_fails_the_commit_and_writes_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not backend.is_sql:
        pytest.skip("the memory store's log is a list appended to under the commit lock")
    import sqlalchemy as sa

    from crmkit.storage.sql import _store

    def broken(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.OperationalError("INSERT INTO changes", {}, Exception("disk full"))

    crm = backend.fresh()
    monkeypatch.setattr(_store, "write_changes", broken)
    uow = crm.unit_of_work(actor="li")
    uow.customers.add(_customer())
    with pytest.raises(StorageError, match="committing"):
        uow.commit()
    with pytest.raises(UnitOfWorkClosed):
        uow.commit()
    monkeypatch.undo()
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.customers.count() == 0
    assert _all(crm) == []


def test_changes_are_found_by_record_by_actor_and_by_period_in_pages(backend: Backend) -> None:
    crm = backend.fresh()
    customers = [_customer(f"C{i}") for i in range(3)]
    for i, customer in enumerate(customers):
        crm.clock = FixedClock(AT.add(days=i))
        with crm.unit_of_work(actor=f"actor{i % 2}") as uow:
            uow.customers.add(customer)
            customer.name += "!"
            uow.customers.update(customer)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        log = uow.changes
        mine = log.for_record("customer", customers[1].id)
        assert [(c.operation, c.record_id) for c in mine] == [
            ("create", customers[1].id),
            ("update", customers[1].id),
        ]
        assert log.for_record("customer", customers[1].id, after=mine[0].seq) == mine[1:]
        assert log.for_record("interaction", customers[1].id) == []
        by_actor = log.by_actor("actor0")
        assert {c.record_id for c in by_actor} == {customers[0].id, customers[2].id}
        first = log.by_actor("actor0", limit=3)
        assert first + log.by_actor("actor0", after=first[-1].seq) == by_actor
        day = log.between(AT.add(days=1), AT.add(days=2))
        assert {c.record_id for c in day} == {customers[1].id}
        assert log.between(AT.add(days=5), AT.add(days=6)) == []
        page = log.since(0, limit=4)
        assert isinstance(page, ChangePage)
        assert [c.seq for c in page.changes] == [1, 2, 3, 4]
        assert page.cursor == 4
        assert [c.seq for c in log.since(page.cursor).changes] == [5, 6]
        assert log.since(6) == ChangePage((), 6)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda log: log.for_record("", crmkit.new_id()), "record"),
        (lambda log: log.for_record("customer", "nope"), "record_id"),
        (lambda log: log.by_actor(None), "actor"),
        (lambda log: log.by_actor("li", after=-1), "after"),
        (lambda log: log.by_actor("li", after=True), "after"),
        (lambda log: log.by_actor("li", limit=0), "limit"),
        (lambda log: log.between(AT, "2026-01-01"), "end"),
        (lambda log: log.between(AT.naive(), AT), "start"),
        (lambda log: log.between(AT, AT.subtract(seconds=1)), "end"),
        (lambda log: log.since(1.5), "cursor"),
        (lambda log: log.since(-1), "cursor"),
    ],
)
def test_bad_arguments_are_refused_naming_them(backend: Backend, call: Any, field: str) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        with pytest.raises(ValidationError, match=f"^{field}"):
            call(uow.changes)
        assert uow.is_open
    with pytest.raises(ValidationError, match="^cursor"):
        crm.changes_since("0")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^limit"):
        crm.changes_since(0, limit=100_001)


def test_a_follower_never_skips_a_change_that_commits_late(backend: Backend) -> None:
    """Two overlapping units of work: the one that wrote first commits last."""
    crm = backend.fresh()
    early = crm.unit_of_work(actor="early")
    early.customers.add(_customer("Early"))
    late_done = threading.Event()
    failures: list[BaseException] = []

    def late_writer() -> None:
        try:
            with crm.unit_of_work(actor="late") as uow:
                uow.customers.add(_customer("Late"))
        except BaseException as e:
            failures.append(e)
        late_done.set()

    writer = threading.Thread(target=late_writer)
    writer.start()
    # SQLite has one writer: the late one waits for the early one's commit.
    overlapped = late_done.wait(timeout=0.5 if backend.name == "sqlite" else 10)
    first = crm.changes_since(0)  # a follower reads between the two commits
    early.commit()
    writer.join(timeout=10)
    assert not failures
    rest = crm.changes_since(first.cursor)
    assert sorted(c.actor_id for c in first.changes + rest.changes) == ["early", "late"]
    if backend.name != "sqlite":
        assert overlapped
        assert [c.actor_id for c in first.changes] == ["late"]
        assert [c.actor_id for c in rest.changes] == ["early"]


def test_a_sensitive_field_must_be_a_field_of_the_class() -> None:
    with pytest.raises(ValidationError, match="^sensitive: names no field of Customer: pin"):
        Aggregate(Customer, "customer", "customers", sensitive=frozenset({"pin"}))


# --- the law: replaying the log from empty gives every record as stored -----------------------

_OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "rename", "remove", "call", "edit call", "drop call"]),
        st.integers(0, 7),
    ),
    max_size=14,
)


def _stored(crm: crmkit.CRM, tenant: str) -> dict[tuple[str, UUID], dict[str, Any]]:
    with crm.unit_of_work(actor="li", tenant=tenant, read_only=True) as uow:
        found = {("customer", c.id): crmkit.to_dict(c) for c in uow.customers.page(limit=1000)}
        for i in uow.repository(INTERACTIONS).page(limit=1000):
            found["interaction", i.id] = crmkit.to_dict(i)
    return found


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=_OPS, split=st.integers(1, 3))
def test_replaying_the_log_from_empty_gives_every_record_as_stored(
    backend: Backend, ops: list[tuple[str, int]], split: int
) -> None:
    crm = backend.fresh()
    customers: list[Customer] = []
    calls: list[Interaction] = []
    # Operations in units of work of `split` operations each, in two tenants.
    for start in range(0, len(ops), split):
        tenant = "acme" if start % 2 == 0 else "beta"
        with crm.unit_of_work(actor="li", tenant=tenant) as uow:
            for op, n in ops[start : start + split]:
                mine = [c for c in customers if c.id in _ids(uow.customers.page(limit=1000))]
                theirs = [
                    i for i in calls if i.id in _ids(uow.repository(INTERACTIONS).page(limit=1000))
                ]
                if op == "add" or (op in ("rename", "remove", "call") and not mine):
                    customer = _customer(f"C{n}")
                    uow.customers.add(customer)
                    customers.append(customer)
                elif op == "rename":
                    customer = uow.customers.get(mine[n % len(mine)].id)
                    customer.name += str(n)
                    uow.customers.update(customer)
                elif op == "remove":
                    uow.customers.remove(uow.customers.get(mine[n % len(mine)].id))
                elif op == "call" or not theirs:
                    if mine:
                        call = _interaction(mine[n % len(mine)], f"call {n}")
                        uow.interactions.add(call)
                        calls.append(call)
                elif op == "edit call":
                    call = uow.interactions.get(theirs[n % len(theirs)].id)
                    call.summary += "!"
                    uow.interactions.update(call)
                else:
                    uow.interactions.remove(uow.interactions.get(theirs[n % len(theirs)].id))
    for tenant in ("acme", "beta"):
        assert replay(_all(crm, tenant)) == _stored(crm, tenant)


def _ids(records: list[Any]) -> set[UUID]:
    return {r.id for r in records}
