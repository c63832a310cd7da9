"""crmkit's tables in your database: create them, upgrade them, keep your migrations off them.

crmkit ships its own Alembic migration history, kept in its own version table
(``crmkit_alembic_version``), apart from the host app's::

    import crmkit.migrate
    crmkit.migrate.upgrade("postgresql+psycopg://app@db/app")   # or: crmkit migrate URL

A host that runs Alembic autogenerate over its own models passes `include_name` to
``context.configure`` in its ``env.py``, so that autogenerate neither drops nor alters crmkit's
tables::

    context.configure(connection=connection, target_metadata=Base.metadata,
                      include_name=crmkit.migrate.include_name)

Importing this module imports SQLAlchemy and Alembic.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import attrs
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from crmkit.errors import SchemaVersionError, ValidationError
from crmkit.storage.sql._errors import storage_error
from crmkit.storage.sql._tables import build_tables

__all__ = [
    "DEFAULT_PREFIX",
    "current",
    "downgrade",
    "exclude_crmkit",
    "head",
    "include_name",
    "stamp",
    "upgrade",
    "verify",
]

DEFAULT_PREFIX = "crmkit_"
"""The prefix of crmkit's table names (and of its version table) unless a host picks another."""

Target = str | sa.URL | Engine | Connection


def _config(prefix: str, schema: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", "crmkit.storage.sql:migrations")
    config.attributes["crmkit_prefix"] = prefix
    config.attributes["crmkit_schema"] = schema
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(DEFAULT_PREFIX, None))


@contextlib.contextmanager
def _connection(target: Target, doing: str, *, transaction: bool = False) -> Iterator[Connection]:
    """A connection on `target`; one we open is committed at the end, the host's is not.

    With `transaction`, what runs on it runs in one database transaction: the host's, if its
    connection is in one, else ours. Database and Alembic errors while `doing` something
    become crmkit's.
    """
    if isinstance(target, Connection):
        with _translated(doing):
            if not transaction or target.in_transaction():
                if transaction:
                    _begin_sqlite(target)
                yield target
            else:
                with target.begin():
                    _begin_sqlite(target)
                    yield target
        return
    try:
        engine = target if isinstance(target, Engine) else sa.create_engine(target)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as e:
        raise ValidationError.of("url", f"cannot open {target!r}: {e}") from e
    try:
        with _translated(doing), engine.begin() as connection:
            if transaction:
                _begin_sqlite(connection)
            yield connection
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def _begin_sqlite(connection: Connection) -> None:
    """Open SQLite's own transaction where pysqlite has not, so that a rollback undoes DDL.

    In its default mode pysqlite begins a transaction only before INSERT, UPDATE or DELETE:
    ``CREATE TABLE`` runs outside any transaction and stays when the host (or a failed
    migration) rolls back. An explicit ``BEGIN`` puts it inside; the connection's commit or
    rollback ends it. (On engines set up by `crmkit.storage.sql.configure_sqlite`, SQLAlchemy's
    ``begin`` has already begun one.)
    """
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    if getattr(driver, "in_transaction", True) is False:
        connection.exec_driver_sql("BEGIN")


@contextlib.contextmanager
def _translated(doing: str) -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as e:
        raise storage_error(e, doing) from e
    except CommandError as e:
        # Alembic's complaints are about the revision asked for (unknown, ambiguous, ...).
        raise ValidationError.of("revision", str(e)) from e


def head() -> str:
    """The newest revision of crmkit's schema: the one this code works with."""
    revision = _script().get_current_head()
    assert revision is not None  # noqa: S101 (the history ships with the package)
    return revision


@attrs.frozen
class _Where:
    """Where crmkit's tables are: for messages, and the commands that they suggest."""

    url: str
    prefix: str
    schema: str | None

    @classmethod
    def of(cls, connection: Connection, prefix: str, schema: str | None) -> _Where:
        return cls(connection.engine.url.render_as_string(hide_password=True), prefix, schema)

    def command(self, name: str, revision: str | None = None) -> str:
        """The ``crmkit`` command line that runs `name` on these tables."""
        words = ["crmkit", name, self.url]
        if revision is not None:
            words += ["--revision", revision]
        if self.prefix != DEFAULT_PREFIX:
            words += ["--prefix", self.prefix]
        if self.schema is not None:
            words += ["--schema", self.schema]
        return shlex.join(words)


