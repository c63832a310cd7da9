"""The credit ledger's repositories on SQL tables: the core, and the queries the ledger needs.

Each query reads through an index: an account by its customer (the unique key), an account's
entries by (account, sequence), its unpaid invoices by (account, status, due) (and the overdue
ones' count, balance and oldest due date, summed on that index), invoices due by (status, due)
and an operation by its idempotency key (the unique key).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa

from crmkit.credit._ledger import (
    UNPAID,
    CreditAccount,
    CreditOperation,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
)
from crmkit.storage._arguments import a_limit, an_id
from crmkit.storage._credit import OverdueSummary, _a_key, a_day, a_sequence
from crmkit.storage.sql._records import SqlRecords
from crmkit.storage.sql._types import Amount

__all__ = ["SqlCreditAccounts", "SqlCreditOperations", "SqlInvoices", "SqlLedgerEntries"]


class SqlCreditAccounts(SqlRecords[CreditAccount]):
    """`CreditAccountRepository` on SQL tables."""

    def for_customer(self, customer_id: UUID) -> CreditAccount | None:
        """See `CreditAccountRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        query = self._select(self._table.c.customer_id == customer_id)
        rows = self._run("loading a credit account", lambda c: c.execute(query).mappings().all())
        return self._from_row(rows[0]) if rows else None


class SqlInvoices(SqlRecords[Invoice]):
    """`InvoiceRepository` on SQL tables."""

    def unpaid(self, account_id: UUID) -> list[Invoice]:
        """See `InvoiceRepository.unpaid`."""
        self._uow._check_open()
        an_id(account_id, "account_id")
        table = self._table
        query = self._select(
            sa.and_(
                table.c.account_id == account_id,
                table.c.status.in_([s.value for s in UNPAID]),
            )
        ).order_by(table.c.due, table.c.id)
        return self._run(
            "loading unpaid invoices",
            lambda c: [self._from_row(r) for r in c.execute(query).mappings()],
        )

    def overdue(self, account_id: UUID, day: dt.date) -> OverdueSummary:
        """See `InvoiceRepository.overdue`."""
        self._uow._check_open()
        an_id(account_id, "account_id")
        day = a_day(day)
        table = self._table
        c = table.c
        query = sa.select(
            sa.func.count(),
            sa.func.sum(sa.type_coerce(c.amount - c.settled - c.written_off, Amount())),
            sa.func.min(c.due),
        ).where(
            self._mine(table),
            c.account_id == account_id,
            c.status.in_([s.value for s in UNPAID]),
            c.due < day,
        )
        count, amount, oldest = self._run(
            "summing overdue invoices", lambda conn: conn.execute(query).one()
        )
        if isinstance(oldest, dt.datetime):  # SQLite and MariaDB may hand a date back as one
            oldest = oldest.date()
        return OverdueSummary(
            count=int(count),
            amount=Decimal(0) if amount is None else Decimal(amount),
            oldest_due=oldest,
        )

    def due_before(self, day: dt.date, *, limit: int = 100) -> list[Invoice]:
        """See `InvoiceRepository.due_before`."""
        self._uow._check_open()
        day = a_day(day)
        a_limit(limit)
        table = self._table
        statuses = [InvoiceStatus.OPEN.value, InvoiceStatus.PARTLY_PAID.value]
        query = (
            self._select(sa.and_(table.c.status.in_(statuses), table.c.due < day))
            .order_by(table.c.due, table.c.id)
            .limit(limit)
        )
        return self._run(
            "loading invoices due",
            lambda c: [self._from_row(r) for r in c.execute(query).mappings()],
        )


class SqlLedgerEntries(SqlRecords[LedgerEntry]):
    """`LedgerEntryRepository` on SQL tables."""

    def of_account(
        self, account_id: UUID, *, after: int = 0, limit: int | None = None
    ) -> list[LedgerEntry]:
        """See `LedgerEntryRepository.of_account`."""
        self._uow._check_open()
        an_id(account_id, "account_id")
        after = a_sequence(after)
        if limit is not None:
            a_limit(limit)
        table = self._table
        query = self._select(
            sa.and_(table.c.account_id == account_id, table.c.sequence > after)
        ).order_by(table.c.sequence)
        if limit is not None:
            query = query.limit(limit)
        return self._run(
            "loading ledger entries",
            lambda c: [self._from_row(r) for r in c.execute(query).mappings()],
        )


class SqlCreditOperations(SqlRecords[CreditOperation]):
    """`CreditOperationRepository` on SQL tables."""

    def by_key(self, key: str) -> CreditOperation | None:
        """See `CreditOperationRepository.by_key`."""
        self._uow._check_open()
        key = _a_key(key)
        query = self._select(self._table.c.key == key)
        rows = self._run("loading a credit operation", lambda c: c.execute(query).mappings().all())
        return self._from_row(rows[0]) if rows else None
