"""What people do with a credit account: place, invoice and cancel orders, record payments, ...

Each service works in the unit of work it is given and never commits it; bad input raises
before anything is written. Each takes an **idempotency key**: the call is stored under it as a
`CreditOperation`, and calling again with the same key writes nothing and returns the first
call's document (as it stands now); the same key with other arguments is refused. Each locks the
account first (``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB, SQLite's one writer, a
checked read on the memory store), so that writers of one customer queue instead of failing,
and only then reads what it decides from; the documents it changes are locked after the account,
always in that order. It then writes its entries, the account's new balances and the operation
together. Two workers racing with one key: the second waits for the account, then finds the
operation. Where they would still collide (one key for calls on two accounts), the operation's
unique key refuses the second: on a SQL store its insert fails and `crmkit.CRM.run` runs it
again, when it finds the first and is refused as another call; the memory store refuses its
commit with `DuplicateError`.

That is why the services that change a document take its account too: they lock the account
before reading anything. On MariaDB/MySQL every plain read of a transaction sees the snapshot
of its first one, so a read before the lock (of the document, to find its account) would hide
what the previous holder of the lock committed, such as the operation of a raced key. For the
same reason, call a service before any other read of its unit of work, or run it alone with
`crmkit.CRM.run`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from crmkit._clock import to_utc
from crmkit._money import Money
from crmkit._rates import ExchangeRates
from crmkit._validation import shown
from crmkit.credit._ledger import (
    UNPAID,
    AccountPosition,
    Allocation,
    CreditAccount,
    CreditNote,
    CreditOperation,
    DocumentKind,
    EntryKind,
    Invoice,
    LedgerEntry,
    Order,
    Payment,
    _key,
    _reason,
    _reference,
)
from crmkit.credit._ledger_events import InvoiceOverdue, PaymentReceived
from crmkit.customers._arguments import an_id as _an_id
from crmkit.errors import ConcurrencyError, DuplicateError, ValidationError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = [
    "allocate",
    "cancel_order",
    "credit_position",
    "invoice_order",
    "issue_credit_note",
    "mark_overdue",
    "open_account",
    "put_on_hold",
    "record_payment",
    "release_hold",
    "write_off",
]

# --- argument checks ------------------------------------------------------------------------------


def _a_key(value: object) -> str:
    problem = _key(value)
    if problem is not None:
        raise ValidationError.of("key", problem)
    assert isinstance(value, str)  # noqa: S101 (checked above)
    return value


def _positive(value: object, name: str) -> Money:
    if not isinstance(value, Money):
        raise ValidationError.of(name, f"must be Money, not {shown(value)}")
    if value.amount <= 0:
        raise ValidationError.of(name, f"{value} must be more than zero")
    return value


def _optional_text(value: object, name: str, check: Any) -> str | None:  # noqa: ANN401
    if value is None:
        return None
    problem = check(value)
    if problem is not None:
        raise ValidationError.of(name, problem)
    assert isinstance(value, str)  # noqa: S101 (checked above)
    return value


def _a_date(value: object, name: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError.of(name, f"must be a date, not {shown(value)}")
    return value


def _digest(*parts: object) -> str:
    """A digest of a call's arguments: what tells a repeat from another call under one key."""
    shown_parts = [f"{p.amount} {p.currency}" if isinstance(p, Money) else repr(p) for p in parts]
    return hashlib.sha256("\x1f".join(shown_parts).encode()).hexdigest()


@attrs.frozen
class _Conversion:
    original: Money
    rate: Decimal
    on: dt.date


def _in_currency(
    amount: Money,
    account: CreditAccount,
    rates: ExchangeRates | None,
    on: dt.date,
    name: str,
) -> tuple[Money, _Conversion | None]:
    """`amount` in the account's currency, and how it was converted (if it was)."""
    if amount.currency == account.currency:
        return amount, None
    if rates is None:
        raise ValidationError.of(
            name,
            f"is in {amount.currency}, not the account's {account.currency}: "
            "pass the rates to convert it at",
        )
    if not isinstance(rates, ExchangeRates):
        raise ValidationError.of("rates", f"must be ExchangeRates, not {shown(rates)}")
    rate = rates.rate(amount.currency, account.currency, on)
    converted = rates.convert(amount, account.currency, on=on)
    if converted.amount <= 0:
        raise ValidationError.of(name, f"{amount} is nothing in {account.currency}")
    return converted, _Conversion(amount, rate, on)


