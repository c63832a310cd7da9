"""Driver and SQLAlchemy errors, translated into crmkit's at the boundary.

The transient ones (a retry of the whole unit of work may succeed) are classified here, once per
dialect: PostgreSQL serialization failure (SQLSTATE 40001) and deadlock (40P01), MariaDB/MySQL
deadlock (1213) and lock wait timeout (1205), SQLite busy or locked (SQLITE_BUSY, SQLITE_LOCKED).
"""

from __future__ import annotations

from sqlalchemy import exc

from crmkit.errors import StorageError, TransientError

__all__ = ["is_transient", "storage_error"]

_PG_TRANSIENT = frozenset({"40001", "40P01", "55P03"})
_MYSQL_TRANSIENT = frozenset({1205, 1213})
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def is_transient(error: BaseException) -> bool:
    """Whether `error` (a SQLAlchemy or driver error) may pass if the transaction is re-run."""
    orig = error.orig if isinstance(error, exc.DBAPIError) else error
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate in _PG_TRANSIENT
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_TRANSIENT
    return False


def storage_error(error: exc.SQLAlchemyError, doing: str) -> StorageError:
    """The crmkit error for a failed database call made while `doing` something."""
    detail = str(error.orig if isinstance(error, exc.DBAPIError) else error).strip()
    first_line = detail.splitlines()[0] if detail else type(error).__name__
    if is_transient(error):
        return TransientError(
            f"{doing} hit a transient conflict, retry the unit of work: {first_line}"
        )
    return StorageError(f"{doing} failed: {first_line}")
