"""The SQL store: crmkit on SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy Core.

Importing this module imports SQLAlchemy. The tables are plain SQLAlchemy Core tables on
`metadata`; domain classes stay plain attrs classes and are converted to rows and back.
"""

from crmkit.storage.sql._errors import is_transient
from crmkit.storage.sql._store import (
    DEFAULT_LOCK_TIMEOUT,
    SQLITE_CACHE_KIB,
    SqlStore,
    SqlUnitOfWork,
    configure_lock_timeout,
    configure_sqlite,
    metadata,
    tables,
)
from crmkit.storage.sql._tables import NAMING_CONVENTION, Tables, build_tables

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "NAMING_CONVENTION",
    "SQLITE_CACHE_KIB",
    "SqlStore",
    "SqlUnitOfWork",
    "Tables",
    "build_tables",
    "configure_lock_timeout",
    "configure_sqlite",
    "is_transient",
    "metadata",
    "tables",
]
