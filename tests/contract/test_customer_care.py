"""Customer care on every store: lifecycle moves and policy, complaints, ownership transfers.

The repository contract runs on the three new aggregates; the services run through the
`backend` fixture (memory, SQLite, PostgreSQL, MariaDB) with a fixed clock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import Money
from crmkit.credit import cancel_order, open_account, place_order
from crmkit.customers import (
    MOVES,
    Address,
    ByRegion,
    CauseCount,
    Complaint,
    ComplaintKind,
    ComplaintOpened,
    ComplaintReassigned,
    ComplaintResolved,
    ComplaintStatus,
    Customer,
    EvenSplit,
    LifecycleChange,
    LifecycleChanged,
    LifecyclePolicy,
    LifecycleStage,
    OwnerChanged,
    OwnershipTransfer,
    OwnershipTransferred,
    ToOne,
    apply_lifecycle_policy,
    merge_customers,
    move_lifecycle,
    open_complaint,
    reassign_complaint,
    reject_complaint,
    reopen_complaint,
    resolve_complaint,
    start_complaint,
    transfer_ownership,
)
from crmkit.errors import NotFound, ValidationError
from crmkit.events import DomainEvent
from crmkit.pipeline import (
    Decision,
    Lead,
    LeadStatus,
    b2b_pipeline,
    lose,
    open_opportunity,
)
from crmkit.storage import MemoryStore, Store, UnitOfWork
from crmkit.storage._customer_care import (
    COMPLAINTS,
    LIFECYCLE_CHANGES,
    OWNERSHIP_TRANSFERS,
    top_causes,
)
from crmkit.storage._customers import CUSTOMERS
from crmkit.testing import strategies as cs
from crmkit.testing.contract import AggregateContract, SqlContract
from crmkit.views import customer_360

from .conftest import NOW, Backend

T0 = pendulum.parse(NOW).in_timezone("UTC")  # type: ignore[union-attr]
S = LifecycleStage
B2B = b2b_pipeline()


def events(crm: crmkit.CRM, kind: type[DomainEvent]) -> list[Any]:
    seen: list[Any] = []
    crm.subscribe(kind, seen.append)
    return seen


def run(crm: crmkit.CRM, work: Callable[[UnitOfWork], Any], actor: str = "boss") -> Any:
    return crm.run(work, actor=actor, tenant="acme")


def a_complaint(customer_id: UUID, **changes: object) -> Complaint:
    fields: dict[str, object] = {
        "customer_id": customer_id,
        "subject": "包裹晚到三天",
        "description": "客户说快递晚了三天。\nThe parcel was three days late.",
        "cause": "late_delivery",
        "opened_at": T0,
        "due": T0.add(days=2),
        "assignee_id": "li.na",
    }
    fields.update(changes)
    return Complaint(**fields)  # type: ignore[arg-type]


# --- the repository contract -------------------------------------------------------------------


class LifecycleChangeContract(AggregateContract[LifecycleChange]):
    aggregate = LIFECYCLE_CHANGES
    parent = CUSTOMERS

    def new(self, uow: UnitOfWork) -> LifecycleChange:
        customer = Customer(name="Acme", owner_id="li")
        uow.repository(CUSTOMERS).add(customer)
        return LifecycleChange(
            customer_id=customer.id,
            previous=S.LEAD,
            stage=S.PROSPECT,
            at=T0,
            by="li",
            reason="asked for a quote 报价",
        )

    def change(self, obj: LifecycleChange) -> None:
        obj.reason = "changed"


class ComplaintContract(AggregateContract[Complaint]):
    aggregate = COMPLAINTS
    parent = CUSTOMERS

    def new(self, uow: UnitOfWork) -> Complaint:
        customer = Customer(name="Acme", owner_id="li")
        uow.repository(CUSTOMERS).add(customer)
        return a_complaint(customer.id, contact_id=crmkit.new_id())

    def change(self, obj: Complaint) -> None:
        obj.subject = f"{obj.subject[:150]}!"


class TransferContract(AggregateContract[OwnershipTransfer]):
    aggregate = OWNERSHIP_TRANSFERS

    def new(self, uow: UnitOfWork) -> OwnershipTransfer:
        return OwnershipTransfer(
            from_owner="li",
            to_owners=("wang", "zhao"),
            rule="even_split",
            at=T0,
            by="boss",
            reason="li left",
            customers={"wang": 2, "zhao": 1},
            leads={"wang": 1},
            opportunities=2,
            complaints=1,
        )

    def change(self, obj: OwnershipTransfer) -> None:
        obj.reason = "changed"


class TestLifecycleChangesInMemory(LifecycleChangeContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestLifecycleChangesOnSqlite(SqlContract, LifecycleChangeContract):
    url = "sqlite://"
    machine_examples = 5


class TestLifecycleChangesOnPostgres(SqlContract, LifecycleChangeContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 3


class TestLifecycleChangesOnMariaDB(SqlContract, LifecycleChangeContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 3


class TestComplaintsInMemory(ComplaintContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestComplaintsOnSqlite(SqlContract, ComplaintContract):
    url = "sqlite://"
    machine_examples = 5


class TestComplaintsOnPostgres(SqlContract, ComplaintContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 3


class TestComplaintsOnMariaDB(SqlContract, ComplaintContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 3


class TestTransfersInMemory(TransferContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestTransfersOnSqlite(SqlContract, TransferContract):
    url = "sqlite://"
    machine_examples = 5


class TestTransfersOnPostgres(SqlContract, TransferContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 3


class TestTransfersOnMariaDB(SqlContract, TransferContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 3


# --- any record reads back equal --------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_any_complaint_and_lifecycle_change_read_back_equal(backend: Backend, data: Any) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    complaint = data.draw(cs.complaints(acme.id))
    change = data.draw(cs.lifecycle_changes(acme.id))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.complaints.add(complaint)
        uow.lifecycle_changes.add(change)
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.complaints.get(complaint.id) == complaint
        assert uow.lifecycle_changes.get(change.id) == change


# --- lifecycle ----------------------------------------------------------------------------------


def a_customer(crm: crmkit.CRM, **fields: Any) -> Customer:
    customer = Customer(**{"name": "Acme", "owner_id": "li.na", **fields})
    with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        uow.customers.add(customer)
    return customer


def orders(crm: crmkit.CRM, customer: Customer, *days: int) -> list[UUID]:
    """Orders placed `days` after T0 (with the clock at each), through the credit ledger."""
    made = []
    with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        account = open_account(uow, customer.id, Money("1000000", "CNY"), key=f"a-{customer.id}")
    for day in days:
        at = crmkit.FixedClock(T0.add(days=day).isoformat())
        with crmkit.CRM(crm.store, clock=at).unit_of_work(actor="li.na", tenant="acme") as uow:
            placed = place_order(uow, account.id, Money("100", "CNY"), key=f"o-{crmkit.new_id()}")
            assert placed.order is not None
            made.append(placed.order.id)
    return made


def policy_at(crm: crmkit.CRM, day: int, **options: Any) -> list[LifecycleChange]:
    rules = LifecyclePolicy(at_risk_after=30, churned_after=90)
    moved: list[LifecycleChange] = run(
        crm,
        lambda uow: apply_lifecycle_policy(uow, now=T0.add(days=day), policy=rules, **options),
        actor="scheduler",
    )
    return moved


def stage_of(crm: crmkit.CRM, customer: Customer) -> LifecycleStage:
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        return uow.customers.get(customer.id).lifecycle


def test_a_move_by_hand_is_checked_kept_and_announced(backend: Backend) -> None:
    crm = backend.fresh()
    seen = events(crm, LifecycleChanged)
    acme = a_customer(crm)
    run(crm, lambda uow: move_lifecycle(uow, acme.id, S.PROSPECT, reason="asked for a quote"))
    with pytest.raises(ValidationError, match="cannot move from prospect to churned"):
        run(crm, lambda uow: move_lifecycle(uow, acme.id, S.CHURNED, reason="gone"))
    with pytest.raises(ValidationError, match="reason"):
        run(crm, lambda uow: move_lifecycle(uow, acme.id, S.CUSTOMER, reason=" "))
    with pytest.raises(NotFound):
        run(crm, lambda uow: move_lifecycle(uow, crmkit.new_id(), S.CUSTOMER, reason="x"))
    assert stage_of(crm, acme) is S.PROSPECT
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        (change,) = uow.lifecycle_changes.for_customer(acme.id)
    assert (change.previous, change.stage, change.by, change.at) == (S.LEAD, S.PROSPECT, "boss", T0)
    assert [(e.customer_id, e.stage, e.by) for e in seen] == [(acme.id, S.PROSPECT, "boss")]


@settings(max_examples=8, deadline=None)
@given(wanted=st.lists(st.sampled_from(list(LifecycleStage)), max_size=8))
def test_any_moves_by_hand_leave_a_history_that_chains_to_the_stage(
    backend: Backend, wanted: list[LifecycleStage]
) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    model = S.LEAD
    for stage in wanted:
        work = partial(move_lifecycle, customer_id=acme.id, stage=stage, reason="by hand")
        if stage in MOVES[model]:
            run(crm, work)
            model = stage
        else:
            with pytest.raises(ValidationError, match=f"from {model} to {stage}"):
                run(crm, work)
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        history = uow.lifecycle_changes.for_customer(acme.id)
        assert uow.customers.get(acme.id).lifecycle is model
    chain = [S.LEAD, *(c.stage for c in history)]
    assert [c.previous for c in history] == chain[:-1]
    assert chain[-1] is model


def test_the_policy_walks_a_customer_through_its_life_and_keeps_every_move(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    idle = a_customer(crm, name="Idle")
    orders(crm, acme, 0)
    assert [(c.stage, c.by) for c in policy_at(crm, 1)] == [(S.CUSTOMER, "policy")]
    orders(crm, acme, 10)
    assert [c.stage for c in policy_at(crm, 11)] == [S.REPEAT_CUSTOMER]
    assert policy_at(crm, 11) == []  # again at the same moment: nothing more
    assert [c.stage for c in policy_at(crm, 45)] == [S.AT_RISK]
    assert [c.stage for c in policy_at(crm, 101)] == [S.CHURNED]
    orders(crm, acme, 150)
    assert [c.stage for c in policy_at(crm, 151)] == [S.WON_BACK]
    orders(crm, acme, 160)
    assert [c.stage for c in policy_at(crm, 161)] == [S.REPEAT_CUSTOMER]
    assert stage_of(crm, idle) is S.LEAD
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        history = uow.lifecycle_changes.for_customer(acme.id)
        assert uow.lifecycle_changes.entered([acme.id, idle.id]) == {acme.id: T0}
        assert uow.lifecycle_changes.purchases([acme.id])[acme.id].count == 4
    assert [c.stage for c in history] == [
        S.CUSTOMER,
        S.REPEAT_CUSTOMER,
        S.AT_RISK,
        S.CHURNED,
        S.WON_BACK,
        S.REPEAT_CUSTOMER,
    ]
    assert all(c.by == "policy" and c.reason for c in history)


def test_a_cancelled_order_is_no_purchase(backend: Backend) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    (order,) = orders(crm, acme, 0)
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        (account,) = [a for a in uow.credit_accounts.page() if a.customer_id == acme.id]
        cancel_order(uow, account.id, order, key="cancel")
        assert uow.lifecycle_changes.purchases([acme.id]) == {}
    assert policy_at(crm, 1) == []


def test_the_policy_can_be_limited_to_some_customers(backend: Backend) -> None:
    crm = backend.fresh()
    a, b = a_customer(crm, name="A"), a_customer(crm, name="B")
    orders(crm, a, 0)
    orders(crm, b, 0)
    moved = policy_at(crm, 1, customer_ids=[b.id, crmkit.new_id()])
    assert [c.customer_id for c in moved] == [b.id]
    assert stage_of(crm, a) is S.LEAD


@settings(max_examples=5, deadline=None)
@given(days=st.lists(st.lists(st.integers(0, 200), max_size=3), min_size=1, max_size=3))
def test_purchases_agree_with_the_orders_on_every_store(backend: Backend, days: Any) -> None:
    crm = backend.fresh()
    made = []
    for i, placed in enumerate(days):
        customer = a_customer(crm, name=f"C{i}")
        orders(crm, customer, *placed)
        made.append((customer.id, placed))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        found = uow.lifecycle_changes.purchases([k for k, _ in made])
    for key, placed in made:
        if not placed:
            assert key not in found
            continue
        p = found[key]
        assert (p.count, p.first_at, p.last_at) == (
            len(placed),
            T0.add(days=min(placed)),
            T0.add(days=max(placed)),
        )


# --- complaints --------------------------------------------------------------------------------


def test_a_complaint_is_tracked_to_closure_with_its_events(backend: Backend) -> None:
    crm = backend.fresh()
    opened, resolved = events(crm, ComplaintOpened), events(crm, ComplaintResolved)
    reassigned = events(crm, ComplaintReassigned)
    acme = a_customer(crm)
    c = run(crm, lambda uow: open_complaint(uow, a_complaint(acme.id)))
    run(crm, lambda uow: start_complaint(uow, c.id, assignee_id="wang.fang"))
    run(crm, lambda uow: reassign_complaint(uow, c.id, "zhao.lei"))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert [x.id for x in uow.complaints.open_for(acme.id)] == [c.id]
    done = run(crm, lambda uow: resolve_complaint(uow, c.id, resolution="退了运费 refunded"))
    assert (done.status, done.closed_at, done.assignee_id) == (
        ComplaintStatus.RESOLVED,
        T0,
        "zhao.lei",
    )
    with pytest.raises(ValidationError, match="status"):
        run(crm, lambda uow: reject_complaint(uow, c.id, resolution="no"))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.complaints.open_for(acme.id) == []
        assert uow.complaints.get(c.id) == done
    again = run(crm, lambda uow: reopen_complaint(uow, c.id, reason="still broken"))
    assert (again.status, again.resolution) == (ComplaintStatus.OPEN, None)
    assert [e.cause for e in opened] == ["late_delivery"]
    assert [e.resolution for e in resolved] == ["退了运费 refunded"]
    assert [e.assignee_id for e in reassigned] == ["zhao.lei"]


def test_opening_a_closed_or_orphan_complaint_is_refused(backend: Backend) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    closed = a_complaint(acme.id)
    closed.resolve("done", at=T0)
    with pytest.raises(ValidationError, match="status"):
        run(crm, lambda uow: open_complaint(uow, closed))
    with pytest.raises(NotFound):
        run(crm, lambda uow: open_complaint(uow, a_complaint(crmkit.new_id())))


def test_overdue_complaints_are_the_open_ones_past_due_earliest_first(backend: Backend) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    late = a_complaint(acme.id, due=T0.add(hours=1))
    later = a_complaint(acme.id, due=T0.add(hours=5))
    closed = a_complaint(acme.id, due=T0.add(hours=1))
    closed.reject("not ours", at=T0)
    no_due = a_complaint(acme.id, due=None)
    on_time = a_complaint(acme.id, due=T0.add(days=3))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.complaints.add_many([later, late, closed, no_due, on_time])
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        now = T0.add(days=1)
        assert [c.id for c in uow.complaints.overdue(now)] == [late.id, later.id]
        assert [c.id for c in uow.complaints.overdue(now, limit=1)] == [late.id]
        assert uow.complaints.overdue(T0.add(hours=1)) == []
        with pytest.raises(ValidationError, match="now"):
            uow.complaints.overdue(dt.datetime(2026, 3, 2))
        with pytest.raises(ValidationError, match="limit"):
            uow.complaints.overdue(now, limit=0)


CAUSES = st.sampled_from(["late_delivery", "wrong_item", "rude_staff", "Late_delivery", None])


@settings(max_examples=10, deadline=None)
@given(
    rows=st.lists(
        st.tuples(CAUSES, st.integers(-5, 15), st.sampled_from(list(ComplaintKind))),
        max_size=12,
    ),
    start=st.integers(0, 5),
    length=st.integers(0, 12),
    limit=st.integers(1, 4),
)
def test_top_causes_on_every_store_equal_the_reference(
    backend: Backend, rows: Any, start: int, length: int, limit: int
) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    made = [
        a_complaint(acme.id, cause=cause, opened_at=T0.add(days=day), kind=kind)
        for cause, day, kind in rows
    ]
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.complaints.add_many(made)
    since, until = T0.add(days=start), T0.add(days=start + length)
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        found = uow.complaints.top_causes(since, until, limit=limit)
    assert found == top_causes(made, since, until, limit)
    assert all(isinstance(c, CauseCount) for c in found)


def test_top_causes_stay_in_their_tenant(backend: Backend) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    with crm.unit_of_work(actor="li", tenant="globex") as uow:
        uow.customers.add(other := Customer(name="Globex", owner_id="li"))
        uow.complaints.add(a_complaint(other.id, cause="wrong_item"))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.complaints.add(a_complaint(acme.id))
        assert uow.complaints.top_causes(T0, T0.add(days=1)) == [CauseCount("late_delivery", 1)]


# --- ownership ----------------------------------------------------------------------------------


def a_book(crm: crmkit.CRM) -> dict[str, Any]:
    """li.na's book: three customers, an open and a lost deal, two leads, complaints."""
    gd = Customer(name="广州客户", owner_id="li.na", address=Address(region="广东省"))
    sh = Customer(name="上海客户", owner_id="li.na", address=Address(city="上海市"))
    bj = Customer(name="北京客户", owner_id="li.na", address=Address(region="北京市"))
    mine = Customer(name="Other", owner_id="chen")
    deal, _ = open_opportunity(
        B2B,
        at=T0,
        name="200 licences",
        customer_id=gd.id,
        owner_id="li.na",
        amount=Money("90000", "CNY"),
        expected_close=dt.date(2026, 6, 30),
    )
    lost, _ = open_opportunity(
        B2B,
        at=T0,
        name="lost one",
        customer_id=sh.id,
        owner_id="li.na",
        amount=Money("100", "CNY"),
        expected_close=dt.date(2026, 6, 30),
    )
    lose(lost, B2B, at=T0, reason="price")
    lead = Lead(name="Zhao Lei", source="website", territory="广东省")
    lead.assign(Decision.manual("li.na", "met at the fair"), at=T0)
    done = Lead(name="Done", source="website")
    done.assign(Decision.manual("li.na", "x"), at=T0)
    done.disqualify("no budget")
    complaint = a_complaint(sh.id)
    other = a_complaint(mine.id)
    with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        uow.customers.add_many([gd, sh, bj, mine])
        uow.opportunities.add_many([deal, lost])
        uow.leads.add_many([lead, done])
        uow.complaints.add_many([complaint, other])
    return {
        "customers": [gd, sh, bj],
        "other": mine,
        "deal": deal,
        "lost": lost,
        "lead": lead,
        "done": done,
        "complaint": complaint,
        "other_complaint": other,
    }


