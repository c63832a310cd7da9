"""Customer care: lifecycle changes, complaints and ownership transfers.

Creates ``lifecycle_changes`` (each customer's moves between lifecycle stages, indexed by
customer and time), ``complaints`` (indexed by customer and status, by status and due time, by
opening time and cause, and by assignee and status), both belonging to a customer, and
``ownership_transfers`` (the records of handing a salesperson's customers to others, indexed by
the departing owner and time). Each is created only if missing, so a run that MariaDB left
half-applied (it commits every DDL statement at once) can simply run again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Document, Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TABLES = ("ownership_transfers", "complaints", "lifecycle_changes")


def _columns() -> dict[str, list[sa.Column[Any]]]:
    """Each table's columns after ``tenant_id``, ``id`` and ``version``."""
    return {
        "lifecycle_changes": [
            sa.Column("customer_id", Id(), nullable=False),
            sa.Column("previous", sa.String(32), nullable=False),
            sa.Column("stage", sa.String(32), nullable=False),
            sa.Column("at", Instant(), nullable=False),
            sa.Column("by", sa.String(64), nullable=False),
            sa.Column("reason", sa.String(500), nullable=False),
        ],
        "complaints": [
            sa.Column("customer_id", Id(), nullable=False),
            sa.Column("subject", sa.String(200), nullable=False),
            sa.Column("opened_at", Instant(), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("contact_id", Id()),
            sa.Column("description", sa.Text, nullable=False),
            sa.Column("cause", sa.String(64)),
            sa.Column("assignee_id", sa.String(64)),
            sa.Column("due", Instant()),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("closed_at", Instant()),
            sa.Column("resolution", sa.Text),
        ],
        "ownership_transfers": [
            sa.Column("from_owner", sa.String(64), nullable=False),
            sa.Column("to_owners", Document(), nullable=False),
            sa.Column("rule", sa.String(64), nullable=False),
            sa.Column("at", Instant(), nullable=False),
            sa.Column("by", sa.String(64), nullable=False),
            sa.Column("reason", sa.String(500), nullable=False),
            sa.Column("customers", Document(), nullable=False),
            sa.Column("leads", Document(), nullable=False),
            sa.Column("opportunities", sa.Integer, nullable=False),
            sa.Column("complaints", sa.Integer, nullable=False),
        ],
    }


_INDEXES = {
    "lifecycle_changes": {"customer": ["tenant_id", "customer_id", "at"]},
    "complaints": {
        "customer": ["tenant_id", "customer_id", "status"],
        "due": ["tenant_id", "status", "due"],
        "opened": ["tenant_id", "opened_at", "cause"],
        "assignee": ["tenant_id", "assignee_id", "status"],
    },
    "ownership_transfers": {"from": ["tenant_id", "from_owner", "at"]},
}


def upgrade() -> None:
    """Create the tables and indexes where missing."""
    prefix, schema = names()
    inspector = sa.inspect(op.get_bind())
    customers = f"{prefix}customers"
    parent = f"{schema}.{customers}" if schema else customers
    for table, columns in _columns().items():
        name = f"{prefix}{table}"
        if inspector.has_table(name, schema=schema):
            continue
        extra: list[Any] = []
        if table != "ownership_transfers":
            extra.append(
                sa.ForeignKeyConstraint(
                    ["tenant_id", "customer_id"],
                    [f"{parent}.tenant_id", f"{parent}.id"],
                    ondelete="CASCADE",
                    name=f"fk_{name}_{customers}",
                )
            )
        op.create_table(
            name,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("id", Id(), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            *columns,
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{name}"),
            *extra,
            schema=schema,
            **MYSQL_OPTIONS,
        )
    for table, wanted in _INDEXES.items():
        name = f"{prefix}{table}"
        present = {i["name"] for i in inspector.get_indexes(name, schema)}
        for index, indexed in wanted.items():
            if f"ix_{name}_{index}" not in present:
                op.create_index(f"ix_{name}_{index}", name, indexed, schema=schema)


def downgrade() -> None:
    """Drop them, and every lifecycle history, complaint and transfer record with them."""
    prefix, schema = names()
    for table in _TABLES:
        op.drop_table(f"{prefix}{table}", schema=schema)
