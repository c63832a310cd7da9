"""The SQL store: crmkit on SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy Core.

Importing this module imports SQLAlchemy. The tables are plain SQLAlchemy Core tables on
`metadata`; domain classes stay plain attrs classes and are converted to rows and back.
"""

from crmkit.storage.sql._errors import is_transient
from crmkit.storage.sql._store import SqlStore, SqlUnitOfWork, configure_sqlite, metadata, tables
from crmkit.storage.sql._tables import NAMING_CONVENTION, Tables, build_tables

__all__ = [
    "NAMING_CONVENTION",
    "SqlStore",
    "SqlUnitOfWork",
    "Tables",
    "build_tables",
    "configure_sqlite",
    "is_transient",
    "metadata",
    "tables",
]
