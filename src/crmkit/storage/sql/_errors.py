"""Driver and SQLAlchemy errors, translated into crmkit's at the boundary.

The transient ones (a retry of the whole unit of work may succeed) are classified here, with one
table per backend, each by the backend's own error code:

- PostgreSQL, by SQLSTATE: serialization failure (40001), deadlock (40P01), lock timeout (55P03).
- MariaDB/MySQL, by the server's error number: deadlock (1213), lock wait timeout (1205), and
  "record has changed since last read" (1020, MariaDB's snapshot isolation). The SQLSTATE is no
  guide there: a lock wait timeout comes with the catch-all ``HY000``.
- SQLite, by the primary result code: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended
  codes (SQLITE_BUSY_SNAPSHOT, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs
from sqlalchemy import exc

from crmkit.errors import StorageError, TransientError

__all__ = ["Violation", "is_transient", "storage_error", "violation"]

_PG_TRANSIENT = frozenset({"40001", "40P01", "55P03"})
_MYSQL_TRANSIENT = frozenset({1020, 1205, 1213})
_SQLITE_TRANSIENT = frozenset({5, 6})


def _pg_transient(error: BaseException) -> bool:
    # psycopg 3 says `sqlstate`, psycopg2 `pgcode`.
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code in _PG_TRANSIENT


def _mysql_transient(error: BaseException) -> bool:
    # PyMySQL and mysqlclient put the error number first in `args`; MariaDB Connector/Python
    # and MySQL Connector/Python name it `errno`.
    args = getattr(error, "args", ())
    code = args[0] if args and isinstance(args[0], int) else getattr(error, "errno", None)
    return code in _MYSQL_TRANSIENT


def _sqlite_transient(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT


_BY_DIALECT: dict[str, Callable[[BaseException], bool]] = {
    "postgresql": _pg_transient,
    "mysql": _mysql_transient,
    "mariadb": _mysql_transient,
    "sqlite": _sqlite_transient,
}

# The dialect a driver's exceptions belong to, by the driver's top-level module.
_DIALECT_OF_DRIVER = {
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "mariadb": "mysql",
    "mysql": "mysql",
    "sqlite3": "sqlite",
}


def is_transient(error: BaseException, dialect: str | None = None) -> bool:
    """Whether `error` (a SQLAlchemy or driver error) may pass if the transaction is re-run.

    Args:
        error: the error, as SQLAlchemy or the driver raised it.
        dialect: the SQLAlchemy dialect name (``"postgresql"``, ``"mysql"``, ``"mariadb"``,
            ``"sqlite"``); found from the driver that raised `error` if not given.

    Examples:
        >>> import sqlite3
        >>> busy = sqlite3.OperationalError("database is locked")
        >>> busy.sqlite_errorcode = 5
        >>> is_transient(busy), is_transient(busy, "postgresql")
        (True, False)
    """
    orig = error.orig if isinstance(error, exc.DBAPIError) and error.orig is not None else error
    if dialect is None:
        dialect = _DIALECT_OF_DRIVER.get(type(orig).__module__.partition(".")[0])
    classify = _BY_DIALECT.get(dialect) if dialect is not None else None
    return classify is not None and classify(orig)


def storage_error(
    error: exc.SQLAlchemyError, doing: str, dialect: str | None = None
) -> StorageError:
    """The crmkit error for a failed database call made while `doing` something."""
    detail = str(error.orig if isinstance(error, exc.DBAPIError) else error).strip()
    first_line = detail.splitlines()[0] if detail else type(error).__name__
    if is_transient(error, dialect):
        return TransientError(
            f"{doing} hit a transient conflict, retry the unit of work: {first_line}"
        )
    return StorageError(f"{doing} failed: {first_line}")


@attrs.frozen
class Violation:
    """Which constraint an ``IntegrityError`` broke, as the backend names it.

    Attributes:
        foreign: a foreign key (a parent row that is missing), else a primary key or unique one.
        constraint: the constraint's name (PostgreSQL; MariaDB/MySQL, where a primary key is
            ``PRIMARY``), or ``None``.
        columns: the ``table.column`` names the constraint covers (SQLite, which names no
            constraint), or ``None``.
    """

    foreign: bool
    constraint: str | None = None
    columns: tuple[str, ...] | None = None


_MYSQL_KEY = re.compile(r"for key '([^']+)'\s*$")
_MYSQL_FOREIGN = re.compile(r"CONSTRAINT `([^`]+)`")
_SQLITE_FOREIGN = 787  # SQLITE_CONSTRAINT_FOREIGNKEY


def violation(error: exc.IntegrityError) -> Violation:
    """The constraint `error` reports, read from the driver's structured fields where it has them.

    PostgreSQL's drivers name the constraint (``diag.constraint_name``); MariaDB/MySQL name it
    only inside the message, after the error number says which kind it is; SQLite names the
    columns of a unique constraint, and no foreign key at all.
    """
    orig = error.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:  # psycopg and psycopg2
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        return Violation(foreign=code == "23503", constraint=getattr(diag, "constraint_name", None))
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        if sqlite_code == _SQLITE_FOREIGN:
            return Violation(foreign=True)
        _, _, listed = str(orig).partition(": ")
        return Violation(foreign=False, columns=tuple(c.strip() for c in listed.split(",")))
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MariaDB/MySQL: (error number, message)
        message = str(args[1]) if len(args) > 1 else ""
        if args[0] in (1216, 1452):
            found = _MYSQL_FOREIGN.search(message)
            return Violation(foreign=True, constraint=found.group(1) if found else None)
        found = _MYSQL_KEY.search(message)
        return Violation(
            foreign=False, constraint=found.group(1).rpartition(".")[2] if found else None
        )
    return Violation(foreign=False)
