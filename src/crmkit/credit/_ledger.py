"""The credit ledger: accounts with running balances, the documents, and the entries that move them.

A customer's `CreditAccount` keeps, in one currency, three running balances: open orders not yet
invoiced, unpaid invoice balances and unallocated credit. Every change to them is a
`LedgerEntry` (reserve, post, settle, void) whose signed effects on the three balances are
stored with it; entries are numbered per account, never edited or deleted, and a correction is
a new entry. So the balances always equal the sums of the entries' effects, and a credit check
reads one row instead of the history.

The documents are the `Order` (reserved credit), the `Invoice` (posted), the `Payment` (settling
invoices through its `Allocation`s, the rest kept as credit) and the `CreditNote`. A
`CreditOperation` records each service call under its idempotency key, so that a repeat returns
the first result instead of writing twice.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

import attrs
import pendulum

from crmkit._ids import new_id
from crmkit._money import Money, minor_units
from crmkit._validation import (
    ON_SETATTR,
    Validated,
    as_tuple,
    check,
    each,
    instance_of,
    optional,
    text,
)
from crmkit.credit._decision import Outcome
from crmkit.credit._policy import TemporaryIncrease
from crmkit.customers._model import _instant, _uuid, version_check
from crmkit.errors import Issue, ValidationError

__all__ = [
    "AccountPosition",
    "Allocation",
    "CreditAccount",
    "CreditNote",
    "CreditOperation",
    "DocumentKind",
    "EntryKind",
    "Invoice",
    "InvoiceStatus",
    "LedgerEntry",
    "Order",
    "OrderStatus",
    "Payment",
    "account_position",
]

# The largest sequence number or count: what a 32-bit integer column holds on every store.
_MAX_COUNT = 2**31 - 1

KEY_LENGTH = 128
"""The most characters of an idempotency key."""


# The currency of a default balance when the field it follows is bad: that field's own issue is
# reported, and the invariants (which would compare currencies) do not run.
_PLACEHOLDER = "USD"

# --- checks ---------------------------------------------------------------------------------------


def _currency(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be an ISO 4217 code, not {type(value).__name__}"
    try:
        minor_units(value)
    except ValidationError:
        return f"{value[:10]!r} is not an ISO 4217 currency code"
    return None


def _money(value: object) -> str | None:
    if not isinstance(value, Money):
        return f"must be Money, not {type(value).__name__}"
    return None


def _not_negative(value: object) -> str | None:
    problem = _money(value)
    if problem is None and value.amount < 0:  # type: ignore[attr-defined]
        return f"{value} must not be negative"
    return problem


def _positive(value: object) -> str | None:
    problem = _money(value)
    if problem is None and value.amount <= 0:  # type: ignore[attr-defined]
        return f"{value} must be more than zero"
    return problem


def _count(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, not {type(value).__name__}"
    if not 0 <= value <= _MAX_COUNT:
        return f"{value} is out of range (0 to {_MAX_COUNT})"
    return None


def _date(value: object) -> str | None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        return f"must be a date, not {type(value).__name__}"
    return None


def _rate(value: object) -> str | None:
    if not isinstance(value, Decimal):
        return f"must be a Decimal, not {type(value).__name__}"
    if not value.is_finite() or value <= 0:
        return f"{value} is not a positive exchange rate"
    return None


_key = text(max_length=KEY_LENGTH)
_reference = text(max_length=64)
_reason = text(max_length=500)


def _same_currency(currency: str, **amounts: Money | None) -> list[Issue]:
    return [
        Issue(name, f"is in {money.currency}, not the account's {currency}")
        for name, money in amounts.items()
        if money is not None and money.currency != currency
    ]


# --- the account ----------------------------------------------------------------------------------


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class CreditAccount(Validated):
    """A customer's credit account: its currency, limit, hold, and running balances.

    The balances change only through `apply`, one `LedgerEntry` at a time, in the same unit of
    work that stores the entry; `sequence` is the number of the last entry applied.

    Examples:
        >>> import pendulum
        >>> from crmkit import Money, new_id
        >>> from crmkit.credit import CreditAccount
        >>> account = CreditAccount(customer_id=new_id(), base_limit=Money("50000", "CNY"),
        ...                         opened_at=pendulum.datetime(2026, 3, 2))
        >>> account.currency, str(account.open_orders), account.sequence
        ('CNY', '0.00 CNY', 0)

    Attributes:
        customer_id: the customer (one account per customer).
        base_limit: the credit limit before any policy adjusts it, in the account's currency.
        opened_at: when the account was opened (UTC).
        id: the account's identifier; a new UUIDv7 by default.
        currency: the account's currency; the base limit's by default.
        on_hold: whether the customer is on credit hold.
        hold_reason: why, set exactly when on hold.
        increases: the temporary increases granted (see `grant_increase`), expired ones too:
            the credit check counts those in force at its moment.
        open_orders: ordered amounts not yet invoiced (nor cancelled).
        unpaid_invoices: the invoices' balances not yet paid, credited or written off.
        unallocated: money received (or credited) not yet allocated to an invoice.
        sequence: the number of the last entry applied (0 before the first).
        version: how many times the account was stored; 0 until it is first added.
    """

    customer_id: UUID = attrs.field(metadata=check(_uuid))
    base_limit: Money = attrs.field(metadata=check(_not_negative))
    opened_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    currency: str = attrs.field(metadata=check(_currency))
    on_hold: bool = attrs.field(default=False, metadata=check(instance_of(bool)))
    hold_reason: str | None = attrs.field(default=None, metadata=check(optional(_reason)))
    increases: tuple[TemporaryIncrease, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(TemporaryIncrease)))
    )
    open_orders: Money = attrs.field(metadata=check(_not_negative))
    unpaid_invoices: Money = attrs.field(metadata=check(_not_negative))
    unallocated: Money = attrs.field(metadata=check(_not_negative))
    sequence: int = attrs.field(default=0, metadata=check(_count))
    version: int = attrs.field(default=0, metadata=check(version_check))

    @currency.default
    def _currency_of_limit(self) -> str:
        return self.base_limit.currency if isinstance(self.base_limit, Money) else _PLACEHOLDER

    @open_orders.default
    def _zero_orders(self) -> Money:
        return Money.zero(self._unit())

    @unpaid_invoices.default
    def _zero_invoices(self) -> Money:
        return Money.zero(self._unit())

    @unallocated.default
    def _zero_credit(self) -> Money:
        return Money.zero(self._unit())

    def _unit(self) -> str:
        return self.currency if _currency(self.currency) is None else _PLACEHOLDER

    def _invariants(self) -> list[Issue]:
        found = _same_currency(
            self.currency,
            base_limit=self.base_limit,
            open_orders=self.open_orders,
            unpaid_invoices=self.unpaid_invoices,
            unallocated=self.unallocated,
            **{f"increases[{i}].amount": x.amount for i, x in enumerate(self.increases)},
        )
        seen: set[UUID] = set()
        for i, increase in enumerate(self.increases):
            if increase.id in seen:
                found.append(Issue(f"increases[{i}].id", "names an increase twice"))
            seen.add(increase.id)
        if (self.hold_reason is not None) != self.on_hold:
            found.append(Issue("hold_reason", "must be set exactly when the account is on hold"))
        return found

    def apply(self, entry: LedgerEntry) -> None:
        """Move the balances by `entry`'s effects; it must be the account's next entry.

        Raises:
            ValidationError: `entry` is not the next entry of this account, is in another
                currency, or would take a balance below zero; nothing changes.
        """
        if not isinstance(entry, LedgerEntry):
            raise ValidationError.of("entry", f"must be a LedgerEntry, not {type(entry).__name__}")
        if entry.account_id != self.id:
            raise ValidationError.of("entry.account_id", "is not this account")
        if entry.sequence != self.sequence + 1:
            raise ValidationError.of(
                "entry.sequence", f"is {entry.sequence}, not the next one ({self.sequence + 1})"
            )
        if entry.amount.currency != self.currency:
            raise ValidationError.of(
                "entry.amount", f"is in {entry.amount.currency}, not the account's {self.currency}"
            )
        orders = self.open_orders + entry.orders
        invoices = self.unpaid_invoices + entry.invoices
        credit = self.unallocated + entry.credit
        for name, after in (("open_orders", orders), ("unpaid_invoices", invoices)):
            if after.amount < 0:
                raise ValidationError.of(name, f"would fall below zero ({after})")
        if credit.amount < 0:
            raise ValidationError.of("unallocated", f"would fall below zero ({credit})")
        self.open_orders, self.unpaid_invoices, self.unallocated = orders, invoices, credit
        self.sequence = entry.sequence


# --- documents ------------------------------------------------------------------------------------


class OrderStatus(enum.StrEnum):
    """Where an order stands: nothing invoiced, some, all of it, or cancelled before any."""

    OPEN = "open"
    PARTLY_INVOICED = "partly_invoiced"
    INVOICED = "invoiced"
    CANCELLED = "cancelled"


def _order_status(amount: Money, invoiced: Money, cancelled: Money) -> OrderStatus:
    if invoiced.amount == 0:
        return OrderStatus.CANCELLED if cancelled.amount > 0 else OrderStatus.OPEN
    if invoiced.amount + cancelled.amount < amount.amount:
        return OrderStatus.PARTLY_INVOICED
    return OrderStatus.INVOICED


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Order(Validated):
    """An order placed on credit: its amount is reserved until invoiced or cancelled.

    Attributes:
        account_id: the credit account.
        amount: the ordered amount, in the account's currency.
        placed_at: when it was placed (UTC).
        id: the order's identifier; a new UUIDv7 by default.
        reference: the host's order number, if any.
        invoiced: how much of it was invoiced.
        cancelled: how much of it was cancelled (the rest when it was cancelled).
        status: open, partly invoiced, invoiced (nothing left open; the rest may have been
            cancelled) or cancelled (before anything was invoiced).
        outcome: what the credit check decided when it was placed (``block`` when it was
            placed through an override); ``None`` for an order placed without a check.
        override_id: the `CreditOverride` it was placed through, if any.
        version: how many times the order was stored; 0 until it is first added.
    """

    account_id: UUID = attrs.field(metadata=check(_uuid))
    amount: Money = attrs.field(metadata=check(_positive))
    placed_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    reference: str | None = attrs.field(default=None, metadata=check(optional(_reference)))
    invoiced: Money = attrs.field(metadata=check(_not_negative))
    cancelled: Money = attrs.field(metadata=check(_not_negative))
    status: OrderStatus = attrs.field(
        default=OrderStatus.OPEN, metadata=check(instance_of(OrderStatus))
    )
    outcome: Outcome | None = attrs.field(
        default=None, metadata=check(optional(instance_of(Outcome)))
    )
    override_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    version: int = attrs.field(default=0, metadata=check(version_check))

    @invoiced.default
    def _no_invoiced(self) -> Money:
        return _zero_like(self.amount)

    @cancelled.default
    def _no_cancelled(self) -> Money:
        return _zero_like(self.amount)

    def _invariants(self) -> list[Issue]:
        found = _same_currency(
            self.amount.currency, invoiced=self.invoiced, cancelled=self.cancelled
        )
        if found:
            return found
        if self.invoiced.amount + self.cancelled.amount > self.amount.amount:
            return [Issue("invoiced", "and cancelled together exceed the amount")]
        expected = _order_status(self.amount, self.invoiced, self.cancelled)
        if self.status is not expected:
            found.append(Issue("status", f"is {self.status}, but the amounts say {expected}"))
        if (self.override_id is not None) != (self.outcome is Outcome.BLOCK):
            found.append(Issue("override_id", "is set exactly when a blocked order was placed"))
        return found

    @property
    def open_amount(self) -> Money:
        """What is neither invoiced nor cancelled."""
        return self.amount - self.invoiced - self.cancelled

    def invoice(self, amount: Money) -> None:
        """Invoice `amount` of what is still open.

        Raises:
            ValidationError: `amount` is not positive money in the order's currency, or more
                than is open.
        """
        self._take(amount, "amount", "invoice")
        self.invoiced = self.invoiced + amount
        self.status = _order_status(self.amount, self.invoiced, self.cancelled)

    def cancel(self) -> Money:
        """Cancel what is still open, returning it.

        Raises:
            ValidationError: nothing is open (the order is invoiced or cancelled already).
        """
        rest = self.open_amount
        if rest.amount == 0:
            raise ValidationError.of("status", f"the order is {self.status}; nothing to cancel")
        self.cancelled = self.cancelled + rest
        self.status = _order_status(self.amount, self.invoiced, self.cancelled)
        return rest

    def _take(self, amount: object, name: str, doing: str) -> None:
        problem = _positive(amount)
        if problem is None and amount.currency != self.amount.currency:  # type: ignore[attr-defined]
            problem = f"is in {amount.currency}, not the order's {self.amount.currency}"  # type: ignore[attr-defined]
        if problem is not None:
            raise ValidationError.of(name, problem)
        assert isinstance(amount, Money)  # noqa: S101 (checked above)
        if amount > self.open_amount:
            raise ValidationError.of(
                name, f"{amount} is more than the {self.open_amount} open to {doing}"
            )


def _zero_like(money: object) -> Money:
    return Money.zero(money.currency if isinstance(money, Money) else _PLACEHOLDER)


class InvoiceStatus(enum.StrEnum):
    """Where an invoice stands."""

    OPEN = "open"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    WRITTEN_OFF = "written_off"


UNPAID = (InvoiceStatus.OPEN, InvoiceStatus.PARTLY_PAID, InvoiceStatus.OVERDUE)
"""The statuses of an invoice with a balance left to pay."""


def _invoice_status(invoice: Invoice) -> InvoiceStatus:
    balance = invoice.amount.amount - invoice.settled.amount - invoice.written_off.amount
    if balance == 0:
        return InvoiceStatus.WRITTEN_OFF if invoice.written_off.amount else InvoiceStatus.PAID
    if invoice.overdue:
        return InvoiceStatus.OVERDUE
    return InvoiceStatus.PARTLY_PAID if invoice.settled.amount else InvoiceStatus.OPEN


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Invoice(Validated):
    """An invoice: what the customer owes, by a due date, until paid, credited or written off.

    Attributes:
        account_id: the credit account.
        amount: the invoiced amount, in the account's currency.
        issued_at: when it was issued (UTC).
        due: the day it is due; the day after, it is overdue if not paid.
        id: the invoice's identifier; a new UUIDv7 by default.
        order_id: the order it invoices, if any.
        reference: the host's invoice number, if any.
        settled: how much of it was paid or credited.
        written_off: how much of it was written off (its rest, when it was).
        overdue: whether it was marked overdue (once, by `mark_overdue`).
        status: open, partly paid, paid, overdue (marked, and not fully settled) or written off.
        version: how many times the invoice was stored; 0 until it is first added.
    """

    account_id: UUID = attrs.field(metadata=check(_uuid))
    amount: Money = attrs.field(metadata=check(_positive))
    issued_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    due: dt.date = attrs.field(metadata=check(_date))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    order_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    reference: str | None = attrs.field(default=None, metadata=check(optional(_reference)))
    settled: Money = attrs.field(metadata=check(_not_negative))
    written_off: Money = attrs.field(metadata=check(_not_negative))
    overdue: bool = attrs.field(default=False, metadata=check(instance_of(bool)))
    status: InvoiceStatus = attrs.field(
        default=InvoiceStatus.OPEN, metadata=check(instance_of(InvoiceStatus))
    )
    version: int = attrs.field(default=0, metadata=check(version_check))

    @settled.default
    def _none_settled(self) -> Money:
        return _zero_like(self.amount)

    @written_off.default
    def _none_written_off(self) -> Money:
        return _zero_like(self.amount)

    def _invariants(self) -> list[Issue]:
        found = _same_currency(
            self.amount.currency, settled=self.settled, written_off=self.written_off
        )
        if found:
            return found
        if self.settled.amount + self.written_off.amount > self.amount.amount:
            return [Issue("settled", "and written off together exceed the amount")]
        expected = _invoice_status(self)
        if self.status is not expected:
            found.append(Issue("status", f"is {self.status}, but the amounts say {expected}"))
        return found

    @property
    def balance(self) -> Money:
        """What is left to pay."""
        return self.amount - self.settled - self.written_off

    def settle(self, amount: Money) -> None:
        """Take `amount` (paid or credited) off the balance.

        Raises:
            ValidationError: `amount` is not positive money in the invoice's currency, or more
                than the balance.
        """
        self._within(amount, "amount")
        self.settled = self.settled + amount
        self.status = _invoice_status(self)

    def write_off(self) -> Money:
        """Write off the balance, returning it.

        Raises:
            ValidationError: nothing is left to pay.
        """
        rest = self.balance
        if rest.amount == 0:
            raise ValidationError.of(
                "status", f"the invoice is {self.status}; nothing to write off"
            )
        self.written_off = self.written_off + rest
        self.status = _invoice_status(self)
        return rest

    def mark_overdue(self) -> None:
        """Mark the invoice overdue.

        Raises:
            ValidationError: it is marked already, or nothing is left to pay.
        """
        if self.overdue or self.balance.amount == 0:
            raise ValidationError.of("status", f"the invoice is {self.status}; it cannot fall due")
        self.overdue = True
        self.status = _invoice_status(self)

    def _within(self, amount: object, name: str) -> None:
        problem = _positive(amount)
        if problem is None and amount.currency != self.amount.currency:  # type: ignore[attr-defined]
            problem = f"is in {amount.currency}, not the invoice's {self.amount.currency}"  # type: ignore[attr-defined]
        if problem is not None:
            raise ValidationError.of(name, problem)
        assert isinstance(amount, Money)  # noqa: S101 (checked above)
        if amount > self.balance:
            raise ValidationError.of(name, f"{amount} is more than the balance {self.balance}")


@attrs.frozen(kw_only=True)
class Allocation(Validated):
    """Part of a payment applied to one invoice.

    Attributes:
        invoice_id: the invoice.
        amount: how much of the payment it takes (more than zero).
    """

    invoice_id: UUID = attrs.field(metadata=check(_uuid))
    amount: Money = attrs.field(metadata=check(_positive))


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Payment(Validated):
    """Money received from the customer: allocated to invoices, the rest kept as credit.

    Attributes:
        account_id: the credit account.
        amount: what was received, in the account's currency (converted, if it came in
            another: the entries record the original and the rate).
        received_at: when (UTC).
        id: the payment's identifier; a new UUIDv7 by default.
        reference: the host's reference (a bank transaction), if any.
        allocations: the invoices it paid, each once.
        unallocated: the rest, kept on the account as credit.
        version: how many times the payment was stored; 0 until it is first added.
    """

    account_id: UUID = attrs.field(metadata=check(_uuid))
    amount: Money = attrs.field(metadata=check(_positive))
    received_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    reference: str | None = attrs.field(default=None, metadata=check(optional(_reference)))
    allocations: tuple[Allocation, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(Allocation)))
    )
    unallocated: Money = attrs.field(metadata=check(_not_negative))
    version: int = attrs.field(default=0, metadata=check(version_check))

    @unallocated.default
    def _all_unallocated(self) -> Money:
        amount: object = self.amount  # checked by its field's check, after this default
        if not isinstance(amount, Money):
            return Money.zero(_PLACEHOLDER)
        given = [a.amount for a in self.allocations if isinstance(a, Allocation)]
        if any(m.currency != self.amount.currency for m in given):
            return self.amount
        return self.amount - Money.total(given, currency=self.amount.currency)

    def _invariants(self) -> list[Issue]:
        found = _same_currency(self.amount.currency, unallocated=self.unallocated)
        found += _same_currency(
            self.amount.currency,
            **{f"allocations[{i}].amount": a.amount for i, a in enumerate(self.allocations)},
        )
        if found:
            return found
        seen: set[UUID] = set()
        for i, a in enumerate(self.allocations):
            if a.invoice_id in seen:
                found.append(Issue(f"allocations[{i}].invoice_id", "names an invoice twice"))
            seen.add(a.invoice_id)
        allocated = Money.total([a.amount for a in self.allocations], currency=self.amount.currency)
        if allocated + self.unallocated != self.amount:
            found.append(
                Issue(
                    "unallocated",
                    f"{self.unallocated} and the allocations ({allocated}) do not add up to "
                    f"the amount {self.amount}",
                )
            )
        return found


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class CreditNote(Validated):
    """A credit given to the customer: against an invoice's balance, or kept as credit.

    Attributes:
        account_id: the credit account.
        amount: the credit, in the account's currency.
        reason: why it was given.
        issued_at: when (UTC).
        id: the credit note's identifier; a new UUIDv7 by default.
        invoice_id: the invoice it reduces, if any (then no more than its balance).
        version: how many times it was stored; 0 until it is first added.
    """

    account_id: UUID = attrs.field(metadata=check(_uuid))
    amount: Money = attrs.field(metadata=check(_positive))
    reason: str = attrs.field(metadata=check(_reason))
    issued_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    invoice_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    version: int = attrs.field(default=0, metadata=check(version_check))


# --- entries --------------------------------------------------------------------------------------


class EntryKind(enum.StrEnum):
    """What an entry does to what the customer owes.

    ``reserve``: an order placed (open orders up). ``post``: an order invoiced (open orders
    down, unpaid invoices up). ``settle``: money received or credited (unpaid invoices down, or
    unallocated credit up), or credit allocated (both down). ``void``: an order's rest cancelled
    or an invoice's rest written off.
    """

    RESERVE = "reserve"
    POST = "post"
    SETTLE = "settle"
    VOID = "void"


class DocumentKind(enum.StrEnum):
    """The kind of document an entry or an operation belongs to."""

    ACCOUNT = "account"
    ORDER = "order"
    INVOICE = "invoice"
    PAYMENT = "payment"
    CREDIT_NOTE = "credit_note"
    OVERRIDE = "override"


# The signs (open orders, unpaid invoices, unallocated credit) each kind may have.
_SHAPES: dict[EntryKind, tuple[tuple[int, int, int], ...]] = {
    EntryKind.RESERVE: ((1, 0, 0),),
    EntryKind.POST: ((-1, 1, 0),),
    EntryKind.SETTLE: ((0, -1, 0), (0, 0, 1), (0, -1, -1)),
    EntryKind.VOID: ((-1, 0, 0), (0, -1, 0)),
}


def _sign(value: Money, size: Money) -> int | None:
    if value.amount == 0:
        return 0
    if value.amount == size.amount:
        return 1
    if value.amount == size.amount.copy_negate():  # exact: unary minus rounds to 28 digits
        return -1
    return None


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class LedgerEntry(Validated):
    """One change to what a customer owes; never edited or deleted.

    Its effects on the account's three balances are stored with it (`orders`, `invoices`,
    `credit`: each zero, or plus or minus `amount`, as its kind allows), so every balance is the
    sum of one column of the account's entries.

    Attributes:
        account_id: the credit account.
        sequence: its number in the account, from 1, without gaps.
        kind: reserve, post, settle or void.
        document: the kind of document it belongs to.
        document_id: that document.
        amount: its size (more than zero), in the account's currency.
        orders: its effect on the open orders.
        invoices: its effect on the unpaid invoices.
        credit: its effect on the unallocated credit.
        at: when it was written (UTC).
        key: the idempotency key of the operation that wrote it.
        invoice_id: the invoice it settles or voids, where that is not its document.
        original: the amount in the currency it came in, if converted.
        rate: the rate used (units of the account's currency per unit of the original's).
        rate_date: the date of the rate used.
        id: the entry's identifier; a new UUIDv7 by default.
        version: 1 once stored.
    """

    account_id: UUID = attrs.field(metadata=check(_uuid))
    sequence: int = attrs.field(metadata=check(_count))
    kind: EntryKind = attrs.field(metadata=check(instance_of(EntryKind)))
    document: DocumentKind = attrs.field(metadata=check(instance_of(DocumentKind)))
    document_id: UUID = attrs.field(metadata=check(_uuid))
    amount: Money = attrs.field(metadata=check(_positive))
    orders: Money = attrs.field(metadata=check(_money))
    invoices: Money = attrs.field(metadata=check(_money))
    credit: Money = attrs.field(metadata=check(_money))
    at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    key: str = attrs.field(metadata=check(_key))
    invoice_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    original: Money | None = attrs.field(default=None, metadata=check(optional(_positive)))
    rate: Decimal | None = attrs.field(default=None, metadata=check(optional(_rate)))
    rate_date: dt.date | None = attrs.field(default=None, metadata=check(optional(_date)))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        found = _same_currency(
            self.amount.currency, orders=self.orders, invoices=self.invoices, credit=self.credit
        )
        if found:
            return found
        if self.sequence < 1:
            found.append(Issue("sequence", "must be 1 or more"))
        shape = tuple(_sign(m, self.amount) for m in (self.orders, self.invoices, self.credit))
        if shape not in _SHAPES[self.kind]:
            found.append(
                Issue(
                    "kind",
                    f"a {self.kind} entry cannot move the balances by {self.orders}, "
                    f"{self.invoices}, {self.credit}",
                )
            )
        converted = (self.original is not None, self.rate is not None, self.rate_date is not None)
        if len(set(converted)) != 1:
            found.append(Issue("rate", "original, rate and rate_date go together"))
        elif self.original is not None and self.original.currency == self.amount.currency:
            found.append(Issue("original", "is in the entry's own currency: nothing to convert"))
        return found


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class CreditOperation(Validated):
    """A ledger service call, kept under its idempotency key so that a repeat writes nothing.

    Attributes:
        account_id: the credit account.
        key: the caller's idempotency key (unique in the tenant).
        service: the service called (``"place_order"``).
        request: a digest of the call's arguments: the same key with other arguments is refused.
        at: when it ran (UTC).
        document: the kind of document it made or changed.
        document_id: that document.
        first: the sequence number of its first entry (0 if it wrote none).
        entries: how many entries it wrote.
        id: the operation's identifier; a new UUIDv7 by default.
        version: how many times it was stored; 0 until it is first added.
    """

    account_id: UUID = attrs.field(metadata=check(_uuid))
    key: str = attrs.field(metadata=check(_key))
    service: str = attrs.field(metadata=check(text(max_length=64)))
    request: str = attrs.field(metadata=check(text(max_length=64)))
    at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    document: DocumentKind = attrs.field(metadata=check(instance_of(DocumentKind)))
    document_id: UUID = attrs.field(metadata=check(_uuid))
    first: int = attrs.field(default=0, metadata=check(_count))
    entries: int = attrs.field(default=0, metadata=check(_count))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(version_check))


# --- the position a credit check reads ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class AccountPosition:
    """What a credit check needs to know about an account, read without summing the history.

    Attributes:
        account_id: the account.
        customer_id: its customer.
        currency: its currency.
        base_limit: its base limit.
        on_hold: whether it is on credit hold.
        unpaid_invoices: the unpaid invoice balances (the running balance).
        open_orders: the open orders not yet invoiced (the running balance).
        unallocated: the unallocated credit (the running balance).
        overdue_invoices: how many unpaid invoices are past due on `today`.
        oldest_overdue: the due date of the oldest of them, if any.
        today: the day the position was taken for.
    """

    account_id: UUID
    customer_id: UUID
    currency: str
    base_limit: Money
    on_hold: bool
    unpaid_invoices: Money
    open_orders: Money
    unallocated: Money
    overdue_invoices: int
    oldest_overdue: dt.date | None
    today: dt.date

    @property
    def days_overdue(self) -> int:
        """How many days the oldest overdue invoice is past its due date (0 if none)."""
        return 0 if self.oldest_overdue is None else (self.today - self.oldest_overdue).days


def account_position(
    account: CreditAccount, open_invoices: Iterable[Invoice], *, today: dt.date
) -> AccountPosition:
    """The position of `account` on `today`, from its row and its unpaid invoices.

    Examples:
        >>> import datetime as dt, pendulum
        >>> from crmkit import Money, new_id
        >>> from crmkit.credit import CreditAccount, Invoice, account_position
        >>> at = pendulum.datetime(2026, 3, 2)
        >>> account = CreditAccount(customer_id=new_id(), base_limit=Money("500", "CNY"),
        ...                         opened_at=at)
        >>> late = Invoice(account_id=account.id, amount=Money("80", "CNY"), issued_at=at,
        ...                due=dt.date(2026, 3, 10))
        >>> p = account_position(account, [late], today=dt.date(2026, 4, 1))
        >>> p.overdue_invoices, p.oldest_overdue, p.days_overdue
        (1, datetime.date(2026, 3, 10), 22)

    Raises:
        ValidationError: an argument is of the wrong type, or an invoice is another account's.
    """
    if not isinstance(account, CreditAccount):
        raise ValidationError.of(
            "account", f"must be a CreditAccount, not {type(account).__name__}"
        )
    problem = _date(today)
    if problem is not None:
        raise ValidationError.of("today", problem)
    late: list[dt.date] = []
    for i, invoice in enumerate(open_invoices):
        if not isinstance(invoice, Invoice):
            raise ValidationError.of(
                f"open_invoices[{i}]", f"must be an Invoice, not {type(invoice).__name__}"
            )
        if invoice.account_id != account.id:
            raise ValidationError.of(f"open_invoices[{i}]", "belongs to another account")
        if invoice.status in UNPAID and invoice.due < today:
            late.append(invoice.due)
    return AccountPosition(
        account_id=account.id,
        customer_id=account.customer_id,
        currency=account.currency,
        base_limit=account.base_limit,
        on_hold=account.on_hold,
        unpaid_invoices=account.unpaid_invoices,
        open_orders=account.open_orders,
        unallocated=account.unallocated,
        overdue_invoices=len(late),
        oldest_overdue=min(late, default=None),
        today=today,
    )
