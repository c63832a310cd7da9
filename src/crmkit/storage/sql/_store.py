"""`SqlStore`: crmkit's repositories on SQLAlchemy Core (SQLite, PostgreSQL, MariaDB/MySQL)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, scoped_session

from crmkit.errors import ConcurrencyError, DuplicateError, SchemaVersionError, ValidationError
from crmkit.events import DomainEvent
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._arguments import a_lock_timeout
from crmkit.storage._changes import Change, Query
from crmkit.storage._registry import registration
from crmkit.storage._repository import Repository
from crmkit.storage._unit_of_work import UnitOfWork
from crmkit.storage.sql._changes import bump_counters, read_changes, write_changes
from crmkit.storage.sql._errors import storage_error
from crmkit.storage.sql._outbox import SqlOutbox, encode_events, write_events
from crmkit.storage.sql._statements import BulkInsert, Select
from crmkit.storage.sql._statistics import PlannerStatistics
from crmkit.storage.sql._tables import Tables, build_tables
from crmkit.storage.sql._urls import create_engine, sqlite_file

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "SQLITE_CACHE_KIB",
    "SqlStore",
    "SqlUnitOfWork",
    "configure_lock_timeout",
    "configure_sqlite",
    "metadata",
    "tables",
]

T = TypeVar("T")

_DEFAULT_TABLES = build_tables()
tables = _DEFAULT_TABLES
"""crmkit's tables with the default names (``crmkit_customers``, ...)."""
metadata = tables.metadata
"""The `MetaData` of `tables`: hand it to Alembic or call ``metadata.create_all(engine)``."""

DEFAULT_LOCK_TIMEOUT = 5.0
"""Seconds a statement waits for a lock held by another transaction, on engines crmkit makes."""

# The execution option that marks a connection crmkit opened for a read-only unit of work.
_READ_ONLY = "crmkit_read_only"


SQLITE_CACHE_KIB = 32 * 1024
"""The page cache each SQLite connection of crmkit's may fill, in KiB (``PRAGMA cache_size``).

Memory is taken only as pages are read; at 32 MiB the indexes of a few hundred thousand
customers, their change log and their outbox stay cached through a bulk write.
"""


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite behave as crmkit needs on connections of `engine`.

    `SqlStore.from_url` does this for engines it makes; call it on your own SQLite engine
    before sharing it with crmkit (savepoints, which joining your transaction uses, do not
    work under pysqlite's own transaction handling).

    pysqlite's own transaction handling is switched off so that SQLAlchemy's ``begin`` emits
    ``BEGIN IMMEDIATE``: writers then queue on the busy timeout instead of failing halfway
    (a read-then-write transaction started with a plain ``BEGIN`` gets SQLITE_BUSY at once).
    Read-only units of work begin with ``BEGIN DEFERRED`` instead, which takes no write lock.
    Foreign keys are enforced, file databases use write-ahead logging so readers never block
    the writer, and each connection may cache up to `SQLITE_CACHE_KIB` KiB of pages (SQLite's
    default is 2 MiB, which a table's indexes outgrow at a few tens of thousands of rows: from
    then on every insert rereads index pages from the operating system).
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: object) -> None:  # noqa: ANN401
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection: Any, _: object, __: object) -> None:  # noqa: ANN401
        # A COMMIT that SQLite refused (a deferred foreign key) leaves its transaction open,
        # and the pool, seeing the commit attempted, would hand the connection out like that.
        if dbapi_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def _lock_timeout_statement(dialect: str, seconds: float) -> str | None:
    """The statement that bounds a session's lock waits to `seconds`, or None if unknown."""
    milliseconds = math.ceil(seconds * 1000)
    if dialect == "postgresql":
        return f"SET lock_timeout = {milliseconds}"
    if dialect in ("mysql", "mariadb"):
        # Row locks, and metadata locks (a table that DDL is changing).
        whole = math.ceil(seconds)
        return f"SET SESSION innodb_lock_wait_timeout = {whole}, lock_wait_timeout = {whole}"
    if dialect == "sqlite":
        return f"PRAGMA busy_timeout = {milliseconds}"
    return None


