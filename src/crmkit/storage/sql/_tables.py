"""crmkit's tables, on one `MetaData` a host app can hand to its own Alembic.

Every table leads with ``tenant_id``: it begins every primary key and every unique constraint,
foreign key and index, the rule Citus imposes on tables distributed by tenant and co-located.
A naming convention gives every constraint the same name on every backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from sqlalchemy import (
    Column,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from crmkit.errors import ValidationError
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._registry import registered
from crmkit.storage.sql._types import Document, Id

__all__ = ["NAMING_CONVENTION", "Tables", "build_tables"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names, the same on SQLite, PostgreSQL and MariaDB/MySQL."""

# MariaDB/MySQL: 4-byte UTF-8 for emoji and rare CJK characters, and a binary collation so
# that keys compare exactly as on PostgreSQL and SQLite (case and accents matter).
_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}

TENANT_LENGTH = 64
# An email address has at most 254 characters; lower-casing a few letters (U+0130) doubles
# them. 512 utf8mb4 characters keep the primary key within InnoDB's 3072 bytes.
KEY_LENGTH = 512
# Constraint names must fit PostgreSQL's 63 characters: "fk_" + prefix + "interactions_" (or
# "contact_keys_") + prefix + "customers" does with a prefix of up to 19 characters.
_PREFIX = re.compile(r"[a-z0-9_]{0,19}")


@attrs.frozen
class Tables:
    """crmkit's tables on one `MetaData`.

    Attributes:
        metadata: the `MetaData` holding them (hand it to Alembic, or `create_all` on it).
        customers: one row per customer; lists and documents of the aggregate in ``details``.
        contacts: one row per contact of a customer, in the customer's order (``position``).
        interactions: the customer timelines.
        contact_keys: the contacts' phone numbers and email addresses, one row each, so that
            a customer can be found by either (derived from ``contacts``; written with it).
        prefix: the prefix of every table name.
        schema: the database schema of the tables, or ``None`` for the default.
        aggregates: the aggregates on the repository core whose tables are derived from their
            declarations, by table name (without prefix).
        records: those tables, by the same name.
    """

    metadata: MetaData
    customers: Table
    contacts: Table
    interactions: Table
    contact_keys: Table
    prefix: str = "crmkit_"
    schema: str | None = None
    aggregates: Mapping[str, Aggregate[Any]] = attrs.field(factory=dict)
    records: Mapping[str, Table] = attrs.field(factory=dict)

    def table(self, name: str) -> Table:
        """The table of the records called `name` (``"customers"``), without prefix."""
        found = self.records.get(name)
        if found is None:
            found = getattr(self, name)
        return found


def build_tables(
    *,
    prefix: str = "crmkit_",
    schema: str | None = None,
    aggregates: Iterable[Aggregate[Any]] = (),
) -> Tables:
    """Define crmkit's tables on a new `MetaData`.

    Args:
        prefix: put before every table name (``crmkit_customers``).
        schema: the database schema to put them in (PostgreSQL), or ``None`` for the default.
        aggregates: aggregates to hold besides the registered ones (see
            `crmkit.storage.register`); their tables derive from their declarations.
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValidationError.of(
            "prefix", f"{prefix!r} must be at most 19 lower-case letters, digits and underscores"
        )
    metadata = MetaData(naming_convention=NAMING_CONVENTION, schema=schema)

    def tenant() -> Column[str]:
        return Column("tenant_id", String(TENANT_LENGTH), nullable=False)

    customers_name = f"{prefix}customers"
    customers = Table(
        customers_name,
        metadata,
        tenant(),
        Column("id", Id(), nullable=False),
        Column("version", Integer, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("name", String(200), nullable=False),
        Column("code", String(64)),
        Column("owner_id", String(64), nullable=False),
        Column("lifecycle", String(32), nullable=False),
        Column("source", String(64)),
        Column("tier_code", String(16)),
        Column("tier_service_level", String(200)),
        Column("timezone", String(64), nullable=False),
        Column("birthday", Date),
        # Tags, custom fields, preferences, anniversaries and do-not-contact windows: read and
        # written with the customer, never queried alone (yet).
        Column("details", Document(), nullable=False),
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "code"),
        Index(f"ix_{customers_name}_owner", "tenant_id", "owner_id", "id"),
        **_MYSQL,
    )
    parent = f"{schema}.{customers_name}" if schema else customers_name

    contacts = Table(
        f"{prefix}contacts",
        metadata,
        tenant(),
        Column("id", Id(), nullable=False),
        Column("customer_id", Id(), nullable=False),
        Column("position", Integer, nullable=False),
        Column("name", String(200), nullable=False),
        Column("title", String(200)),
        Column("reports_to", Id()),
        Column("birthday", Date),
        # Roles, phone numbers and email addresses.
        Column("details", Document(), nullable=False),
        PrimaryKeyConstraint("tenant_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
        ),
        Index(f"ix_{prefix}contacts_customer", "tenant_id", "customer_id", "position"),
        **_MYSQL,
    )

    contact_keys = Table(
        f"{prefix}contact_keys",
        metadata,
        tenant(),
        Column("kind", String(8), nullable=False),
        # E.164 for a phone, the address in lower case for an email.
        Column("value", String(KEY_LENGTH), nullable=False),
        Column("contact_id", Id(), nullable=False),
        Column("customer_id", Id(), nullable=False),
        # The primary key is the lookup index: tenant, kind and value first.
        PrimaryKeyConstraint("tenant_id", "kind", "value", "contact_id"),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            [f"{parent}.tenant_id", f"{parent}.id"],
            ondelete="CASCADE",
        ),
        Index(f"ix_{prefix}contact_keys_customer", "tenant_id", "customer_id"),
        **_MYSQL,
    )
    from crmkit.storage.sql._records import record_table

    declared = {a.table: a for a in (*registered(), *aggregates)}
    fixed = {"customers": customers}
    records: dict[str, Table] = {}
    for a in declared.values():
        if a.table in fixed:
            continue
        above = None if a.parent is None else records.get(a.parent.table, fixed.get(a.parent.table))
        records[a.table] = record_table(a, metadata, prefix=prefix, parent=above)
    return Tables(
        metadata,
        customers,
        contacts,
        records["interactions"],
        contact_keys,
        prefix=prefix,
        schema=schema,
        aggregates=declared,
        records=records,
    )
