"""Merging customer B into customer A, on every store: everything of B's moves to A, B's ledger
moves with its balances, the dry run says what the merge does, the change log says ``merge`` and
where values came from, `CustomersMerged` is recorded, and nothing is half-written."""

from __future__ import annotations

import datetime as dt
import os
import threading
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import FixedClock, Money, PhoneNumber
from crmkit.credit import (
    CreditAccount,
    invoice_order,
    issue_credit_note,
    open_account,
    place_order,
    record_payment,
)
from crmkit.customers import (
    ConflictRule,
    Contact,
    Customer,
    CustomersMerged,
    Interaction,
    InteractionKind,
    MergePlan,
    MergePolicy,
    merge_customers,
    plan_merge,
)
from crmkit.errors import UnitOfWorkClosed, ValidationError
from crmkit.pipeline import Lead, open_opportunity, transactional_pipeline
from crmkit.storage import UnitOfWork
from crmkit.storage._changes import Change, replay
from crmkit.storage._registry import registered
from crmkit.storage._repository import Repository

from .conftest import NOW, Backend

AT = pendulum.datetime(2026, 3, 2, 9)
PHONE = PhoneNumber.parse("+8613800138000")
BALANCES = (("open_orders", "orders"), ("unpaid_invoices", "invoices"), ("unallocated", "credit"))


@attrs.define
class Shape:
    """What each customer of a generated pair has."""

    contacts: int = 1
    interactions: int = 1
    leads: int = 1
    deals: int = 1
    account: str | None = "CNY"
    orders: int = 1
    invoiced: int = 1
    paid: bool = True
    credited: bool = True


def build(uow: UnitOfWork, name: str, shape: Shape, *, code: str | None = None) -> Customer:
    """A customer with everything `shape` says, through the services."""
    customer = Customer(
        name=name,
        owner_id="li",
        code=code,
        tags={name.lower(), "shared"},
        custom_fields={},
        contacts=[
            Contact(name=f"{name} {i}", phones=(PHONE,) if i == 0 else ())
            for i in range(shape.contacts)
        ],
    )
    uow.customers.add(customer)
    for i in range(shape.interactions):
        uow.interactions.add(
            Interaction(
                customer_id=customer.id,
                kind=InteractionKind.CALL,
                occurred_at=AT.add(minutes=i),
                actor_id="li",
                summary=f"call {i}",
                contact_id=customer.contacts[0].id if customer.contacts else None,
            )
        )
    for i in range(shape.leads):
        lead = Lead(name=f"{name} lead {i}", source="web")
        lead.mark_converted(customer.id)
        uow.leads.add(lead)
    for i in range(shape.deals):
        deal, _ = open_opportunity(
            transactional_pipeline(),
            at=AT,
            name=f"{name} deal {i}",
            customer_id=customer.id,
            owner_id="li",
            amount=Money("900", "CNY"),
            expected_close=dt.date(2026, 4, 1),
            quote=f"Q-{name}-{i}",
        )
        uow.opportunities.add(deal)
    if shape.account is None:
        return customer
    cur = shape.account
    account = open_account(uow, customer.id, Money(100_000, cur), key=f"{name}-open")
    orders = []
    for i in range(shape.orders):
        order = place_order(uow, account.id, Money(100 + i, cur), key=f"{name}-o{i}").order
        assert order is not None
        orders.append(order)
    invoices = [
        invoice_order(uow, account.id, o.id, key=f"{name}-i{i}", due=dt.date(2026, 4, 1))
        for i, o in enumerate(orders[: shape.invoiced])
    ]
    if shape.paid and invoices:
        record_payment(
            uow,
            account.id,
            Money(150, cur),
            key=f"{name}-p",
            allocations={invoices[0].id: Money(50, cur)},
        )
    if shape.credited:
        issue_credit_note(uow, account.id, Money(7, cur), key=f"{name}-c", reason="goodwill")
    return customer


def records(crm: crmkit.CRM) -> dict[tuple[str, Any], dict[str, Any]]:
    """Every record of every registered aggregate, as plain data."""
    found: dict[tuple[str, Any], dict[str, Any]] = {}
    with crm.unit_of_work(actor="test", read_only=True) as uow:
        for a in registered():
            for r in uow.repository(a).page(limit=100_000):
                found[a.record, r.id] = crmkit.to_dict(r)
    return found


