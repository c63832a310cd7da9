"""What every migration of crmkit's asks of its context: the table names and table options.

Kept apart from the table definitions in ``_tables.py`` on purpose: a migration describes the
schema of its own revision, so it must not change when the current definitions do. Only what
is the same for every revision lives here.
"""

from __future__ import annotations

from typing import Any

from alembic import op

MYSQL_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}
"""Table options on MariaDB/MySQL: 4-byte UTF-8, exact (binary) comparison, InnoDB."""


def names() -> tuple[str, str | None]:
    """The table prefix and schema `crmkit.migrate` runs this migration for."""
    attributes = op.get_context().config.attributes  # type: ignore[union-attr]
    return attributes.get("crmkit_prefix", "crmkit_"), attributes.get("crmkit_schema")
