"""The pipeline's repositories on SQL tables: the core, and the queries leads and deals need.

The funnel and the channel report are computed inside the database: opportunities keep one row
per stage-history entry in ``opportunity_stages`` (see `crmkit.storage.sql._pipeline_tables`),
and the reports group and sum those rows, so Python sees a few rows per stage, channel,
currency and date whatever the number of deals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any, TypeVar
from uuid import UUID

import pendulum
import sqlalchemy as sa
from sqlalchemy import exc

from crmkit._money import Money
from crmkit._rates import ExchangeRate, ExchangeRates
from crmkit.pipeline import ChannelReport, Funnel, Lead, LeadStatus, Opportunity, Pipeline
from crmkit.pipeline._channels import ChannelTally, assemble_channels, channel_filters
from crmkit.pipeline._funnel import (
    FunnelTally,
    assemble_funnel,
    convert_sums,
    funnel_currency,
    funnel_filters,
    micros,
)
from crmkit.storage._arguments import a_key, a_limit, a_page, an_id
from crmkit.storage._pipeline import a_company, a_moment
from crmkit.storage.sql._records import SqlRecords, chunks
from crmkit.storage.sql._sums import exact_sums, is_overflow

__all__ = ["SqlLeads", "SqlOpportunities", "stage_rows"]

T = TypeVar("T")

# Sums of amounts: exact (38 digits each, and a few more for a sum of many).
_EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow])
# Path stages per bit mask column: each mask a sum of distinct powers of two below 2**30.
_BITS = 30


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

    def for_customer(self, customer_id: UUID) -> list[Lead]:
        """See `LeadRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        return self._ids_where(self._table.c.customer_id == customer_id, after=None, limit=None)

    def open_by_company(self, company: str) -> list[Lead]:
        """See `LeadRepository.open_by_company`."""
        self._uow._check_open()
        a_company(company)
        table = self._table
        where = sa.and_(table.c.company == company, table.c.status == LeadStatus.OPEN.value)
        # MariaDB's collation ignores trailing spaces: the comparison is exact only here.
        return [
            lead
            for lead in self._ids_where(where, after=None, limit=None)
            if lead.company == company
        ]

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

    def channel_report(
        self,
        pipelines: Pipeline | Iterable[Pipeline],
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        owner: str | None = None,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
    ) -> ChannelReport:
        """See `LeadRepository.channel_report`."""
        self._uow._check_open()
        won_stages, since, until = channel_filters(pipelines, start, end, owner)
        leads, o = self._table, self._t.table("opportunities")
        s = self._t.table("opportunity_stages")
        counted = [self._mine(leads)]
        won: list[sa.ColumnElement[bool]] = [
            self._mine(o),
            o.c.source.is_not(None),
            sa.or_(
                sa.false(),
                *(sa.and_(o.c.pipeline == k, o.c.stage == w) for k, w in won_stages.items()),
            ),
        ]
        source: sa.FromClause = o
        if owner is not None:
            counted.append(leads.c.owner_id == owner)
            won.append(o.c.owner_id == owner)
        if since is not None or until is not None:
            # A deal's creation time is its first history entry's: on its stage rows.
            source = o.join(
                s,
                sa.and_(
                    s.c.tenant_id == o.c.tenant_id,
                    s.c.opportunity_id == o.c.id,
                    s.c.position == 0,
                ),
            )
        if since is not None:
            counted.append(leads.c.created_at >= since)
            won.append(s.c.created_at >= since)
        if until is not None:
            counted.append(leads.c.created_at < until)
            won.append(s.c.created_at < until)
        converted = sa.case((leads.c.status == LeadStatus.CONVERTED.value, 1), else_=0)
        query = (
            sa.select(leads.c.source, sa.func.count(), sa.func.sum(converted))
            .where(*counted)
            .group_by(leads.c.source)
        )

        def count(
            c: sa.Connection,
        ) -> tuple[list[Any], dict[tuple[Any, ...], tuple[int, Decimal]]]:
            rows = list(c.execute(query).all())
            if not won_stages:
                return rows, {}
            groups = [o.c.source, o.c.amount_currency, o.c.expected_close]
            return rows, amount_sums(c, o.c.amount, groups, source, won)

        rows, sums = self._run("computing a channel report", count)
        by_channel: dict[str, int] = {}
        for (channel, _, _), (n, _) in sums.items():
            by_channel[channel] = by_channel.get(channel, 0) + n
        tally = ChannelTally(
            leads={str(k): int(n) for k, n, _ in rows},
            converted={str(k): int(m) for k, _, m in rows if m},
            won=by_channel,
        )
        unit = funnel_currency({code for _, code, _ in sums}, rates, currency)
        if unit is None:
            return assemble_channels(tally, unit=None, revenues={}, used=())
        ordered = sorted((k, code, on, total) for (k, code, on), (_, total) in sums.items())
        revenues, used = convert_sums(ordered, tally.channels(), rates, unit)
        return assemble_channels(tally, unit=unit, revenues=revenues, used=used)


class SqlOpportunities(_Paged[Opportunity]):
    """`OpportunityRepository` on SQL tables, keeping each deal's stage rows with it."""

    @property
    def _stages(self) -> sa.Table:
        return self._t.table("opportunity_stages")

    def _written(self) -> list[sa.Table]:
        return [self._table, self._stages]

    # --- the core's hooks, and the stage rows written with them -------------------------------

    def _insert(self, batch: list[Opportunity]) -> None:
        super()._insert(batch)
        self._insert_stages(batch)

    def _insert_stages(self, batch: list[Opportunity]) -> None:
        tenant = self._uow.tenant_id
        insert = self._uow._store.bulk_insert(self._stages)
        for chunk in chunks(batch):
            insert(self._connection, (row for o in chunk for row in stage_rows(tenant, o)))

    def _update_if(self, obj: Opportunity, version: int) -> str | None:
        outcome = super()._update_if(obj, version)
        if outcome is None:
            # The rows are replaced whole: history, pipeline and owner may all have changed.
            stages = self._stages
            self._connection.execute(
                stages.delete().where(self._mine(stages), stages.c.opportunity_id == obj.id)
            )
            self._insert_stages([obj])
        return outcome

    def _delete_if(self, key: UUID, version: int) -> bool:
        if not super()._delete_if(key, version):
            return False
        # The foreign key cascades, but a host's SQLite engine may not enforce it.
        stages = self._stages
        self._connection.execute(
            stages.delete().where(self._mine(stages), stages.c.opportunity_id == key)
        )
        return True

    def _delete_projections(self, ids: sa.Select[Any]) -> None:
        stages = self._stages
        self._connection.execute(
            stages.delete().where(self._mine(stages), stages.c.opportunity_id.in_(ids))
        )

    # --- special queries -----------------------------------------------------------------------

    def for_customer(self, customer_id: UUID) -> list[Opportunity]:
        """See `OpportunityRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        return self._ids_where(self._table.c.customer_id == customer_id, after=None, limit=None)

    def funnel(
        self,
        pipeline: Pipeline,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        owner: str | None = None,
        rates: ExchangeRates | None = None,
        currency: str | None = None,
        threshold: Decimal = Decimal("0.15"),
    ) -> Funnel:
        """See `OpportunityRepository.funnel`."""
        self._uow._check_open()
        since, until = funnel_filters(pipeline, start, end, owner, threshold)
        s = self._stages
        where = [self._mine(s), s.c.pipeline == pipeline.key]
        if owner is not None:
            where.append(s.c.owner_id == owner)
        if since is not None:
            where.append(s.c.created_at >= since)
        if until is not None:
            where.append(s.c.created_at < until)
        path = [x.key for x in pipeline.path]
        lost = [x.key for x in pipeline.lost_stages]
        tally, sums = self._run(
            "computing a funnel", lambda c: self._funnel_tally(c, where, path, lost)
        )
        unit = funnel_currency({code for _, code, _ in sums}, rates, currency)
        values: dict[str, Money] = {}
        used: tuple[ExchangeRate, ...] = ()
        if unit is not None:
            ordered = sorted(
                ((k, code, on, total) for (k, code, on), (_, total) in sums.items() if k in path),
                key=lambda g: (path.index(g[0]), g[1], g[2]),
            )
            values, used = convert_sums(ordered, path, rates, unit)
        return assemble_funnel(
            pipeline, tally, unit=unit, values=values, used=used, threshold=threshold
        )

    def _funnel_tally(
        self,
        c: sa.Connection,
        where: list[sa.ColumnElement[bool]],
        path: list[str],
        lost: list[str],
    ) -> tuple[FunnelTally, dict[tuple[Any, ...], tuple[int, Decimal]]]:
        s, o = self._stages, self._table
        # Which path stages each deal reached, as bit masks (a SUM of distinct powers of two),
        # then how many deals reached each set: a few rows, whatever the number of deals.
        masks = []
        for first in range(0, len(path), _BITS):
            bits: dict[Any, Any] = {
                k: sa.literal_column(str(1 << i)) for i, k in enumerate(path[first : first + _BITS])
            }
            which = sa.case(bits, value=s.c.stage, else_=sa.literal_column("0"))
            masks.append(sa.func.sum(sa.distinct(which)).label(f"m{first // _BITS}"))
        per_deal = sa.select(*masks).where(*where).group_by(s.c.opportunity_id).subquery()
        sets = sa.select(*per_deal.c, sa.func.count()).group_by(*per_deal.c)
        reached: dict[int, int] = {}
        for row in c.execute(sets):
            mask = sum(int(m) << (j * _BITS) for j, m in enumerate(row[:-1]))
            reached[mask] = reached.get(mask, 0) + int(row[-1])
        stays = stay_sums(c, s, [*where, s.c.stay.is_not(None), s.c.stage.in_(path)])
        # The deals' current stages (the rows without a stay), with their amounts and, for lost
        # deals, where from, why and to whom: one pass over the deals, in a few groups. (Grouped
        # in an outer query: PostgreSQL would not match the CASEs' parameters in a GROUP BY.)
        joined = s.join(o, sa.and_(o.c.tenant_id == s.c.tenant_id, o.c.id == s.c.opportunity_id))
        closed = s.c.stage.in_(lost)
        now = (
            sa.select(
                s.c.stage,
                o.c.amount_currency,
                o.c.expected_close,
                sa.case((closed, s.c.previous)).label("lost_from"),
                sa.case((closed, o.c.lost_reason)).label("lost_reason"),
                sa.case((closed, o.c.winning_competitor)).label("lost_to"),
                o.c.amount,
            )
            .select_from(joined)
            .where(*where, s.c.stay.is_(None))
            .subquery()
        )
        groups = [now.c[k] for k in now.c.keys() if k != "amount"]  # noqa: SIM118 (a column collection)
        current: dict[str, int] = {}
        sums: dict[tuple[Any, ...], tuple[int, Decimal]] = {}
        lost_from: dict[str, int] = {}
        reasons: dict[str, int] = {}
        to: dict[str, int] = {}
        for key, (n, total) in amount_sums(c, now.c.amount, groups, now, []).items():
            stage, code, on, previous, reason, competitor = key
            current[stage] = current.get(stage, 0) + n
            before = sums.get((stage, code, on), (0, Decimal(0)))
            sums[(stage, code, on)] = (before[0] + n, _EXACT.add(before[1], total))
            if stage in lost:
                if previous is not None:
                    lost_from[previous] = lost_from.get(previous, 0) + n
                reasons[reason or ""] = reasons.get(reason or "", 0) + n
                if competitor is not None:
                    to[competitor] = to.get(competitor, 0) + n
        tally = FunnelTally(
            reached=reached,
            current=current,
            stays=stays,
            lost_from=lost_from,
            lost_reasons=reasons,
            lost_to=to,
        )
        return tally, sums