@attrs.frozen
class _Migration:
    """A migration about to run: the connection, Alembic's config and the revision found."""

    connection: Connection
    config: Config
    at: str | None
    where: _Where


@contextlib.contextmanager
def _migration(target: Target, prefix: str, schema: str | None, doing: str) -> Iterator[_Migration]:
    """Open a transaction on `target` for a migration, refusing a schema this code does not know."""
    build_tables(prefix=prefix, schema=schema)  # refuses a prefix that makes invalid names
    config = _config(prefix, schema)
    with _connection(target, doing, transaction=True) as connection:
        where = _Where.of(connection, prefix, schema)
        at = _current(connection, prefix, schema)
        if at is not None and at not in _lineage(head()):
            raise _newer(where, at)
        config.attributes["connection"] = connection
        yield _Migration(connection, config, at, where)


def _current(connection: Connection, prefix: str, schema: str | None) -> str | None:
    context = MigrationContext.configure(
        connection,
        opts={"version_table": f"{prefix}alembic_version", "version_table_schema": schema},
    )
    return context.get_current_revision()


def _lineage(revision: str) -> list[str]:
    """`revision` and every revision before it, newest first."""
    return [r.revision for r in _script().iterate_revisions(revision, "base")]


def _compare(revision: str, at: str | None) -> Literal["before", "same", "after"] | None:
    """Where `revision` stands to the revision `at` (``None`` for base).

    ``None`` if `revision` names no single revision: Alembic resolves a relative one (``-1``)
    or says what is wrong with it.
    """
    try:
        script = _script().get_revision(revision)
    except CommandError:
        return None
    wanted = None if script is None else script.revision
    if wanted == at:
        return "same"
    if at is None:
        return "after"
    return "before" if wanted is None or wanted in _lineage(at) else "after"


def _tables_present(connection: Connection, prefix: str, schema: str | None) -> list[str]:
    """The names of crmkit's tables (with `prefix`, in `schema`) that the database has."""
    inspector = sa.inspect(connection)
    names = build_tables(prefix=prefix, schema=schema).metadata.tables.values()
    return sorted(t.name for t in names if inspector.has_table(t.name, schema=schema))


def _newer(where: _Where, at: str) -> SchemaVersionError:
    return SchemaVersionError(
        f"the database at {where.url} has crmkit schema revision {at}, newer than this crmkit "
        f"knows (it ends at {head()}); upgrade the crmkit package"
    )


def _unrecorded(where: _Where, present: list[str]) -> SchemaVersionError:
    return SchemaVersionError(
        f"the database at {where.url} has crmkit's tables ({', '.join(present)}) but no "
        f"revision recorded in {where.prefix}alembic_version; if they match this crmkit's "
        f"definitions, adopt them with `{where.command('stamp')}` (records revision {head()}), "
        f"else stamp the revision they match with --revision, then run "
        f"`{where.command('migrate')}`"
    )


def upgrade(
    target: Target,
    *,
    revision: str = "head",
    prefix: str = DEFAULT_PREFIX,
    schema: str | None = None,
) -> None:
    """Bring crmkit's tables at `target` (a URL, ``Engine`` or ``Connection``) up to `revision`.

    The migration runs in one transaction, so on PostgreSQL and SQLite a failure or a rollback
    leaves nothing behind. On a host's ``Connection`` in a transaction it runs in the host's,
    and the host commits (or rolls back); on one outside a transaction it runs in its own,
    committed at the end. MariaDB/MySQL commit every DDL statement at once, and the host's
    transaction with it: there a migration can stop halfway, so each can be run again.
    Safe to run again: a database already at `revision` is left as it is.

    Raises:
        SchemaVersionError: the database is at a revision newer than this crmkit knows, or
            has crmkit's tables with no revision recorded (adopt them with `stamp`).
        ValidationError: `revision` is unknown, or older than the database's (an upgrade never
            goes back: see `downgrade`).
    """
    with _migration(target, prefix, schema, f"migrating crmkit's tables to {revision}") as m:
        if m.at is None:
            present = _tables_present(m.connection, prefix, schema)
            if present:
                raise _unrecorded(m.where, present)
        elif _compare(revision, m.at) == "before":
            raise ValidationError.of(
                "revision",
                f"crmkit's tables at {m.where.url} are at revision {m.at}, past {revision}; "
                f"an upgrade never goes back: run `{m.where.command('downgrade', revision)}` "
                "to downgrade them",
            )
        command.upgrade(m.config, revision)


