"""Alembic environment for crmkit's own migration history.

Run through `crmkit.migrate`, which hands over the connection, the table prefix and the schema
in ``config.attributes``; crmkit keeps its history in its own version table
(``crmkit_alembic_version`` by default), apart from the host app's.
"""

from __future__ import annotations

from alembic import context

from crmkit.storage.sql._tables import build_tables

config = context.config
prefix: str = config.attributes.get("crmkit_prefix", "crmkit_")
schema: str | None = config.attributes.get("crmkit_schema")
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=build_tables(prefix=prefix, schema=schema).metadata,
    version_table=f"{prefix}alembic_version",
    version_table_schema=schema,
    # SQLite alters tables only by copying them: batch mode does that.
    render_as_batch=connection.dialect.name == "sqlite",
    # MariaDB/MySQL commit every DDL statement at once: each migration must be idempotent.
    transactional_ddl=connection.dialect.name not in ("mysql", "mariadb"),
)
with context.begin_transaction():
    context.run_migrations()
