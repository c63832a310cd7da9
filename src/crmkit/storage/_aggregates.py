"""How an aggregate is declared to the storage core: once, for every adapter.

An `Aggregate` names its class, its record name, its parent, its unique keys, the fields that
cannot change after creation and the indexes its queries need. The memory store's indexes, the
SQL table, the row mapping and the mapping of constraint violations to errors all derive from it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs
import pendulum

from crmkit.errors import Issue, ValidationError

__all__ = ["Aggregate", "Operation", "Parent", "Scope", "UniqueKey", "Write", "WriteHook"]

T = TypeVar("T")


@attrs.frozen
class Parent:
    """The aggregate a record belongs to; removing the parent removes its records with it.

    Attributes:
        record: the parent's record name (``"customer"``).
        table: the parent's table, without prefix (``"customers"``).
        field: the field holding the parent's id (``"customer_id"``).
    """

    record: str
    table: str
    field: str


@attrs.frozen
class UniqueKey:
    """Values no two records of one tenant may share.

    Attributes:
        field: the field a `DuplicateError` names (``"code"``).
        record: the record name a `DuplicateError` names; the aggregate's if ``None``.
        values: the key's values in a record; ``(getattr(record, field),)`` by default, and
            ``None`` values never clash.
    """

    field: str
    record: str | None = None
    values: Callable[[Any], Iterable[Hashable]] | None = None

    def of(self, obj: object) -> list[Hashable]:
        """The key's values in `obj`, ``None`` left out."""
        found = self.values(obj) if self.values is not None else (getattr(obj, self.field),)
        return [v for v in found if v is not None]


@attrs.frozen(eq=False)
class Aggregate(Generic[T]):
    """An aggregate, declared once for every storage adapter.

    Attributes:
        cls: the domain class (an attrs class with ``id`` and ``version``).
        record: the record name, as errors say it (``"interaction"``).
        table: the table (and memory collection) name, without prefix (``"interactions"``).
        parent: the aggregate its records belong to, if any.
        unique: keys no two records of a tenant may share (the id always is one).
        immutable: fields that cannot change after creation, each with the problem to report.
        indexes: per index name, the columns after ``tenant_id`` that the queries need.
        columns: the length of a text column (an enum's value, a string) where the default of
            255 characters does not fit, or ``None`` for unbounded text.
        order: the fields whose columns come first (after ``tenant_id``), in this order, for a
            table older than its declaration; the others follow in the class's order.
        issues: more checks of a record before it is written (custom fields, say), given the
            unit of work's settings; the domain class's own checks always run.
        sensitive: fields whose values the change log never holds: it shows `MASKED` instead
            (see `crmkit.storage.Change`).
        append_only: records are only ever added (a ledger's entries): `update` and `remove`
            refuse them with `ValidationError`, and a correction is a new record. Removing
            the parent still takes them with it.
        references: per field, the table (without prefix) of the records its value names,
            besides the parent (``{"customer_id": "customers"}`` for a lead converted into a
            customer): what a merge of two such records must move (see `references_to`).
    """

    cls: type[T]
    record: str
    table: str
    parent: Parent | None = None
    unique: tuple[UniqueKey, ...] = ()
    immutable: Mapping[str, str] = attrs.field(factory=dict)
    indexes: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    columns: Mapping[str, int | None] = attrs.field(factory=dict)
    order: tuple[str, ...] = ("id", "version")
    issues: Callable[[T, Any], list[Issue]] | None = None
    sensitive: frozenset[str] = frozenset()
    append_only: bool = False
    references: Mapping[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not self.sensitive and not self.references:
            return
        fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(self.cls)  # type: ignore[arg-type]
        names = {f.name for f in fields}
        for name, declared in (("sensitive", self.sensitive), ("references", self.references)):
            unknown = sorted(set(declared) - names)
            if unknown:
                raise ValidationError.of(
                    name, f"names no field of {self.cls.__name__}: {', '.join(unknown)}"
                )

    def references_to(self, table: str) -> tuple[str, ...]:
        """The fields whose values name records of `table`: the parent's, and `references`."""
        parent = self.parent
        found = [parent.field] if parent is not None and parent.table == table else []
        found += [f for f, t in self.references.items() if t == table and f not in found]
        return tuple(found)


@attrs.frozen
class Scope:
    """What a unit of work may see and write: one place every adapter takes its filter from.

    Today a tenant; a per-actor scope (owner, team) adds its columns here.

    Attributes:
        tenant_id: the tenant every read and write is confined to.
    """

    tenant_id: str

    def columns(self) -> dict[str, str]:
        """The stored columns, and the values they must hold, of every visible record."""
        return {"tenant_id": self.tenant_id}


class Operation(enum.StrEnum):
    """What a write did to a record, as the change log says it."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MERGE = "merge"
    """A record moved or changed by a merge of two records (`crmkit.customers.merge_customers`):
    its change holds, besides what changed, where each value came from (`Change.sources`)."""


@attrs.frozen
class Write:
    """One write through the core, as a change-log recorder sees it.

    Attributes:
        record: the record name (``"customer"``).
        id: the record's id.
        operation: create, update or delete.
        before: the record as stored before the write (``None`` for a create), loaded for the
            hooks.
        after: the record as written (``None`` for a delete): the caller's own object, which
            may change later, so a hook reads what it needs at once.
        at: when (the unit of work's clock, read once per call: the records of a bulk write
            share it).
        aggregate: the aggregate written.
        sources: for a merge, where the values came from (see `crmkit.storage.Change.sources`).
    """

    record: str
    id: Any
    operation: Operation
    before: Any
    after: Any
    at: pendulum.DateTime
    aggregate: Aggregate[Any] | None = attrs.field(default=None, eq=False, repr=False)
    sources: Mapping[str, Any] | None = None


WriteHook = Callable[[Write], None]
"""Called for every write through the core, inside its unit of work, after the write."""
