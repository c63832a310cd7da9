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
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine

from crmkit.errors import SchemaVersionError, ValidationError
from crmkit.storage.sql._errors import storage_error

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


@contextlib.contextmanager
def _connection(target: Target, doing: str) -> Iterator[Connection]:
    """A connection on `target`; one we open is committed at the end, the host's is not.

    Database and Alembic errors while `doing` something become crmkit's.
    """
    if isinstance(target, Connection):
        with _translated(doing):
            yield target
        return
    try:
        engine = target if isinstance(target, Engine) else sa.create_engine(target)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as e:
        raise ValidationError.of("url", f"cannot open {target!r}: {e}") from e
    try:
        with _translated(doing), engine.begin() as connection:
            yield connection
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


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
    revision = ScriptDirectory.from_config(_config(DEFAULT_PREFIX, None)).get_current_head()
    assert revision is not None  # noqa: S101 (the history ships with the package)
    return revision


def _command(
    run: Callable[[Config, str], None],
    target: Target,
    revision: str,
    prefix: str,
    schema: str | None,
) -> None:
    config = _config(prefix, schema)
    with _connection(target, f"migrating crmkit's tables to {revision}") as connection:
        config.attributes["connection"] = connection
        run(config, revision)


def upgrade(
    target: Target,
    *,
    revision: str = "head",
    prefix: str = DEFAULT_PREFIX,
    schema: str | None = None,
) -> None:
    """Bring crmkit's tables at `target` (a URL, ``Engine`` or ``Connection``) up to `revision`.

    On a host's ``Connection`` the migration runs in the host's transaction; the host commits.
    Safe to run again: a database already at `revision` is left as it is.
    """
    _command(command.upgrade, target, revision, prefix, schema)


def downgrade(
    target: Target, *, revision: str, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> None:
    """Take crmkit's tables at `target` back to `revision` (``"base"`` removes them all)."""
    _command(command.downgrade, target, revision, prefix, schema)


def stamp(
    target: Target,
    *,
    revision: str = "head",
    prefix: str = DEFAULT_PREFIX,
    schema: str | None = None,
) -> None:
    """Record that crmkit's tables are at `revision` without running any migration.

    `SqlStore.create_all` does this after creating the tables from the current definitions.
    """
    _command(command.stamp, target, revision, prefix, schema)


def current(
    target: Target, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> str | None:
    """The revision crmkit's tables at `target` are at; ``None`` if crmkit was never installed."""
    with _connection(target, "reading crmkit's schema revision") as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": f"{prefix}alembic_version", "version_table_schema": schema},
        )
        return context.get_current_revision()


def verify(target: Target, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None) -> None:
    """Check that crmkit's tables at `target` are at the revision this code expects.

    Raises:
        SchemaVersionError: the database is behind (or ahead of) this version of crmkit; the
            message names the command that fixes it.
    """
    at, wanted = current(target, prefix=prefix, schema=schema), head()
    if at == wanted:
        return
    script = ScriptDirectory.from_config(_config(prefix, schema))
    known = {r.revision for r in script.walk_revisions()}
    url = _describe(target)
    if at is None:
        raise SchemaVersionError(
            f"the database at {url} has no crmkit tables; run `crmkit migrate {url}` "
            "(or crmkit.migrate.upgrade) to create them"
        )
    if at not in known:
        raise SchemaVersionError(
            f"the database at {url} has crmkit schema revision {at}, newer than this crmkit "
            f"knows (it ends at {wanted}); upgrade the crmkit package"
        )
    raise SchemaVersionError(
        f"the database at {url} has crmkit schema revision {at}, but this crmkit needs "
        f"{wanted}; run `crmkit migrate {url}` (or crmkit.migrate.upgrade) to upgrade it"
    )


def _describe(target: Target) -> str:
    if isinstance(target, Connection):
        target = target.engine
    if isinstance(target, Engine):
        return target.url.render_as_string(hide_password=True)
    return sa.make_url(target).render_as_string(hide_password=True)


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