# --- one operation --------------------------------------------------------------------------------


class _Operation:
    """A service call in progress: the locked account, its entries so far, and its key."""

    def __init__(
        self, uow: UnitOfWork, account: CreditAccount, key: str, service: str, request: str
    ) -> None:
        self.uow = uow
        self.account = account
        self.key = key
        self.service = service
        self.request = request
        self.at = uow.now()
        self.entries: list[LedgerEntry] = []

    def entry(
        self,
        kind: EntryKind,
        document: DocumentKind,
        document_id: UUID,
        amount: Money,
        *,
        orders: int = 0,
        invoices: int = 0,
        credit: int = 0,
        invoice_id: UUID | None = None,
        conversion: _Conversion | None = None,
    ) -> LedgerEntry:
        """Apply the account's next entry (effects as signs times `amount`) to the account."""
        made = LedgerEntry(
            account_id=self.account.id,
            sequence=self.account.sequence + 1,
            kind=kind,
            document=document,
            document_id=document_id,
            amount=amount,
            orders=amount * orders,
            invoices=amount * invoices,
            credit=amount * credit,
            at=self.at,
            key=self.key,
            invoice_id=invoice_id,
            original=None if conversion is None else conversion.original,
            rate=None if conversion is None else conversion.rate,
            rate_date=None if conversion is None else conversion.on,
        )
        self.account.apply(made)
        self.entries.append(made)
        return made

    def finish(self, document: DocumentKind, document_id: UUID, *, account: bool = True) -> None:
        """Write the operation, the entries and (unless `account` is false) the account.

        Called after the documents are written; the account comes last, so that the change log
        shows each operation's entries before the balances they add up to.
        """
        uow = self.uow
        operation = CreditOperation(
            account_id=self.account.id,
            key=self.key,
            service=self.service,
            request=self.request,
            at=self.at,
            document=document,
            document_id=document_id,
            first=self.entries[0].sequence if self.entries else 0,
            entries=len(self.entries),
        )
        try:
            uow.credit_operations.add(operation)
        except DuplicateError as e:
            # Another unit of work stored the key first (under another account's lock): run
            # again, and the repeat finds it.
            raise ConcurrencyError("credit_operation", operation.key, None) from e
        if self.entries:
            uow.ledger_entries.add_many(self.entries)
        if account:
            uow.credit_accounts.update(self.account)


def _begin(
    uow: UnitOfWork, account_id: UUID, key: str, service: str, request: str
) -> tuple[_Operation, CreditOperation | None]:
    """Lock the account, then find the key: a repeat of this call, another call, or new."""
    account = uow.credit_accounts.lock(account_id)
    done = uow.credit_operations.by_key(key)
    if done is not None:
        _same_call(done, service, request, account.id)
    return _Operation(uow, account, key, service, request), done


def _same_call(done: CreditOperation, service: str, request: str, account_id: UUID) -> None:
    if done.service != service or done.request != request or done.account_id != account_id:
        raise ValidationError.of(
            "key", f"{done.key!r} was used for another call ({done.service}, at {done.at})"
        )


def _mine(document: Any, account: CreditAccount, name: str) -> None:  # noqa: ANN401
    if document.account_id != account.id:
        raise ValidationError.of(name, "belongs to another credit account")


# --- the services ---------------------------------------------------------------------------------


