"""The credit ledger on the repository core: accounts, documents, entries and operations.

Accounts belong to customers; everything else belongs to an account (removing a customer
removes its account and its ledger with it). The memory store's special queries are here; the
SQL store's are in `crmkit.storage.sql._credit`.

Table names are short (``accounts``, ``credit_ledger``, ...) so that, with a prefix of up to 19
characters, every foreign key's conventional name fits PostgreSQL's 63 characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol
from uuid import UUID

import attrs

from crmkit._rates import ExchangeRates
from crmkit.credit._ageing import (
    Ageing,
    OpenItem,
    OverdueWarning,
    ageing,
    overdue_arguments,
    overdue_warnings,
)
from crmkit.credit._decision import CreditOverride
from crmkit.credit._ledger import (
    UNPAID,
    CreditAccount,
    CreditNote,
    CreditOperation,
    Invoice,
    LedgerEntry,
    Order,
    Payment,
)
from crmkit.credit._receivables import PeriodReceivables, period_receivables
from crmkit.errors import Issue, ValidationError
from crmkit.storage._aggregates import Aggregate, Parent, UniqueKey
from crmkit.storage._arguments import a_limit, an_id
from crmkit.storage._customers import CUSTOMERS
from crmkit.storage.memory import MemoryRecords

__all__ = [
    "CREDIT_ACCOUNTS",
    "CREDIT_NOTES",
    "CREDIT_OPERATIONS",
    "CREDIT_OVERRIDES",
    "INVOICES",
    "LEDGER_ENTRIES",
    "ORDERS",
    "PAYMENTS",
    "CreditAccountRepository",
    "CreditOperationRepository",
    "InvoiceRepository",
    "LedgerEntryRepository",
    "MemoryCreditAccounts",
    "MemoryCreditOperations",
    "MemoryInvoices",
    "MemoryLedgerEntries",
    "OverdueSummary",
    "PeriodFigures",
    "a_day",
    "a_sequence",
]

_ACCOUNT = Parent("credit_account", "accounts", "account_id")

CREDIT_ACCOUNTS: Aggregate[CreditAccount] = Aggregate(
    CreditAccount,
    "credit_account",
    "accounts",
    parent=Parent("customer", "customers", "customer_id"),
    unique=(UniqueKey("customer_id"),),
    immutable={
        "customer_id": "cannot change: an account belongs to its customer",
        "currency": "cannot change: the account's entries are in it",
    },
    columns={"currency": 3, "hold_reason": 500},
)
"""The credit accounts: one per customer, with its running balances."""

ORDERS: Aggregate[Order] = Aggregate(
    Order,
    "order",
    "orders",
    parent=_ACCOUNT,
    indexes={"account": ("account_id", "status")},
    immutable={"amount": "cannot change: a correction is a new entry"},
    columns={"reference": 64, "status": 16, "outcome": 16},
)
"""The orders placed on credit."""

INVOICES: Aggregate[Invoice] = Aggregate(
    Invoice,
    "invoice",
    "invoices",
    parent=_ACCOUNT,
    indexes={"account": ("account_id", "status", "due"), "due": ("status", "due")},
    immutable={"amount": "cannot change: a correction is a new entry"},
    columns={"reference": 64, "status": 16},
)
"""The invoices, found by account and status (the open ones) and by due date (the overdue)."""

PAYMENTS: Aggregate[Payment] = Aggregate(
    Payment,
    "payment",
    "payments",
    parent=_ACCOUNT,
    immutable={"amount": "cannot change: a correction is a new entry"},
    columns={"reference": 64},
)
"""The payments received, with their allocations."""

CREDIT_NOTES: Aggregate[CreditNote] = Aggregate(
    CreditNote,
    "credit_note",
    "credit_notes",
    parent=_ACCOUNT,
    immutable={"amount": "cannot change: a correction is a new entry"},
    columns={"reason": 500},
)
"""The credit notes."""


LEDGER_ENTRIES: Aggregate[LedgerEntry] = Aggregate(
    LedgerEntry,
    "ledger_entry",
    "credit_ledger",
    parent=_ACCOUNT,
    indexes={"account": ("account_id", "sequence"), "time": ("at",)},
    append_only=True,
    columns={"kind": 16, "document": 16, "key": 128},
)
"""The ledger entries, in each account's order, and by time (for a period's figures)."""

CREDIT_OPERATIONS: Aggregate[CreditOperation] = Aggregate(
    CreditOperation,
    "credit_operation",
    "operations",
    parent=_ACCOUNT,
    unique=(UniqueKey("key"),),
    columns={"key": 128, "service": 64, "request": 64, "document": 16},
)
"""The ledger service calls, by idempotency key."""


def _stored_override_issues(override: CreditOverride, _: object) -> list[Issue]:
    if override.account_id is None:
        return [Issue("account_id", "must name the credit account the override is stored under")]
    return []


CREDIT_OVERRIDES: Aggregate[CreditOverride] = Aggregate(
    CreditOverride,
    "credit_override",
    "credit_overrides",
    parent=_ACCOUNT,
    indexes={"order": ("account_id", "order_id")},
    immutable=dict.fromkeys(
        ("account_id", "order_id", "approved_by", "at", "reason", "amount"),
        "cannot change: an approval is recorded once, a new one is a new override",
    ),
    columns={"approved_by": 64, "reason": 500},
    order=("id", "version", "account_id"),
    issues=_stored_override_issues,
)
"""The approvals of blocked orders: who, when, why and for how much.