def counts(state: dict[tuple[str, Any], dict[str, Any]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for record, _ in state:
        found[record] = found.get(record, 0) + 1
    return found


def money(state: dict[tuple[str, Any], dict[str, Any]], record: str, field: str) -> Decimal:
    return sum(
        (Decimal(r[field]["amount"]) for (kind, _), r in state.items() if kind == record),
        Decimal(0),
    )


def naming(state: dict[tuple[str, Any], dict[str, Any]], key: UUID) -> list[tuple[str, str]]:
    """The (record, field) of every reference to `key` left in `state`."""
    wanted = str(key)
    found = []
    for (record, _), data in state.items():
        for field, value in data.items():
            if field != "id" and value == wanted:
                found.append((record, field))
    return found


def all_changes(crm: crmkit.CRM) -> list[Change]:
    changes: list[Change] = []
    page = crm.changes_since(0, limit=1000)
    while page.changes:
        changes.extend(page.changes)
        page = crm.changes_since(page.cursor, limit=1000)
    return changes


def account_of(crm: crmkit.CRM, customer: UUID) -> tuple[CreditAccount | None, list[Any]]:
    with crm.unit_of_work(actor="test", read_only=True) as uow:
        account = uow.credit_accounts.for_customer(customer)
        entries = [] if account is None else uow.ledger_entries.of_account(account.id)
    return account, entries


def the_same_plan(a: MergePlan, b: MergePlan) -> None:
    assert (a.moves, a.removed, a.conflicts, a.sources) == (
        b.moves,
        b.removed,
        b.conflicts,
        b.sources,
    )
    assert crmkit.to_dict(attrs.evolve(a.customer, version=0)) == crmkit.to_dict(
        attrs.evolve(b.customer, version=0)
    )


# --- the scenario -------------------------------------------------------------------------------


@pytest.mark.parametrize("survivor_account", [True, False], ids=["both-accounts", "b-account"])
def test_merging_moves_everything_of_b_to_a_and_removes_b(
    crm: crmkit.CRM, survivor_account: bool
) -> None:
    seen: list[CustomersMerged] = []
    crm.subscribe(CustomersMerged, seen.append)
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape(account="CNY" if survivor_account else None))
        b = build(uow, "Globex", Shape(contacts=2, interactions=2, orders=2), code="C-7")
    a_account, a_entries = account_of(crm, a.id)
    b_account, b_entries = account_of(crm, b.id)
    assert b_account is not None
    before = records(crm)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        dry = plan_merge(uow, into=a.id, merged=b.id)
    assert records(crm) == before, "the dry run wrote something"

    with crm.unit_of_work(actor="boss") as uow:
        done = merge_customers(uow, into=a.id, merged=b.id)
    after = records(crm)

    the_same_plan(dry, done.plan)
    # B is gone, and nothing names it (nor its account, if folded into A's).
    assert ("customer", b.id) not in after
    assert naming(after, b.id) == []
    if survivor_account:
        assert naming(after, b_account.id) == []
    survivor = done.customer
    assert survivor.code == "C-7"
    assert survivor.tags == {"acme", "globex", "shared"}
    assert [c.id for c in survivor.contacts] == [c.id for c in (*a.contacts, *b.contacts)]
    with crm.unit_of_work(actor="test", read_only=True) as uow:
        assert len(uow.interactions.for_customer(a.id)) == 3
        assert len(uow.opportunities.for_customer(a.id)) == 2
        assert uow.customers.by_code("C-7").id == a.id
        # Contacts with the same phone stay two people, both now A's.
        assert [c.id for c in uow.customers.by_phone(PHONE)] == [a.id]
    # Counts add up: one customer fewer, one account fewer if both had one; all else equal.
    expected = counts(before)
    expected["customer"] -= 1
    if survivor_account:
        expected["credit_account"] -= 1
    assert counts(after) == expected
    for record, field in (("order", "amount"), ("invoice", "amount"), ("payment", "amount")):
        assert money(after, record, field) == money(before, record, field)
    # A's balances are A's plus B's; B's entries follow A's, in their order, with their amounts.
    account, entries = account_of(crm, a.id)
    assert account is not None
    for balance, _ in BALANCES:
        mine = getattr(a_account, balance).amount if a_account else Decimal(0)
        assert getattr(account, balance).amount == mine + getattr(b_account, balance).amount
    assert [e.id for e in entries] == [e.id for e in (*a_entries, *b_entries)]
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert [e.amount for e in entries[len(a_entries) :]] == [e.amount for e in b_entries]
    for balance, column in BALANCES:
        total = sum((getattr(e, column).amount for e in entries), Decimal(0))
        assert getattr(account, balance).amount == total
    # The event, delivered after the commit, counts what moved.
    assert [(e.survivor_id, e.merged_id, e.moved) for e in seen] == [(a.id, b.id, dry.moved)]
    assert dry.moved["contact"] == 2
    assert dry.moved["interaction"] == 2
    assert dry.moved["lead"] == 1
    assert dry.moved["opportunity"] == 1
    if survivor_account:
        assert dry.moved["ledger_entry"] == len(b_entries)
        assert ("credit_account", b_account.id) in dry.removed
    else:
        assert dry.moved["credit_account"] == 1


def test_the_change_log_says_merge_and_where_values_came_from_and_replays(
    crm: crmkit.CRM,
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape())
        b = build(uow, "Globex", Shape(), code="C-7")
    with crm.unit_of_work(actor="boss") as uow:
        done = merge_customers(uow, into=a.id, merged=b.id)
    changes = all_changes(crm)
    merges = [c for c in changes if c.operation == "merge"]
    moved = {(m.record, i) for m in done.plan.moves for i in m.ids if m.record != "contact"}
    assert moved <= {(c.record, c.record_id) for c in merges}
    for change in merges:
        assert change.actor_id == "boss"
        assert change.sources is not None
        assert change.sources["survivor"] == str(a.id)
        assert change.sources["merged"] == str(b.id)
        assert set(change.sources["fields"]) <= set(change.after or {})
    survivor = next(c for c in merges if c.record == "customer")
    assert survivor.record_id == a.id
    assert survivor.sources is not None
    assert survivor.sources["fields"]["code"] == "merged"
    assert survivor.sources["fields"]["contacts"] == "both"
    entry = next(c for c in merges if c.record == "ledger_entry")
    assert entry.before is not None
    assert entry.after is not None
    assert entry.after["sequence"] > entry.before["sequence"]
    gone = [c for c in changes if c.operation == "delete" and c.record_id == b.id]
    assert gone
    assert gone[0].before is not None
    assert gone[0].before["code"] == "C-7"
    # The log still replays to the records.
    assert replay(changes) == records(crm)


def test_the_newest_rule_keeps_the_values_of_the_customer_changed_last(
    backend: Backend,
) -> None:
    clock = FixedClock(NOW)
    crm = backend.fresh(clock=clock)
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(a := Customer(name="Acme", owner_id="li", source="web"))
        uow.customers.add(b := Customer(name="Globex", owner_id="wang", source="fair"))
    clock.advance(hours=1)
    with crm.unit_of_work(actor="li") as uow:
        b = uow.customers.get(b.id)
        b.name = "Globex Trading"
        uow.customers.update(b)
    policy = MergePolicy(rule=ConflictRule.NEWEST, fields={"source": ConflictRule.SURVIVOR})
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        plan = plan_merge(uow, into=a.id, merged=b.id, policy=policy)
    assert (plan.customer.name, plan.customer.owner_id, plan.customer.source) == (
        "Globex Trading",
        "wang",
        "web",
    )
    assert {(c.field, c.rule) for c in plan.conflicts} == {
        ("name", "newest"),
        ("owner_id", "newest"),
        ("source", "survivor"),
    }
    clock.advance(hours=1)
    with crm.unit_of_work(actor="li") as uow:
        a = uow.customers.get(a.id)
        a.tags = frozenset({"touched"})
        uow.customers.update(a)
    with crm.unit_of_work(actor="li") as uow:
        done = merge_customers(uow, into=a.id, merged=b.id, policy=policy)
    assert (done.customer.name, done.customer.owner_id) == ("Acme", "li")


def test_accounts_in_different_currencies_are_refused_and_nothing_is_written(
    crm: crmkit.CRM,
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape(account="CNY"))
        b = build(uow, "Globex", Shape(account="USD"))
    before = records(crm)
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError, match="different currencies") as caught:
            merge_customers(uow, into=a.id, merged=b.id)
        assert caught.value.issues[0].path == "merged"
        with pytest.raises(ValidationError, match="different currencies"):
            plan_merge(uow, into=a.id, merged=b.id)
    assert records(crm) == before


