"""Customers, contacts and interaction timelines.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Document, Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the customers, contacts and interactions tables."""
    prefix, schema = names()
    customers, contacts, interactions = (
        f"{prefix}customers",
        f"{prefix}contacts",
        f"{prefix}interactions",
    )
    parent = f"{schema}.{customers}" if schema else customers

    def tenant() -> sa.Column[str]:
        return sa.Column("tenant_id", sa.String(64), nullable=False)

    op.create_table(
        customers,
        tenant(),
        sa.Column("id", Id(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("lifecycle", sa.String(32), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("tier_code", sa.String(16)),
        sa.Column("tier_service_level", sa.String(200)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("birthday", sa.Date),
        sa.Column("details", Document(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{customers}"),
        sa.UniqueConstraint("tenant_id", "code", name=f"uq_{customers}_tenant_id_code"),
        schema=schema,
        **MYSQL_OPTIONS,
    )
    op.create_index(
        f"ix_{customers}_owner",
        customers,
        ["tenant_id", "owner_id", "id"],
        schema=schema,
    )
    op.create_table(
        contacts,
        tenant(),
        sa.Column("id", Id(), nullable=False),
        sa.Column("customer_id", Id(), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200)),
        sa.Column("reports_to", Id()),
        sa.Column("birthday", sa.Date),
        sa.Column("details", Document(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{contacts}"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
            name=f"fk_{contacts}_{customers}",
        ),
        schema=schema,
        **MYSQL_OPTIONS,
    )
    op.create_index(
        f"ix_{contacts}_customer",
        contacts,
        ["tenant_id", "customer_id", "position"],
        schema=schema,
    )
    op.create_table(
        interactions,
        tenant(),
        sa.Column("id", Id(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("customer_id", Id(), nullable=False),
        sa.Column("contact_id", Id()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", Instant(), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{interactions}"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
            name=f"fk_{interactions}_{customers}",
        ),
        schema=schema,
        **MYSQL_OPTIONS,
    )
    op.create_index(
        f"ix_{interactions}_timeline",
        interactions,
        ["tenant_id", "customer_id", "occurred_at", "id"],
        schema=schema,
    )


def downgrade() -> None:
    """Drop them."""
    prefix, schema = names()
    for table in ("interactions", "contacts", "customers"):
        op.drop_table(f"{prefix}{table}", schema=schema)
