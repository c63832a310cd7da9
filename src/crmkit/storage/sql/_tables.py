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
    MetaData,
    Table,
)

from crmkit.errors import ValidationError
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._registry import registered, registration
from crmkit.storage.sql._changes import add_change_tables
from crmkit.storage.sql._outbox import add_outbox_table

__all__ = ["MYSQL_OPTIONS", "NAMING_CONVENTION", "TENANT_LENGTH", "Tables", "build_tables"]

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
MYSQL_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}

TENANT_LENGTH = 64
# Constraint names must fit PostgreSQL's 63 characters: "fk_" + prefix + "interactions_" (or
# "contact_keys_") + prefix + "customers" does with a prefix of up to 19 characters.
_PREFIX = re.compile(r"[a-z0-9_]{0,19}")


@attrs.frozen(eq=False)
class Tables:
    """crmkit's tables on one `MetaData`: every registered capability's, by name.

    A table is an attribute by its name without prefix: ``tables.customers`` (one row per
    customer), ``tables.contacts`` (a customer's contacts, in order), ``tables.contact_keys``
    (the contacts' phone numbers and email addresses, for lookups), ``tables.interactions``
    (the customer timelines).

    Attributes:
        metadata: the `MetaData` holding them (hand it to Alembic, or `create_all` on it).
        prefix: the prefix of every table name.
        schema: the database schema of the tables, or ``None`` for the default.
        aggregates: the aggregates the tables hold, by table name (without prefix).
        records: every table, by name without prefix.
    """

    metadata: MetaData
    prefix: str = "crmkit_"
    schema: str | None = None
    aggregates: Mapping[str, Aggregate[Any]] = attrs.field(factory=dict)
    records: Mapping[str, Table] = attrs.field(factory=dict)

    def table(self, name: str) -> Table:
        """The table called `name` without prefix (``"customers"``).

        Raises:
            ValidationError: there is no such table.
        """
        found = self.records.get(name)
        if found is None:
            raise ValidationError.of("table", f"there is no crmkit table {name!r}")
        return found

    def __getattr__(self, name: str) -> Table:
        records = object.__getattribute__(self, "records")
        if name in records:
            found: Table = records[name]
            return found
        raise AttributeError(name)


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
    from crmkit.storage.sql._records import record_table

    metadata = MetaData(naming_convention=NAMING_CONVENTION, schema=schema)
    declared = {a.table: a for a in (*registered(), *aggregates)}
    records: dict[str, Table] = {}
    for a in declared.values():
        if a.table in records:
            continue  # built with another aggregate's tables
        found = registration(a.table)
        build = found.sql_tables_function() if found is not None else None
        if build is not None:
            records.update(build(metadata, prefix=prefix, schema=schema))
            continue
        above = None if a.parent is None else records.get(a.parent.table)
        records[a.table] = record_table(a, metadata, prefix=prefix, parent=above)
    add_outbox_table(metadata, prefix=prefix)
    add_change_tables(metadata, prefix=prefix)
    return Tables(metadata, prefix=prefix, schema=schema, aggregates=declared, records=records)
