"""Opportunity stages: one row per entry of every opportunity's stage history, for reports.

Creates ``opportunity_stages`` (unless a half-applied run on MariaDB left it) and fills it
from the histories already stored in the opportunities' ``history`` documents.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Document, Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    """Create ``opportunity_stages`` where missing, and fill it."""
    prefix, schema = names()
    stages, opportunities = f"{prefix}opportunity_stages", f"{prefix}opportunities"
    parent = f"{schema}.{opportunities}" if schema else opportunities
    if not sa.inspect(op.get_bind()).has_table(stages, schema=schema):
        op.create_table(
            stages,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("opportunity_id", Id(), nullable=False),
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("pipeline", sa.String(64), nullable=False),
            sa.Column("owner_id", sa.String(64), nullable=False),
            sa.Column("created_at", Instant(), nullable=False),
            sa.Column("stage", sa.String(64), nullable=False),
            sa.Column("previous", sa.String(64)),
            sa.Column("entered_at", Instant(), nullable=False),
            sa.Column("stay", sa.BigInteger),
            sa.PrimaryKeyConstraint("tenant_id", "opportunity_id", "position", name=f"pk_{stages}"),
            sa.ForeignKeyConstraint(
                ["tenant_id", "opportunity_id"],
                [f"{parent}.tenant_id", f"{parent}.id"],
                ondelete="CASCADE",
                name=f"fk_{stages}",
            ),
            schema=schema,
            **MYSQL_OPTIONS,
        )
        op.create_index(
            f"ix_{stages}_pipeline", stages, ["tenant_id", "pipeline", "created_at"], schema=schema
        )
    _fill(prefix, schema)


def _fill(prefix: str, schema: str | None) -> None:
    """Write the rows of every stored opportunity's history."""
    meta = sa.MetaData(schema=schema)
    opportunities = sa.Table(
        f"{prefix}opportunities",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("id", Id()),
        sa.Column("pipeline", sa.String(64)),
        sa.Column("owner_id", sa.String(64)),
        sa.Column("history", Document()),
    )
    stages = sa.Table(
        f"{prefix}opportunity_stages",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("opportunity_id", Id()),
        sa.Column("position", sa.Integer),
        sa.Column("pipeline", sa.String(64)),
        sa.Column("owner_id", sa.String(64)),
        sa.Column("created_at", Instant()),
        sa.Column("stage", sa.String(64)),
        sa.Column("previous", sa.String(64)),
        sa.Column("entered_at", Instant()),
        sa.Column("stay", sa.BigInteger),
    )
    connection = op.get_bind()
    connection.execute(stages.delete())  # a run that stopped halfway starts again
    batch: list[dict[str, Any]] = []
    for row in _rows(connection, opportunities):
        batch.append(row)
        if len(batch) == _BATCH:
            connection.execute(stages.insert(), batch)
            batch = []
    if batch:
        connection.execute(stages.insert(), batch)


def _micros(instant: dt.datetime) -> int:
    seconds = instant.hour * 3600 + instant.minute * 60 + instant.second
    return (instant.toordinal() * 86400 + seconds) * 1_000_000 + instant.microsecond


def _rows(connection: sa.Connection, opportunities: sa.Table) -> Iterator[dict[str, Any]]:
    table = opportunities
    query = sa.select(table).order_by(table.c.tenant_id, table.c.id)
    # Read in pages by key, so a large table is never held in memory at once.
    after: tuple[str, Any] | None = None
    while True:
        page = query
        if after is not None:
            page = page.where(sa.tuple_(table.c.tenant_id, table.c.id) > after)
        found = connection.execute(page.limit(_BATCH)).mappings().all()
        if not found:
            return
        for deal in found:
            history = deal["history"] or []
            times = [dt.datetime.fromisoformat(e["entered_at"]).astimezone(dt.UTC) for e in history]
            for i, entry in enumerate(history):
                yield {
                    "tenant_id": deal["tenant_id"],
                    "opportunity_id": deal["id"],
                    "position": i,
                    "pipeline": deal["pipeline"],
                    "owner_id": deal["owner_id"],
                    "created_at": times[0],
                    "stage": entry["stage"],
                    "previous": history[i - 1]["stage"] if i else None,
                    "entered_at": times[i],
                    "stay": _micros(times[i + 1]) - _micros(times[i])
                    if i + 1 < len(history)
                    else None,
                }
        last = found[-1]
        after = (last["tenant_id"], last["id"])


def downgrade() -> None:
    """Drop ``opportunity_stages`` (the histories stay in the opportunities' documents)."""
    prefix, schema = names()
    op.drop_table(f"{prefix}opportunity_stages", schema=schema)
