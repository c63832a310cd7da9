"""The pipeline: leads, assignment books and opportunities.

Creates ``leads`` (with indexes for reclaim, by owner and by source), ``assignment_books`` (one
per tenant: the round-robin turns, and the row assignments lock) and ``opportunities`` (each
belonging to a customer, with its amount as an exact number and a currency). Each is created
only if missing, so a run that MariaDB left half-applied (it commits every DDL statement at
once) can simply run again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Amount, Document, Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _text(name: str, length: int | None, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text if length is None else sa.String(length), nullable=nullable)


def upgrade() -> None:
    """Create ``leads``, ``assignment_books`` and ``opportunities`` where missing."""
    prefix, schema = names()
    leads, opportunities = f"{prefix}leads", f"{prefix}opportunities"
    customers = f"{prefix}customers"
    parent = f"{schema}.{customers}" if schema else customers
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(leads, schema=schema):
        op.create_table(
            leads,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("id", Id(), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            _text("name", 200, nullable=False),
            _text("source", 64, nullable=False),
            _text("company", 200),
            _text("intent", 16, nullable=False),
            sa.Column("probability", Document()),
            _text("industry", 64),
            _text("size", 64),
            _text("territory", 64),
            sa.Column("phones", Document(), nullable=False),
            sa.Column("emails", Document(), nullable=False),
            _text("owner_id", 64),
            sa.Column("assigned_at", Instant()),
            sa.Column("decision", Document()),
            sa.Column("follow_ups", Document(), nullable=False),
            _text("status", 16, nullable=False),
            _text("disqualified_reason", 500),
            sa.Column("created_at", Instant()),
            sa.Column("reclaim_at", Instant()),
            sa.Column("customer_id", Id()),
            sa.Column("contact_id", Id()),
            sa.Column("opportunity_id", Id()),
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{leads}"),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    indexes = {i["name"] for i in inspector.get_indexes(leads, schema)}
    wanted = {
        "reclaim": ["tenant_id", "reclaim_at"],
        "owner": ["tenant_id", "owner_id", "status"],
        "source": ["tenant_id", "source", "created_at"],
    }
    for name, columns in wanted.items():
        if f"ix_{leads}_{name}" not in indexes:
            op.create_index(f"ix_{leads}_{name}", leads, columns, schema=schema)
    books = f"{prefix}assignment_books"
    if not inspector.has_table(books, schema=schema):
        op.create_table(
            books,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("id", Id(), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("assigned", sa.Integer, nullable=False),
            sa.Column("turns", Document(), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{books}"),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    if not inspector.has_table(opportunities, schema=schema):
        op.create_table(
            opportunities,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("id", Id(), nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("customer_id", Id(), nullable=False),
            _text("name", 200, nullable=False),
            _text("owner_id", 64, nullable=False),
            _text("pipeline", 64, nullable=False),
            sa.Column("amount", Amount(), nullable=False),
            sa.Column("amount_currency", sa.String(3), nullable=False),
            sa.Column("expected_close", sa.Date, nullable=False),
            _text("stage", 64, nullable=False),
            sa.Column("history", Document(), nullable=False),
            sa.Column("contacts", Document(), nullable=False),
            sa.Column("competitors", Document(), nullable=False),
            sa.Column("probability_override", Document()),
            _text("needs_analysis", None),
            _text("quote", 64),
            sa.Column("facts", Document(), nullable=False),
            _text("lost_reason", 500),
            _text("winning_competitor", 64),
            _text("source", 64),
            sa.Column("lead_id", Id()),
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{opportunities}"),
            sa.ForeignKeyConstraint(
                ["tenant_id", "customer_id"],
                [f"{parent}.tenant_id", f"{parent}.id"],
                ondelete="CASCADE",
                name=f"fk_{opportunities}_{customers}",
            ),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    indexes = {i["name"] for i in inspector.get_indexes(opportunities, schema)}
    wanted = {
        "customer": ["tenant_id", "customer_id", "id"],
        "owner": ["tenant_id", "owner_id", "id"],
        "stage": ["tenant_id", "pipeline", "stage"],
    }
    for name, columns in wanted.items():
        if f"ix_{opportunities}_{name}" not in indexes:
            op.create_index(f"ix_{opportunities}_{name}", opportunities, columns, schema=schema)


def downgrade() -> None:
    """Drop them, and every lead, assignment book and opportunity with them."""
    prefix, schema = names()
    for table in ("opportunities", "assignment_books", "leads"):
        op.drop_table(f"{prefix}{table}", schema=schema)