def owners(crm: crmkit.CRM) -> dict[UUID, str]:
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        return {c.id: c.owner_id for c in uow.customers.page()}


def test_to_one_hands_over_customers_open_deals_leads_and_complaints(backend: Backend) -> None:
    crm = backend.fresh()
    changed, done = events(crm, OwnerChanged), events(crm, OwnershipTransferred)
    book = a_book(crm)
    transfer = run(
        crm,
        lambda uow: transfer_ownership(
            uow, from_owner="li.na", rule=ToOne("wang.fang"), reason="li.na left"
        ),
    )
    assert (transfer.customers, transfer.leads) == ({"wang.fang": 3}, {"wang.fang": 1})
    assert (transfer.opportunities, transfer.complaints, transfer.by) == (1, 2, "boss")
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert {c.owner_id for c in uow.customers.by_owner("wang.fang")} == {"wang.fang"}
        assert uow.customers.by_owner("li.na") == []
        assert uow.customers.get(book["other"].id).owner_id == "chen"
        assert uow.opportunities.get(book["deal"].id).owner_id == "wang.fang"
        assert uow.opportunities.get(book["lost"].id).owner_id == "li.na"
        lead = uow.leads.get(book["lead"].id)
        assert (lead.owner_id, lead.decision.rule) == ("wang.fang", "manual")  # type: ignore[union-attr]
        assert uow.leads.get(book["done"].id).status is LeadStatus.DISQUALIFIED
        assert uow.complaints.get(book["complaint"].id).assignee_id == "wang.fang"
        # An open complaint of someone else's customer goes to that customer's owner.
        assert uow.complaints.get(book["other_complaint"].id).assignee_id == "chen"
        assert uow.ownership_transfers.get(transfer.id) == transfer
    assert len(changed) == 3
    assert [(e.from_owner, e.customers, e.leads) for e in done] == [("li.na", 3, 1)]


