"""The repository core on SQL tables: a declared aggregate's table, its rows and its hooks.

The table derives from the declaration: ``tenant_id`` first, then one column per field (a UUID,
an integer, text, an instant, a date, a boolean, an enum's value; `Money` as two, the exact
amount (see `Amount`) and ``<field>_currency``; anything else as a JSON document), the primary
key ``(tenant_id, id)``, a unique constraint per unique key, a foreign key
to the parent that cascades, and the declared indexes. Constraints are named by the naming
convention, and a violation is mapped back to its key by that name.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import attrs
import pendulum
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from crmkit._converter import make_converter
from crmkit._money import Money
from crmkit.errors import (
    ConcurrencyError,
    CorruptRecord,
    CrmkitError,
    DuplicateError,
    StorageError,
    ValidationError,
)
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._repository import STALE, Repository
from crmkit.storage.sql._errors import violation
from crmkit.storage.sql._types import Amount, Document, Id, Instant

if TYPE_CHECKING:
    from crmkit.storage.sql._store import SqlUnitOfWork

__all__ = ["SqlRecords", "chunks", "record_table"]

T = TypeVar("T")
R = TypeVar("R")

# Rows fetched per ``IN (...)`` query: well under every backend's limit on bound parameters.
CHUNK = 500
_DEFAULT_LENGTH = 255


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """`items` in lists of at most `size`."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


@attrs.frozen
class _Field:
    name: str
    type: Any
    nullable: bool
    # How the value reaches its column: None (as it is), or a function.
    out: Callable[[Any], Any] | None
    # Money: the amount in this column, the currency in ``<name>_currency``.
    money: bool = False

    @property
    def currency(self) -> str:
        """The name of a money field's currency column."""
        return f"{self.name}_currency"


def _optional(hint: Any) -> tuple[Any, bool]:  # noqa: ANN401
    args = typing.get_args(hint)
    if type(None) in args and len(args) == 2:  # noqa: PLR2004 (X | None)
        return next(a for a in args if a is not type(None)), True
    return hint, False


@functools.cache
def _fields(aggregate: Aggregate[Any]) -> tuple[_Field, ...]:
    """The aggregate's fields as columns, in table order."""
    hints = typing.get_type_hints(aggregate.cls)
    declared = {a.name: a for a in attrs.fields(aggregate.cls)}
    names = [*aggregate.order, *(n for n in declared if n not in aggregate.order)]
    found = []
    for name in names:
        hint, nullable = _optional(hints[name])
        length = aggregate.columns.get(name, _DEFAULT_LENGTH)
        text = sa.Text() if length is None else sa.String(length)
        out: Callable[[Any], Any] | None = None
        column: Any
        if hint is UUID:
            column = Id()
        elif hint is bool:
            column = sa.Boolean()
        elif hint is int:
            column = sa.Integer()
        elif hint is str:
            column = text
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            column, out = text, _value
        elif hint is pendulum.DateTime:
            column = Instant()
        elif hint is dt.date:
            column = sa.Date()
        elif hint is Money:
            found.append(_Field(name, Amount(), nullable, None, money=True))
            continue
        else:
            column, out = Document(), functools.partial(_unstructure, hint)
        found.append(_Field(name, column, nullable, out))
    return tuple(found)


def _unstructure(hint: Any, value: Any) -> Any:  # noqa: ANN401
    return make_converter().unstructure(value, hint)


def _value(member: enum.Enum | None) -> Any:  # noqa: ANN401
    return None if member is None else member.value


