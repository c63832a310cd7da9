"""Workers placing orders against one account with a limit at once, each on its own connection:
the approved exposure never exceeds the limit, after all and at every committed point.

`place_order` checks the order after locking the account, so orders of one customer queue on
the lock and each sees the reservations committed before it. Each worker runs its calls through
`crmkit.CRM.run`; the servers keep the default retry budget, SQLite (one writer, busy errors)
and the memory store (optimistic: the loser of a race runs again) get more attempts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import crmkit
from crmkit import Money
from crmkit.credit import (
    CreditBlocked,
    CreditReserved,
    Outcome,
    Placement,
    open_account,
    place_order,
)
from crmkit.customers import Customer
from crmkit.storage import UnitOfWork
from crmkit.storage._changes import Change

from .conftest import Backend

WORKERS = 8
ORDERS = 8  # each worker's
SIZE = 25
LIMIT = 1000  # room for 40 of the 64 orders


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


def test_orders_placed_at_once_never_take_exposure_past_the_limit(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="setup") as uow:
        uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        account = open_account(uow, acme.id, cny(LIMIT), key="open")
    attempts = 5 if backend.name in ("postgres", "mysql") else 500
    outcomes: list[Outcome] = []
    reserved: list[CreditReserved] = []
    blocked: list[CreditBlocked] = []

    def work(worker: crmkit.CRM, n: int) -> None:
        worker.subscribe(CreditReserved, reserved.append)
        worker.subscribe(CreditBlocked, blocked.append)
        for i in range(ORDERS):

            def one(uow: UnitOfWork, key: str = f"w{n}-{i}") -> Placement:
                return place_order(uow, account.id, cny(SIZE), key=key)

            placed = worker.run(
                one,
                actor=f"w{n}",
                attempts=attempts,
                backoff=0.002,
            )
            outcomes.append(placed.outcome)

    _at_once(backend, work)
    crm.subscribe(CreditReserved, reserved.append)
    crm.subscribe(CreditBlocked, blocked.append)
    crm.relay()
    fits = LIMIT // SIZE
    assert len(outcomes) == WORKERS * ORDERS
    assert sum(o is not Outcome.BLOCK for o in outcomes) == fits
    assert outcomes.count(Outcome.BLOCK) == WORKERS * ORDERS - fits
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        stored = uow.credit_accounts.get(account.id)
        assert uow.orders.count() == fits
        ledger = uow.ledger_entries.of_account(account.id)
    total = Money.total([e.orders for e in ledger], currency="CNY")
    assert stored.open_orders == cny(LIMIT) == total
    assert len({e.order_id for e in reserved}) == len(reserved) == fits
    assert all(e.open_orders <= cny(LIMIT) for e in reserved)
    assert len({e.id for e in blocked}) == len(blocked) == WORKERS * ORDERS - fits
    assert all(e.exposure_before + e.amount > cny(LIMIT) for e in blocked)
    _within_the_limit_at_every_commit(crm)


def _within_the_limit_at_every_commit(crm: crmkit.CRM) -> None:
    """Replaying the change log: each committed state of the account is within its limit."""
    changes: list[Change] = []
    page = crm.changes_since(0, limit=1000)
    while page.changes:
        changes.extend(page.changes)
        page = crm.changes_since(page.cursor, limit=1000)
    stored: dict[str, Any] = {}
    seen = 0
    for change in changes:
        if change.record == "credit_account" and change.after is not None:
            stored.update(change.after)
            assert Decimal(stored["open_orders"]["amount"]) <= LIMIT
            seen += 1
    assert seen == 1 + LIMIT // SIZE  # opened, then one write per order placed
