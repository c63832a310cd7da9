"""The aggregates a store holds: capabilities register theirs, the composition root wires them.

In the spirit of cattrs' ``configure_converter``: the storage core names no capability. A
capability registers each aggregate with the attribute a unit of work shows it as
(``uow.customers``) and, where it has special queries, the repository classes of each adapter.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from crmkit.errors import ValidationError
from crmkit.storage._aggregates import Aggregate

if TYPE_CHECKING:
    from crmkit.storage._merge import MergeRule

__all__ = [
    "Registration",
    "bound",
    "merge_rule",
    "register",
    "register_merge_rule",
    "registered",
    "registration",
]


@attrs.frozen
class Registration:
    """How the stores hold one aggregate.

    Attributes:
        aggregate: the declaration.
        attribute: the unit of work's attribute for its repository (``"customers"``), if any.
        memory: the memory store's repository class, if not the core's `MemoryRecords`.
        sql: the SQL store's repository class as ``"module:Class"`` (imported when first used,
            so that importing crmkit does not import SQLAlchemy), if not the core's.
        sql_tables: a function ``(metadata, *, prefix, schema) -> {name: Table}`` that defines
            the aggregate's tables, as ``"module:function"``, if not derived from the declaration.
    """

    aggregate: Aggregate[Any]
    attribute: str | None = None
    memory: type | None = None
    sql: str | None = None
    sql_tables: str | None = None

    def sql_class(self) -> type | None:
        """The SQL repository class, imported."""
        found: type | None = _imported(self.sql)
        return found

    def sql_tables_function(self) -> Callable[..., dict[str, Any]] | None:
        """The function that defines the aggregate's SQL tables, imported."""
        found: Callable[..., dict[str, Any]] | None = _imported(self.sql_tables)
        return found


@functools.cache
def _imported(path: str | None) -> Any:  # noqa: ANN401
    if path is None:
        return None
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


_REGISTERED: dict[str, Registration] = {}
_ATTRIBUTES: dict[str, Aggregate[Any]] = {}
_MERGE_RULES: dict[str, MergeRule] = {}


def register(
    aggregate: Aggregate[Any],
    *,
    attribute: str | None = None,
    memory: type | None = None,
    sql: str | None = None,
    sql_tables: str | None = None,
    merge: MergeRule | None = None,
) -> None:
    """Make every store made from now on hold `aggregate`.

    A capability calls this once per aggregate, from the composition root
    (``crmkit/_composition.py``), parents before their children. Registering the same table
    twice replaces the first registration. To hold an aggregate in one store only (a test's),
    pass it to that store instead: ``MemoryStore(aggregates=[...])``,
    ``build_tables(aggregates=[...])``.

    Args:
        aggregate: the declaration.
        attribute: the unit of work's attribute for its repository (``"customers"`` gives
            ``uow.customers``); without one, reach it with ``uow.repository(aggregate)``.
        memory: the memory store's repository class, where the aggregate has special queries
            (a subclass of ``crmkit.storage.memory.MemoryRecords``).
        sql: the SQL store's repository class, as ``"module:Class"`` (imported when first
            used, so that importing crmkit does not import SQLAlchemy).
        sql_tables: ``"module:function"`` of a function ``(metadata, *, prefix, schema) ->
            {name: Table}`` defining the aggregate's tables, where the table derived from the
            declaration does not do.
        merge: how the aggregate's records follow a merge of two customers, if they name
            customers (see `register_merge_rule`).

    Raises:
        ValidationError: `aggregate` is not an `Aggregate`.
    """
    if not isinstance(aggregate, Aggregate):
        raise ValidationError.of(
            "aggregate", f"must be an Aggregate, not {type(aggregate).__name__}"
        )
    _REGISTERED[aggregate.table] = Registration(aggregate, attribute, memory, sql, sql_tables)
    if attribute is not None:
        _ATTRIBUTES[attribute] = aggregate
    if merge is not None:
        register_merge_rule(aggregate, merge)


def register_merge_rule(aggregate: Aggregate[Any], rule: MergeRule) -> None:
    """Say how `aggregate`'s records follow a merge of two records they name.

    Every aggregate whose records name a customer (its parent, or a field declared in
    `Aggregate.references`) needs one, or a merge of customers would leave its records naming
    a customer that is gone; crmkit's tests check that each has one. For records that simply
    follow their customer it is one line: ``register_merge_rule(COMPLAINTS, Repoint())``.

    Raises:
        ValidationError: `aggregate` is not an `Aggregate`, or `rule` has no ``plan`` and
            ``apply``.
    """
    if not isinstance(aggregate, Aggregate):
        raise ValidationError.of(
            "aggregate", f"must be an Aggregate, not {type(aggregate).__name__}"
        )
    if not callable(getattr(rule, "plan", None)) or not callable(getattr(rule, "apply", None)):
        raise ValidationError.of("rule", f"must be a MergeRule, not {type(rule).__name__}")
    _MERGE_RULES[aggregate.table] = rule


def merge_rule(table: str) -> MergeRule | None:
    """The merge rule registered for the aggregate stored as `table`, if any."""
    return _MERGE_RULES.get(table)


def registered() -> list[Aggregate[Any]]:
    """The registered aggregates, parents before their children (in registration order)."""
    return [r.aggregate for r in _REGISTERED.values()]


def registration(table: str) -> Registration | None:
    """The registration of the aggregate stored as `table`, if registered."""
    return _REGISTERED.get(table)


def bound(attribute: str) -> Aggregate[Any] | None:
    """The aggregate whose repository a unit of work shows as `attribute`, if any."""
    return _ATTRIBUTES.get(attribute)