Its `account_id` column is nullable, as the field is (an override may be judged without being
stored), but an override without one is refused before it is written.
"""


@attrs.frozen
class OverdueSummary:
    """An account's overdue invoices on a day, as one aggregate query finds them.

    Attributes:
        count: how many unpaid invoices are due before the day.
        amount: their balances in total, in the account's currency (its units, unrounded).
        oldest_due: the earliest of their due dates; ``None`` when there are none.
    """

    count: int
    amount: Decimal
    oldest_due: dt.date | None


def a_day(value: object, name: str = "day") -> dt.date:
    """`value` as a date (not a datetime), or `ValidationError` naming `name`."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError.of(name, f"must be a date, not {type(value).__name__}")
    return value


def a_sequence(value: object, name: str = "after") -> int:
    """`value` as an entry sequence number (0 or more), or `ValidationError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValidationError.of(name, f"must be an integer from 0 to 2**31 - 1, not {value!r}")
    return value


def _a_key(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128:  # noqa: PLR2004 (KEY_LENGTH)
        raise ValidationError.of("key", "must be a non-empty string of at most 128 characters")
    return value


class CreditAccountRepository(Protocol):
    """The credit accounts of one tenant, as one unit of work sees them.

    Besides the core's `add`, `get`, `lock`, `get_many`, `page`, `count`, `update` and
    `remove`, it finds a customer's account.
    """

    def add(self, account: CreditAccount) -> None:
        """Store a new account (version 0).

        Raises:
            ValidationError: it is invalid, or already stored.
            NotFound: its customer does not exist in this tenant.
            DuplicateError: its id is taken, or its customer has an account already.
        """
        ...

    def get(self, account_id: UUID) -> CreditAccount:
        """The account with `account_id`.

        Raises:
            NotFound: no such account in this tenant.
        """
        ...

    def lock(self, account_id: UUID) -> CreditAccount:
        """The account, locked against other writers till the unit of work ends.

        Every ledger service locks the account first, so writers of one account take turns.

        Raises:
            NotFound: no such account in this tenant.
        """
        ...

    def get_many(self, account_ids: Iterable[UUID]) -> list[CreditAccount]:
        """The accounts with these ids that exist, in the order the ids were given."""
        ...

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[CreditAccount]:
        """Up to `limit` accounts with ids after `after`, in id order (keyset paging)."""
        ...

    def count(self) -> int:
        """How many accounts the tenant has."""
        ...

    def update(self, account: CreditAccount) -> None:
        """Store the changed account, if nobody changed it since it was read.

        Raises:
            ValidationError: it is invalid, or changes its customer or currency.
            ConcurrencyError: the stored version is not ``account.version``, or it is gone.
        """
        ...

    def remove(self, account: CreditAccount) -> None:
        """Delete the account and its ledger, if unchanged since it was read.

        Raises:
            ConcurrencyError: the stored version is not ``account.version``, or it is gone.
        """
        ...

    def for_customer(self, customer_id: UUID) -> CreditAccount | None:
        """The customer's account, or ``None`` if it has none."""
        ...


