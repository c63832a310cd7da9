"""The demo's credit desk, on the ledger.

Orders are placed until one is blocked, an approved override places it, invoices are issued and
a payment recorded, and the receivables ageing is printed. Deterministic: the customers are the
demo's, the amounts fixed, and a `FixedClock` moves the story on.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from functools import partial
from typing import Any

import crmkit
from crmkit._clock import FixedClock
from crmkit._money import Money
from crmkit.credit import (
    Bucket,
    Placement,
    approve_override,
    invoice_order,
    mark_overdue,
    open_account,
    place_order,
    record_payment,
)
from crmkit.customers import Customer
from crmkit.storage import UnitOfWork

__all__ = ["run_credit_desk"]

_ORDERS = ("21000", "18000", "15500", "9000")


def run_credit_desk(
    crm: crmkit.CRM, clock: FixedClock, customers: list[Customer], out: Callable[[str], object]
) -> None:
    """Open accounts for a few customers, sell on credit, and print what the desk decided."""
    out("\nThe credit desk: orders on credit against each customer's limit")
    chosen = customers[:6]
    with crm.unit_of_work(actor="finance") as uow:
        accounts = [
            open_account(uow, c.id, Money("60000", "CNY"), key=f"account-{c.code}") for c in chosen
        ]
    first, customer = accounts[0], chosen[0]
    tier = customer.tier.code if customer.tier else "-"
    out(f"  {customer.name} (tier {tier}), base limit {first.base_limit}:")
    blocked: tuple[Placement, Money, str] | None = None
    for n, text in enumerate(_ORDERS, start=1):
        amount, key = Money(text, "CNY"), f"SO-{n:04d}"
        placed = crm.run(
            partial(_place, account_id=first.id, amount=amount, key=key), actor="sales"
        )
        decision = placed.decision
        reasons = "" if decision is None else ", ".join(str(r.code) for r in decision.reasons)
        left = "" if decision is None else f"; available after it: {decision.available_after}"
        out(f"    order {key} of {amount}: {placed.outcome} ({reasons}){left}")
        if placed.order is None:
            blocked = (placed, amount, key)
            break
    if blocked is not None:
        placed, amount, key = blocked
        with crm.unit_of_work(actor="cfo.zhou") as uow:
            approval = approve_override(
                uow,
                first.id,
                placed.order_id,
                amount,
                approved_by="cfo.zhou",
                reason="framework contract signed; deposit received",
                key=f"OVR-{key}",
            )
        again = crm.run(
            partial(
                _place,
                account_id=first.id,
                amount=amount,
                key=key,
                order_id=placed.order_id,
                override_id=approval.id,
            ),
            actor="sales",
        )
        out(
            f"    {key} approved by {approval.approved_by} ({approval.reason}) "
            f"for {approval.amount}: placed {again.placed}, CreditOverridden recorded"
        )
    _invoice_and_collect(crm, clock, accounts, chosen, out)


def _place(uow: UnitOfWork, **arguments: Any) -> Placement:  # noqa: ANN401
    return place_order(uow, **arguments)


def _invoice_and_collect(
    crm: crmkit.CRM,
    clock: FixedClock,
    accounts: list[crmkit.credit.CreditAccount],
    customers: list[Customer],
    out: Callable[[str], object],
) -> None:
    # Every account buys; invoices fall due over the quarter; some are paid.
    with crm.unit_of_work(actor="finance") as uow:
        for i, account in enumerate(accounts):
            for j in range(3):
                amount = Money(4000 + 1500 * i + 700 * j, "CNY")
                placed = place_order(uow, account.id, amount, key=f"Q-{i}-{j}")
                if placed.order is None:
                    continue
                due = clock.now().date() + dt.timedelta(days=10 + 30 * j + 5 * i)
                invoice_order(uow, account.id, placed.order.id, key=f"I-{i}-{j}", due=due)
    with crm.unit_of_work(actor="finance") as uow:
        account = accounts[1]
        unpaid = uow.invoices.unpaid(account.id)
        paying = unpaid[0]
        payment = record_payment(
            uow,
            account.id,
            paying.amount + Money("500", "CNY"),
            key="BANK-20260302-01",
            allocations={paying.id: paying.amount},
        )
        out(
            f"  payment of {payment.amount} from {customers[1].name}: "
            f"{paying.amount} to one invoice, {payment.unallocated} kept as credit"
        )
    clock.advance(days=75)
    with crm.unit_of_work(actor="scheduler") as uow:
        late = mark_overdue(uow, clock.now(), limit=1000)
    out(f"  75 days later, {len(late)} invoices are overdue (InvoiceOverdue recorded)")
    today = clock.now().date()
    with crm.unit_of_work(actor="finance", read_only=True) as uow:
        report = uow.invoices.ageing(today)
    names = {c.id: c.name for c in customers}
    buckets = list(Bucket)
    header = "".join(f"{b.value:>11}" for b in buckets)
    out(f"\nReceivables ageing on {today} (CNY):")
    out(f"  {'customer':<28}{header}{'total':>12}")
    for customer_id, row in sorted(report.by_customer.items(), key=lambda kv: names[kv[0]]):
        cells = "".join(f"{row.buckets[b].amount:>11,.0f}" for b in buckets)
        out(f"  {_padded(names[customer_id], 28)}{cells}{row.total.amount:>12,.0f}")
    if report.total is not None:
        cells = "".join(f"{report.total.buckets[b].amount:>11,.0f}" for b in buckets)
        out(f"  {'total':<28}{cells}{report.total.total.amount:>12,.0f}")


def _padded(text: str, width: int) -> str:
    """`text` cut and padded to `width` columns of a terminal (CJK characters take two)."""
    shown, used = "", 0
    for char in text:
        size = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used + size > width - 1:
            break
        shown, used = shown + char, used + size
    return shown + " " * (width - used)