def open_account(
    uow: UnitOfWork,
    customer_id: UUID,
    base_limit: Money,
    *,
    key: str,
) -> CreditAccount:
    """Open the customer's credit account, in the currency of `base_limit`.

    Examples:
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.credit import open_account
        >>> from crmkit.customers import Customer
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        ...     account = open_account(uow, acme.id, Money("50000", "CNY"), key="open-acme")
        ...     again = open_account(uow, acme.id, Money("50000", "CNY"), key="open-acme")
        >>> account.id == again.id, str(account.base_limit)
        (True, '50,000.00 CNY')

    Raises:
        NotFound: no such customer.
        ValidationError: an argument is bad, the customer has an account already, or `key`
            was used for another call; nothing is written.
    """
    customer = _an_id(customer_id, "customer_id")
    limit = base_limit
    if not isinstance(limit, Money) or limit.amount < 0:
        raise ValidationError.of("base_limit", f"must be Money of zero or more, not {shown(limit)}")
    key = _a_key(key)
    uow.customers.lock(customer)
    done = uow.credit_operations.by_key(key)
    request = _digest(customer, limit)
    if done is not None:
        _same_call(done, "open_account", request, done.account_id)
        return uow.credit_accounts.get(done.account_id)
    if uow.credit_accounts.for_customer(customer) is not None:
        raise ValidationError.of("customer_id", "has a credit account already")
    account = CreditAccount(customer_id=customer, base_limit=limit, opened_at=uow.now())
    uow.credit_accounts.add(account)
    operation = _Operation(uow, account, key, "open_account", request)
    operation.finish(DocumentKind.ACCOUNT, account.id, account=False)  # just added
    return account


def invoice_order(
    uow: UnitOfWork,
    account_id: UUID,
    order_id: UUID,
    *,
    key: str,
    due: dt.date,
    amount: Money | None = None,
    reference: str | None = None,
) -> Invoice:
    """Invoice an order, fully or in part: posts the amount (open orders down, unpaid up).

    Args:
        uow: the unit of work.
        account_id: the order's account (locked first).
        order_id: the order, with something open.
        key: the idempotency key.
        due: the invoice's due date.
        amount: how much to invoice; all that is open, by default.
        reference: the host's invoice number.

    Raises:
        NotFound: no such account or order.
        ValidationError: an argument is bad, the order is another account's, the amount is
            more than is open, or `key` was used for another call; nothing is written.
    """
    account_key = _an_id(account_id, "account_id")
    order_key = _an_id(order_id, "order_id")
    key = _a_key(key)
    due = _a_date(due, "due")
    part = None if amount is None else _positive(amount, "amount")
    reference = _optional_text(reference, "reference", _reference)
    request = _digest(account_key, order_key, due, part, reference)
    run, done = _begin(uow, account_key, key, "invoice_order", request)
    if done is not None:
        return uow.invoices.get(done.document_id)
    order = uow.orders.lock(order_key)
    _mine(order, run.account, "order_id")
    posted = order.open_amount if part is None else part
    if posted.amount == 0:
        raise ValidationError.of("order_id", f"the order is {order.status}; nothing to invoice")
    order.invoice(posted)
    invoice = Invoice(
        account_id=run.account.id,
        amount=posted,
        issued_at=run.at,
        due=due,
        order_id=order.id,
        reference=reference,
    )
    run.entry(EntryKind.POST, DocumentKind.INVOICE, invoice.id, posted, orders=-1, invoices=1)
    uow.invoices.add(invoice)
    uow.orders.update(order)
    run.finish(DocumentKind.INVOICE, invoice.id)
    return invoice


def cancel_order(uow: UnitOfWork, account_id: UUID, order_id: UUID, *, key: str) -> Order:
    """Cancel what is still open of an order: voids it (open orders down).

    Raises:
        NotFound: no such account or order.
        ValidationError: the order is another account's, nothing of it is open, or `key` was
            used for another call; nothing is written.
    """
    account_key = _an_id(account_id, "account_id")
    order_key = _an_id(order_id, "order_id")
    key = _a_key(key)
    run, done = _begin(uow, account_key, key, "cancel_order", _digest(account_key, order_key))
    if done is not None:
        return uow.orders.get(order_key)
    order = uow.orders.lock(order_key)
    _mine(order, run.account, "order_id")
    rest = order.cancel()
    run.entry(EntryKind.VOID, DocumentKind.ORDER, order.id, rest, orders=-1)
    uow.orders.update(order)
    run.finish(DocumentKind.ORDER, order.id)
    return order