class InvoiceRepository(Protocol):
    """The invoices of one tenant; besides the core's operations, the unpaid and the due ones."""

    def add(self, invoice: Invoice) -> None:
        """Store a new invoice (version 0).

        Raises:
            ValidationError: it is invalid, or already stored.
            NotFound: its account does not exist in this tenant.
            DuplicateError: its id is taken in this tenant.
        """
        ...

    def add_many(self, invoices: Iterable[Invoice]) -> None:
        """Store many new invoices at once; all or none, like `add` for each."""
        ...

    def get(self, invoice_id: UUID) -> Invoice:
        """The invoice with `invoice_id`.

        Raises:
            NotFound: no such invoice in this tenant.
        """
        ...

    def get_many(self, invoice_ids: Iterable[UUID]) -> list[Invoice]:
        """The invoices with these ids that exist, in the order the ids were given."""
        ...

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Invoice]:
        """Up to `limit` invoices with ids after `after`, in id order (keyset paging)."""
        ...

    def count(self) -> int:
        """How many invoices the tenant has."""
        ...

    def lock(self, invoice_id: UUID) -> Invoice:
        """The invoice, locked against other writers till the unit of work ends.

        Raises:
            NotFound: no such invoice in this tenant.
        """
        ...

    def update(self, invoice: Invoice) -> None:
        """Store the changed invoice, if nobody changed it since it was read.

        Raises:
            ValidationError: it is invalid, or changes its amount.
            ConcurrencyError: the stored version is not ``invoice.version``, or it is gone.
        """
        ...

    def remove(self, invoice: Invoice) -> None:
        """Delete the invoice, if unchanged since it was read.

        Raises:
            ConcurrencyError: the stored version is not ``invoice.version``, or it is gone.
        """
        ...

    def unpaid(self, account_id: UUID) -> list[Invoice]:
        """The account's invoices with a balance left (open, partly paid, overdue), by due date.

        Found through the index on (account, status, due): the cost grows with the unpaid
        invoices, not with the invoices ever issued.
        """
        ...

    def due_before(self, day: dt.date, *, limit: int = 100) -> list[Invoice]:
        """Up to `limit` unpaid invoices not yet marked overdue whose due date is before `day`.

        Earliest due first, then by id.
        """
        ...

    def overdue(self, account_id: UUID, day: dt.date) -> OverdueSummary:
        """The account's unpaid invoices due before `day`: how many, their balance, the oldest.

        One aggregate query on the index (account, status, due): its cost grows with the
        unpaid invoices, never with the paid ones, and no invoice is loaded.
        """
        ...

    # --- receivables figures (the same answers as the references in crmkit.credit) ------------

    def ageing(
        self,
        as_of: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Ageing:
        """The receivables ageing of the tenant's unpaid invoices on `as_of`.

        The same answer as `crmkit.credit.ageing` over an `OpenItem` per unpaid invoice (its
        balance, its account's customer, and that customer's owner now). SQL stores compute it
        inside the database: one row per customer, owner, bucket and currency reaches Python,
        whatever the number of invoices.

        Examples:
            >>> import datetime as dt, crmkit
            >>> from crmkit import Money
            >>> from crmkit.credit import Bucket, invoice_order, open_account, place_order
            >>> from crmkit.customers import Customer
            >>> crm = crmkit.open("memory://")
            >>> with crm.unit_of_work(actor="li") as uow:
            ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
            ...     account = open_account(uow, acme.id, Money("50000", "CNY"), key="open")
            ...     order = place_order(uow, account.id, Money("3000", "CNY"), key="PO-1").order
            ...     _ = invoice_order(uow, account.id, order.id, key="INV-1",
            ...                       due=dt.date(2026, 1, 31))
            ...     report = uow.invoices.ageing(dt.date(2026, 3, 10))
            >>> report.by_owner["li"].buckets[Bucket.DAYS_31_60]
            Money('3000.00', 'CNY')

        Raises:
            ValidationError: as `crmkit.credit.ageing` (``as_of``, ``rates``, ``currency``).
            MissingRate: a rate needed is missing.
        """
        ...

    def overdue_warnings(
        self, as_of: dt.date, *, days: int = 30, limit: int | None = None
    ) -> tuple[OverdueWarning, ...]:
        """The unpaid invoices more than `days` days overdue on `as_of`, longest overdue first.

        The same answer as `crmkit.credit.overdue_warnings` over the tenant's unpaid invoices
        (cut to the first `limit`, if given), found through the index on (status, due date).

        Raises:
            ValidationError: a bad argument, named (``as_of``, ``days``, ``limit``).
        """
        ...

    def period_receivables(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> PeriodReceivables:
        """What was invoiced and written off in ``[start, end)`` (UTC days), and owed at `end`.

        The same answer as `crmkit.credit.period_receivables` over the tenant's ledger entries.
        SQL stores compute it inside the database in one statement: the accounts' running
        balances of unpaid invoices, less the entries' effects since `end`, and the entries of
        the period (through the entries' index on time), so that the cost grows with
        the accounts and the entries since `start`, not with the whole history. (The running
        balances equal the sums of the entries: the ledger's law.)

        Raises:
            ValidationError: as `crmkit.credit.period_receivables`.
            MissingRate: a rate needed is missing.
        """
        ...

    def days_sales_outstanding(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Decimal | None:
        """The days sales outstanding of the period: see `period_receivables`.

        ``None`` when nothing was invoiced in the period.
        """
        ...

    def bad_debt_rate(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Decimal | None:
        """The bad-debt rate of the period: see `period_receivables`.

        ``None`` when nothing was invoiced in the period.
        """
        ...


class LedgerEntryRepository(Protocol):
    """The ledger entries of one tenant; besides the core's operations, an account's in order."""

    def add_many(self, entries: Iterable[LedgerEntry]) -> None:
        """Store new entries; all or none."""
        ...

    def get(self, entry_id: UUID) -> LedgerEntry:
        """The entry with `entry_id`.

        Raises:
            NotFound: no such entry in this tenant.
        """
        ...

    def count(self) -> int:
        """How many entries the tenant has."""
        ...

    def of_account(
        self, account_id: UUID, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry]:
        """The account's entries with sequence numbers after `after`, in order, at most `limit`."""
        ...


class CreditOperationRepository(Protocol):
    """The ledger service calls of one tenant; besides the core's operations, one by its key."""

    def add(self, operation: CreditOperation) -> None:
        """Store a new operation.

        Raises:
            DuplicateError: its key (or id) is taken in this tenant.
        """
        ...

    def get(self, operation_id: UUID) -> CreditOperation:
        """The operation with `operation_id`.

        Raises:
            NotFound: no such operation in this tenant.
        """
        ...

    def count(self) -> int:
        """How many operations the tenant has."""
        ...

    def by_key(self, key: str) -> CreditOperation | None:
        """The operation stored under the idempotency key `key`, if any."""
        ...


class MemoryCreditAccounts(MemoryRecords[CreditAccount]):
    """`CreditAccountRepository` on the memory store."""

    def for_customer(self, customer_id: UUID) -> CreditAccount | None:
        """See `CreditAccountRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        key = self._uow._holder(self._name, 0, customer_id)
        found = self._load([key]) if key is not None else []
        return found[0] if found else None


class PeriodFigures:
    """`days_sales_outstanding` and `bad_debt_rate` from a store's `period_receivables`.

    Mixed into each adapter's invoice repository, which supplies `period_receivables`.
    """

    def period_receivables(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> PeriodReceivables:
        """See `InvoiceRepository.period_receivables` (the adapter's own)."""
        raise NotImplementedError

    def days_sales_outstanding(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Decimal | None:
        """See `InvoiceRepository.days_sales_outstanding`."""
        figures = self.period_receivables(start, end, rates=rates, currency=currency)
        return figures.days_sales_outstanding

    def bad_debt_rate(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Decimal | None:
        """See `InvoiceRepository.bad_debt_rate`."""
        return self.period_receivables(start, end, rates=rates, currency=currency).bad_debt_rate


class MemoryInvoices(MemoryRecords[Invoice], PeriodFigures):
    """`InvoiceRepository` on the memory store."""

    def unpaid(self, account_id: UUID) -> list[Invoice]:
        """See `InvoiceRepository.unpaid`."""
        self._uow._check_open()
        an_id(account_id, "account_id")
        statuses = {s.value for s in UNPAID}
        found = [
            self._from(k, r)
            for k, r in self._uow._scan(self._name)
            if r.parent == account_id and r.row["status"] in statuses
        ]
        return sorted(found, key=lambda i: (i.due, i.id))

    def due_before(self, day: dt.date, *, limit: int = 100) -> list[Invoice]:
        """See `InvoiceRepository.due_before`."""
        self._uow._check_open()
        day = a_day(day)
        a_limit(limit)
        statuses = {s.value for s in UNPAID if s.value != "overdue"}
        found = [
            self._from(k, r) for k, r in self._uow._scan(self._name) if r.row["status"] in statuses
        ]
        late = sorted((i for i in found if i.due < day), key=lambda i: (i.due, i.id))
        return late[:limit]

    def overdue(self, account_id: UUID, day: dt.date) -> OverdueSummary:
        """See `InvoiceRepository.overdue` (a scan, here)."""
        self._uow._check_open()
        an_id(account_id, "account_id")
        day = a_day(day)
        statuses = {s.value for s in UNPAID}
        late = [
            (self._from(k, r))
            for k, r in self._uow._scan(self._name)
            if r.parent == account_id and r.row["status"] in statuses
        ]
        late = [i for i in late if i.due < day]
        return OverdueSummary(
            count=len(late),
            amount=sum((i.balance.amount for i in late), Decimal(0)),
            oldest_due=min((i.due for i in late), default=None),
        )

    def ageing(
        self,
        as_of: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Ageing:
        """See `InvoiceRepository.ageing`: the reference over the tenant's records."""
        self._uow._check_open()
        return ageing(self._open_items(), as_of, rates=rates, currency=currency)

    def overdue_warnings(
        self, as_of: dt.date, *, days: int = 30, limit: int | None = None
    ) -> tuple[OverdueWarning, ...]:
        """See `InvoiceRepository.overdue_warnings`: the reference over the tenant's records."""
        self._uow._check_open()
        day, days = overdue_arguments(as_of, days)
        if limit is not None:
            a_limit(limit)
        found = overdue_warnings(self._open_items(), day, days=days)
        return found if limit is None else found[:limit]

    def period_receivables(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> PeriodReceivables:
        """See `InvoiceRepository.period_receivables`: the reference over the tenant's entries."""
        self._uow._check_open()
        entries = self._uow.repository(LEDGER_ENTRIES)
        assert isinstance(entries, MemoryLedgerEntries)  # noqa: S101 (registered together)
        return period_receivables(entries._all(), start, end, rates=rates, currency=currency)

    def _open_items(self) -> list[OpenItem]:
        """An `OpenItem` per unpaid invoice, with its account's customer and their owner."""
        statuses = {s.value for s in UNPAID}
        unpaid = [
            self._from(k, r) for k, r in self._uow._scan(self._name) if r.row["status"] in statuses
        ]
        accounts = self._uow.repository(CREDIT_ACCOUNTS).get_many({i.account_id for i in unpaid})
        customer_of = {a.id: a.customer_id for a in accounts}
        customers = self._uow.repository(CUSTOMERS).get_many(set(customer_of.values()))
        owner_of = {c.id: c.owner_id for c in customers}
        return [
            OpenItem(
                invoice_id=i.id,
                customer_id=customer_of[i.account_id],
                owner_id=owner_of[customer_of[i.account_id]],
                due_date=i.due,
                outstanding=i.balance,
            )
            for i in unpaid
        ]


class MemoryLedgerEntries(MemoryRecords[LedgerEntry]):
    """`LedgerEntryRepository` on the memory store."""

    def of_account(
        self, account_id: UUID, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry]:
        """See `LedgerEntryRepository.of_account`."""
        self._uow._check_open()
        an_id(account_id, "account_id")
        after = a_sequence(after)
        if limit is not None:
            a_limit(limit)
        found = sorted(
            (
                self._from(k, r)
                for k, r in self._uow._scan(self._name)
                if r.parent == account_id and r.row["sequence"] > after
            ),
            key=lambda e: e.sequence,
        )
        return found if limit is None else found[:limit]

    def _all(self) -> list[LedgerEntry]:
        return [self._from(k, r) for k, r in self._uow._scan(self._name)]


class MemoryCreditOperations(MemoryRecords[CreditOperation]):
    """`CreditOperationRepository` on the memory store."""

    def by_key(self, key: str) -> CreditOperation | None:
        """See `CreditOperationRepository.by_key`."""
        self._uow._check_open()
        key = _a_key(key)
        holder = self._uow._holder(self._name, 0, key)
        found = self._load([holder]) if holder is not None else []
        return found[0] if found else None
