"""The pipeline's repositories on SQL tables: the core, and the queries leads and deals need."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

import pendulum
import sqlalchemy as sa

from crmkit.pipeline import Lead, LeadStatus, Opportunity
from crmkit.storage._arguments import a_key, a_limit, a_page, an_id
from crmkit.storage._pipeline import a_moment
from crmkit.storage.sql._records import SqlRecords, chunks

__all__ = ["SqlLeads", "SqlOpportunities"]

T = TypeVar("T")


class _Paged(SqlRecords[T]):
    def _ids_where(
        self, where: sa.ColumnElement[bool], *, after: UUID | None, limit: int | None
    ) -> list[T]:
        """The records matching `where`, in id order, after `after`, at most `limit`."""
        table = self._table
        query = sa.select(table.c.id).where(self._mine(table), where).order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
        if limit is not None:
            query = query.limit(limit)

        def load(connection: sa.Connection) -> list[T]:
            found: list[T] = []
            for chunk in chunks(connection.scalars(query).all()):
                rows = connection.execute(
                    self._select(table.c.id.in_(chunk)).order_by(table.c.id)
                ).mappings()
                found.extend(self._from_row(r) for r in rows)
            return found

        return self._run(f"loading {self._aggregate.table}", load)

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[T]:
        """See `LeadRepository.by_owner` and `OpportunityRepository.by_owner`."""
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        a_page(after, limit)
        return self._ids_where(self._table.c.owner_id == owner_id, after=after, limit=limit)


class SqlLeads(_Paged[Lead]):
    """`LeadRepository` on SQL tables."""

    def due(self, now: pendulum.DateTime, *, limit: int = 100) -> list[Lead]:
        """See `LeadRepository.due`."""
        self._uow._check_open()
        at = a_moment(now)
        a_limit(limit)
        table = self._table
        # reclaim_at is set only on open leads with an owner; the status test is a safeguard.
        query = (
            self._select(sa.and_(table.c.reclaim_at <= at, table.c.status == LeadStatus.OPEN.value))
            .order_by(table.c.reclaim_at, table.c.id)
            .limit(limit)
        )
        return self._run(
            "loading leads due for reclaim",
            lambda c: [self._from_row(r) for r in c.execute(query).mappings()],
        )

    def open_counts(self) -> dict[str, int]:
        """See `LeadRepository.open_counts`."""
        self._uow._check_open()
        table = self._table
        query = (
            sa.select(table.c.owner_id, sa.func.count())
            .where(
                self._mine(table),
                table.c.owner_id.is_not(None),
                table.c.status == LeadStatus.OPEN.value,
            )
            .group_by(table.c.owner_id)
            .order_by(table.c.owner_id)
        )
        rows = self._run("counting open leads", lambda c: c.execute(query).all())
        return {str(owner): int(n) for owner, n in rows}


class SqlOpportunities(_Paged[Opportunity]):
    """`OpportunityRepository` on SQL tables."""

    def for_customer(self, customer_id: UUID) -> list[Opportunity]:
        """See `OpportunityRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        return self._ids_where(self._table.c.customer_id == customer_id, after=None, limit=None)
