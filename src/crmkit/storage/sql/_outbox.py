"""The SQL outbox: the ``outbox`` table, written with the unit of work.

How the order of one aggregate's events is kept (see `crmkit.storage._outbox`): at its commit,
a unit of work bumps its tenant's event counter (column ``events`` of ``change_counters``, by
the same upsert that bumps the change log's counter: `crmkit.storage.sql._changes.bump_counters`)
and numbers its events up to the new value. The row stays locked until the transaction ends, so
a second writer of the tenant waits there and takes the next numbers only after the first has
committed: numbers follow commit order, per tenant, and so within each stream (aggregate) too.
PostgreSQL and MariaDB need that lock; SQLite has a single writer at a time anyway.

A relay claims events with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL, MariaDB), so two
relays at once pass over each other's rows instead of waiting or taking them twice, and marks
them claimed (a lease) in the same short transaction; it delivers after that transaction, so
no lock is held while handlers run (on SQLite a handler may then write through crmkit). On
PostgreSQL the relay's own transactions commit without waiting for the disk
(``synchronous_commit = off``): losing one in a crash only means an event goes out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pendulum
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from crmkit.events import DomainEvent
from crmkit.storage._flat import Flat
from crmkit.storage._outbox import Claimed, Key, Settlement, outbox_text, runs
from crmkit.storage.sql._errors import storage_error
from crmkit.storage.sql._types import Document, Encoded, Id, Instant

if TYPE_CHECKING:
    from crmkit.storage.sql._store import SqlStore
    from crmkit.storage.sql._tables import Tables

__all__ = ["SqlOutbox", "add_outbox_table", "encode_events", "outbox_table", "write_events"]

_MYSQL: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}
STREAM_LENGTH = 64


def add_outbox_table(metadata: sa.MetaData, *, prefix: str) -> None:
    """Define ``{prefix}outbox`` on `metadata`."""
    name = f"{prefix}outbox"
    sa.Table(
        name,
        metadata,
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", Id(), nullable=False),
        # The aggregate the event is about, and the event's number among the tenant's events
        # (in commit order, so in the aggregate's order too).
        sa.Column("stream", sa.String(STREAM_LENGTH), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(200), nullable=False),
        sa.Column("body", Document(), nullable=False),
        # pending, delivered or parked.
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        # Not to be tried before then: a retry's pause, or a relay's lease.
        sa.Column("due_at", Instant(), nullable=False),
        sa.Column("claim", sa.String(36)),
        sa.Column("delivered_at", Instant()),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "stream", "seq"),
        sa.Index(f"ix_{name}_due", "tenant_id", "status", "due_at"),
        **_MYSQL,
    )


def outbox_table(tables: Tables) -> sa.Table:
    """The ``outbox`` table among `tables`."""
    where = f"{tables.schema}." if tables.schema else ""
    return tables.metadata.tables[f"{where}{tables.prefix}outbox"]


Record = tuple[UUID, str, str, Any]
"""An event ready for the outbox: its id, stream, kind name and stored body."""


def encode_events(connection: Connection, events: Sequence[DomainEvent]) -> Flat[Record]:
    """`events` in their stored form (before the counters are bumped, so outside the lock).

    Raises:
        ValidationError: as `crmkit.storage._outbox.outbox_text`.
    """
    # The body is encoded once, when it is checked, where the database keeps it as text.
    as_data = connection.dialect.name == "postgresql"
    records: Flat[Record] = Flat(4)  # flat: no tuple per event alive till the insert
    for event in events:
        stream, kind, data, text = outbox_text(event)
        records.append((event.id, stream, kind, data if as_data else Encoded(text)))
    return records


def write_events(
    connection: Connection,
    store: SqlStore,
    tenant_id: str,
    records: Flat[Record],
    now: pendulum.DateTime,
    *,
    last: int,
) -> None:
    """Insert `records` into the outbox, in the unit of work's transaction, numbered.

    `last` is the tenant's event counter once bumped by ``len(records)``
    (`crmkit.storage.sql._changes.bump_counters`): the events take the numbers up to it.
    """
    first = last - len(records) + 1
    # In the table's column order (see `add_outbox_table`), made as the driver takes them.
    rows = (
        (tenant_id, event_id, stream, seq, kind, data, "pending", 0, now, None, None, None)
        for seq, (event_id, stream, kind, data) in enumerate(records, first)
    )
    store.bulk_insert(outbox_table(store.tables))(connection, rows)


class SqlOutbox:
    """The outbox of a `SqlStore`: claims, settles, lists and retries events."""

    def __init__(self, engine: Engine, tables: Tables) -> None:
        self._engine = engine
        self._outbox = o = outbox_table(tables)
        # The columns of a `Claimed`, in its field order.
        self._claimed = (o.c.tenant_id, o.c.id, o.c.stream, o.c.seq, o.c.kind, o.c.body,
                         o.c.attempts, o.c.error)  # fmt: skip

    def _run(self, doing: str, work: Any) -> Any:  # noqa: ANN401
        try:
            with self._engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # A claim or a mark lost in a crash only means an event is delivered
                    # again, which at-least-once delivery allows: no need to wait for the
                    # disk on every relay transaction.
                    connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                return work(connection)
        except exc.SQLAlchemyError as e:
            raise storage_error(e, doing, self._engine.dialect.name) from e

    def claim(
        self,
        *,
        now: pendulum.DateTime,
        until: pendulum.DateTime,
        token: str,
        limit: int,
        keys: Sequence[Key] | None = None,
    ) -> list[Claimed]:
        """See `crmkit.storage._outbox.Outbox.claim`."""
        o = self._outbox
        earlier = o.alias("earlier")
        waiting = (
            sa.select(sa.literal(1))
            .where(
                earlier.c.tenant_id == o.c.tenant_id,
                earlier.c.stream == o.c.stream,
                earlier.c.status == "pending",
                earlier.c.seq < o.c.seq,
                earlier.c.due_at > now,
            )
            .exists()
        )
        query = (
            sa.select(*self._claimed)
            .where(o.c.status == "pending", o.c.due_at <= now, ~waiting)
            .order_by(o.c.id)
            .limit(limit)
        )
        if keys is not None:
            if not keys:
                return []
            query = query.where(sa.tuple_(o.c.tenant_id, o.c.id).in_(list(keys)))
        if self._engine.dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True, of=o)

        def claim(connection: Connection) -> list[Claimed]:
            candidates = [Claimed(*row) for row in connection.execute(query)]
            if not candidates:
                return []
            streams = {(c.tenant_id, c.stream) for c in candidates}
            upto = max(c.seq for c in candidates)
            taken = runs(candidates, self._pending(connection, streams, upto))
            if taken:
                update = (
                    o.update()
                    .where(
                        o.c.tenant_id == sa.bindparam("b_tenant"), o.c.id == sa.bindparam("b_id")
                    )
                    .values(claim=token, due_at=until)
                )
                connection.execute(update, [{"b_tenant": c.tenant_id, "b_id": c.id} for c in taken])
            return taken

        found: list[Claimed] = self._run("claiming events from the outbox", claim)
        return found

    def _pending(
        self, connection: Connection, streams: set[tuple[str, str]], upto: int
    ) -> dict[tuple[str, str], Sequence[int]]:
        """The numbers of the pending events of `streams`, up to `upto`, in order."""
        o = self._outbox
        query = (
            sa.select(o.c.tenant_id, o.c.stream, o.c.seq)
            .where(
                o.c.status == "pending",
                o.c.seq <= upto,
                sa.tuple_(o.c.tenant_id, o.c.stream).in_(list(streams)),
            )
            .order_by(o.c.tenant_id, o.c.stream, o.c.seq)
        )
        found: dict[tuple[str, str], list[int]] = {}
        for tenant, stream, seq in connection.execute(query):
            found.setdefault((tenant, stream), []).append(seq)
        return dict(found)

    def settle(self, *, token: str, now: pendulum.DateTime, settled: Sequence[Settlement]) -> None:
        """See `crmkit.storage._outbox.Outbox.settle`."""
        o = self._outbox
        update = (
            o.update()
            .where(
                o.c.tenant_id == sa.bindparam("b_tenant"),
                o.c.id == sa.bindparam("b_id"),
                o.c.claim == token,
            )
            .values(
                status=sa.bindparam("b_status"),
                attempts=sa.bindparam("b_attempts"),
                due_at=sa.bindparam("b_due", type_=Instant()),
                error=sa.bindparam("b_error"),
                delivered_at=sa.bindparam("b_delivered", type_=Instant()),
                claim=None,
            )
        )
        params = [
            {
                "b_tenant": s.tenant_id,
                "b_id": s.id,
                "b_status": s.status,
                "b_attempts": s.attempts,
                "b_due": s.due_at,
                "b_error": s.error,
                "b_delivered": now if s.status == "delivered" else None,
            }
            for s in settled
        ]
        self._run("marking events delivered", lambda connection: connection.execute(update, params))

    def parked(self, *, tenant_id: str | None, limit: int) -> list[Claimed]:
        """See `crmkit.storage._outbox.Outbox.parked`."""
        o = self._outbox
        query = (
            sa.select(*self._claimed)
            .where(o.c.status == "parked")
            .order_by(o.c.tenant_id, o.c.id)
            .limit(limit)
        )
        if tenant_id is not None:
            query = query.where(o.c.tenant_id == tenant_id)
        rows = self._run("listing parked events", lambda c: c.execute(query).all())
        return [Claimed(*row) for row in rows]

    def retry(
        self, *, now: pendulum.DateTime, tenant_id: str | None, ids: Sequence[UUID] | None
    ) -> int:
        """See `crmkit.storage._outbox.Outbox.retry`."""
        o = self._outbox
        update = (
            o.update()
            .where(o.c.status == "parked")
            .values(status="pending", attempts=0, due_at=now)
        )
        if tenant_id is not None:
            update = update.where(o.c.tenant_id == tenant_id)
        if ids is not None:
            if not ids:
                return 0
            update = update.where(o.c.id.in_(list(ids)))
        count: int = self._run("retrying parked events", lambda c: c.execute(update).rowcount)
        return count

    def purge(self, *, before: pendulum.DateTime) -> int:
        """See `crmkit.storage._outbox.Outbox.purge`."""
        o = self._outbox
        delete = o.delete().where(o.c.status == "delivered", o.c.delivered_at < before)
        count: int = self._run("deleting delivered events", lambda c: c.execute(delete).rowcount)
        return count
