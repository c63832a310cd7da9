"""Credit: a ledger of what customers owe, credit limits, the order check, receivables ageing.

The credit-limit policy is pure: `credit_limit` starts from a customer's base limit, adjusts it
by tier and by payment history (`PaymentHistory`), adds the `TemporaryIncrease`s in force, and
returns a `CreditLimit` that lists every step. `CreditPolicy` holds the parameters, with
documented defaults a host may change.

`check_order` decides whether a customer (its `CreditPosition`: what it owes, what is overdue,
whether it is on credit hold) may take an order: a `CreditDecision` to approve, warn or block,
with every `Reason` and the figures. A block is overridden only by a recorded `CreditOverride`
naming the order and at least its amount (`covers`, `override_problem`).

`ageing` buckets open items (`OpenItem`) by days overdue per customer, per owner and in total;
`overdue_warnings`, `days_sales_outstanding` and `bad_debt_rate` complete the receivables
figures, and `period_receivables` reads a period's figures (`PeriodReceivables`) off the ledger.
They are the references the stores match: ``uow.invoices.ageing(as_of)``,
``uow.invoices.overdue_warnings(as_of)`` and ``uow.invoices.period_receivables(start, end)``
compute the same answers inside the database on SQL stores.

A customer's `CreditAccount` keeps its running balances (open orders not yet invoiced, unpaid
invoice balances, unallocated credit) in one currency; every change to them is a `LedgerEntry`
(reserve, post, settle, void), never edited or deleted, written in the same transaction as the
new balances. The documents are `Order`, `Invoice`, `Payment` (with `Allocation`s) and
`CreditNote`.

The services keep the ledger in a unit of work, each under an idempotency key and each locking
the account first: `open_account`, `place_order`, `invoice_order`, `cancel_order`,
`record_payment`, `allocate`, `issue_credit_note`, `write_off`, `mark_overdue`, `put_on_hold`
and `release_hold`; `credit_position` (or the pure `account_position`) is what a credit check
reads. `check_credit` is the dry run of the order check on a stored account; `place_order` runs
it under the account's lock and returns a `Placement` (a blocked order is not placed and records
`CreditBlocked`); `approve_override` records the approval that lets a blocked order through
(`CreditOverridden`), and `grant_increase` a temporary increase of the limit.

Examples:
    >>> import pendulum
    >>> from crmkit import Money
    >>> from crmkit.credit import CreditPosition, check_order, credit_limit
    >>> limit = credit_limit(Money("100000", "CNY"), tier="C")
    >>> limit.limit
    Money('70000.00', 'CNY')
    >>> position = CreditPosition(
    ...     unpaid_invoices=Money("50000", "CNY"), open_orders=Money("12000", "CNY"))
    >>> decision = check_order(position, limit, Money("9000", "CNY"),
    ...                        at=pendulum.datetime(2026, 3, 2))
    >>> decision.outcome, [str(r.code) for r in decision.reasons]
    (<Outcome.BLOCK: 'block'>, ['limit_exceeded'])

    >>> import datetime as dt
    >>> import crmkit
    >>> from crmkit import Money
    >>> from crmkit.credit import invoice_order, open_account, place_order, record_payment
    >>> from crmkit.customers import Customer
    >>> crm = crmkit.open("memory://")
    >>> with crm.unit_of_work(actor="li") as uow:
    ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
    ...     account = open_account(uow, acme.id, Money("50000", "CNY"), key="open")
    ...     order = place_order(uow, account.id, Money("3000", "CNY"), key="PO-1").order
    ...     invoice = invoice_order(uow, account.id, order.id, key="INV-1",
    ...                             due=dt.date(2026, 12, 31))
    ...     _ = record_payment(uow, account.id, Money("3500", "CNY"), key="BANK-1",
    ...                        allocations={invoice.id: Money("3000", "CNY")})
    ...     account = uow.credit_accounts.get(account.id)
    >>> str(account.open_orders), str(account.unpaid_invoices), str(account.unallocated)
    ('0.00 CNY', '0.00 CNY', '500.00 CNY')
"""

# --- policy, order check and ageing (pure) ---
from crmkit.credit._ageing import (
    BAD_DEBT_PLACES,
    DSO_PLACES,
    Ageing,
    AgeingRow,
    Bucket,
    OpenItem,
    OverdueWarning,
    ageing,
    bad_debt_rate,
    days_sales_outstanding,
    overdue_warnings,
)
from crmkit.credit._decision import (
    CreditDecision,
    CreditOverride,
    CreditPosition,
    Outcome,
    Reason,
    ReasonCode,
    check_order,
    covers,
    override_problem,
)

# --- the ledger and its services ---
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

# --- the credit check in a unit of work, overrides (H6) ---
from crmkit.credit._ledger_events import (
    CreditBlocked,
    CreditOverridden,
    CreditReserved,
    InvoiceOverdue,
    PaymentReceived,
)
from crmkit.credit._ledger_services import (
    allocate,
    cancel_order,
    credit_position,
    invoice_order,
    issue_credit_note,
    mark_overdue,
    open_account,
    put_on_hold,
    record_payment,
    release_hold,
    write_off,
)
from crmkit.credit._placing import (
    Placement,
    approve_override,
    check_credit,
    grant_increase,
    place_order,
)
from crmkit.credit._policy import (
    CreditLimit,
    CreditPolicy,
    ExposurePart,
    LimitStep,
    PaymentHistory,
    TemporaryIncrease,
    credit_limit,
)

# --- receivables figures of a period (the stores compute them in the database) ---
from crmkit.credit._receivables import PeriodReceivables, period_receivables

__all__ = [
    "BAD_DEBT_PLACES",
    "DSO_PLACES",
    "AccountPosition",
    "Ageing",
    "AgeingRow",
    "Allocation",
    "Bucket",
    "CreditAccount",
    "CreditBlocked",
    "CreditDecision",
    "CreditLimit",
    "CreditNote",
    "CreditOperation",
    "CreditOverridden",
    "CreditOverride",
    "CreditPolicy",
    "CreditPosition",
    "CreditReserved",
    "DocumentKind",
    "EntryKind",
    "ExposurePart",
    "Invoice",
    "InvoiceOverdue",
    "InvoiceStatus",
    "LedgerEntry",
    "LimitStep",
    "OpenItem",
    "Order",
    "OrderStatus",
    "Outcome",
    "OverdueWarning",
    "Payment",
    "PaymentHistory",
    "PaymentReceived",
    "PeriodReceivables",
    "Placement",
    "Reason",
    "ReasonCode",
    "TemporaryIncrease",
    "account_position",
    "ageing",
    "allocate",
    "approve_override",
    "bad_debt_rate",
    "cancel_order",
    "check_credit",
    "check_order",
    "covers",
    "credit_limit",
    "credit_position",
    "days_sales_outstanding",
    "grant_increase",
    "invoice_order",
    "issue_credit_note",
    "mark_overdue",
    "open_account",
    "overdue_warnings",
    "override_problem",
    "period_receivables",
    "place_order",
    "put_on_hold",
    "record_payment",
    "release_hold",
    "write_off",
]