def test_an_even_split_is_balanced(backend: Backend) -> None:
    crm = backend.fresh()
    a_book(crm)
    split = run(
        crm,
        lambda uow: transfer_ownership(
            uow, from_owner="li.na", rule=EvenSplit(("wang", "zhao")), reason="left"
        ),
    )
    assert sorted(split.customers.values()) == [1, 2]
    held = Counter(owners(crm).values())
    assert (held["chen"], sorted([held["wang"], held["zhao"]])) == (1, [1, 2])


def test_by_region_follows_the_address(backend: Backend) -> None:
    crm = backend.fresh()
    book = a_book(crm)
    gd, sh, bj = book["customers"]
    rule = ByRegion({"广东省": "wang", "上海市": "zhao"}, default="chen")
    by_region = run(
        crm, lambda uow: transfer_ownership(uow, from_owner="li.na", rule=rule, reason="left")
    )
    found = owners(crm)
    assert (found[gd.id], found[sh.id], found[bj.id]) == ("wang", "zhao", "chen")
    assert by_region.leads == {"wang": 1}
    assert by_region.rule == "by_region"


def test_a_rule_that_cannot_place_a_customer_writes_nothing(backend: Backend) -> None:
    crm = backend.fresh()
    book = a_book(crm)
    before = owners(crm)
    seen = events(crm, OwnershipTransferred)
    with pytest.raises(ValidationError, match="places no customer"):
        run(
            crm,
            lambda uow: transfer_ownership(
                uow, from_owner="li.na", rule=ByRegion({"广东省": "wang"}), reason="left"
            ),
        )
    assert owners(crm) == before
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.ownership_transfers.count() == 0
        assert uow.leads.get(book["lead"].id).owner_id == "li.na"
        assert uow.opportunities.get(book["deal"].id).owner_id == "li.na"
        assert uow.complaints.get(book["complaint"].id).assignee_id == "li.na"
    assert seen == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"from_owner": " "}, "from_owner"),
        ({"rule": "wang"}, "rule: must be a ToOne"),
        ({"rule": EvenSplit(("wang", "li.na"))}, "departing"),
        ({"reason": ""}, "reason"),
        ({"pipelines": [3]}, r"pipelines\[0\]"),
    ],
)
def test_bad_transfer_arguments_are_refused_by_name(
    backend: Backend, arguments: dict[str, Any], message: str
) -> None:
    crm = backend.fresh()
    a_book(crm)
    given = {"from_owner": "li.na", "rule": ToOne("wang"), "reason": "left", **arguments}
    with pytest.raises(ValidationError, match=message):
        run(crm, lambda uow: transfer_ownership(uow, **given))
    assert set(owners(crm).values()) == {"li.na", "chen"}


