"""The ledger's law, on every store: whatever the services do, in any order, repeated or refused,
every running balance equals the sum of its entries, numbered without gaps; the open orders and
the unpaid invoices equal what the documents say is open; and replaying the change log gives
the same records and the same law at every committed point."""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import crmkit
from crmkit import FixedClock, Money
from crmkit.credit import (
    CreditAccount,
    InvoiceStatus,
    OrderStatus,
    allocate,
    cancel_order,
    invoice_order,
    issue_credit_note,
    mark_overdue,
    open_account,
    place_order,
    put_on_hold,
    record_payment,
    release_hold,
    write_off,
)
from crmkit.customers import Customer
from crmkit.errors import ValidationError
from crmkit.storage import UnitOfWork
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._changes import Change, replay
from crmkit.storage._credit import (
    CREDIT_ACCOUNTS,
    CREDIT_NOTES,
    CREDIT_OPERATIONS,
    INVOICES,
    LEDGER_ENTRIES,
    ORDERS,
    PAYMENTS,
)

from .conftest import NOW, Backend

CREDIT: tuple[Aggregate[Any], ...] = (
    CREDIT_ACCOUNTS,
    ORDERS,
    INVOICES,
    PAYMENTS,
    CREDIT_NOTES,
    LEDGER_ENTRIES,
    CREDIT_OPERATIONS,
)
BALANCES = (("open_orders", "orders"), ("unpaid_invoices", "invoices"), ("unallocated", "credit"))

cents = st.integers(1, 50_000).map(lambda n: Money(Decimal(n).scaleb(-2), "CNY"))
picks = st.integers(0, 10**6)


def pick(items: list[Any], n: int) -> Any:
    return items[n % len(items)] if items else None