def _allocations(value: object) -> list[Allocation]:
    if isinstance(value, Mapping):
        items: list[object] = [
            Allocation(
                invoice_id=_an_id(k, "allocations"), amount=_positive(v, f"allocations[{k}]")
            )
            for k, v in value.items()
        ]
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.of(
            "allocations",
            f"must be Allocations or a mapping of invoice id to Money, not {shown(value)}",
        )
    else:
        items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, Allocation):
            raise ValidationError.of(
                f"allocations[{i}]", f"must be an Allocation, not {shown(item)}"
            )
    return items  # type: ignore[return-value]  # checked above


def record_payment(
    uow: UnitOfWork,
    account_id: UUID,
    amount: Money,
    *,
    key: str,
    allocations: Iterable[Allocation] | Mapping[UUID, Money] = (),
    reference: str | None = None,
    rates: ExchangeRates | None = None,
    on: dt.date | None = None,
) -> Payment:
    """Record a payment: settle the invoices it is allocated to, keep the rest as credit.

    Records `PaymentReceived`. Allocations are in the account's currency; a payment in another
    currency is converted first, as `place_order` does.

    Raises:
        NotFound: no such account, or an allocated invoice does not exist.
        ValidationError: an argument is bad, an invoice is another account's, an allocation
            is more than its invoice's balance, the allocations exceed the payment, or `key`
            was used for another call; nothing is written.
        MissingRate: no rate to convert the amount at.
    """
    account_key = _an_id(account_id, "account_id")
    given = _positive(amount, "amount")
    key = _a_key(key)
    parts = _allocations(allocations)
    reference = _optional_text(reference, "reference", _reference)
    day = None if on is None else _a_date(on, "on")
    request = _digest(
        account_key, given, reference, day, *((a.invoice_id, a.amount) for a in parts)
    )
    run, done = _begin(uow, account_key, key, "record_payment", request)
    if done is not None:
        return uow.payments.get(done.document_id)
    account = run.account
    converted, conversion = _in_currency(given, account, rates, day or run.at.date(), "amount")
    payment = Payment(
        account_id=account.id,
        amount=converted,
        received_at=run.at,
        reference=reference,
        allocations=parts,
    )
    invoices = []
    for i, part in enumerate(parts):
        invoice = uow.invoices.lock(part.invoice_id)
        _mine(invoice, account, f"allocations[{i}].invoice_id")
        try:
            invoice.settle(part.amount)
        except ValidationError as e:
            raise e.under(f"allocations[{i}]") from None
        invoices.append(invoice)
        run.entry(
            EntryKind.SETTLE,
            DocumentKind.PAYMENT,
            payment.id,
            part.amount,
            invoices=-1,
            invoice_id=invoice.id,
            conversion=conversion,
        )
    if payment.unallocated.amount > 0:
        run.entry(
            EntryKind.SETTLE,
            DocumentKind.PAYMENT,
            payment.id,
            payment.unallocated,
            credit=1,
            conversion=conversion,
        )
    uow.payments.add(payment)
    for invoice in invoices:
        uow.invoices.update(invoice)
    run.finish(DocumentKind.PAYMENT, payment.id)
    uow.record(
        PaymentReceived,
        account_id=account.id,
        customer_id=account.customer_id,
        payment_id=payment.id,
        amount=converted,
        allocated=converted - payment.unallocated,
        unallocated=payment.unallocated,
    )
    return payment


