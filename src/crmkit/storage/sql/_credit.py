"""The credit ledger's repositories on SQL tables: the core, and the queries the ledger needs.

Each query reads through an index: an account by its customer (the unique key), an account's
entries by (account, sequence), its unpaid invoices by (account, status, due) (and the overdue
ones' count, balance and oldest due date, summed on that index), invoices due by (status, due)
and an operation by its idempotency key (the unique key). The receivables figures (ageing,
overdue warnings, a period's) are computed in the database, by
`crmkit.storage.sql._credit_receivables`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa

from crmkit._rates import ExchangeRates
from crmkit.credit._ageing import (
    Ageing,
    OverdueWarning,
    _as_of,
    _report_currency,
    assemble_ageing,
    overdue_arguments,
    overdue_warnings,
)
from crmkit.credit._ledger import (
    UNPAID,
    CreditAccount,
    CreditOperation,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
)
from crmkit.credit._receivables import PeriodReceivables, assemble_period, period_bounds
from crmkit.storage._arguments import a_limit, an_id
from crmkit.storage._credit import OverdueSummary, PeriodFigures, _a_key, a_day, a_sequence
from crmkit.storage.sql._credit_receivables import (
    Tables,
    ageing_cells,
    overdue_items,
    period_sums,
)
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


class SqlInvoices(SqlRecords[Invoice], PeriodFigures):
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

    # --- receivables figures, computed in the database -----------------------------------------

    @property
    def _figures(self) -> Tables:
        t = self._t
        return Tables(
            self._table,
            t.table("accounts"),
            t.table("customers"),
            t.table("credit_ledger"),
            self._mine,
        )

    def ageing(
        self,
        as_of: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> Ageing:
        """See `InvoiceRepository.ageing`."""
        self._uow._check_open()
        day = _as_of(as_of)
        tables = self._figures
        cells = self._run("computing an ageing", lambda c: ageing_cells(c, tables, day))
        unit = _report_currency({cell[3] for cell in cells}, rates, currency)
        return assemble_ageing(cells, day, unit=unit, rates=rates)

    def overdue_warnings(
        self, as_of: dt.date, *, days: int = 30, limit: int | None = None
    ) -> tuple[OverdueWarning, ...]:
        """See `InvoiceRepository.overdue_warnings`."""
        self._uow._check_open()
        day, days = overdue_arguments(as_of, days)
        if limit is not None:
            a_limit(limit)
        tables, before = self._figures, day - dt.timedelta(days=days)
        items = self._run(
            "finding overdue invoices", lambda c: overdue_items(c, tables, before, limit)
        )
        return overdue_warnings(items, day, days=days)

    def period_receivables(
        self,
        start: dt.date,
        end: dt.date,
        *,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> PeriodReceivables:
        """See `InvoiceRepository.period_receivables`."""
        self._uow._check_open()
        since, until = period_bounds(start, end)
        tables = self._figures
        sums = self._run(
            "computing a period's receivables", lambda c: period_sums(c, tables, since, until)
        )
        return assemble_period(sums, since.date(), until.date(), rates=rates, currency=currency)


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