def record_table(
    aggregate: Aggregate[Any], metadata: sa.MetaData, *, prefix: str, parent: sa.Table | None
) -> sa.Table:
    """Define `aggregate`'s table on `metadata` (`parent` is its parent's table, if it has one)."""
    name = f"{prefix}{aggregate.table}"
    parts: list[Any] = [sa.Column("tenant_id", sa.String(64), nullable=False)]
    for f in _fields(aggregate):
        parts.append(sa.Column(f.name, f.type, nullable=f.nullable))
        if f.money:
            parts.append(sa.Column(f.currency, sa.String(3), nullable=f.nullable))
    parts.append(sa.PrimaryKeyConstraint("tenant_id", "id"))
    parts += [
        sa.UniqueConstraint("tenant_id", key.field)
        for key in aggregate.unique
        if key.values is None
    ]
    if aggregate.parent is not None:
        if parent is None:
            raise ValidationError.of(
                "aggregate", f"{aggregate.record}'s parent {aggregate.parent.table} has no table"
            )
        parts.append(
            sa.ForeignKeyConstraint(
                ["tenant_id", aggregate.parent.field],
                [parent.c.tenant_id, parent.c.id],
                ondelete="CASCADE",
            )
        )
    parts += [
        sa.Index(f"ix_{name}_{index}", "tenant_id", *columns)
        for index, columns in aggregate.indexes.items()
    ]
    return sa.Table(
        name,
        metadata,
        *parts,
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )


