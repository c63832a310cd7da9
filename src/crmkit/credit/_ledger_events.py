"""Events about a credit account: credit reserved, payment received, invoice overdue.

Each names the account first, so the outbox delivers one account's events in order.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import attrs

from crmkit._money import Money
from crmkit.events import DomainEvent

__all__ = ["CreditReserved", "InvoiceOverdue", "PaymentReceived"]


@attrs.frozen(kw_only=True)
class CreditReserved(DomainEvent):
    """An order was placed on credit: its amount is reserved on the account.

    `open_orders` and `unpaid_invoices` are the account's balances after the reservation.
    """

    account_id: UUID
    customer_id: UUID
    order_id: UUID
    amount: Money
    open_orders: Money
    unpaid_invoices: Money


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
