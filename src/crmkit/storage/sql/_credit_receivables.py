"""The receivables figures computed inside the database: ageing, overdue warnings, a period.

Each is one statement, so it reads one snapshot even under READ COMMITTED, and Python sees a few
rows per group, not the invoices or entries: the ageing groups the unpaid invoices (through the
index on status and due date) by customer, owner (the customer's, by a join), bucket and
currency; a period's figures group the accounts' running balances and the ledger entries since
the period's start (through the entries' index on time). The bucket bounds are dates computed in
Python from the ageing date and passed as parameters, so the SQL stays portable.

Sums are exact: on the servers ``SUM`` of ``NUMERIC``; on SQLite, where an `Amount` holds an
integer of ten-thousandths (or, past 64 bits, its digits as bytes), SQL sums the rows whose
amounts are all integers, Python the others, and on an overflow every row is summed in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

import sqlalchemy as sa

from crmkit._money import Money
from crmkit.credit._ageing import _LAST_DAY, Bucket, OpenItem
from crmkit.credit._ledger import UNPAID, DocumentKind, EntryKind
from crmkit.credit._receivables import INVOICED, OUTSTANDING, WRITTEN_OFF
from crmkit.storage.sql._sums import exact_sums
from crmkit.storage.sql._types import Amount

__all__ = ["Cell", "Tables", "ageing_cells", "overdue_items", "period_sums"]

# Sums of amounts: exact (38 digits each, and a few more for a sum of many).
# The buckets in order of their index in the SQL: each but the last ends on a day.
_BUCKETS = [bucket for bucket, _ in _LAST_DAY] + [Bucket.OVER_90]
# The period's figures in order of their number in the SQL.
_FIGURES = [OUTSTANDING, INVOICED, WRITTEN_OFF]
_UNPAID = [s.value for s in UNPAID]

Cell = tuple[UUID, str, Bucket, str, Decimal, int]
"""An ageing cell's sum: customer, owner, bucket, currency, the exact sum and how many items."""


class Tables:
    """The tables the figures read, and the unit of work's scope on each."""

    def __init__(
        self,
        invoices: sa.Table,
        accounts: sa.Table,
        customers: sa.Table,
        ledger: sa.Table,
        mine: Callable[[sa.Table], sa.ColumnElement[bool]],
    ) -> None:
        self.invoices = invoices
        self.accounts = accounts
        self.customers = customers
        self.ledger = ledger
        self.mine = mine

    def open_invoices(self) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
        """The unpaid invoices joined to their accounts and customers, and the condition."""
        i, a, c = self.invoices, self.accounts, self.customers
        joined = i.join(a, sa.and_(a.c.tenant_id == i.c.tenant_id, a.c.id == i.c.account_id)).join(
            c, sa.and_(c.c.tenant_id == a.c.tenant_id, c.c.id == a.c.customer_id)
        )
        return joined, [self.mine(i), i.c.status.in_(_UNPAID)]


def ageing_cells(c: sa.Connection, t: Tables, as_of: dt.date) -> list[Cell]:
    """The unpaid invoices' balances summed per customer, owner, bucket and currency."""
    i = t.invoices
    bucket = sa.case(
        *(
            (i.c.due >= as_of - dt.timedelta(days=last), sa.literal_column(str(n)))
            for n, (_, last) in enumerate(_LAST_DAY)
        ),
        else_=sa.literal_column(str(len(_LAST_DAY))),
    )
    joined, where = t.open_invoices()
    # Grouped in an outer query: PostgreSQL would not match the CASE's parameters in a GROUP BY.
    rows = (
        sa.select(
            t.accounts.c.customer_id,
            t.customers.c.owner_id,
            bucket.label("bucket"),
            i.c.amount_currency.label("currency"),
            i.c.amount,
            i.c.settled,
            i.c.written_off,
        )
        .select_from(joined)
        .where(*where)
        .subquery()
    )
    sums = exact_sums(
        c,
        [(1, rows.c.amount), (-1, rows.c.settled), (-1, rows.c.written_off)],
        [rows.c.customer_id, rows.c.owner_id, rows.c.bucket, rows.c.currency],
        rows,
    )
    return [
        (customer, str(owner), _BUCKETS[int(n)], str(code), total, count)
        for (customer, owner, n, code), (count, total) in sums.items()
    ]


def overdue_items(
    c: sa.Connection, t: Tables, before: dt.date, limit: int | None
) -> list[OpenItem]:
    """The unpaid invoices due before `before`, earliest due first (then by id), as items."""
    i = t.invoices
    joined, where = t.open_invoices()
    query = (
        sa.select(
            i.c.id,
            t.accounts.c.customer_id,
            t.customers.c.owner_id,
            i.c.due,
            i.c.amount_currency,
            i.c.amount,
            i.c.settled,
            i.c.written_off,
        )
        .select_from(joined)
        .where(*where, i.c.due < before)
        .order_by(i.c.due, i.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    found = []
    for key, customer, owner, due, code, amount, settled, written_off in c.execute(query):
        balance = Money(amount, code) - Money(settled, code) - Money(written_off, code)
        found.append(
            OpenItem(
                invoice_id=key,
                customer_id=customer,
                owner_id=owner,
                due_date=due,
                outstanding=balance,
            )
        )
    return found


def period_sums(
    c: sa.Connection, t: Tables, since: dt.datetime, until: dt.datetime
) -> list[tuple[str, str, Decimal]]:
    """A period's figures per currency: (figure, currency, exact sum), in one statement.

    Outstanding at `until`: the accounts' running balances of unpaid invoices, less the
    entries' effects on them from `until` on. Invoiced and written off: the ``post`` entries
    and the ``void`` entries of invoices from `since` to `until`.
    """
    a, e = t.accounts, t.ledger
    zero = sa.type_coerce(sa.literal_column("0"), Amount())
    balances = sa.select(
        sa.literal_column("0").label("figure"),
        a.c.unpaid_invoices_currency.label("currency"),
        a.c.unpaid_invoices.label("plus"),
        zero.label("minus"),
    ).where(t.mine(a))
    since_end = sa.select(sa.literal_column("0"), e.c.invoices_currency, zero, e.c.invoices).where(
        t.mine(e), e.c.at >= until
    )
    posted = e.c.kind == EntryKind.POST.value
    figure = sa.case((posted, sa.literal_column("1")), else_=sa.literal_column("2"))
    written_off = sa.and_(
        e.c.kind == EntryKind.VOID.value, e.c.document == DocumentKind.INVOICE.value
    )
    during = sa.select(figure, e.c.amount_currency, e.c.amount, zero).where(
        t.mine(e), e.c.at >= since, e.c.at < until, sa.or_(posted, written_off)
    )
    rows = sa.union_all(balances, since_end, during).subquery()
    sums = exact_sums(
        c, [(1, rows.c.plus), (-1, rows.c.minus)], [rows.c.figure, rows.c.currency], rows
    )
    return [(_FIGURES[int(n)], str(code), total) for (n, code), (_, total) in sums.items()]
