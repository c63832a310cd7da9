"""Credit check benchmark: checking an order costs the same at 100 and at 100,000 past invoices.

    python bench/credit.py --size 100000

Two customers' accounts share one SQLite file: a small one with 100 past invoices and a large
one with ``--size`` (each invoice ordered, invoiced and paid: three ledger entries), stored in
bulk through crmkit's repositories in batches of 10,000, consistent with the running balances.
Each then gets the same few unpaid invoices, one of them overdue, through the services. Then, in
the same run, for each account:

- **crmkit's check**: ``check_credit`` (the dry run of ``place_order``) in a read-only unit of
  work: the account's running balances, its customer's tier and an indexed query for the
  overdue invoices; it never sums the history. Timed ``--repeat`` times; the median counts.
- **summing the history** (the baseline a ledger without running balances has): the same
  figures from ``SUM`` over the account's entries in plain ``sqlite3``, timed the same way.

The last line is ``RESULT {json}``; ``ratio`` is crmkit's median check at ``--size`` past
invoices over its median at 100 (goal: at most 1.2; must be at most 1.5); ``sum_ratio`` is the
same for summing the history, to show what the running balances save.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from uuid import UUID

import pendulum

import crmkit
from crmkit import Money
from crmkit.credit import (
    CreditAccount,
    CreditDecision,
    DocumentKind,
    EntryKind,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Order,
    OrderStatus,
    check_credit,
    invoice_order,
    open_account,
    place_order,
)
from crmkit.customers import DEFAULT_TIERS, Customer

TENANT = "default"
BATCH = 10_000
SMALL = 100
NOW = pendulum.datetime(2026, 3, 2, 9)
AMOUNT = Money("1200.00", "CNY")


def _history(
    account: CreditAccount, size: int
) -> tuple[list[Order], list[Invoice], list[LedgerEntry]]:
    """`size` orders, each invoiced and paid, with their three entries, oldest first."""
    orders, invoices, entries = [], [], []
    zero = Money.zero("CNY")
    for i in range(size):
        at = NOW.subtract(days=size - i)
        order = Order(
            account_id=account.id,
            amount=AMOUNT,
            placed_at=at,
            invoiced=AMOUNT,
            status=OrderStatus.INVOICED,
        )
        invoice = Invoice(
            account_id=account.id,
            amount=AMOUNT,
            issued_at=at,
            due=at.date() + dt.timedelta(days=30),
            order_id=order.id,
            settled=AMOUNT,
            status=InvoiceStatus.PAID,
        )
        orders.append(order)
        invoices.append(invoice)
        key = f"history-{i}"
        for n, (kind, doc, doc_id, effects) in enumerate(
            (
                (EntryKind.RESERVE, DocumentKind.ORDER, order.id, (AMOUNT, zero)),
                (EntryKind.POST, DocumentKind.INVOICE, invoice.id, (-AMOUNT, AMOUNT)),
                (EntryKind.SETTLE, DocumentKind.INVOICE, invoice.id, (zero, -AMOUNT)),
            ),
            start=1,
        ):
            entries.append(
                LedgerEntry(
                    account_id=account.id,
                    sequence=3 * i + n,
                    kind=kind,
                    document=doc,
                    document_id=doc_id,
                    amount=AMOUNT,
                    orders=effects[0],
                    invoices=effects[1],
                    credit=zero,
                    at=at,
                    key=key,
                )
            )
    return orders, invoices, entries


def _fill(crm: crmkit.CRM, size: int) -> UUID:
    """A customer's account with `size` paid invoices, then three unpaid ones, one overdue."""
    with crm.unit_of_work(actor="bench") as uow:
        customer = Customer(
            name=f"Customer with {size} invoices", owner_id="li", tier=DEFAULT_TIERS["A"]
        )
        uow.customers.add(customer)
        account = open_account(uow, customer.id, Money("1000000", "CNY"), key=f"open-{size}")
    orders, invoices, entries = _history(account, size)
    for start in range(0, size, BATCH):
        with crm.unit_of_work(actor="bench") as uow:
            uow.orders.add_many(orders[start : start + BATCH])
            uow.invoices.add_many(invoices[start : start + BATCH])
            uow.ledger_entries.add_many(entries[3 * start : 3 * (start + BATCH)])
    with crm.unit_of_work(actor="bench") as uow:
        stored = uow.credit_accounts.lock(account.id)
        stored.sequence = 3 * size
        uow.credit_accounts.update(stored)
        today = NOW.date()
        for n, due in enumerate((today - dt.timedelta(days=10), today, today)):
            placed = place_order(uow, account.id, AMOUNT, key=f"unpaid-{size}-{n}")
            assert placed.order is not None, placed.decision  # noqa: S101
            invoice_order(uow, account.id, placed.order.id, key=f"unpaid-{size}-{n}-i", due=due)
    return account.id


def _median(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--size", type=int, default=100_000, help="past invoices of the large account"
    )
    parser.add_argument("--repeat", type=int, default=300, help="checks timed per account")
    args = parser.parse_args()
    size = max(args.size, SMALL + 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "credit.db"
        crm = crmkit.open(f"sqlite:///{path}", create=True, clock=crmkit.FixedClock(NOW))
        started = time.perf_counter()
        accounts = {SMALL: _fill(crm, SMALL), size: _fill(crm, size)}
        load_s = time.perf_counter() - started
        prefix = crm.store.tables.prefix  # type: ignore[attr-defined]
        db = sqlite3.connect(path)

        def check(account_id: UUID) -> CreditDecision:
            with crm.unit_of_work(actor="bench", read_only=True) as uow:
                return check_credit(uow, account_id, AMOUNT)

        def summed(account_id: UUID) -> object:
            return db.execute(
                f"SELECT sum(orders), sum(invoices), sum(credit), count(*) "
                f"FROM {prefix}credit_ledger WHERE tenant_id = ? AND account_id = ?",
                (TENANT, account_id.bytes),
            ).fetchone()

        small, large = check(accounts[SMALL]), check(accounts[size])
        if (small.outcome, small.reasons) != (large.outcome, large.reasons):
            raise SystemExit(f"the two accounts' checks differ: {small} and {large}")
        crmkit_s = {n: _median(partial(check, a), args.repeat) for n, a in accounts.items()}
        sum_s = {n: _median(partial(summed, a), args.repeat) for n, a in accounts.items()}
        db.close()
        crm.close()
    ratio = crmkit_s[size] / crmkit_s[SMALL]
    sum_ratio = sum_s[size] / sum_s[SMALL]
    print(f"past invoices: {SMALL} and {size} (stored in {load_s:.1f} s)")
    print(
        f"crmkit check (median of {args.repeat}): {crmkit_s[SMALL] * 1e3:.3f} ms and "
        f"{crmkit_s[size] * 1e3:.3f} ms: ratio {ratio:.2f} (goal <= 1.2, must be <= 1.5)"
    )
    print(
        f"summing the history instead: {sum_s[SMALL] * 1e3:.3f} ms and "
        f"{sum_s[size] * 1e3:.3f} ms: ratio {sum_ratio:.1f}"
    )
    result = {
        "sizes": [SMALL, size],
        "check_s": [round(crmkit_s[SMALL], 6), round(crmkit_s[size], 6)],
        "sum_history_s": [round(sum_s[SMALL], 6), round(sum_s[size], 6)],
        "ratio": round(ratio, 3),
        "sum_ratio": round(sum_ratio, 3),
        "repeat": args.repeat,
        "load_s": round(load_s, 2),
        "size": size,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