class LedgerLaw(RuleBasedStateMachine):
    """Two customers' accounts, and random service calls on them, each its own unit of work."""

    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(NOW)
        self.crm = self.backend.fresh(clock=self.clock)
        self.keys = 0
        self.calls: list[Callable[[UnitOfWork], Any]] = []
        self.orders: list[tuple[UUID, UUID]] = []  # (account, order)
        self.invoices: list[tuple[UUID, UUID]] = []  # (account, invoice)
        self.accounts: list[CreditAccount] = []
        for name in ("Acme", "Globex"):
            with self.crm.unit_of_work(actor="law") as uow:
                customer = Customer(name=name, owner_id="li")
                uow.customers.add(customer)
                self.accounts.append(
                    open_account(uow, customer.id, Money(100_000, "CNY"), key=f"open-{name}")
                )

    def key(self) -> str:
        self.keys += 1
        return f"k{self.keys}"

    def call(self, work: Callable[[UnitOfWork], Any]) -> Any:
        """Run `work`; a refusal must leave every record as it was."""
        before = self.records()
        try:
            done = self.crm.run(work, actor="law")
        except ValidationError:
            assert self.records() == before, "a refused call wrote something"
            return None
        self.calls.append(work)
        return done

    def records(self) -> dict[tuple[str, Any], dict[str, Any]]:
        found: dict[tuple[str, Any], dict[str, Any]] = {}
        with self.crm.unit_of_work(actor="law", read_only=True) as uow:
            for a in CREDIT:
                for r in uow.repository(a).page(limit=100_000):
                    found[a.record, r.id] = crmkit.to_dict(r)
        return found

    # --- the calls -----------------------------------------------------------------------------

    @rule(which=picks, amount=cents)
    def place(self, which: int, amount: Money) -> None:
        account, key = pick(self.accounts, which), self.key()
        placed = self.call(lambda uow: place_order(uow, account.id, amount, key=key))
        if placed is not None and placed.order is None:
            # Blocked: nothing is kept under the key, so the same call may place the order
            # later (after a payment, say); `repeat` must not replay it.
            self.calls.pop()
        elif placed is not None:
            self.orders.append((account.id, placed.order.id))

    @rule(which=picks, amount=st.none() | cents, days=st.integers(-5, 40))
    def invoice(self, which: int, amount: Money | None, days: int) -> None:
        chosen, key = pick(self.orders, which), self.key()
        if chosen is None:
            return
        account, order = chosen
        due = self.clock.now().date().add(days=days)
        made = self.call(
            lambda uow: invoice_order(uow, account, order, key=key, due=due, amount=amount)
        )
        if made is not None:
            self.invoices.append((account, made.id))

    @rule(which=picks)
    def cancel(self, which: int) -> None:
        chosen, key = pick(self.orders, which), self.key()
        if chosen is not None:
            self.call(lambda uow: cancel_order(uow, *chosen, key=key))

    @rule(which=picks, amount=cents, parts=st.lists(st.tuples(picks, cents), max_size=3))
    def pay(self, which: int, amount: Money, parts: list[tuple[int, Money]]) -> None:
        account, key = pick(self.accounts, which), self.key()
        allocations: dict[UUID, Money] = {}
        for n, part in parts:
            invoice = pick(self.invoices, n)
            if invoice is not None:
                allocations[invoice[1]] = part
        self.call(
            lambda uow: record_payment(uow, account.id, amount, key=key, allocations=allocations)
        )

    @rule(which=picks, invoice=picks, amount=cents)
    def allocate_credit(self, which: int, invoice: int, amount: Money) -> None:
        account, chosen, key = pick(self.accounts, which), pick(self.invoices, invoice), self.key()
        if chosen is not None:
            self.call(lambda uow: allocate(uow, account.id, chosen[1], amount, key=key))

    @rule(which=picks, invoice=st.none() | picks, amount=cents)
    def credit_note(self, which: int, invoice: int | None, amount: Money) -> None:
        account, key = pick(self.accounts, which), self.key()
        found = None if invoice is None else pick(self.invoices, invoice)
        chosen = None if found is None else found[1]
        self.call(
            lambda uow: issue_credit_note(
                uow, account.id, amount, key=key, reason="law", invoice_id=chosen
            )
        )

    @rule(invoice=picks)
    def write_off_one(self, invoice: int) -> None:
        chosen, key = pick(self.invoices, invoice), self.key()
        if chosen is not None:
            self.call(lambda uow: write_off(uow, *chosen, key=key))

    @rule(days=st.integers(0, 20))
    def time_passes(self, days: int) -> None:
        self.clock.advance(days=days)
        # Not a keyed call: run again later it marks the invoices that fell due since, so it
        # is not one of the calls `repeat` replays.
        self.crm.run(lambda uow: mark_overdue(uow, self.clock.now()), actor="law")

    @rule(which=picks, on=st.booleans())
    def hold(self, which: int, on: bool) -> None:
        account, key = pick(self.accounts, which), self.key()
        if on:
            self.call(lambda uow: put_on_hold(uow, account.id, "law", key=key))
        else:
            self.call(lambda uow: release_hold(uow, account.id, key=key))

    @rule(which=picks)
    def repeat(self, which: int) -> None:
        """A call again, with its key: it writes nothing."""
        work = pick(self.calls, which)
        if work is None:
            return
        before = self.records()
        self.crm.run(work, actor="law")
        assert self.records() == before, "a repeated call wrote something"

    # --- the law -------------------------------------------------------------------------------

    @invariant()
    def balances_are_the_sums_of_the_entries_and_of_the_open_documents(self) -> None:
        with self.crm.unit_of_work(actor="law", read_only=True) as uow:
            orders = uow.orders.page(limit=100_000)
            invoices = uow.invoices.page(limit=100_000)
            for stored in uow.credit_accounts.get_many([a.id for a in self.accounts]):
                entries = uow.ledger_entries.of_account(stored.id)
                assert [e.sequence for e in entries] == list(range(1, stored.sequence + 1))
                for balance, column in BALANCES:
                    total = Money.total([getattr(e, column) for e in entries], currency="CNY")
                    assert getattr(stored, balance) == total, balance
                mine = [o for o in orders if o.account_id == stored.id]
                assert stored.open_orders == Money.total(
                    [o.open_amount for o in mine], currency="CNY"
                )
                assert all((o.open_amount.amount > 0) == (o.status in _OPEN_ORDER) for o in mine)
                unpaid = [i for i in invoices if i.account_id == stored.id]
                assert stored.unpaid_invoices == Money.total(
                    [i.balance for i in unpaid], currency="CNY"
                )
                assert all((i.balance.amount > 0) == (i.status in _UNPAID) for i in unpaid)

    @invariant()
    def the_change_log_replays_to_the_records_and_the_law_holds_in_the_replay(self) -> None:
        changes: list[Change] = []
        page = self.crm.changes_since(0, limit=1000)
        while page.changes:
            changes.extend(page.changes)
            page = self.crm.changes_since(page.cursor, limit=1000)
        replayed = replay(changes)
        credit = {a.record for a in CREDIT}
        assert {k: v for k, v in replayed.items() if k[0] in credit} == self.records()
        for (record, key), account in replayed.items():
            if record != "credit_account":
                continue
            entries = [
                v
                for (r, _), v in replayed.items()
                if r == "ledger_entry" and v["account_id"] == str(key)
            ]
            for balance, column in BALANCES:
                total = sum((Decimal(e[column]["amount"]) for e in entries), Decimal(0))
                assert Decimal(account[balance]["amount"]) == total, balance


_OPEN_ORDER = (OrderStatus.OPEN, OrderStatus.PARTLY_INVOICED)
_UNPAID = (InvoiceStatus.OPEN, InvoiceStatus.PARTLY_PAID, InvoiceStatus.OVERDUE)


def test_running_balances_always_equal_the_sums_of_the_entries(backend: Backend) -> None:
    server = backend.name in ("postgres", "mysql")
    examples = int(os.environ.get("CRMKIT_LEDGER_EXAMPLES", "8" if server else "25"))
    machine = type(f"LedgerLaw_{backend.name}", (LedgerLaw,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