def allocate(
    uow: UnitOfWork, account_id: UUID, invoice_id: UUID, amount: Money, *, key: str
) -> Invoice:
    """Apply `amount` of the account's unallocated credit to an invoice.

    Raises:
        NotFound: no such account or invoice.
        ValidationError: the invoice is another account's, `amount` is more than the credit
            or the invoice's balance, or `key` was used for another call; nothing is written.
    """
    account_key = _an_id(account_id, "account_id")
    invoice_key = _an_id(invoice_id, "invoice_id")
    part = _positive(amount, "amount")
    key = _a_key(key)
    request = _digest(account_key, invoice_key, part)
    run, done = _begin(uow, account_key, key, "allocate", request)
    if done is not None:
        return uow.invoices.get(invoice_key)
    account = run.account
    if part.currency != account.currency:
        raise ValidationError.of(
            "amount", f"is in {part.currency}, not the account's {account.currency}"
        )
    if part > account.unallocated:
        raise ValidationError.of(
            "amount", f"{part} is more than the unallocated credit {account.unallocated}"
        )
    invoice = uow.invoices.lock(invoice_key)
    _mine(invoice, account, "invoice_id")
    invoice.settle(part)
    run.entry(EntryKind.SETTLE, DocumentKind.INVOICE, invoice.id, part, invoices=-1, credit=-1)
    uow.invoices.update(invoice)
    run.finish(DocumentKind.INVOICE, invoice.id)
    return invoice


def issue_credit_note(
    uow: UnitOfWork,
    account_id: UUID,
    amount: Money,
    *,
    key: str,
    reason: str,
    invoice_id: UUID | None = None,
) -> CreditNote:
    """Give the customer credit: against an invoice's balance, or kept as unallocated credit.

    Raises:
        NotFound: no such account or invoice.
        ValidationError: an argument is bad, the invoice is another account's, `amount` is
            more than its balance, or `key` was used for another call; nothing is written.
    """
    account_key = _an_id(account_id, "account_id")
    part = _positive(amount, "amount")
    key = _a_key(key)
    problem = _reason(reason)
    if problem is not None:
        raise ValidationError.of("reason", problem)
    invoice_key = None if invoice_id is None else _an_id(invoice_id, "invoice_id")
    request = _digest(account_key, part, reason, invoice_key)
    run, done = _begin(uow, account_key, key, "issue_credit_note", request)
    if done is not None:
        return uow.credit_notes.get(done.document_id)
    account = run.account
    if part.currency != account.currency:
        raise ValidationError.of(
            "amount", f"is in {part.currency}, not the account's {account.currency}"
        )
    note = CreditNote(
        account_id=account.id, amount=part, reason=reason, issued_at=run.at, invoice_id=invoice_key
    )
    invoice = None
    if invoice_key is not None:
        invoice = uow.invoices.lock(invoice_key)
        _mine(invoice, account, "invoice_id")
        invoice.settle(part)
        run.entry(
            EntryKind.SETTLE,
            DocumentKind.CREDIT_NOTE,
            note.id,
            part,
            invoices=-1,
            invoice_id=invoice.id,
        )
    else:
        run.entry(EntryKind.SETTLE, DocumentKind.CREDIT_NOTE, note.id, part, credit=1)
    uow.credit_notes.add(note)
    if invoice is not None:
        uow.invoices.update(invoice)
    run.finish(DocumentKind.CREDIT_NOTE, note.id)
    return note


def write_off(uow: UnitOfWork, account_id: UUID, invoice_id: UUID, *, key: str) -> Invoice:
    """Write off what is left to pay of an invoice: voids it (unpaid invoices down).

    Raises:
        NotFound: no such account or invoice.
        ValidationError: the invoice is another account's, nothing is left to pay, or `key`
            was used for another call; nothing is written.
    """
    account_key = _an_id(account_id, "account_id")
    invoice_key = _an_id(invoice_id, "invoice_id")
    key = _a_key(key)
    run, done = _begin(uow, account_key, key, "write_off", _digest(account_key, invoice_key))
    if done is not None:
        return uow.invoices.get(invoice_key)
    invoice = uow.invoices.lock(invoice_key)
    _mine(invoice, run.account, "invoice_id")
    rest = invoice.write_off()
    run.entry(EntryKind.VOID, DocumentKind.INVOICE, invoice.id, rest, invoices=-1)
    uow.invoices.update(invoice)
    run.finish(DocumentKind.INVOICE, invoice.id)
    return invoice


