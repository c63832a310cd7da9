"""One event counter per tenant: outbox events numbered per tenant, in the change counters' row.

Adds ``events`` (the number of the tenant's last outbox event) to ``change_counters``, sets it
for every tenant to the largest number ``outbox_streams`` gave out in any of its streams (so
every event written afterwards takes a larger number than every older one of its stream), and
drops ``outbox_streams``. Each step checks what is there first, so a run that MariaDB left
half-applied (it commits every DDL statement at once) can simply run again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _tables(prefix: str, schema: str | None) -> tuple[sa.Table, sa.Table, sa.Table]:
    """``change_counters`` (with ``events``), ``outbox_streams`` and ``outbox``, as far as used."""
    meta = sa.MetaData(schema=schema)
    counters = sa.Table(
        f"{prefix}change_counters",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("seq", sa.BigInteger),
        sa.Column("events", sa.BigInteger),
    )
    streams = sa.Table(
        f"{prefix}outbox_streams",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("stream", sa.String(64)),
        sa.Column("seq", sa.BigInteger),
    )
    outbox = sa.Table(
        f"{prefix}outbox",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("stream", sa.String(64)),
        sa.Column("seq", sa.BigInteger),
    )
    return counters, streams, outbox


def upgrade() -> None:
    """Add ``change_counters.events``, carry the stream counters over, drop ``outbox_streams``."""
    prefix, schema = names()
    counters, streams, _ = _tables(prefix, schema)
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns(counters.name, schema)}
    if "events" not in columns:
        with op.batch_alter_table(counters.name, schema=schema) as batch:
            batch.add_column(sa.Column("events", sa.BigInteger, nullable=False, server_default="0"))
    if not inspector.has_table(streams.name, schema=schema):
        return
    connection = op.get_bind()
    # A counter row for every tenant with events, and above every number given out before.
    missing = (
        sa.select(streams.c.tenant_id, sa.literal(0), sa.literal(0))
        .where(~streams.c.tenant_id.in_(sa.select(counters.c.tenant_id)))
        .distinct()
    )
    connection.execute(counters.insert().from_select(["tenant_id", "seq", "events"], missing))
    highest = (
        sa.select(sa.func.max(streams.c.seq))
        .where(streams.c.tenant_id == counters.c.tenant_id)
        .scalar_subquery()
    )
    connection.execute(
        counters.update()
        .where(counters.c.tenant_id.in_(sa.select(streams.c.tenant_id)))
        .values(events=highest)
    )
    op.drop_table(streams.name, schema=schema)


def downgrade() -> None:
    """Recreate ``outbox_streams`` from the outbox's numbers, drop ``change_counters.events``.

    Each stream's counter is the largest number among its events still in the outbox, so the
    events written afterwards follow them; a stream with none left starts again at 1.
    """
    prefix, schema = names()
    counters, streams, outbox = _tables(prefix, schema)
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(streams.name, schema=schema):
        op.create_table(
            streams.name,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("stream", sa.String(64), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "stream", name=f"pk_{streams.name}"),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    connection = op.get_bind()
    connection.execute(streams.delete())  # a run that stopped halfway starts again
    last = sa.select(outbox.c.tenant_id, outbox.c.stream, sa.func.max(outbox.c.seq)).group_by(
        outbox.c.tenant_id, outbox.c.stream
    )
    connection.execute(streams.insert().from_select(["tenant_id", "stream", "seq"], last))
    columns = {c["name"] for c in inspector.get_columns(counters.name, schema)}
    if "events" in columns:
        with op.batch_alter_table(counters.name, schema=schema) as batch:
            batch.drop_column("events")