def configure_lock_timeout(engine: Engine, seconds: float = DEFAULT_LOCK_TIMEOUT) -> None:
    """Bound how long a statement on `engine`'s connections waits for another transaction's lock.

    A statement that waits longer than `seconds` fails, and crmkit raises `TransientError`, the
    same on every backend, so `CRM.run` can run the unit of work again. `SqlStore.from_url` and
    `crmkit.open` do this for engines they make (their ``lock_timeout``); call it on an engine of
    your own before it opens its first connection.

    Each connection gets the setting once, when the engine makes it, so a unit of work pays
    nothing for it: PostgreSQL's ``lock_timeout``, MariaDB/MySQL's ``innodb_lock_wait_timeout``
    and ``lock_wait_timeout`` (whole seconds, rounded up), SQLite's busy timeout. It applies to
    everything done on those connections, your own statements included.

    Raises:
        ValidationError: `seconds` is not more than 0 and at most a day, or `engine` is not on
            PostgreSQL, MariaDB/MySQL or SQLite.
    """
    seconds = a_lock_timeout(seconds)
    if not isinstance(engine, Engine):
        raise ValidationError.of(
            "engine", f"must be a SQLAlchemy Engine, not {type(engine).__name__}"
        )
    statement = _lock_timeout_statement(engine.dialect.name, seconds)
    if statement is None:
        raise ValidationError.of(
            "engine",
            f"is on {engine.dialect.name}; crmkit bounds lock waits on PostgreSQL, "
            f"MariaDB/MySQL and SQLite",
        )
    commit = engine.dialect.name == "postgresql"  # the SET began a transaction there

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: object) -> None:  # noqa: ANN401
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        if commit:
            dbapi_connection.commit()


