"""Events about a credit account: credit reserved, blocked or overridden, payment received, ...

Each names the account first, so the outbox delivers one account's events in order.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import attrs

from crmkit._money import Money
from crmkit.credit._decision import Outcome
from crmkit.events import DomainEvent

__all__ = [
    "CreditBlocked",
    "CreditOverridden",
    "CreditReserved",
    "InvoiceOverdue",
    "PaymentReceived",
]


@attrs.frozen(kw_only=True)
class CreditReserved(DomainEvent):
    """An order was placed on credit: its amount is reserved on the account.

    `open_orders` and `unpaid_invoices` are the account's balances after the reservation;
    `outcome` is what the credit check decided (``block`` when placed through an override) and
    `reasons` its reason codes, worst first.
    """

    account_id: UUID
    customer_id: UUID
    order_id: UUID
    amount: Money
    open_orders: Money
    unpaid_invoices: Money
    outcome: Outcome | None = None
    reasons: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class CreditBlocked(DomainEvent):
    """The credit check blocked an order: nothing was reserved.

    `order_id` is the id the order would have had (an override names it); `reasons` are the
    reason codes and `messages` the reasons in words, worst first; the figures are the check's.
    """

    account_id: UUID
    customer_id: UUID
    order_id: UUID
    amount: Money
    reasons: tuple[str, ...]
    messages: tuple[str, ...]
    limit: Money
    exposure_before: Money
    exposure_after: Money
    available: Money
    overdue_amount: Money
    oldest_overdue_days: int
    on_hold: bool


@attrs.frozen(kw_only=True)
class CreditOverridden(DomainEvent):
    """A blocked order was placed through a recorded override: who approved it, why, how much.

    `reasons` are the codes of the block it overrode.
    """

    account_id: UUID
    customer_id: UUID
    order_id: UUID
    override_id: UUID
    amount: Money
    approved: Money
    approved_by: str
    reason: str
    reasons: tuple[str, ...]


@attrs.frozen(kw_only=True)
class PaymentReceived(DomainEvent):
    """A payment was recorded: `allocated` went to invoices, `unallocated` is kept as credit."""

    account_id: UUID
    customer_id: UUID
    payment_id: UUID
    amount: Money
    allocated: Money
    unallocated: Money


@attrs.frozen(kw_only=True)
class InvoiceOverdue(DomainEvent):
    """An invoice passed its due date unpaid; `balance` is what is left to pay."""

    account_id: UUID
    customer_id: UUID
    invoice_id: UUID
    due: dt.date
    balance: Money