def test_a_merge_failing_midway_leaves_the_store_unchanged_even_if_the_caller_carries_on(
    crm: crmkit.CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape())
        b = build(uow, "Globex", Shape())
    before = records(crm)
    events: list[CustomersMerged] = []
    crm.subscribe(CustomersMerged, events.append)

    def failing(self: Repository[Any], obj: Any, sources: Any) -> None:
        raise ValidationError.of("name", "refused by the test, after the moves")

    monkeypatch.setattr(Repository, "_rewrite", failing)
    with pytest.raises(UnitOfWorkClosed), crm.unit_of_work(actor="li") as uow:  # noqa: SIM117 (the refusal inside the block)
        with pytest.raises(ValidationError, match="refused by the test"):
            merge_customers(uow, into=a.id, merged=b.id)
            # The caller swallowed the error: the block ends normally, and the commit refuses.
    assert records(crm) == before
    assert events == []


def test_a_failing_storage_write_midway_rolls_everything_back(
    crm: crmkit.CRM, monkeypatch: pytest.MonkeyPatch
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape(account=None))
        b = build(uow, "Globex", Shape())
    before = records(crm)
    real = Repository._repoint
    calls: list[str] = []

    def flaky(self: Repository[Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(self._aggregate.record)
        if len(calls) == 3:
            raise RuntimeError("the connection dropped")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "_repoint", flaky)
    with pytest.raises(crmkit.errors.StorageError), crm.unit_of_work(actor="li") as uow:
        merge_customers(uow, into=a.id, merged=b.id)
    assert len(calls) == 3
    assert records(crm) == before


def test_a_record_added_to_b_while_the_merge_runs_is_never_lost(backend: Backend) -> None:
    if backend.name != "memory":
        pytest.skip("SQL stores make the writer under B wait for the merge's lock, then fail")
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape(account=None))
        b = build(uow, "Globex", Shape(account=None))
    merging = crm.unit_of_work(actor="li")
    merge_customers(merging, into=a.id, merged=b.id)
    late = Interaction(
        customer_id=b.id, kind=InteractionKind.NOTE, occurred_at=AT, actor_id="wang", summary="x"
    )
    with crm.unit_of_work(actor="wang") as uow:
        uow.interactions.add(late)
    with pytest.raises(crmkit.errors.ConcurrencyError):
        merging.commit()
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.interactions.get(late.id).customer_id == b.id
        assert uow.customers.get(b.id).id == b.id
    # Run again, the merge takes it along.
    with crm.unit_of_work(actor="li") as uow:
        done = merge_customers(uow, into=a.id, merged=b.id)
    assert late.id in next(m.ids for m in done.plan.moves if m.record == "interaction")


