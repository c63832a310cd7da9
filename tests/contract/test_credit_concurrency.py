"""Workers placing, invoicing, paying and cancelling against one customer at once, each on its own
connection: no entry lost or doubled, a key raced by two workers stored once, and every running
balance equal to the sum of its entries, at the end and at every committed point of the change
log.

Every worker opens its own CRM on the same database and runs the services through
`crmkit.CRM.run`. The account's lock is what makes this safe: the services lock it before they
read the balances they change, so writers of one customer queue instead of failing. On the
servers the default retry budget is enough; SQLite (one writer, busy errors) and the memory
store (optimistic: the loser of a race runs again) get more attempts.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import crmkit
from crmkit import Money
from crmkit.credit import (
    CreditAccount,
    CreditReserved,
    cancel_order,
    invoice_order,
    open_account,
    place_order,
    record_payment,
)
from crmkit.customers import Customer
from crmkit.storage import UnitOfWork
from crmkit.storage._changes import Change

from .conftest import Backend

WORKERS = 8
# Workers n and n + GROUPS make the same calls with the same keys: each key is raced by two.
GROUPS = 4
STEPS = 10
DUE = dt.date(2026, 4, 30)


def cny(amount: int) -> Money:
    return Money(amount, "CNY")


def _at_once(backend: Backend, work: Callable[[crmkit.CRM, int], None]) -> None:
    """Run `work(crm, n)` on `WORKERS` threads, each with a CRM of its own, started together."""
    failures: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> None:
        crm = backend.crm()
        try:
            start.wait(timeout=30)
            work(crm, n)
        except BaseException as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert failures == []


def _expected() -> tuple[int, Money, Money]:
    """The entries, unpaid invoices and unallocated credit the calls leave (no order is open)."""
    entries, unpaid, credit = 0, cny(0), cny(0)
    for _ in range(GROUPS):
        for i in range(STEPS):
            if i % 3 == 0:
                entries += 2  # reserve, void
            elif i % 3 == 1:
                entries += 4  # reserve, post, settle the invoice, settle the rest as credit
                credit += cny(1)
            else:
                entries += 2  # reserve, post; not paid
                unpaid += cny(100 + i)
    return entries, unpaid, credit


def test_eight_workers_on_one_customer_lose_and_double_nothing(backend: Backend) -> None:
    crm = backend.fresh()
    reserved: list[CreditReserved] = []
    with crm.unit_of_work(actor="setup") as uow:
        uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        account = open_account(uow, acme.id, cny(10_000_000), key="open")
    attempts = 5 if backend.name in ("postgres", "mysql") else 500

    def work(worker: crmkit.CRM, n: int) -> None:
        worker.subscribe(CreditReserved, reserved.append)
        group = n % GROUPS

        def run(call: Callable[[UnitOfWork], Any]) -> Any:
            return worker.run(call, actor=f"w{n}", attempts=attempts, backoff=0.002)

        for i in range(STEPS):
            key, amount = f"g{group}-{i}", cny(100 + i)
            placed = run(partial(place_order, account_id=account.id, amount=amount, key=f"{key}-o"))
            order = placed.order
            if i % 3 == 0:
                run(partial(cancel_order, account_id=account.id, order_id=order.id, key=f"{key}-c"))
                continue
            invoice = run(
                partial(
                    invoice_order, account_id=account.id, order_id=order.id, key=f"{key}-i", due=DUE
                )
            )
            if i % 3 == 1:
                paid = {invoice.id: amount}
                run(
                    partial(
                        record_payment,
                        account_id=account.id,
                        amount=amount + cny(1),
                        key=f"{key}-p",
                        allocations=paid,
                    )
                )

    _at_once(backend, work)
    # What the workers' relays left (one account's events go out in order, one relay at a time).
    crm.subscribe(CreditReserved, reserved.append)
    crm.relay()
    entries, unpaid, credit = _expected()
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        stored = uow.credit_accounts.get(account.id)
        ledger = uow.ledger_entries.of_account(account.id)
        assert uow.orders.count() == GROUPS * STEPS
        assert uow.credit_operations.count() == 1 + len({e.key for e in ledger})
    assert [e.sequence for e in ledger] == list(range(1, entries + 1))
    assert stored.sequence == entries
    assert (stored.open_orders, stored.unpaid_invoices, stored.unallocated) == (
        cny(0),
        unpaid,
        credit,
    )
    for balance, column in (
        ("open_orders", "orders"),
        ("unpaid_invoices", "invoices"),
        ("unallocated", "credit"),
    ):
        assert getattr(stored, balance) == Money.total(
            [getattr(e, column) for e in ledger], currency="CNY"
        )
    # A raced key reserved once: one event per order, from whichever worker stored it.
    assert len(reserved) == len({e.id for e in reserved}) == GROUPS * STEPS
    assert len({e.order_id for e in reserved}) == GROUPS * STEPS
    _law_at_every_commit(crm, account)


def _law_at_every_commit(crm: crmkit.CRM, account: CreditAccount) -> None:
    """Replaying the change log, each time the account is written its balances are its entries'.

    A service writes its entries before the account, in one commit: right after the account's
    change, the replayed entries are exactly those committed with it and before.
    """
    changes: list[Change] = []
    page = crm.changes_since(0, limit=1000)
    while page.changes:
        changes.extend(page.changes)
        page = crm.changes_since(page.cursor, limit=1000)
    sums = {"orders": Decimal(0), "invoices": Decimal(0), "credit": Decimal(0)}
    sequences: list[int] = []
    stored: dict[str, Any] = {}  # the account as replayed: a create, then the changed fields
    checked = 0
    for change in changes:
        if change.record == "ledger_entry" and change.after is not None:
            assert change.operation == "create", "an entry was changed"
            for column in sums:
                sums[column] += Decimal(change.after[column]["amount"])
            sequences.append(change.after["sequence"])
        elif change.record == "credit_account" and change.after is not None:
            stored.update(change.after)
            after = stored
            assert after["sequence"] == len(sequences)
            assert Decimal(after["open_orders"]["amount"]) == sums["orders"]
            assert Decimal(after["unpaid_invoices"]["amount"]) == sums["invoices"]
            assert Decimal(after["unallocated"]["amount"]) == sums["credit"]
            checked += 1
    assert sequences == list(range(1, len(sequences) + 1))
    keys = {c.after["key"] for c in changes if c.record == "ledger_entry" and c.after is not None}
    assert checked == 1 + len(keys)
    assert {c.record_id for c in changes if c.record == "credit_account"} == {account.id}