def stage_rows(tenant: str, opportunity: Opportunity) -> list[tuple[Any, ...]]:
    """The ``opportunity_stages`` rows of `opportunity`, in table column order."""
    history = opportunity.history
    created = history[0].entered_at
    rows = []
    last = len(history) - 1
    for i, entry in enumerate(history):
        stay = None if i == last else micros(history[i + 1].entered_at) - micros(entry.entered_at)
        rows.append(
            (
                tenant,
                opportunity.id,
                i,
                opportunity.pipeline,
                opportunity.owner_id,
                created,
                entry.stage,
                history[i - 1].stage if i else None,
                entry.entered_at,
                stay,
            )
        )
    return rows


def amount_sums(
    c: sa.Connection,
    amount: sa.ColumnElement[Any],
    groups: Sequence[sa.ColumnElement[Any]],
    source: sa.FromClause,
    where: list[sa.ColumnElement[bool]],
) -> dict[tuple[Any, ...], tuple[int, Decimal]]:
    """Per group of the rows of `source` matching `where`: how many, and their exact sum."""
    return exact_sums(c, [(1, amount)], groups, source, where)


def stay_sums(
    c: sa.Connection, s: sa.Table, where: list[sa.ColumnElement[bool]]
) -> dict[str, tuple[int, int]]:
    """Per stage: the total microseconds of the stays `where` selects, and how many.

    Exact: the servers sum integers as ``NUMERIC``; SQLite raises on overflow, and then the
    stays are read and summed in Python.
    """
    query = (
        sa.select(s.c.stage, sa.func.sum(s.c.stay), sa.func.count(s.c.stay))
        .where(*where)
        .group_by(s.c.stage)
    )
    try:
        return {str(k): (int(total), int(n)) for k, total, n in c.execute(query)}
    except exc.OperationalError as e:
        if c.dialect.name != "sqlite" or not is_overflow(e):
            raise
    found: dict[str, tuple[int, int]] = {}
    for stage, stay in c.execute(sa.select(s.c.stage, s.c.stay).where(*where)):
        total, n = found.get(stage, (0, 0))
        found[stage] = (total + int(stay), n + 1)
    return found