def mark_overdue(uow: UnitOfWork, now: dt.datetime, *, limit: int = 100) -> list[Invoice]:
    """Mark unpaid invoices past their due date (in UTC on `now`) overdue, once each.

    Records `InvoiceOverdue` for each. Idempotent without a key: an invoice is marked once, so
    running it again (on a schedule) marks only the new ones. It writes no entry (what is owed
    does not change). Each account is locked, in id order, before its invoices are marked.

    Returns:
        The invoices marked, up to `limit` (run it again for more).

    Raises:
        ValidationError: `now` is not an aware datetime, or `limit` is bad.
    """
    day = to_utc(now, "now").date()
    due = uow.invoices.due_before(day, limit=limit)
    by_account: dict[UUID, list[UUID]] = {}
    for invoice in due:
        by_account.setdefault(invoice.account_id, []).append(invoice.id)
    marked: list[Invoice] = []
    for account_id in sorted(by_account):
        account = uow.credit_accounts.lock(account_id)
        for invoice_id in by_account[account_id]:
            invoice = uow.invoices.lock(invoice_id)
            if invoice.overdue or invoice.status not in UNPAID or not invoice.due < day:
                continue  # paid or marked since it was found
            invoice.mark_overdue()
            uow.invoices.update(invoice)
            uow.record(
                InvoiceOverdue,
                account_id=account.id,
                customer_id=account.customer_id,
                invoice_id=invoice.id,
                due=invoice.due,
                balance=invoice.balance,
            )
            marked.append(invoice)
    return marked


def put_on_hold(uow: UnitOfWork, account_id: UUID, reason: str, *, key: str) -> CreditAccount:
    """Put the customer on credit hold, saying why.

    Raises:
        NotFound: no such account.
        ValidationError: it is on hold already, `reason` is bad, or `key` was used for another
            call.
    """
    account_key = _an_id(account_id, "account_id")
    key = _a_key(key)
    problem = _reason(reason)
    if problem is not None:
        raise ValidationError.of("reason", problem)
    run, done = _begin(uow, account_key, key, "put_on_hold", _digest(account_key, reason))
    if done is not None:
        return run.account
    if run.account.on_hold:
        raise ValidationError.of("account_id", "the account is on credit hold already")
    run.account.hold_reason = reason
    run.account.on_hold = True
    run.finish(DocumentKind.ACCOUNT, account_key)
    return run.account


def release_hold(uow: UnitOfWork, account_id: UUID, *, key: str) -> CreditAccount:
    """Take the customer off credit hold.

    Raises:
        NotFound: no such account.
        ValidationError: it is not on hold, or `key` was used for another call.
    """
    account_key = _an_id(account_id, "account_id")
    key = _a_key(key)
    run, done = _begin(uow, account_key, key, "release_hold", _digest(account_key))
    if done is not None:
        return run.account
    if not run.account.on_hold:
        raise ValidationError.of("account_id", "the account is not on credit hold")
    run.account.on_hold = False
    run.account.hold_reason = None
    run.finish(DocumentKind.ACCOUNT, account_key)
    return run.account


def credit_position(
    uow: UnitOfWork, account_id: UUID, *, today: dt.date | None = None
) -> AccountPosition:
    """The account's position for a credit check: its row and its overdue invoices' figures.

    Reads the running balances (never the history) and, in one aggregate query on the index
    (account, status, due), how many unpaid invoices are past due and the oldest due date: no
    invoice is loaded, and the paid ones cost nothing. `today` is the unit of work's clock's UTC
    date by default.

    Raises:
        NotFound: no such account.
        ValidationError: an argument is bad.
    """
    account = uow.credit_accounts.get(_an_id(account_id, "account_id"))
    day = uow.now().date() if today is None else _a_date(today, "today")
    late = uow.invoices.overdue(account.id, day)
    return AccountPosition(
        account_id=account.id,
        customer_id=account.customer_id,
        currency=account.currency,
        base_limit=account.base_limit,
        on_hold=account.on_hold,
        unpaid_invoices=account.unpaid_invoices,
        open_orders=account.open_orders,
        unallocated=account.unallocated,
        overdue_invoices=late.count,
        oldest_overdue=late.oldest_due,
        today=day,
    )
