"""External ids: a customer's and a contact's id in another system, unique in a tenant.

Adds ``external_id`` to ``customers`` and to ``contacts``, each with a unique index by tenant,
so that importing a file again updates the records it names instead of adding them twice.
Addresses and the contacts' time zones, opt-outs, quiet hours and do-not-contact windows live
in the ``details`` documents, which need no change. Each step runs only if it is still to be
done, so a run that MariaDB left half-applied (it commits every DDL statement at once) can
simply run again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from crmkit.storage.sql.migrations._context import names

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_LENGTH = 128
_TABLES = ("customers", "contacts")


def upgrade() -> None:
    """Add the ``external_id`` columns and their unique indexes where missing."""
    prefix, schema = names()
    for name in _TABLES:
        table = f"{prefix}{name}"
        inspector = sa.inspect(op.get_bind())
        if "external_id" not in {c["name"] for c in inspector.get_columns(table, schema=schema)}:
            op.add_column(table, sa.Column("external_id", sa.String(_LENGTH)), schema=schema)
        index = f"ix_{table}_external"
        if index not in {i["name"] for i in inspector.get_indexes(table, schema=schema)}:
            op.create_index(index, table, ["tenant_id", "external_id"], unique=True, schema=schema)


def downgrade() -> None:
    """Drop the indexes and the columns (the external ids stored are lost)."""
    prefix, schema = names()
    for name in _TABLES:
        table = f"{prefix}{name}"
        op.drop_index(f"ix_{table}_external", table_name=table, schema=schema)
        op.drop_column(table, "external_id", schema=schema)
