"""Storage: repositories, the unit of work, and the adapters behind them.

Two adapters share one API: `MemoryStore` (in this process) and `SqlStore` (SQLite, PostgreSQL,
MariaDB/MySQL through SQLAlchemy Core). `open_store` picks one from a URL; switching adapters
means changing that URL and nothing else.

`SqlStore` and the SQL tables live in `crmkit.storage.sql`, which imports SQLAlchemy; they are
re-exported here lazily so that ``import crmkit`` stays light.

An aggregate is declared to every adapter at once with `Aggregate` (and its `Parent` and
`UniqueKey`), and a capability makes every store hold it with `register`; the page "Storage
internals: adding an aggregate" walks through it. An aggregate whose records name customers
also says how they follow a merge of two customers (`register_merge_rule`, `Repoint`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmkit.storage._aggregates import Aggregate, Parent, UniqueKey
from crmkit.storage._arguments import a_lock_timeout as _a_lock_timeout
from crmkit.storage._changes import MASKED, Change, ChangeLog, ChangePage
from crmkit.storage._merge import FieldConflict, MergeRule, MergeStep, Merging, Moves, Repoint
from crmkit.storage._protocols import EventSink, Store
from crmkit.storage._registry import register, register_merge_rule
from crmkit.storage._unit_of_work import UnitOfWork
from crmkit.storage.memory import MemoryStore

if TYPE_CHECKING:
    from crmkit._composition import (
        CustomerRepository,
        InteractionRepository,
        LeadRepository,
        OpportunityRepository,
    )
    from crmkit.storage.sql import SqlStore

__all__ = [
    "MASKED",
    "Aggregate",
    "Change",
    "ChangeLog",
    "ChangePage",
    "CustomerRepository",
    "EventSink",
    "FieldConflict",
    "InteractionRepository",
    "LeadRepository",
    "MemoryStore",
    "MergeRule",
    "MergeStep",
    "Merging",
    "Moves",
    "OpportunityRepository",
    "Parent",
    "Repoint",
    "SqlStore",
    "Store",
    "UniqueKey",
    "UnitOfWork",
    "open_store",
    "register",
    "register_merge_rule",
]

# The declaration API says where it lives (as httpx's exports do), so reprs, tracebacks and
# the reference show the public name rather than the private module.
for _exported in (
    Aggregate,
    FieldConflict,
    MergeRule,
    MergeStep,
    Merging,
    Moves,
    Parent,
    Repoint,
    UniqueKey,
    register,
    register_merge_rule,
):
    _exported.__module__ = __name__
del _exported


def open_store(url: Any, *, lock_timeout: float | None = None) -> Store:  # noqa: ANN401 (URL or Engine)
    """The store at `url`: ``"memory://"``, a SQLAlchemy URL, or a SQLAlchemy ``Engine``.

    `lock_timeout` bounds a SQL store's lock waits (see `SqlStore.from_url`); the memory store
    never waits for a lock, so there it is only checked.
    """
    if isinstance(url, str) and url.strip() in ("memory://", "memory:"):
        if lock_timeout is not None:
            _a_lock_timeout(lock_timeout)
        return MemoryStore()
    from crmkit.storage.sql import SqlStore

    return SqlStore.from_url(url, lock_timeout=lock_timeout)


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name in (
        "CustomerRepository",
        "InteractionRepository",
        "LeadRepository",
        "OpportunityRepository",
    ):
        # A capability's protocols, which the composition root wires in.
        from crmkit import _composition

        return getattr(_composition, name)
    if name == "SqlStore":
        from crmkit.storage.sql import SqlStore

        return SqlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
