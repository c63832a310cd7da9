"""Database URLs as a new user writes them: engines from them, and messages that say what to do.

`crmkit.open` is the first thing anyone calls, so a URL it cannot use gets a message that names
the fix: the URL to write instead (``postgres://`` → ``postgresql+psycopg://``), the extra to
install for a missing driver, the accepted forms for something that is not a URL, the missing
folder of an SQLite file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from crmkit._validation import shown
from crmkit.errors import ValidationError

__all__ = ["ACCEPTED", "create_engine", "sqlite_file"]

ACCEPTED = (
    "'memory://', 'sqlite:///crm.db' (a file; 'sqlite:////abs/path/crm.db' for an absolute "
    "path), 'postgresql+psycopg://user@host/db' or 'mysql+pymysql://user@host/db'"
)
"""The URL forms crmkit is built and tested with, for messages."""

# Per backend: the driver crmkit is tested with, its module, and the extra that installs it.
_DRIVERS = {
    "postgresql": ("psycopg", "psycopg", "postgres"),
    "postgres": ("psycopg", "psycopg", "postgres"),
    "mysql": ("pymysql", "pymysql", "mysql"),
    "mariadb": ("pymysql", "pymysql", "mysql"),
}
_MEMORY_WORDS = frozenset({"memory", ":memory:", "mem", "memory:/", "memory:///"})


def create_engine(url: str | sa.URL, options: dict[str, Any]) -> Engine:
    """`sqlalchemy.create_engine(url, **options)`, or a `ValidationError` that says what to do.

    Raises:
        ValidationError: `url` is not a database URL, names a database or driver that is not
            installed, or an SQLite file in a folder that does not exist.
    """
    if not isinstance(url, str | sa.URL):
        raise ValidationError.of("url", _not_a_url(url))
    try:
        parsed = sa.make_url(url)
    except exc.ArgumentError:
        raise ValidationError.of("url", _not_a_url(url)) from None
    try:
        engine = sa.create_engine(parsed, **options)
    except exc.NoSuchModuleError as e:
        raise ValidationError.of("url", _unknown_database(parsed)) from e
    except ImportError as e:
        raise ValidationError.of("url", _missing_driver(parsed, e)) from e
    except (exc.ArgumentError, TypeError, ValueError) as e:
        raise ValidationError.of("url", f"cannot open {_shown(parsed)}: {e}") from e
    database = sqlite_file(engine.url)
    if database is not None and not database.parent.is_dir():
        engine.dispose()
        raise ValidationError.of(
            "url",
            f"the folder {str(database.parent)!r} of the SQLite database {_shown(parsed)} does "
            "not exist; create it first (crmkit creates the file, not its folder)",
        )
    return engine


def sqlite_file(url: sa.URL) -> Path | None:
    """The file of an SQLite URL; None for other databases, in-memory SQLite and URI filenames."""
    if url.get_backend_name() != "sqlite" or url.query.get("uri") in ("true", "1"):
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _driver(url: sa.URL) -> str:
    # Not url.get_driver_name(), which loads the dialect to name its default driver.
    return url.drivername.partition("+")[2]


def _shown(url: sa.URL) -> str:
    return repr(url.render_as_string(hide_password=True))


def _not_a_url(url: object) -> str:
    if isinstance(url, os.PathLike):
        return (
            f"must be a URL string or a SQLAlchemy Engine, not a path; for an SQLite file "
            f"write 'sqlite:///{os.fspath(url)}'"
        )
    if not isinstance(url, str):
        return (
            f"must be a URL string or a SQLAlchemy Engine, not {type(url).__name__}; "
            f"accepted: {ACCEPTED}"
        )
    text = url.strip()
    if text.lower() in _MEMORY_WORDS:
        return f"{shown(url, 200)} is not a URL; the in-memory store is 'memory://'"
    if text and "://" not in text:
        return (
            f"{shown(url, 200)} is not a URL; for an SQLite file write 'sqlite:///{text}'. "
            f"Accepted: {ACCEPTED}"
        )
    return f"{shown(url, 200)} is not a URL; accepted: {ACCEPTED}"


def _suggestion(url: sa.URL) -> str | None:
    """The same URL with the driver crmkit is tested with, if `url` names another one."""
    backend = url.get_backend_name()
    known = _DRIVERS.get(backend)
    if known is None or (backend != "postgres" and _driver(url) == known[0]):
        return None
    name = "postgresql" if backend == "postgres" else backend
    return url.set(drivername=f"{name}+{known[0]}").render_as_string(hide_password=True)


def _unknown_database(url: sa.URL) -> str:
    suggested = _suggestion(url)
    if suggested is not None:
        return f"SQLAlchemy does not know {url.drivername}://; write {suggested!r}"
    return f"SQLAlchemy does not know the database {url.drivername!r}; accepted: {ACCEPTED}"


def _missing_driver(url: sa.URL, error: ImportError) -> str:
    module = error.name or str(error)
    known = _DRIVERS.get(url.get_backend_name())
    if known is not None:
        driver, _, extra = known
        if _driver(url) == driver:
            return (
                f"the driver {driver} for {url.drivername}:// is not installed: "
                f"pip install 'crmkit[{extra}]'"
            )
        suggested = _suggestion(url)
        return (
            f"the driver {module} for {url.drivername}:// is not installed; crmkit uses "
            f"{driver}: write {suggested!r} and pip install 'crmkit[{extra}]'"
        )
    return f"the driver {module} for {url.drivername}:// is not installed; accepted: {ACCEPTED}"
