"""Credit: what customers owe, kept as a ledger, and the checks that protect a business.

A customer's `CreditAccount` keeps its running balances (open orders not yet invoiced, unpaid
invoice balances, unallocated credit) in one currency; every change to them is a `LedgerEntry`
(reserve, post, settle, void), never edited or deleted, written in the same transaction as the
new balances. The documents are `Order`, `Invoice`, `Payment` (with `Allocation`s) and
`CreditNote`.

The services keep the ledger in a unit of work, each under an idempotency key and each locking
the account first: `open_account`, `place_order`, `invoice_order`, `cancel_order`,
`record_payment`, `allocate`, `issue_credit_note`, `write_off`, `mark_overdue`, `put_on_hold`
and `release_hold`; `credit_position` (or the pure `account_position`) is what a credit check
reads.

Examples:
    >>> import datetime as dt
    >>> import crmkit
    >>> from crmkit import Money
    >>> from crmkit.credit import invoice_order, open_account, place_order, record_payment
    >>> from crmkit.customers import Customer
    >>> crm = crmkit.open("memory://")
    >>> with crm.unit_of_work(actor="li") as uow:
    ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
    ...     account = open_account(uow, acme.id, Money("50000", "CNY"), key="open")
    ...     order = place_order(uow, account.id, Money("3000", "CNY"), key="PO-1")
    ...     invoice = invoice_order(uow, account.id, order.id, key="INV-1",
    ...                             due=dt.date(2026, 12, 31))
    ...     _ = record_payment(uow, account.id, Money("3500", "CNY"), key="BANK-1",
    ...                        allocations={invoice.id: Money("3000", "CNY")})
    ...     account = uow.credit_accounts.get(account.id)
    >>> str(account.open_orders), str(account.unpaid_invoices), str(account.unallocated)
    ('0.00 CNY', '0.00 CNY', '500.00 CNY')
"""

# --- the ledger (H5) ---
from crmkit.credit._ledger import (
    AccountPosition,
    Allocation,
    CreditAccount,
    CreditNote,
    CreditOperation,
    DocumentKind,
    EntryKind,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Order,
    OrderStatus,
    Payment,
    account_position,
)
from crmkit.credit._ledger_events import CreditReserved, InvoiceOverdue, PaymentReceived
from crmkit.credit._ledger_services import (
    allocate,
    cancel_order,
    credit_position,
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

__all__ = [
    "AccountPosition",
    "Allocation",
    "CreditAccount",
    "CreditNote",
    "CreditOperation",
    "CreditReserved",
    "DocumentKind",
    "EntryKind",
    "Invoice",
    "InvoiceOverdue",
    "InvoiceStatus",
    "LedgerEntry",
    "Order",
    "OrderStatus",
    "Payment",
    "PaymentReceived",
    "account_position",
    "allocate",
    "cancel_order",
    "credit_position",
    "invoice_order",
    "issue_credit_note",
    "mark_overdue",
    "open_account",
    "place_order",
    "put_on_hold",
    "record_payment",
    "release_hold",
    "write_off",
]