class SqlStore:
    """A store in a SQL database, through SQLAlchemy Core (no ORM mapping of domain classes).

    Args:
        engine: the SQLAlchemy engine to use. Engines made by `from_url` are configured for
            crmkit (a bounded lock wait; SQLite: ``BEGIN IMMEDIATE``, foreign keys, WAL); a
            host's own engine is used as it is (see `configure_sqlite` and
            `configure_lock_timeout`).
        tables: crmkit's tables, if the host defined them with another prefix or schema
            (see `build_tables`).
    """

    def __init__(self, engine: Engine, *, tables: Tables | None = None) -> None:
        self.engine = engine
        self.tables = tables if tables is not None else _DEFAULT_TABLES
        self._owns_engine = False
        self._bulk: dict[str, BulkInsert] = {}
        self._by_id: dict[tuple[str, tuple[str, ...]], Select] = {}
        self._cache: dict[Callable[..., Any], Any] = {}
        self._classes: dict[Aggregate[Any], type] = {}
        self._statistics = PlannerStatistics(engine.dialect)
        self._children: dict[str, list[Aggregate[Any]]] = {}
        for a in self.tables.aggregates.values():
            if a.parent is not None:
                self._children.setdefault(a.parent.table, []).append(a)
        self._outbox: SqlOutbox | None = None

    @property
    def outbox(self) -> SqlOutbox:
        """The events committed units of work recorded, until a relay has delivered them."""
        if self._outbox is None:
            self._outbox = SqlOutbox(self.engine, self.tables)
        return self._outbox

    def children(self, table: str) -> list[Aggregate[Any]]:
        """The aggregates whose records belong to records of `table` (removed with them)."""
        return self._children.get(table, [])

    def prepared(self, build: Callable[[Tables, sa.Dialect], T]) -> T:
        """What `build` makes of this store's tables and dialect (statements), built once."""
        found: T | None = self._cache.get(build)
        if found is None:
            found = self._cache[build] = build(self.tables, self.engine.dialect)
        return found

    def repository_class(self, aggregate: Aggregate[Any]) -> type:
        """The class of `aggregate`'s repositories on this store, found once.

        Raises:
            ValidationError: the store does not hold `aggregate`.
        """
        found = self._classes.get(aggregate)
        if found is None:
            from crmkit.storage.sql._records import SqlRecords

            known = self.tables.aggregates.get(aggregate.table)
            if known is None or known.cls is not aggregate.cls:
                raise ValidationError.of(
                    "aggregate", f"{aggregate.record} records are not held by this store"
                )
            registered = registration(aggregate.table)
            special = registered.sql_class() if registered is not None else None
            found = self._classes[aggregate] = special or SqlRecords
        return found

    def select_by_id(self, table: sa.Table, scope: tuple[str, ...]) -> Select:
        """The SELECT of one row of `table` by ``:id`` within `scope`'s columns, compiled once."""
        key = (table.name, scope)
        query = self._by_id.get(key)
        if query is None:
            where = [table.c[c] == sa.bindparam(c) for c in scope]
            statement = sa.select(table).where(*where, table.c.id == sa.bindparam("id"))
            query = self._by_id[key] = Select(statement, self.engine.dialect)
        return query

    def bulk_insert(self, table: sa.Table) -> BulkInsert:
        """The bulk INSERT of `table` for this store's dialect, compiled once."""
        insert = self._bulk.get(table.name)
        if insert is None:
            insert = self._bulk[table.name] = BulkInsert(table, self.engine.dialect)
        return insert

    @classmethod
    def from_url(
        cls,
        url: str | sa.URL | Engine,
        *,
        lock_timeout: float | None = None,
        **engine_options: Any,  # noqa: ANN401
    ) -> SqlStore:
        """A store on the database at `url` (or on an existing `Engine`).

        Args:
            url: a SQLAlchemy database URL, or an `Engine`, which is used as it is.
            lock_timeout: how many seconds a statement may wait for a lock that another
                transaction holds before the unit of work fails with `TransientError`;
                `DEFAULT_LOCK_TIMEOUT` if not given (see `configure_lock_timeout`). Only for a
                URL: on an engine of your own, call `configure_lock_timeout` yourself.
            engine_options: passed on to `sqlalchemy.create_engine`.

        Raises:
            ValidationError: `url` is not a database URL, its driver is not installed (the
                message names the extra to install) or its SQLite file's folder is missing;
                or `lock_timeout` is not a number of seconds up to a day, or was given with an
                `Engine`.
        """
        if isinstance(url, Engine):
            if lock_timeout is not None:
                raise ValidationError.of(
                    "lock_timeout",
                    "is applied to engines crmkit makes from a URL; on your own engine, call "
                    "crmkit.storage.sql.configure_lock_timeout(engine, seconds) before it "
                    "connects",
                )
            return cls(url)
        seconds = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else a_lock_timeout(lock_timeout)
        engine = create_engine(url, {"pool_pre_ping": True, **engine_options})
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine)
        if _lock_timeout_statement(engine.dialect.name, seconds) is not None:
            configure_lock_timeout(engine, seconds)
        store = cls(engine)
        store._owns_engine = True
        return store

    def unit_of_work(self, *, connection: Connection | None = None, **kwargs: Any) -> SqlUnitOfWork:  # noqa: ANN401
        """Begin a unit of work (see `Store.unit_of_work`)."""
        return SqlUnitOfWork(self, connection=connection, **kwargs)

    def create_all(self) -> None:
        """Create crmkit's tables where missing (tests, notebooks, demos; apps use migrations).

        The database is then recorded as being at the newest schema revision, so that
        `crmkit.migrate` takes it from there.
        """
        from crmkit import migrate

        t = self.tables
        try:
            with self.engine.begin() as connection:
                t.metadata.create_all(connection)
                if migrate.current(connection, prefix=t.prefix, schema=t.schema) is None:
                    migrate.stamp(connection, prefix=t.prefix, schema=t.schema)
        except exc.SQLAlchemyError as e:
            raise storage_error(e, "creating crmkit's tables") from e

    def verify_schema(self) -> None:
        """Check that the database's crmkit tables are at the revision this code needs.

        Raises:
            SchemaVersionError: they are missing, behind or ahead; the message says what to run.
        """
        from crmkit import migrate

        database = sqlite_file(self.engine.url)
        if database is not None and not database.exists():
            # Connecting would create an empty file, left behind by the refused open.
            url = self.engine.url.render_as_string(hide_password=True)
            raise SchemaVersionError(
                f"there is no SQLite database at {url} (no file {str(database)!r}); "
                f"crmkit.open({url!r}, create=True) creates one, or run `crmkit migrate {url}`"
            )
        try:
            migrate.verify(self.engine, prefix=self.tables.prefix, schema=self.tables.schema)
        except exc.SQLAlchemyError as e:
            raise storage_error(e, "reading crmkit's schema revision") from e

    def close(self) -> None:
        """Close the pooled connections of an engine this store made."""
        if self._owns_engine:
            self.engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"


def _chain_driver_error(error: BaseException) -> None:
    # A conflict is an expected outcome, not a bug: chain the driver's own error (one line,
    # e.g. "UNIQUE constraint failed: crmkit_customers.tenant_id, crmkit_customers.code")
    # instead of SQLAlchemy's, whose text repeats the SQL statement and the row's values.
    cause = error.__cause__
    if isinstance(cause, exc.DBAPIError) and isinstance(cause.orig, BaseException):
        error.__cause__ = cause.orig


