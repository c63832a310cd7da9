"""Contact keys: every contact's phone numbers and email addresses, indexed for lookups.

Creates the ``contact_keys`` table and fills it from the phone numbers and email addresses
already stored in the contacts' ``details``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql._types import Document, Id
from crmkit.storage.sql.migrations._context import MYSQL_OPTIONS, names

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    """Create ``contact_keys`` (unless a half-applied run on MariaDB left it) and fill it."""
    prefix, schema = names()
    customers, keys = f"{prefix}customers", f"{prefix}contact_keys"
    parent = f"{schema}.{customers}" if schema else customers
    if not sa.inspect(op.get_bind()).has_table(keys, schema=schema):
        op.create_table(
            keys,
            sa.Column("tenant_id", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(8), nullable=False),
            sa.Column("value", sa.String(512), nullable=False),
            sa.Column("contact_id", Id(), nullable=False),
            sa.Column("customer_id", Id(), nullable=False),
            sa.PrimaryKeyConstraint("tenant_id", "kind", "value", "contact_id", name=f"pk_{keys}"),
            sa.ForeignKeyConstraint(
                ["tenant_id", "customer_id"],
                [f"{parent}.tenant_id", f"{parent}.id"],
                ondelete="CASCADE",
                name=f"fk_{keys}_{customers}",
            ),
            schema=schema,
            **MYSQL_OPTIONS,
        )
        op.create_index(f"ix_{keys}_customer", keys, ["tenant_id", "customer_id"], schema=schema)
    _fill(prefix, schema)


def _fill(prefix: str, schema: str | None) -> None:
    """Copy the phone numbers and emails out of every stored contact's ``details``."""
    meta = sa.MetaData(schema=schema)
    contacts = sa.Table(
        f"{prefix}contacts",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("id", Id()),
        sa.Column("customer_id", Id()),
        sa.Column("details", Document()),
    )
    keys = sa.Table(
        f"{prefix}contact_keys",
        meta,
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("kind", sa.String(8)),
        sa.Column("value", sa.String(512)),
        sa.Column("contact_id", Id()),
        sa.Column("customer_id", Id()),
    )
    connection = op.get_bind()
    connection.execute(keys.delete())  # a run that stopped halfway starts again
    batch: list[dict[str, Any]] = []
    for row in _rows(connection, contacts):
        batch.append(row)
        if len(batch) == _BATCH:
            connection.execute(keys.insert(), batch)
            batch = []
    if batch:
        connection.execute(keys.insert(), batch)


def _rows(connection: sa.Connection, contacts: sa.Table) -> Iterator[dict[str, Any]]:
    query = sa.select(contacts).order_by(contacts.c.tenant_id, contacts.c.id)
    # Read in pages by key, so a large table is never held in memory at once.
    after: tuple[str, Any] | None = None
    while True:
        page = query
        if after is not None:
            page = page.where(sa.tuple_(contacts.c.tenant_id, contacts.c.id) > after)
        found = connection.execute(page.limit(_BATCH)).mappings().all()
        if not found:
            return
        for contact in found:
            details = contact["details"] or {}
            # Email addresses are looked up in lower case (as crmkit.storage does since 0002).
            wanted = {("phone", n) for n in details.get("phones", ())} | {
                ("email", e.lower()) for e in details.get("emails", ())
            }
            for kind, value in sorted(wanted):
                yield {
                    "tenant_id": contact["tenant_id"],
                    "kind": kind,
                    "value": value,
                    "contact_id": contact["id"],
                    "customer_id": contact["customer_id"],
                }
        last = found[-1]
        after = (last["tenant_id"], last["id"])


def downgrade() -> None:
    """Drop ``contact_keys`` (the phone numbers and emails stay in the contacts' details)."""
    prefix, schema = names()
    op.drop_table(f"{prefix}contact_keys", schema=schema)
