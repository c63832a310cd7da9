"""The transactional outbox: events written with the changes they tell of, until delivered.

Creates ``outbox`` (one row per recorded event) and ``outbox_streams`` (per aggregate, the
number of its last event). Each is created only if missing, so a run that MariaDB left
half-applied (it commits every DDL statement at once) can simply run again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Document, Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``outbox`` and ``outbox_streams`` where missing."""
    prefix, schema = names()
    outbox, streams = f"{prefix}outbox", f"{prefix}outbox_streams"
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(outbox, schema=schema):
        op.create_table(
            outbox,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("id", Id(), nullable=False),
            sa.Column("stream", sa.String(64), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("kind", sa.String(200), nullable=False),
            sa.Column("body", Document(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("due_at", Instant(), nullable=False),
            sa.Column("claim", sa.String(36)),
            sa.Column("delivered_at", Instant()),
            sa.Column("error", sa.Text),
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{outbox}"),
            sa.UniqueConstraint(
                "tenant_id", "stream", "seq", name=f"uq_{outbox}_tenant_id_stream_seq"
            ),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    if not any(i["name"] == f"ix_{outbox}_due" for i in inspector.get_indexes(outbox, schema)):
        op.create_index(
            f"ix_{outbox}_due", outbox, ["tenant_id", "status", "due_at"], schema=schema
        )
    if not inspector.has_table(streams, schema=schema):
        op.create_table(
            streams,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("stream", sa.String(64), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "stream", name=f"pk_{streams}"),
            schema=schema,
            **MYSQL_OPTIONS,
        )


def downgrade() -> None:
    """Drop them, with any events not yet delivered."""
    prefix, schema = names()
    for table in ("outbox_streams", "outbox"):
        op.drop_table(f"{prefix}{table}", schema=schema)