class SqlUnitOfWork(UnitOfWork):
    """A unit of work in one database transaction (or one savepoint of the host's)."""

    def __init__(
        self,
        store: SqlStore,
        *,
        connection: Connection | Session | scoped_session[Session] | None,
        **kwargs: Any,  # noqa: ANN401
    ) -> None:
        self._session: Session | None = None
        if isinstance(connection, scoped_session):
            connection = connection()
        if isinstance(connection, Session):
            # Its after_commit tells when the host's commit has succeeded.
            self._session = connection
            try:
                connection = connection.connection()
            except exc.SQLAlchemyError as e:
                raise storage_error(e, "beginning a unit of work", store.engine.dialect.name) from e
        if connection is not None and not isinstance(connection, Connection):
            raise ValidationError.of(
                "connection",
                f"must be a SQLAlchemy Connection or Session, not {type(connection).__name__}",
            )
        super().__init__(**kwargs)
        self._host_connection = connection is not None
        self._joined = connection is not None and connection.in_transaction()
        try:
            if connection is None:
                connection = store.engine.connect()
                if self.read_only:
                    connection.execution_options(**{_READ_ONLY: True})
            self._connection = connection
            self._transaction = connection.begin_nested() if self._joined else connection.begin()
            if self.read_only and not self._joined and connection.dialect.name != "sqlite":
                # The first statement of the transaction (PostgreSQL, MariaDB/MySQL).
                connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        except exc.SQLAlchemyError as e:
            if not self._host_connection and connection is not None:
                connection.close()
            raise storage_error(e, "beginning a unit of work", store.engine.dialect.name) from e
        self._store = store

    def _repository(self, aggregate: Aggregate[T]) -> Repository[T]:
        made: Repository[T] = self._store.repository_class(aggregate)(self, aggregate)
        return made

    @property
    def connection(self) -> Connection:
        """The SQLAlchemy connection the unit of work runs on."""
        return self._connection

    def _children(self, table: str) -> list[Aggregate[Any]]:
        return self._store.children(table)

    def _read_changes(self, query: Query, after: int, limit: int) -> list[Change]:
        with self._translate("reading the change log"):
            return read_changes(
                self._connection,
                self._store.tables,
                self.tenant_id,
                query,
                after=after,
                limit=limit,
            )

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except (ConcurrencyError, DuplicateError) as e:
            self._fail(e)
            _chain_driver_error(e)
            raise
        except exc.SQLAlchemyError as e:
            error = storage_error(e, doing)
            self._fail(error)
            raise error from e

    def _commit(self) -> None:
        try:
            connection, changes, events = self._connection, self._changes, self._events
            if changes or events:
                records = encode_events(connection, events)
                # The tenant's one counter row numbers both its changes and its events, in one
                # statement: its lock, held to the end of the transaction, is the only one the
                # commit takes besides its own rows (one order of locks for all committers).
                last_change, last_event = bump_counters(
                    connection,
                    self._store,
                    self.tenant_id,
                    changes=len(changes),
                    events=len(events),
                )
                if changes:
                    write_changes(
                        connection,
                        self._store,
                        self.tenant_id,
                        self.actor_id,
                        changes,
                        last=last_change,
                    )
                if records:
                    write_events(
                        connection,
                        self._store,
                        self.tenant_id,
                        records,
                        self.now(),
                        last=last_event,
                    )
            self._transaction.commit()
        except exc.SQLAlchemyError as e:
            raise storage_error(e, "committing", self._connection.dialect.name) from e
        finally:
            if not self._host_connection:
                self._connection.close()

    def _rollback(self) -> None:
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        except exc.SQLAlchemyError as e:
            raise storage_error(e, "rolling back", self._connection.dialect.name) from e
        finally:
            if not self._host_connection:
                self._connection.close()

    def _publish(self, events: list[DomainEvent]) -> None:
        if not self._joined or not events:
            super()._publish(events)
            return
        # Inside the host's transaction: the savepoint is released, but nothing is durable
        # until the host commits, and a connection's commit event fires before the database
        # commits (or fails to). The events are in the outbox, written in the host's
        # transaction: a relay delivers them once that has committed. With a Session, its
        # after_commit is the moment, so they go out then.
        session = self._session
        if session is None:
            return
        session.info.setdefault(_PENDING, []).append((self._on_commit, events))
        if not event.contains(session, "after_commit", _deliver_pending):
            event.listen(session, "after_commit", _deliver_pending)
            event.listen(session, "after_rollback", _drop_pending)


_PENDING = "crmkit.pending_events"


def _deliver_pending(session: Session) -> None:
    """After the host session's commit succeeded: deliver what crmkit recorded in it.

    Events of a savepoint the host rolled back are not in the outbox, so none goes out.
    """
    if session.in_nested_transaction():
        return  # the event fires for a released savepoint too: wait for the real commit
    for deliver, events in session.info.pop(_PENDING, []):
        deliver(events)


def _drop_pending(session: Session) -> None:
    """After the host session's rollback: what crmkit recorded never happened."""
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)
