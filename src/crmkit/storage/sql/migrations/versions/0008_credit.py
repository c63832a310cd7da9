"""The credit ledger: accounts, orders, invoices, payments, credit notes, entries, operations.

Creates ``accounts`` (one per customer, with its running balances and temporary increases),
and, each belonging to an
account, ``orders``, ``invoices`` (indexed by account, status and due date, and by status and
due date), ``payments``, ``credit_notes``, ``credit_ledger`` (the entries, indexed by account
and sequence), ``operations`` (the service calls, unique by idempotency key) and
``credit_overrides`` (approvals of blocked orders, indexed by account and order). Amounts are
exact numbers, each with its currency. Each is created only if missing, so a run that MariaDB
left half-applied (it commits every DDL statement at once) can simply run again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Amount, Document, Id, Instant
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLES = (
    "credit_overrides",
    "operations",
    "credit_ledger",
    "credit_notes",
    "payments",
    "invoices",
    "orders",
    "accounts",
)


def _money(name: str, *, nullable: bool = False) -> list[sa.Column[Any]]:
    return [
        sa.Column(name, Amount(), nullable=nullable),
        sa.Column(f"{name}_currency", sa.String(3), nullable=nullable),
    ]


def _columns() -> dict[str, list[sa.Column[Any]]]:
    """Each table's columns after ``tenant_id``, ``id``, ``version`` (and ``account_id``)."""
    return {
        "orders": [
            *_money("amount"),
            sa.Column("placed_at", Instant(), nullable=False),
            sa.Column("reference", sa.String(64)),
            *_money("invoiced"),
            *_money("cancelled"),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("outcome", sa.String(16)),
            sa.Column("override_id", Id()),
        ],
        "invoices": [
            *_money("amount"),
            sa.Column("issued_at", Instant(), nullable=False),
            sa.Column("due", sa.Date, nullable=False),
            sa.Column("order_id", Id()),
            sa.Column("reference", sa.String(64)),
            *_money("settled"),
            *_money("written_off"),
            sa.Column("overdue", sa.Boolean, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
        ],
        "payments": [
            *_money("amount"),
            sa.Column("received_at", Instant(), nullable=False),
            sa.Column("reference", sa.String(64)),
            sa.Column("allocations", Document(), nullable=False),
            *_money("unallocated"),
        ],
        "credit_notes": [
            *_money("amount"),
            sa.Column("reason", sa.String(500), nullable=False),
            sa.Column("issued_at", Instant(), nullable=False),
            sa.Column("invoice_id", Id()),
        ],
        "credit_ledger": [
            sa.Column("sequence", sa.Integer, nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("document", sa.String(16), nullable=False),
            sa.Column("document_id", Id(), nullable=False),
            *_money("amount"),
            *_money("orders"),
            *_money("invoices"),
            *_money("credit"),
            sa.Column("at", Instant(), nullable=False),
            sa.Column("key", sa.String(128), nullable=False),
            sa.Column("invoice_id", Id()),
            *_money("original", nullable=True),
            sa.Column("rate", Document()),
            sa.Column("rate_date", sa.Date),
        ],
        "operations": [
            sa.Column("key", sa.String(128), nullable=False),
            sa.Column("service", sa.String(64), nullable=False),
            sa.Column("request", sa.String(64), nullable=False),
            sa.Column("at", Instant(), nullable=False),
            sa.Column("document", sa.String(16), nullable=False),
            sa.Column("document_id", Id(), nullable=False),
            sa.Column("first", sa.Integer, nullable=False),
            sa.Column("entries", sa.Integer, nullable=False),
        ],
        "credit_overrides": [
            sa.Column("order_id", Id(), nullable=False),
            sa.Column("approved_by", sa.String(64), nullable=False),
            sa.Column("at", Instant(), nullable=False),
            sa.Column("reason", sa.String(500), nullable=False),
            *_money("amount"),
        ],
    }


_INDEXES = {
    "orders": {"account": ["tenant_id", "account_id", "status"]},
    "invoices": {
        "account": ["tenant_id", "account_id", "status", "due"],
        "due": ["tenant_id", "status", "due"],
    },
    "credit_ledger": {
        "account": ["tenant_id", "account_id", "sequence"],
        # By time: a period's receivables read the entries since its start, not the history.
        "time": ["tenant_id", "at"],
    },
    "credit_overrides": {"order": ["tenant_id", "account_id", "order_id"]},
}


def _key() -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", Id(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    ]


def upgrade() -> None:
    """Create the ledger's tables and indexes where missing."""
    prefix, schema = names()
    inspector = sa.inspect(op.get_bind())
    accounts, customers = f"{prefix}accounts", f"{prefix}customers"
    if not inspector.has_table(accounts, schema=schema):
        op.create_table(
            accounts,
            *_key(),
            sa.Column("customer_id", Id(), nullable=False),
            *_money("base_limit"),
            sa.Column("opened_at", Instant(), nullable=False),
            sa.Column("currency", sa.String(3), nullable=False),
            sa.Column("on_hold", sa.Boolean, nullable=False),
            sa.Column("hold_reason", sa.String(500)),
            sa.Column("increases", Document(), nullable=False),
            *_money("open_orders"),
            *_money("unpaid_invoices"),
            *_money("unallocated"),
            sa.Column("sequence", sa.Integer, nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{accounts}"),
            sa.UniqueConstraint(
                "tenant_id", "customer_id", name=f"uq_{accounts}_tenant_id_customer_id"
            ),
            sa.ForeignKeyConstraint(
                ["tenant_id", "customer_id"],
                [
                    f"{schema}.{customers}.tenant_id" if schema else f"{customers}.tenant_id",
                    f"{schema}.{customers}.id" if schema else f"{customers}.id",
                ],
                ondelete="CASCADE",
                name=f"fk_{accounts}_{customers}",
            ),
            schema=schema,
            **MYSQL_OPTIONS,
        )
    parent = f"{schema}.{accounts}" if schema else accounts
    for table, columns in _columns().items():
        name = f"{prefix}{table}"
        if inspector.has_table(name, schema=schema):
            continue
        extra: list[Any] = []
        if table == "operations":
            extra.append(sa.UniqueConstraint("tenant_id", "key", name=f"uq_{name}_tenant_id_key"))
        op.create_table(
            name,
            *_key(),
            # A stored override always has an account, but its field (and so its column) is
            # optional: an override may be judged without being stored.
            sa.Column("account_id", Id(), nullable=table == "credit_overrides"),
            *columns,
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["tenant_id", "account_id"],
                [f"{parent}.tenant_id", f"{parent}.id"],
                ondelete="CASCADE",
                name=f"fk_{name}_{accounts}",
            ),
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
    """Drop them, and every credit account and its ledger with them."""
    prefix, schema = names()
    for table in _TABLES:
        op.drop_table(f"{prefix}{table}", schema=schema)
