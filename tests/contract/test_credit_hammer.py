"""The credit ledger hammered like a bank: many workers, separate connections, a few customers.

Workers place orders (checked against each customer's limit), invoice, pay and cancel them at
once, each on a CRM of its own, through `crmkit.CRM.run`. Afterwards, and at every committed
point of the change log: no account's approved exposure is above its limit (no override was
given), no entry is lost or doubled, and every running balance equals the sum of its entries.

A busy account is normal, so contention must not turn into failures: sixteen workers on one
customer finish at least 99% of their calls within the default retry budget, because every
service locks the account before it reads (writers queue on the lock instead of conflicting).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import crmkit
from crmkit import Money
from crmkit.credit import (
    Outcome,
    cancel_order,
    invoice_order,
    open_account,
    place_order,
    record_payment,
)
from crmkit.customers import DEFAULT_TIERS, Customer
from crmkit.errors import RetriesExhausted
from crmkit.storage import UnitOfWork
from crmkit.storage._changes import Change

from .conftest import Backend

LIMIT = 5_000
DUE = "2026-04-30"


def cny(amount: int | str) -> Money:
    return Money(amount, "CNY")


def _at_once(backend: Backend, workers: int, work: Callable[[crmkit.CRM, int], None]) -> float:
    """Run `work(crm, n)` on `workers` threads, each with a CRM of its own; the seconds taken."""
    failures: list[BaseException] = []
    start = threading.Barrier(workers + 1)

    def worker(n: int) -> None:
        crm = backend.crm()
        try:
            start.wait(timeout=30)
            work(crm, n)
        except BaseException as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    start.wait(timeout=30)
    began = time.perf_counter()
    for t in threads:
        t.join(timeout=300)
    assert failures == []
    return time.perf_counter() - began


def _accounts(crm: crmkit.CRM, count: int) -> list[Any]:
    made = []
    with crm.unit_of_work(actor="setup") as uow:
        for i in range(count):
            customer = Customer(name=f"Customer {i}", owner_id="li", tier=DEFAULT_TIERS["B"])
            uow.customers.add(customer)
            made.append(open_account(uow, customer.id, cny(LIMIT), key=f"open-{i}"))
    return made


def _lifecycle(
    run: Callable[[Callable[[UnitOfWork], Any]], Any], account_id: Any, key: str, step: int
) -> str:
    """Place an order and take it through one of four fates; what happened, in a word."""
    amount = cny(300 + 37 * (step % 11))
    placed = run(lambda uow: place_order(uow, account_id, amount, key=f"{key}-o"))
    if placed.outcome is Outcome.BLOCK:
        return "blocked"
    order = placed.order
    fate = step % 4
    if fate == 0:
        run(lambda uow: cancel_order(uow, account_id, order.id, key=f"{key}-c"))
        return "cancelled"
    invoice = run(
        lambda uow: invoice_order(
            uow, account_id, order.id, key=f"{key}-i", due=crmkit.to_utc(f"{DUE}T00:00:00Z").date()
        )
    )
    if fate in (1, 2):
        run(
            lambda uow: record_payment(
                uow, account_id, amount, key=f"{key}-p", allocations={invoice.id: amount}
            )
        )
        return "paid"
    return "invoiced"


def test_workers_on_a_few_customers_never_pass_a_limit_and_lose_nothing(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    crm = backend.fresh()
    accounts = _accounts(crm, 3)
    workers, steps = 8, 25
    attempts = 5 if backend.name in ("postgres", "mysql") else 200
    fates: Counter[str] = Counter()
    tries: Counter[str] = Counter()

    def work(worker: crmkit.CRM, n: int) -> None:
        def run(call: Callable[[UnitOfWork], Any]) -> Any:
            def counted(uow: UnitOfWork) -> Any:
                tries["attempts"] += 1
                return call(uow)

            tries["calls"] += 1
            return worker.run(counted, actor=f"w{n}", attempts=attempts, backoff=0.002)

        for i in range(steps):
            account = accounts[(n + i) % len(accounts)]
            fates[_lifecycle(run, account.id, f"w{n}-{i}", n + i)] += 1

    _at_once(backend, workers, work)
    assert sum(fates.values()) == workers * steps
    assert fates["blocked"] > 0, "the limits were never reached: the test proves nothing"
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        for account in accounts:
            stored = uow.credit_accounts.get(account.id)
            ledger = uow.ledger_entries.of_account(account.id)
            assert [e.sequence for e in ledger] == list(range(1, stored.sequence + 1))
            assert len({(e.key, e.kind, e.document_id) for e in ledger}) == len(ledger)
            for balance, column in (
                ("open_orders", "orders"),
                ("unpaid_invoices", "invoices"),
                ("unallocated", "credit"),
            ):
                total = Money.total([getattr(e, column) for e in ledger], currency="CNY")
                assert getattr(stored, balance) == total
    checked = _never_above_the_limit(crm, {a.id for a in accounts})
    with capsys.disabled():
        print(
            f"\n[{backend.name}] {workers} workers, 3 customers: {tries['calls']} calls "
            f"({dict(sorted(fates.items()))} orders), {tries['attempts'] - tries['calls']} "
            f"retries; limit and balances checked at {checked} committed account states"
        )


def _never_above_the_limit(crm: crmkit.CRM, accounts: set[Any]) -> int:
    """Replay the change log: each account, each time it was written, within its limit.

    Returns how many committed account states were checked.
    """
    changes: list[Change] = []
    page = crm.changes_since(0, limit=1000)
    while page.changes:
        changes.extend(page.changes)
        page = crm.changes_since(page.cursor, limit=1000)
    replayed: dict[Any, dict[str, Any]] = {}
    sums: dict[Any, Decimal] = Counter()  # type: ignore[assignment]
    checked = 0
    for change in changes:
        if change.record == "ledger_entry" and change.after is not None:
            after = change.after
            sums[after["account_id"]] += Decimal(after["orders"]["amount"]) + Decimal(
                after["invoices"]["amount"]
            )
        elif change.record == "credit_account" and change.after is not None:
            state = replayed.setdefault(change.record_id, {})
            state.update(change.after)
            exposure = Decimal(state["open_orders"]["amount"]) + Decimal(
                state["unpaid_invoices"]["amount"]
            )
            assert exposure == sums[str(change.record_id)], "a balance is not its entries' sum"
            assert exposure <= LIMIT, f"exposure {exposure} passed the limit at change {change.seq}"
            checked += 1
    assert set(replayed) == accounts
    assert checked > len(accounts)
    return checked


def test_sixteen_workers_on_one_customer_succeed_within_the_default_retry_budget(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend.name == "memory":
        pytest.skip("the memory store never waits for a lock: its writers retry by design")
    crm = backend.fresh()
    (account,) = _accounts(crm, 1)
    calls: Counter[str] = Counter()

    def hammer(workers: int, steps: int, tag: str) -> float:
        def work(worker: crmkit.CRM, n: int) -> None:
            def run(call: Callable[[UnitOfWork], Any]) -> Any:
                calls["calls"] += 1
                try:
                    return worker.run(call, actor=f"w{n}")  # the default retry budget
                except RetriesExhausted:
                    calls["exhausted"] += 1
                    raise

            for i in range(steps):
                try:
                    # Small orders, all paid: the limit is never the point here.
                    _lifecycle(run, account.id, f"{tag}{n}-{i}", 4 * i + 1)
                except RetriesExhausted:
                    continue

        return _at_once(backend, workers, work)

    alone = hammer(1, 20, "solo")
    solo_calls = calls["calls"]
    busy = hammer(16, 10, "busy")
    busy_calls = calls["calls"] - solo_calls
    failed = calls["exhausted"]
    assert failed <= 0.01 * busy_calls, f"{failed} of {busy_calls} calls ran out of retries"
    with capsys.disabled():
        print(
            f"\n[{backend.name}] 16 workers on one customer: {busy_calls} calls, "
            f"{failed} out of retries, {busy_calls / busy:.0f} calls/s; "
            f"one worker: {solo_calls / alone:.0f} calls/s"
        )