def test_two_merges_of_one_pair_at_once_one_wins_and_nothing_is_lost(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape())
        b = build(uow, "Globex", Shape())
    before = records(crm)
    start = threading.Barrier(2)
    outcomes: dict[UUID, object] = {}

    def merge(into: UUID, merged: UUID) -> None:
        own = backend.crm()
        start.wait(timeout=30)
        try:
            own.run(lambda uow: merge_customers(uow, into=into, merged=merged), actor="li")
            outcomes[into] = "merged"
        except crmkit.errors.NotFound as e:  # the other merge removed one of the two
            outcomes[into] = e
        except BaseException as e:  # reported below
            outcomes[into] = repr(e)

    threads = [threading.Thread(target=merge, args=pair) for pair in ((a.id, b.id), (b.id, a.id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    won = [k for k, v in outcomes.items() if v == "merged"]
    assert len(won) == 1, outcomes
    assert isinstance(outcomes[b.id if won == [a.id] else a.id], crmkit.errors.NotFound)
    after = records(crm)
    gone = b.id if won == [a.id] else a.id
    assert naming(after, gone) == []
    expected = counts(before)
    expected["customer"] -= 1
    expected["credit_account"] -= 1
    assert counts(after) == expected


# --- the law ------------------------------------------------------------------------------------

small = st.integers(0, 2)
shapes = st.builds(
    Shape,
    contacts=small,
    interactions=small,
    leads=small,
    deals=small,
    account=st.sampled_from([None, "CNY"]),
    orders=small,
    invoiced=small,
    paid=st.booleans(),
    credited=st.booleans(),
)


def test_after_any_merge_nothing_names_b_and_counts_money_and_balances_add_up(
    backend: Backend,
) -> None:
    default = {"memory": "12", "sqlite": "6"}.get(backend.name, "3")  # servers: a few
    examples = int(os.environ.get("CRMKIT_MERGE_EXAMPLES", default))

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(a_shape=shapes, b_shape=shapes)
    def law(a_shape: Shape, b_shape: Shape) -> None:
        crm = backend.fresh()
        with crm.unit_of_work(actor="li") as uow:
            a = build(uow, "Acme", a_shape, code="A-1")
            b = build(uow, "Globex", b_shape, code="B-2")
        a_account, _ = account_of(crm, a.id)
        b_account, b_entries = account_of(crm, b.id)
        before = records(crm)
        with crm.unit_of_work(actor="li", read_only=True) as uow:
            dry = plan_merge(uow, into=a.id, merged=b.id)
        with crm.unit_of_work(actor="li") as uow:
            done = merge_customers(uow, into=a.id, merged=b.id)
        after = records(crm)
        the_same_plan(dry, done.plan)
        assert naming(after, b.id) == []
        expected = counts(before)
        expected["customer"] -= 1
        if a_account is not None and b_account is not None:
            expected["credit_account"] -= 1
            assert naming(after, b_account.id) == []
        assert counts(after) == expected
        # Every record kept its id; nothing was lost or invented.
        assert set(after) == set(before) - {("customer", b.id)} - (
            {("credit_account", b_account.id)} if a_account and b_account else set()
        )
        for record, field in (
            ("order", "amount"),
            ("invoice", "amount"),
            ("payment", "amount"),
            ("credit_note", "amount"),
            ("ledger_entry", "amount"),
        ):
            assert money(after, record, field) == money(before, record, field)
        account, entries = account_of(crm, a.id)
        if b_account is None:
            return
        assert account is not None
        for balance, column in BALANCES:
            mine = getattr(a_account, balance).amount if a_account else Decimal(0)
            assert getattr(account, balance).amount == mine + getattr(b_account, balance).amount
            assert getattr(account, balance).amount == sum(
                (getattr(e, column).amount for e in entries), Decimal(0)
            )
        assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
        assert [(e.id, e.amount) for e in entries[len(entries) - len(b_entries) :]] == [
            (e.id, e.amount) for e in b_entries
        ]

    law()


def test_a_lead_converted_into_b_while_the_merge_runs_never_names_b_afterwards(
    backend: Backend,
) -> None:
    # The conversion links the lead to one of B's contacts and writes nothing under B: it is
    # the customer's lock, taken by the conversion, that makes it wait for (or fail on) the merge.
    from crmkit.pipeline import Decision, convert_lead

    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        a = build(uow, "Acme", Shape(account=None))
        b = build(uow, "Globex", Shape(account=None))
        lead = Lead(name="赵磊", source="website", phones=[PHONE], created_at=AT)
        lead.assign(Decision.manual("li", "met at the fair"), at=AT)
        uow.leads.add(lead)

    def convert(uow: UnitOfWork) -> None:
        convert_lead(
            uow,
            lead.id,
            existing_customer_id=b.id,
            existing_contact_id=b.contacts[0].id,
            log_follow_ups=False,
        )

    merging = crm.unit_of_work(actor="li")
    merge_customers(merging, into=a.id, merged=b.id)
    if backend.name == "memory":  # never waits: the conversion's commit fails instead
        converting = crm.unit_of_work(actor="wang")
        convert(converting)
        merging.commit()
        with pytest.raises(crmkit.errors.ConcurrencyError):
            converting.commit()
    else:  # the conversion waits for the merge's lock, then finds B gone
        failed: list[BaseException] = []

        def run() -> None:
            try:
                with crm.unit_of_work(actor="wang") as uow:
                    convert(uow)
            except crmkit.errors.CrmkitError as e:
                failed.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(0.5)
        merging.commit()
        worker.join(30)
        assert not worker.is_alive()
        assert [type(e) for e in failed] == [crmkit.errors.NotFound]
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.leads.get(lead.id).customer_id is None
        assert uow.leads.for_customer(b.id) == []
    # Converted again, into the survivor now.
    with crm.unit_of_work(actor="wang") as uow:
        done = convert_lead(uow, lead.id, existing_customer_id=a.id, log_follow_ups=False)
    assert done.customer.id == a.id
