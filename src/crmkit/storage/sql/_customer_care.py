"""Customer care on SQL tables: lifecycle moves and complaints, with their queries in SQL.

A customer's purchases and the time it entered its stage are grouped in the database, one
query per 500 customers; the complaints' top causes are counted with ``GROUP BY cause``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import pendulum
import sqlalchemy as sa

from crmkit.credit import OrderStatus
from crmkit.customers import (
    CauseCount,
    Complaint,
    ComplaintStatus,
    LifecycleChange,
    PurchaseSummary,
)
from crmkit.storage._arguments import a_key, a_limit, an_id, ids
from crmkit.storage._customer_care import a_period, ranked
from crmkit.storage._pipeline import a_moment
from crmkit.storage.sql._records import SqlRecords, chunks

__all__ = ["SqlComplaints", "SqlLifecycleChanges"]

_OPEN = (ComplaintStatus.OPEN.value, ComplaintStatus.IN_PROGRESS.value)


class SqlLifecycleChanges(SqlRecords[LifecycleChange]):
    """`LifecycleChangeRepository` on SQL tables."""

    def for_customer(self, customer_id: UUID) -> list[LifecycleChange]:
        """See `LifecycleChangeRepository.for_customer`."""
        self._uow._check_open()
        key = an_id(customer_id, "customer_id")
        t = self._table
        query = self._select(t.c.customer_id == key).order_by(t.c.at, t.c.id)
        return self._run(
            "loading lifecycle changes",
            lambda c: [self._from_row(r) for r in c.execute(query).mappings()],
        )

    def entered(self, customer_ids: Iterable[UUID]) -> dict[UUID, pendulum.DateTime]:
        """See `LifecycleChangeRepository.entered`."""
        self._uow._check_open()
        wanted = ids(customer_ids, "customer_ids")
        t = self._table

        def read(c: sa.Connection) -> dict[UUID, pendulum.DateTime]:
            found: dict[UUID, pendulum.DateTime] = {}
            for chunk in chunks(wanted):
                query = (
                    sa.select(t.c.customer_id, sa.func.max(t.c.at))
                    .where(self._mine(t), t.c.customer_id.in_(chunk))
                    .group_by(t.c.customer_id)
                )
                found.update((k, at) for k, at in c.execute(query).all())
            return found

        return self._run("reading when customers entered their stages", read)

    def purchases(self, customer_ids: Iterable[UUID]) -> dict[UUID, PurchaseSummary]:
        """See `LifecycleChangeRepository.purchases`."""
        self._uow._check_open()
        wanted = ids(customer_ids, "customer_ids")
        a, o = self._t.table("accounts"), self._t.table("orders")
        joined = a.join(o, sa.and_(o.c.tenant_id == a.c.tenant_id, o.c.account_id == a.c.id))

        def read(c: sa.Connection) -> dict[UUID, PurchaseSummary]:
            found: dict[UUID, PurchaseSummary] = {}
            for chunk in chunks(wanted):
                query = (
                    sa.select(
                        a.c.customer_id,
                        sa.func.count(),
                        sa.func.min(o.c.placed_at),
                        sa.func.max(o.c.placed_at),
                    )
                    .select_from(joined)
                    .where(
                        self._mine(a),
                        a.c.customer_id.in_(chunk),
                        o.c.status != OrderStatus.CANCELLED.value,
                    )
                    .group_by(a.c.customer_id)
                )
                for key, n, first, last in c.execute(query).all():
                    found[key] = PurchaseSummary(count=int(n), first_at=first, last_at=last)
            return found

        return self._run("counting purchases", read)


class SqlComplaints(SqlRecords[Complaint]):
    """`ComplaintRepository` on SQL tables."""

    def _rows(self, doing: str, query: sa.Select[Any]) -> list[Complaint]:
        return self._run(doing, lambda c: [self._from_row(r) for r in c.execute(query).mappings()])

    def open_for(self, customer_id: UUID) -> list[Complaint]:
        """See `ComplaintRepository.open_for`."""
        self._uow._check_open()
        key = an_id(customer_id, "customer_id")
        t = self._table
        query = self._select(sa.and_(t.c.customer_id == key, t.c.status.in_(_OPEN)))
        return self._rows("loading open complaints", query.order_by(t.c.opened_at, t.c.id))

    def by_assignee(self, assignee_id: str) -> list[Complaint]:
        """See `ComplaintRepository.by_assignee`."""
        self._uow._check_open()
        who = a_key(assignee_id, "assignee_id")
        t = self._table
        query = self._select(sa.and_(t.c.assignee_id == who, t.c.status.in_(_OPEN)))
        return self._rows("loading complaints by assignee", query.order_by(t.c.id))

    def overdue(self, now: dt.datetime, *, limit: int = 100) -> list[Complaint]:
        """See `ComplaintRepository.overdue`."""
        self._uow._check_open()
        at = a_moment(now)
        a_limit(limit)
        t = self._table
        query = (
            self._select(sa.and_(t.c.status.in_(_OPEN), t.c.due < at))
            .order_by(t.c.due, t.c.id)
            .limit(limit)
        )
        return self._rows("loading overdue complaints", query)

    def top_causes(
        self, start: dt.datetime, end: dt.datetime, *, limit: int = 10
    ) -> list[CauseCount]:
        """See `ComplaintRepository.top_causes`."""
        since, until = a_period(self._uow, start, end, limit)
        t = self._table
        query = (
            sa.select(t.c.cause, sa.func.count())
            .where(
                self._mine(t),
                t.c.cause.is_not(None),
                t.c.opened_at >= since,
                t.c.opened_at < until,
            )
            .group_by(t.c.cause)
        )
        rows = self._run("counting complaint causes", lambda c: c.execute(query).all())
        # One row per distinct cause, ordered in Python (see `ranked`).
        return ranked(((str(k), int(m)) for k, m in rows), limit)