def downgrade(
    target: Target, *, revision: str, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> None:
    """Take crmkit's tables at `target` back to `revision` (``"base"`` removes them all).

    Raises:
        SchemaVersionError: the database is at a revision newer than this crmkit knows.
        ValidationError: `revision` is unknown, or not older than the database's (see
            `upgrade`), or the database has no crmkit revision to go back from.
    """
    with _migration(target, prefix, schema, f"downgrading crmkit's tables to {revision}") as m:
        if _compare(revision, m.at) == "after":
            if m.at is None:
                raise ValidationError.of(
                    "revision",
                    f"the database at {m.where.url} has no crmkit revision recorded, so none "
                    f"to go back to {revision} from",
                )
            raise ValidationError.of(
                "revision",
                f"crmkit's tables at {m.where.url} are at revision {m.at}, before {revision}; "
                f"a downgrade never goes forward: run `{m.where.command('migrate', revision)}`",
            )
        command.downgrade(m.config, revision)


def stamp(
    target: Target,
    *,
    revision: str = "head",
    prefix: str = DEFAULT_PREFIX,
    schema: str | None = None,
) -> None:
    """Record that crmkit's tables are at `revision` without running any migration.

    Adopts tables made without `upgrade` (from `build_tables`' metadata, say): check that they
    match `revision`, stamp it, then `upgrade` takes it from there. `SqlStore.create_all` stamps
    the tables it creates.

    Raises:
        SchemaVersionError: the database has none of crmkit's tables (there is nothing to
            record a revision for), or is at a revision newer than this crmkit knows.
        ValidationError: `revision` is unknown.
    """
    with _migration(target, prefix, schema, f"recording crmkit's revision {revision}") as m:
        stamping = _compare(revision, None) != "same"  # anything but base
        if stamping and not _tables_present(m.connection, prefix, schema):
            raise SchemaVersionError(
                f"the database at {m.where.url} has none of crmkit's tables to record revision "
                f"{revision} for; run `{m.where.command('migrate')}` to create them"
            )
        command.stamp(m.config, revision)


def current(
    target: Target, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> str | None:
    """The revision crmkit's tables at `target` are at; ``None`` if none is recorded."""
    with _connection(target, "reading crmkit's schema revision") as connection:
        return _current(connection, prefix, schema)


def verify(target: Target, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None) -> None:
    """Check that crmkit's tables at `target` are at the revision this code expects.

    Raises:
        SchemaVersionError: the database is behind (or ahead of) this version of crmkit, or
            has crmkit's tables with no revision recorded; the message names the command that
            fixes it.
    """
    with _connection(target, "reading crmkit's schema revision") as connection:
        where = _Where.of(connection, prefix, schema)
        at = _current(connection, prefix, schema)
        present = _tables_present(connection, prefix, schema) if at is None else []
    wanted = head()
    if at == wanted:
        return
    if at is None and present:
        raise _unrecorded(where, present)
    migrate = where.command("migrate")
    if at is None:
        raise SchemaVersionError(
            f"the database at {where.url} has no crmkit tables; run `{migrate}` "
            "(or crmkit.migrate.upgrade) to create them"
        )
    if at not in _lineage(wanted):
        raise _newer(where, at)
    raise SchemaVersionError(
        f"the database at {where.url} has crmkit schema revision {at}, but this crmkit needs "
        f"{wanted}; run `{migrate}` (or crmkit.migrate.upgrade) to upgrade it"
    )


def exclude_crmkit(
    prefix: str = DEFAULT_PREFIX,
) -> Callable[[str | None, str, Mapping[str, str | None]], bool]:
    """An ``include_name`` hook for a host's Alembic ``env.py`` that leaves crmkit's tables be.

    Autogenerate then proposes no operation on crmkit's tables (or its version table),
    whatever the host's own models say.
    """

    def include(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
        """Whether Alembic autogenerate should look at this object (not if it is crmkit's)."""
        if type_ == "table":
            return not (name or "").startswith(prefix)
        table = parent_names.get("table_name")
        return not (table or "").startswith(prefix)

    return include


include_name: Callable[[str | None, str, Mapping[str, Any]], bool] = exclude_crmkit()
"""`exclude_crmkit` for the default table prefix."""
