"""The change log: every write through crmkit, recorded in the transaction that made it.

Creates ``changes`` (one row per write, numbered per tenant in commit order) and
``change_counters`` (per tenant, the number of its last change). Each is created only if
missing, so a run that MariaDB left half-applied (it commits every DDL statement at once) can
simply run again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._changes import JSON_TEXT
from crmkit.storage.sql._types import Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``changes`` and ``change_counters`` where missing."""
    prefix, schema = names()
    changes, counters = f"{prefix}changes", f"{prefix}change_counters"
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(changes, schema=schema):
        op.create_table(
            changes,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("at", Instant(), nullable=False),
            sa.Column("actor_id", sa.String(64), nullable=False),
            sa.Column("record", sa.String(64), nullable=False),
            sa.Column("record_id", Id(), nullable=False),
            sa.Column("operation", sa.String(16), nullable=False),
            sa.Column("before", JSON_TEXT),
            sa.Column("after", JSON_TEXT),
            sa.PrimaryKeyConstraint("tenant_id", "seq", name=f"pk_{changes}"),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    indexes = {i["name"] for i in inspector.get_indexes(changes, schema)}
    wanted = {
        "record": ["tenant_id", "record", "record_id", "seq"],
        "actor": ["tenant_id", "actor_id", "seq"],
        "at": ["tenant_id", "at"],
    }
    for name, columns in wanted.items():
        if f"ix_{changes}_{name}" not in indexes:
            op.create_index(f"ix_{changes}_{name}", changes, columns, schema=schema)
    if not inspector.has_table(counters, schema=schema):
        op.create_table(
            counters,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", name=f"pk_{counters}"),
            schema=schema,
            **MYSQL_OPTIONS,
        )


def downgrade() -> None:
    """Drop them, and the change log with them."""
    prefix, schema = names()
    for table in ("change_counters", "changes"):
        op.drop_table(f"{prefix}{table}", schema=schema)
