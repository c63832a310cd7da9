"""The SQL change log: the ``changes`` and ``change_counters`` tables, written with the commit.

How the log is kept free of gaps for a reader that follows it (see `crmkit.storage._changes`):
a committing unit of work first adds its number of changes to its tenant's row in
``change_counters`` (one upsert, `bump_counters`), then inserts its changes numbered up to the
new counter. The counter row stays locked until the transaction ends, so a second committer of
the tenant waits there and takes its numbers only once the first has committed: numbers follow
commit order, and what a reader sees is always the log up to some number. It serialises the
commits of one tenant only from that upsert to the end of the transaction, not the whole unit of
work.

The same row counts the tenant's outbox events (column ``events``), bumped by the same
statement: events are numbered per tenant in commit order too (`crmkit.storage.sql._outbox`).
That row is the only lock a commit takes besides the rows it writes, so there is one order of
locks for all committers and no deadlock between them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from crmkit.storage._changes import Change, Entry, Query, decoded, decoded_after
from crmkit.storage.sql._types import Id, Instant

if TYPE_CHECKING:
    from crmkit.storage.sql._store import SqlStore
    from crmkit.storage.sql._tables import Tables

__all__ = [
    "JSON_TEXT",
    "add_change_tables",
    "bump_counters",
    "change_tables",
    "read_changes",
    "write_changes",
]

JSON_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
"""A change's plain data, as JSON text: written as the unit of work encoded it."""

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def add_change_tables(metadata: sa.MetaData, *, prefix: str) -> None:
    """Define ``{prefix}changes`` and ``{prefix}change_counters`` on `metadata`."""
    name = f"{prefix}changes"
    sa.Table(
        name,
        metadata,
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("at", Instant(), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("record", sa.String(64), nullable=False),
        sa.Column("record_id", Id(), nullable=False),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("before", JSON_TEXT),
        sa.Column("after", JSON_TEXT),
        sa.PrimaryKeyConstraint("tenant_id", "seq"),
        sa.Index(f"ix_{name}_record", "tenant_id", "record", "record_id", "seq"),
        sa.Index(f"ix_{name}_actor", "tenant_id", "actor_id", "seq"),
        sa.Index(f"ix_{name}_at", "tenant_id", "at"),
        **_MYSQL,
    )
    sa.Table(
        f"{prefix}change_counters",
        metadata,
        sa.Column("tenant_id", sa.String(64), nullable=False),
        # The number of the tenant's last change, and of its last outbox event.
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("tenant_id"),
        **_MYSQL,
    )


def change_tables(tables: Tables) -> tuple[sa.Table, sa.Table]:
    """The ``changes`` and ``change_counters`` tables among `tables`."""
    where = f"{tables.schema}." if tables.schema else ""
    found = tables.metadata.tables
    return found[f"{where}{tables.prefix}changes"], found[f"{where}{tables.prefix}change_counters"]


def bump_counters(
    connection: Connection, store: SqlStore, tenant_id: str, *, changes: int, events: int
) -> tuple[int, int]:
    """Add `changes` and `events` to the tenant's counters, in one statement; their new values.

    The new values are the numbers of the tenant's last change and last event: a unit of work
    numbers its own up to them. The row lock the upsert takes is held until the transaction
    ends, so the next committer of the tenant waits for it (numbers follow commit order).
    """
    bump, read = store.prepared(_counter)
    params = {"tenant_id": tenant_id, "seq": changes, "events": events}
    if read is None:
        row = connection.execute(bump, params).one()
    else:
        connection.execute(bump, params)
        row = connection.execute(read, {"tenant_id": tenant_id}).one()
    return int(row[0]), int(row[1])


def write_changes(
    connection: Connection,
    store: SqlStore,
    tenant_id: str,
    actor_id: str,
    entries: Collection[Entry],
    *,
    last: int,
) -> None:
    """Insert `entries` into the change log, in the unit of work's transaction, numbered.

    `last` is the tenant's change counter once bumped by ``len(entries)`` (`bump_counters`):
    the entries take the numbers up to it.
    """
    changes = change_tables(store.tables)[0]
    first = last - len(entries) + 1
    # In the table's column order (see `add_change_tables`), made as the driver takes them.
    rows = (
        (tenant_id, seq, at, actor_id, record, key, operation, before, after)
        for seq, (at, record, key, operation, before, after) in enumerate(entries, first)
    )
    store.bulk_insert(changes)(connection, rows)


def _counter(tables: Tables, dialect: sa.Dialect) -> tuple[sa.Insert, sa.Select[Any] | None]:
    """The upsert that bumps a tenant's counters, and the query of their new values.

    The upsert returns the new values itself where the database can (PostgreSQL, SQLite 3.35+),
    saving a round trip; the query is then ``None``.
    """
    counters = change_tables(tables)[1]
    c = counters.c
    read = sa.select(c.seq, c.events).where(c.tenant_id == sa.bindparam("tenant_id"))
    if dialect.name in ("mysql", "mariadb"):
        on_mysql = mysql.insert(counters)
        upsert = on_mysql.on_duplicate_key_update(
            seq=c.seq + on_mysql.inserted.seq, events=c.events + on_mysql.inserted.events
        )
        return upsert, read
    insert = (
        postgresql.insert(counters) if dialect.name == "postgresql" else sqlite.insert(counters)
    )
    bump = insert.on_conflict_do_update(
        index_elements=[c.tenant_id],
        set_={"seq": c.seq + insert.excluded.seq, "events": c.events + insert.excluded.events},
    )
    if dialect.insert_returning:
        return bump.returning(c.seq, c.events), None
    return bump, read


def read_changes(
    connection: Connection,
    tables: Tables,
    tenant_id: str,
    query: Query,
    *,
    after: int,
    limit: int,
) -> list[Change]:
    """Up to `limit` of the tenant's changes that `query` asks for, numbered after `after`."""
    t, _ = change_tables(tables)
    c = t.c
    where = [c.tenant_id == tenant_id, c.seq > after]
    if query.record is not None:
        where.append(c.record == query.record)
    if query.record_id is not None:
        where.append(c.record_id == query.record_id)
    if query.actor_id is not None:
        where.append(c.actor_id == query.actor_id)
    if query.start is not None:
        where.append(c.at >= query.start)
    if query.end is not None:
        where.append(c.at < query.end)
    statement = sa.select(t).where(*where).order_by(c.seq).limit(limit)
    return [
        Change(
            r.seq, r.tenant_id, r.actor_id, r.at, r.record, r.record_id, r.operation,
            decoded(r.before), *decoded_after(r.operation, r.after),
        )
        for r in connection.execute(statement)
    ]  # fmt: skip
