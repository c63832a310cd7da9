"""`SqlStore`: crmkit's repositories on SQLAlchemy Core (SQLite, PostgreSQL, MariaDB/MySQL)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine

from crmkit._validation import shown
from crmkit.errors import ConcurrencyError, DuplicateError, ValidationError
from crmkit.events import DomainEvent
from crmkit.storage._unit_of_work import UnitOfWork
from crmkit.storage.sql._errors import storage_error
from crmkit.storage.sql._repositories import SqlCustomers, SqlInteractions
from crmkit.storage.sql._statements import (
    BulkInsert,
    CustomerQueries,
    InteractionQueries,
    customer_queries,
    interaction_queries,
)
from crmkit.storage.sql._tables import Tables, build_tables

__all__ = ["SqlStore", "SqlUnitOfWork", "configure_sqlite", "metadata", "tables"]

_DEFAULT_TABLES = build_tables()
tables = _DEFAULT_TABLES
"""crmkit's tables with the default names (``crmkit_customers``, ...)."""
metadata = tables.metadata
"""The `MetaData` of `tables`: hand it to Alembic or call ``metadata.create_all(engine)``."""

# The execution option that marks a connection crmkit opened for a read-only unit of work.
_READ_ONLY = "crmkit_read_only"


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite behave as crmkit needs on connections of `engine`.

    `SqlStore.from_url` does this for engines it makes; call it on your own SQLite engine
    before sharing it with crmkit (savepoints, which joining your transaction uses, do not
    work under pysqlite's own transaction handling).

    pysqlite's own transaction handling is switched off so that SQLAlchemy's ``begin`` emits
    ``BEGIN IMMEDIATE``: writers then queue on the busy timeout instead of failing halfway
    (a read-then-write transaction started with a plain ``BEGIN`` gets SQLITE_BUSY at once).
    Read-only units of work begin with ``BEGIN DEFERRED`` instead, which takes no write lock.
    Foreign keys are enforced, and file databases use write-ahead logging so readers never
    block the writer.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _: object) -> None:  # noqa: ANN401
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


class SqlStore:
    """A store in a SQL database, through SQLAlchemy Core (no ORM mapping of domain classes).

    Args:
        engine: the SQLAlchemy engine to use. Engines made by `from_url` are configured for
            crmkit (SQLite: ``BEGIN IMMEDIATE``, foreign keys, WAL); a host's own engine is
            used as it is.
        tables: crmkit's tables, if the host defined them with another prefix or schema
            (see `build_tables`).
    """

    def __init__(self, engine: Engine, *, tables: Tables | None = None) -> None:
        self.engine = engine
        self.tables = tables if tables is not None else _DEFAULT_TABLES
        self._owns_engine = False
        self._bulk: dict[str, BulkInsert] = {}
        self._queries: CustomerQueries | None = None
        self._timelines: InteractionQueries | None = None

    def customer_queries(self) -> CustomerQueries:
        """The statements that load customers and their contacts, built once per store."""
        if self._queries is None:
            self._queries = customer_queries(self.tables, self.engine.dialect)
        return self._queries

    def interaction_queries(self) -> InteractionQueries:
        """The statements that load interactions, built once per store."""
        if self._timelines is None:
            self._timelines = interaction_queries(self.tables, self.engine.dialect)
        return self._timelines

    def bulk_insert(self, table: sa.Table) -> BulkInsert:
        """The bulk INSERT of `table` for this store's dialect, compiled once."""
        insert = self._bulk.get(table.name)
        if insert is None:
            insert = self._bulk[table.name] = BulkInsert(table, self.engine.dialect)
        return insert

    @classmethod
    def from_url(cls, url: str | sa.URL | Engine, **engine_options: Any) -> SqlStore:  # noqa: ANN401
        """A store on the database at `url` (or on an existing `Engine`).

        Raises:
            ValidationError: `url` is not a database URL SQLAlchemy knows.
        """
        if isinstance(url, Engine):
            return cls(url)
        try:
            options: dict[str, Any] = {"pool_pre_ping": True, **engine_options}
            engine = sa.create_engine(url, **options)
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError, ValueError) as e:
            raise ValidationError.of("url", f"cannot open {shown(url, 200)}: {e}") from e
        if engine.dialect.name == "sqlite":
            configure_sqlite(engine)
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


class SqlUnitOfWork(UnitOfWork):
    """A unit of work in one database transaction (or one savepoint of the host's)."""

    def __init__(self, store: SqlStore, *, connection: Connection | None, **kwargs: Any) -> None:  # noqa: ANN401
        if connection is not None and not isinstance(connection, Connection):
            raise ValidationError.of(
                "connection",
                f"must be a SQLAlchemy Connection (a Session's is session.connection()), "
                f"not {type(connection).__name__}",
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
            raise storage_error(e, "beginning a unit of work") from e
        self._store = store
        self.customers = SqlCustomers(self, store.tables)
        self.interactions = SqlInteractions(self, store.tables)

    @property
    def connection(self) -> Connection:
        """The SQLAlchemy connection the unit of work runs on."""
        return self._connection

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except (ConcurrencyError, DuplicateError) as e:
            self._fail(e)
            raise
        except exc.SQLAlchemyError as e:
            error = storage_error(e, doing)
            self._fail(error)
            raise error from e

    def _commit(self) -> None:
        try:
            self._transaction.commit()
        except exc.SQLAlchemyError as e:
            raise storage_error(e, "committing") from e
        finally:
            if not self._host_connection:
                self._connection.close()

    def _rollback(self) -> None:
        try:
            if self._transaction.is_active:
                self._transaction.rollback()
        except exc.SQLAlchemyError as e:
            raise storage_error(e, "rolling back") from e
        finally:
            if not self._host_connection:
                self._connection.close()

    def _publish(self, events: list[DomainEvent]) -> None:
        if not self._joined or not events:
            super()._publish(events)
            return
        # Inside the host's transaction: our savepoint is released, but nothing is durable
        # until the host commits. The events wait on the connection until then, and are
        # dropped if the host rolls back.
        connection = self._connection
        connection.info.setdefault(_PENDING, []).append((self._on_commit, events))
        if not event.contains(connection, "commit", _publish_pending):
            event.listen(connection, "commit", _publish_pending)
            event.listen(connection, "rollback", _drop_pending)


_PENDING = "crmkit.pending_events"


def _publish_pending(connection: Connection) -> None:
    """After the host's commit: publish what crmkit's units of work recorded in it."""
    pending = connection.info.pop(_PENDING, [])
    for publish, events in pending:
        publish(events)


def _drop_pending(connection: Connection) -> None:
    """After the host's rollback: what crmkit recorded never happened."""
    connection.info.pop(_PENDING, None)