class SqlRecords(Repository[T]):
    """The repository core's hooks on SQL tables, every statement scoped by the unit of work."""

    _uow: SqlUnitOfWork

    def __init__(self, uow: SqlUnitOfWork, aggregate: Aggregate[T]) -> None:
        super().__init__(uow, aggregate)
        tables = uow._store.tables
        self._t = tables
        self._table = tables.table(aggregate.table)
        self._fields = _fields(aggregate)
        self._money = tuple(f for f in self._fields if f.money)

    @functools.cached_property
    def _keys(self) -> dict[str, tuple[str, str]]:
        """What a `DuplicateError` names, by constraint, worked out at the first duplicate.

        By the constraint's name (PostgreSQL, MariaDB/MySQL), and by its columns (SQLite).
        """
        found: dict[str, tuple[str, str]] = {}
        for table in self._written():
            unique: list[sa.PrimaryKeyConstraint | sa.UniqueConstraint | sa.Index] = [
                c
                for c in table.constraints
                if isinstance(c, sa.PrimaryKeyConstraint | sa.UniqueConstraint)
            ]
            unique.extend(i for i in table.indexes if i.unique)
            for constraint in unique:
                names = [c.name for c in constraint.columns]
                key = self._names(table, names)
                found[str(constraint.name)] = key
                found[", ".join(f"{table.name}.{c}" for c in names)] = key
        return found

    def _written(self) -> list[sa.Table]:
        """The tables a write of the aggregate writes rows to."""
        return [self._table]

    def _names(self, table: sa.Table, columns: list[str]) -> tuple[str, str]:
        """The record and field a `DuplicateError` names for a unique `columns` of `table`."""
        del table
        return self._aggregate.record, columns[-1]

    # --- scope and translation ---------------------------------------------------------------

    def _mine(self, table: sa.Table) -> sa.ColumnElement[bool]:
        # Every statement on crmkit's tables goes through here: no query leaves its scope.
        return sa.and_(*(table.c[k] == v for k, v in self._uow.scope.columns().items()))

    def _run(self, doing: str, action: Callable[[Connection], R]) -> R:
        """`_call` for an action given the unit of work's connection."""
        return self._call(doing, lambda: action(self._uow._connection))

    def _call(self, doing: str, action: Callable[[], R]) -> R:
        uow = self._uow
        try:
            with uow._translate(doing):
                return action()
        except CrmkitError:
            raise
        except Exception as e:
            # The driver's rather than the database's (text it cannot encode, a number it
            # cannot convert), or a bug: no raw exception reaches a caller.
            error = StorageError(f"{doing} failed: {type(e).__name__}: {e}")
            uow._fail(error)
            raise error from e

    @property
    def _connection(self) -> Connection:
        return self._uow._connection

    # --- rows --------------------------------------------------------------------------------

    def _row(self, obj: T, version: int) -> dict[str, Any]:
        row: dict[str, Any] = {"tenant_id": self._uow.tenant_id}
        for f in self._fields:
            value = getattr(obj, f.name)
            if f.money:
                row[f.name] = None if value is None else value.amount
                row[f.currency] = None if value is None else value.currency
                continue
            row[f.name] = value if f.out is None or value is None else f.out(value)
        row["version"] = version
        return row

    def _from_row(self, row: Any) -> T:  # noqa: ANN401
        data = {f.name: row[f.name] for f in self._fields}
        for f in self._money:
            if data[f.name] is not None:
                data[f.name] = {"amount": data[f.name], "currency": row[f.currency]}
        try:
            return make_converter(trusted=True).structure(data, self._aggregate.cls)
        except (CrmkitError, ValueError, KeyError, TypeError) as e:
            raise CorruptRecord(self._table.name, data.get("id", "?"), str(e)) from e

    def _duplicate(
        self, error: exc.IntegrityError, batch: Sequence[T], table: sa.Table | None = None
    ) -> CrmkitError:
        """The crmkit error for a constraint that a write to `table` broke, by its name."""
        a = self._aggregate
        found = violation(error)
        if found.foreign and a.parent is not None:
            parent = getattr(batch[0], a.parent.field) if len(batch) == 1 else None
            return ConcurrencyError(a.parent.record, parent, None)
        named = found.constraint if found.constraint is not None else ", ".join(found.columns or ())
        if named == "PRIMARY":  # MariaDB/MySQL's name for the primary key of any table
            named = str((table if table is not None else self._table).primary_key.name)
        key = self._keys.get(named)
        if key is None:
            return StorageError(f"writing {a.table} broke the constraint {named}: {error.orig}")
        record, field = key
        own = record == a.record and len(batch) == 1
        return DuplicateError(record, field, getattr(batch[0], field) if own else None)

    # --- hooks -------------------------------------------------------------------------------

    def _insert(self, batch: list[T]) -> None:
        rows = [self._row(obj, 1) for obj in batch]
        try:
            self._connection.execute(self._table.insert(), rows)
        except exc.IntegrityError as e:
            raise self._duplicate(e, batch) from e

    def _select(self, where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        table = self._table
        return sa.select(table).where(self._mine(table), where)

    def _load(self, keys: list[UUID]) -> list[T]:
        if len(keys) == 1:
            # A lookup by id: one statement compiled once per store (see `Select`).
            scope = self._uow.scope.columns()
            query = self._uow._store.select_by_id(self._table, tuple(scope))
            return [self._from_row(r) for r in query(self._connection, {**scope, "id": keys[0]})]
        found: list[T] = []
        for chunk in chunks(keys):
            rows = self._connection.execute(self._select(self._table.c.id.in_(chunk)))
            found.extend(self._from_row(r) for r in rows.mappings())
        return found

    def _lock(self, key: UUID) -> T | None:
        query = self._select(self._table.c.id == key)
        if self._connection.dialect.name != "sqlite":  # SQLite: the one writer already
            # Locking reads see the newest rows (MariaDB's plain ones, the transaction's snapshot).
            query = query.with_for_update()
        row = self._connection.execute(query).mappings().first()
        return None if row is None else self._from_row(row)

    def _parents(self, keys: list[UUID]) -> set[UUID]:
        parent = self._aggregate.parent
        assert parent is not None  # noqa: S101 (only asked of aggregates with a parent)
        table = self._t.table(parent.table)
        found: set[UUID] = set()
        for chunk in chunks(keys):
            found.update(
                self._connection.scalars(
                    sa.select(table.c.id).where(self._mine(table), table.c.id.in_(chunk))
                )
            )
        return found

    def _page(self, after: UUID | None, limit: int) -> list[T]:
        table = self._table
        query = self._select(sa.true() if after is None else table.c.id > after)
        rows = self._connection.execute(query.order_by(table.c.id).limit(limit))
        return [self._from_row(r) for r in rows.mappings()]

    def _count(self) -> int:
        table = self._table
        query = sa.select(sa.func.count()).select_from(table).where(self._mine(table))
        return int(self._connection.scalar(query) or 0)

    def _update_if(self, obj: T, version: int) -> str | None:
        table, key = self._table, obj.id  # type: ignore[attr-defined]
        row = self._row(obj, version + 1)
        fixed = ("tenant_id", "id", *self._aggregate.immutable)
        try:
            done = self._connection.execute(
                table.update()
                .where(
                    self._mine(table),
                    table.c.id == key,
                    table.c.version == version,
                    *(table.c[f] == row[f] for f in self._aggregate.immutable),
                )
                .values({k: v for k, v in row.items() if k not in fixed})
            )
        except exc.IntegrityError as e:
            raise self._duplicate(e, [obj]) from e
        if done.rowcount == 1:
            return None
        stored = (
            self._connection.execute(
                self._select(sa.and_(table.c.id == key, table.c.version == version))
            )
            .mappings()
            .first()
        )
        if stored is None:
            return STALE
        # MariaDB's plain read can still see the version read before (its snapshot) when the
        # update, which reads the newest row, found it changed: then nothing immutable differs.
        return next((f for f in self._aggregate.immutable if stored[f] != row[f]), STALE)

    def _belonging(self, parents: list[UUID]) -> list[T]:
        parent = self._aggregate.parent
        assert parent is not None  # noqa: S101 (only asked of aggregates with a parent)
        table, found = self._table, list[T]()
        for chunk in chunks(parents):
            query = self._select(table.c[parent.field].in_(chunk)).order_by(table.c.id)
            if self._connection.dialect.name != "sqlite":
                # The newest rows, locked (MariaDB's plain reads see the transaction's snapshot).
                query = query.with_for_update()
            found.extend(self._from_row(r) for r in self._connection.execute(query).mappings())
        return found

    def _lock_if(self, key: UUID, version: int) -> bool:
        table = self._table
        query = sa.select(table.c.id).where(
            self._mine(table), table.c.id == key, table.c.version == version
        )
        if self._connection.dialect.name != "sqlite":  # SQLite: the one writer already
            query = query.with_for_update()
        return self._connection.scalar(query) is not None

    def _where(self, field: str, key: UUID, *, lock: bool) -> list[T]:
        table = self._table
        query = self._select(table.c[field] == key).order_by(table.c.id)
        if lock and self._connection.dialect.name != "sqlite":  # SQLite: the one writer already
            query = query.with_for_update()
        return [self._from_row(r) for r in self._connection.execute(query).mappings()]

    def _repoint_rows(
        self, field: str, old: UUID, new: UUID, shift: Mapping[str, int], keys: list[UUID]
    ) -> int:
        table = self._table
        values: dict[str, Any] = {field: new, "version": table.c.version + 1}
        for name, offset in shift.items():
            column = table.c[name]
            values[name] = sa.case((column == 0, column), else_=column + offset)
        moved = 0
        for chunk in chunks(keys):
            try:
                done = self._connection.execute(
                    table.update()
                    .where(self._mine(table), table.c.id.in_(chunk), table.c[field] == old)
                    .values(values)
                )
            except exc.IntegrityError as e:
                raise self._duplicate(e, []) from e
            moved += done.rowcount
        return moved

    def _delete_projections(self, ids: sa.Select[Any]) -> None:
        """Delete the rows other tables keep for the records `ids` selects (none here).

        A repository that keeps rows derived from its records in tables of its own (as
        opportunities keep their stage rows) deletes them here when a parent's removal takes
        the records with it: the foreign keys cascade, but a host's SQLite engine may not
        enforce them.
        """
        del ids

    def _delete_if(self, key: UUID, version: int) -> bool:
        table = self._table
        done = self._connection.execute(
            table.delete().where(self._mine(table), table.c.id == key, table.c.version == version)
        )
        if done.rowcount != 1:
            return False
        # The foreign keys cascade, but a host's SQLite engine may not enforce them.
        self._delete_children(self._aggregate.table, [key])
        return True

    def _delete_children(self, table_name: str, parents: list[UUID]) -> None:
        for child in self._uow._store.children(table_name):
            table = self._t.table(child.table)
            assert child.parent is not None  # noqa: S101 (children have a parent)
            whose = table.c[child.parent.field].in_(parents)
            repository = self._uow.repository(child)
            if isinstance(repository, SqlRecords):
                repository._delete_projections(
                    sa.select(table.c.id).where(self._mine(table), whose)
                )
            if self._uow._store.children(child.table):
                ids = list(
                    self._connection.scalars(sa.select(table.c.id).where(self._mine(table), whose))
                )
                self._delete_children(child.table, ids)
            self._connection.execute(table.delete().where(self._mine(table), whose))