@settings(max_examples=6, deadline=None)
@given(n=st.integers(0, 7), k=st.integers(1, 3))
def test_after_any_transfer_every_customer_has_an_owner_and_none_is_the_departed(
    backend: Backend, n: int, k: int
) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add_many(Customer(name=f"C{i}", owner_id="li.na") for i in range(n))
        uow.customers.add(Customer(name="Kept", owner_id="chen"))
    team = tuple(f"rep{i}" for i in range(k))
    transfer = run(
        crm,
        lambda uow: transfer_ownership(uow, from_owner="li.na", rule=EvenSplit(team), reason="x"),
    )
    found = owners(crm)
    assert len(found) == n + 1
    assert "li.na" not in found.values()
    assert sum(transfer.customers.values()) == n
    counts = [list(found.values()).count(o) for o in team]
    assert max(counts) - min(counts) <= 1


# --- a merge of customers ---------------------------------------------------------------------


def test_a_merge_moves_the_merged_customers_complaints_and_history(backend: Backend) -> None:
    crm = backend.fresh()
    a, b = a_customer(crm, name="Acme"), a_customer(crm, name="ACME Ltd")
    run(crm, lambda uow: move_lifecycle(uow, b.id, S.PROSPECT, reason="asked for a quote"))
    complaint = run(crm, lambda uow: open_complaint(uow, a_complaint(b.id)))
    run(crm, lambda uow: merge_customers(uow, into=a.id, merged=b.id))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert [c.id for c in uow.complaints.open_for(a.id)] == [complaint.id]
        assert [c.stage for c in uow.lifecycle_changes.for_customer(a.id)] == [S.PROSPECT]
        assert uow.complaints.open_for(b.id) == []
        assert uow.lifecycle_changes.for_customer(b.id) == []


def test_the_customer_360_view_shows_the_open_complaints(backend: Backend) -> None:
    crm = backend.fresh()
    acme = a_customer(crm)
    late = run(crm, lambda uow: open_complaint(uow, a_complaint(acme.id)))
    done = run(crm, lambda uow: open_complaint(uow, a_complaint(acme.id, cause="wrong_item")))
    run(crm, lambda uow: resolve_complaint(uow, done.id, resolution="sent the right one"))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        view = customer_360(uow, acme.id)
    assert [c.id for c in view.open_complaints] == [late.id]
