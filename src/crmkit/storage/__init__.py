"""Storage: repositories, the unit of work, and the adapters behind them.

Two adapters share one API: `MemoryStore` (in this process) and `SqlStore` (SQLite, PostgreSQL,
MariaDB/MySQL through SQLAlchemy Core). `open_store` picks one from a URL; switching adapters
means changing that URL and nothing else.

`SqlStore` and the SQL tables live in `crmkit.storage.sql`, which imports SQLAlchemy; they are
re-exported here lazily so that ``import crmkit`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmkit.storage._protocols import CustomerRepository, EventSink, InteractionRepository, Store
from crmkit.storage._unit_of_work import UnitOfWork
from crmkit.storage.memory import MemoryStore

if TYPE_CHECKING:
    from crmkit.storage.sql import SqlStore

__all__ = [
    "CustomerRepository",
    "EventSink",
    "InteractionRepository",
    "MemoryStore",
    "SqlStore",
    "Store",
    "UnitOfWork",
    "open_store",
]


def open_store(url: Any) -> Store:  # noqa: ANN401 (a URL string or a SQLAlchemy Engine)
    """The store at `url`: ``"memory://"``, a SQLAlchemy URL, or a SQLAlchemy ``Engine``."""
    if isinstance(url, str) and url.strip() in ("memory://", "memory:"):
        return MemoryStore()
    from crmkit.storage.sql import SqlStore

    return SqlStore.from_url(url)


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name == "SqlStore":
        from crmkit.storage.sql import SqlStore

        return SqlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
