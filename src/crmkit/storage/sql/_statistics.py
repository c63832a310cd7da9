"""PostgreSQL's planner statistics, kept up with the tables bulk loads grow.

Why: on tables the planner has no statistics for (new ones, on a server without autovacuum or
before it runs), every index that begins with ``tenant_id`` looks as cheap as the primary key
for the foreign-key check ``tenant_id = $1 AND id = $2``, and PostgreSQL (15) takes the newest,
the customers' owner index. The check's plan is cached per connection, so each contact of a
bulk load then walks all of the tenant's entries in that index: every batch is slower than the
one before (0.2 s to 2 s per 1,000 customers over 20 batches). ``ANALYZE`` cures it (with one
tenant's rows counted, the owner index costs what it really does) and makes every connection
plan again. Another shape or order of indexes would not: on a table without statistics any
index that begins with ``tenant_id`` ties with the primary key, and which one wins depends on
the order they were made in.

So the SQL store counts the rows it bulk-inserts into each table and, every `CHECK_EVERY`
rows, compares the table's size on disk with the size its statistics describe (one catalog
read). A table at least twice as large, and of at least `MIN_PAGES` pages, is analyzed: a load
into a new table is analyzed once early, and then each time it has doubled, so a load of any
size runs a logarithmic number of ``ANALYZE``, each reading a bounded sample.

``ANALYZE`` runs in the unit of work's transaction (rows not yet committed count, and its lock
is held until the end). It is skipped, without waiting, when another transaction is analyzing
the same table, and skipped when the connection's role may not analyze it (it lacks the
owner's privileges): then the host should (see "After a large load" in docs/storage.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

__all__ = ["CHECK_EVERY", "MIN_PAGES", "PlannerStatistics"]

CHECK_EVERY = 500
"""Rows inserted into a table between two looks at its statistics."""
MIN_PAGES = 4
"""Tables of fewer pages than this are never analyzed here: too few rows to learn from."""

# lock_not_available (another transaction is analyzing the table), insufficient_privilege
# (LOCK TABLE in this mode needs UPDATE, DELETE or TRUNCATE on it).
_SKIP = frozenset({"55P03", "42501"})
# The pages the statistics describe, the pages there are now, and whether this role may
# analyze the table (its owner's privileges; superusers have every role's).
_SIZES = sa.text(
    "SELECT c.relpages, pg_relation_size(c.oid) / current_setting('block_size')::int, "
    "pg_has_role(c.relowner, 'USAGE') "
    "FROM pg_class c WHERE c.oid = CAST(:table AS regclass)"
)


class PlannerStatistics:
    """Refreshes the statistics of the tables one store bulk-loads (PostgreSQL only).

    Args:
        dialect: the store's dialect; on any other than PostgreSQL this does nothing.
    """

    def __init__(self, dialect: sa.Dialect) -> None:
        self._enabled = dialect.name == "postgresql"
        self._preparer = dialect.identifier_preparer
        # Rows inserted since the last look, per table. Shared by the store's threads: a
        # count lost to a race only delays a look.
        self._unchecked: dict[str, int] = {}

    def grew(self, connection: Connection, table: sa.Table, rows: int) -> bool:
        """Note that `rows` were inserted into `table`; analyze it if it outgrew its statistics.

        Returns:
            whether `table` was analyzed.
        """
        if not self._enabled:
            return False
        unchecked = self._unchecked.get(table.fullname, 0) + rows
        if unchecked < CHECK_EVERY:
            self._unchecked[table.fullname] = unchecked
            return False
        self._unchecked[table.fullname] = 0
        name = self._preparer.format_table(table)
        known, now, may = connection.execute(_SIZES, {"table": name}).one()
        if not may or now < MIN_PAGES or now < 2 * known:
            return False
        try:
            # In a savepoint, so that a table another transaction is analyzing (or one this
            # role may not analyze) only skips the refresh and spoils nothing.
            with connection.begin_nested():
                connection.exec_driver_sql(
                    f"LOCK TABLE {name} IN SHARE UPDATE EXCLUSIVE MODE NOWAIT"
                )
                connection.exec_driver_sql(f"ANALYZE {name}")
        except exc.DBAPIError as e:
            orig = e.orig
            if (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) not in _SKIP:
                raise
            return False
        return True
