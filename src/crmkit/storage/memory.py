"""The in-memory store: a real implementation with the semantics of the SQL one.

Records are kept in their plain (`to_dict`) form, so reads and writes copy and a read checks the
record again, as loading a SQL row does. A unit of work keeps its writes to itself until it
commits; the commit checks, under a lock, that nothing it read and wrote has changed since
(optimistic concurrency) and then applies every write at once.

Each unique key of an aggregate has an index (value to id) per tenant, kept with the records and,
for a unit of work's own writes, beside them: checking a key costs a dictionary lookup, so a
batch of n records is added in time linear in n.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from uuid import UUID

from crmkit._converter import make_converter
from crmkit.errors import ConcurrencyError, CorruptRecord, DuplicateError, ValidationError
from crmkit.storage._aggregates import Aggregate
from crmkit.storage._changes import Change, Entries, MemoryChangeLog, Query, removed
from crmkit.storage._outbox import MemoryOutbox
from crmkit.storage._registry import registered, registration
from crmkit.storage._repository import STALE, Repository
from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["MemoryRecords", "MemoryStore", "MemoryUnitOfWork"]

T = TypeVar("T")
Row = dict[str, Any]


class _Record:
    """A stored record: its plain form, its unique keys' values and its parent's id."""

    __slots__ = ("keys", "parent", "row")

    def __init__(self, row: Row, keys: tuple[list[Hashable], ...], parent: UUID | None) -> None:
        self.row = row
        self.keys = keys
        self.parent = parent


class _Table:
    """One aggregate's records in one tenant, with an index per unique key."""

    __slots__ = ("index", "records")

    def __init__(self, keys: int) -> None:
        self.records: dict[UUID, _Record] = {}
        self.index: list[dict[Hashable, UUID]] = [{} for _ in range(keys)]

    def put(self, key: UUID, record: _Record | None) -> None:
        old = self.records.pop(key, None)
        if old is not None:
            for index, values in zip(self.index, old.keys, strict=True):
                for value in values:
                    if index.get(value) == key:
                        del index[value]
        if record is not None:
            self.records[key] = record
            for index, values in zip(self.index, record.keys, strict=True):
                for value in values:
                    index[value] = key


class MemoryStore:
    """Keeps everything in this process's memory; gone when the process ends.

    For tests, notebooks and examples. Thread-safe: units of work on different threads see only
    committed data and conflict exactly as they would on a SQL store.

    Args:
        aggregates: aggregates to hold besides the registered ones (a capability registers its
            own in the composition root, `crmkit._composition`).
    """

    def __init__(self, *, aggregates: Iterable[Aggregate[Any]] = ()) -> None:
        # Reentrant: a commit, which holds it, reads through `_read`, which takes it too.
        self._lock = threading.RLock()
        self.aggregates: dict[str, Aggregate[Any]] = {
            a.table: a for a in (*registered(), *aggregates)
        }
        # The aggregates whose records belong to each table's records.
        self._children: dict[str, list[Aggregate[Any]]] = {}
        for a in self.aggregates.values():
            if a.parent is not None:
                self._children.setdefault(a.parent.table, []).append(a)
        # Per table, per tenant: the stored records.
        self._tables: dict[str, dict[str, _Table]] = {name: {} for name in self.aggregates}
        self.outbox = MemoryOutbox()
        """The events committed units of work recorded, until a relay has delivered them."""
        self.changes = MemoryChangeLog()
        """Every committed write, per tenant, in the order of the commits."""

    def unit_of_work(self, *, connection: object = None, **kwargs: Any) -> MemoryUnitOfWork:  # noqa: ANN401
        """Begin a unit of work (see `Store.unit_of_work`); `connection` must be None."""
        if connection is not None:
            raise ValidationError.of("connection", "the memory store takes no connection")
        return MemoryUnitOfWork(self, **kwargs)

    def create_all(self) -> None:
        """Nothing to create: the memory store is always ready."""

    def verify_schema(self) -> None:
        """Nothing to check: the memory store's schema is always the code's."""

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "MemoryStore()"

    def _table(self, name: str, tenant: str) -> _Table:
        tenants = self._tables[name]
        table = tenants.get(tenant)
        if table is None:
            table = tenants[tenant] = _Table(len(self.aggregates[name].unique))
        return table


class MemoryUnitOfWork(UnitOfWork):
    """A unit of work on a `MemoryStore`."""

    def __init__(self, store: MemoryStore, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(**kwargs)
        self._store = store
        # Uncommitted writes per table: id -> record, or None for a deletion; the unique
        # values those writes hold, per key.
        self._writes: dict[str, dict[UUID, _Record | None]] = {}
        self._claims: dict[str, _Table] = {}
        # The committed version each written or locked record had when this unit of work first
        # wrote or locked it; the commit checks it is still the version stored.
        self._base: dict[tuple[str, UUID], int | None] = {}
        # The records locked: one added by someone else since is a conflict, not a duplicate.
        self._held: set[tuple[str, UUID]] = set()

    def _repository(self, aggregate: Aggregate[T]) -> Repository[T]:
        known = self._store.aggregates.get(aggregate.table)
        if known is None or known.cls is not aggregate.cls:
            raise ValidationError.of(
                "aggregate", f"{aggregate.record} records are not held by this store"
            )
        found = registration(aggregate.table)
        cls = found.memory if found is not None and found.memory is not None else MemoryRecords
        made: Repository[T] = cls(self, aggregate)
        return made

    def _children(self, table: str) -> list[Aggregate[Any]]:
        return self._store._children.get(table, [])

    def _read_changes(self, query: Query, after: int, limit: int) -> list[Change]:
        return self._store.changes.read(self.tenant_id, query, after, limit)

    # --- reads through this unit of work's own writes -------------------------------------------

    def _committed(self, table: str) -> _Table:
        return self._store._table(table, self.tenant_id)

    def _read(self, table: str, key: UUID) -> _Record | None:
        writes = self._writes.get(table)
        if writes is not None and key in writes:
            return writes[key]
        if not self._held:
            return self._committed(table).records.get(key)
        with self._store._lock:  # the record and the locked ones, as of one moment
            found = self._committed(table).records.get(key)
            self._check_held()
            return found

    def _scan(self, table: str) -> Iterator[tuple[UUID, _Record]]:
        writes = self._writes.get(table, {})
        with self._store._lock:
            committed = list(self._committed(table).records.items())
            if self._held:
                self._check_held()
        for key, record in committed:
            if key not in writes:
                yield key, record
        for key, written in writes.items():
            if written is not None:
                yield key, written

    def _holder(self, table: str, position: int, value: Hashable) -> UUID | None:
        """The id of the record holding the unique `value` (of key `position`), if any."""
        claims = self._claims.get(table)
        if claims is not None:
            key = claims.index[position].get(value)
            if key is not None:
                return key
        owner = self._committed(table).index[position].get(value)
        # A record this unit of work rewrote holds only what its claims say.
        return None if owner in self._writes.get(table, {}) else owner

    def _taken(self, table: str, position: int, value: Hashable, by_other_than: UUID) -> bool:
        """Whether the unique `value` (of key `position`) is held by another record."""
        claims = self._claims.get(table)
        if claims is not None:
            holder = claims.index[position].get(value)
            if holder is not None and holder != by_other_than:
                return True
        owner = self._committed(table).index[position].get(value)
        writes = self._writes.get(table, {})
        return owner is not None and owner != by_other_than and owner not in writes

    def _check_held(self) -> None:
        """Raise `ConcurrencyError` if another unit of work committed a record this one locked.

        On a SQL store nobody can change a locked record until the lock's unit of work ends;
        the memory store never waits, so a read after someone else's commit would mix what
        was locked with what came after it (an order invoiced by the other, say). The read
        fails instead, and `crmkit.CRM.run` runs the unit of work again.
        """
        for table, key in self._held:
            stored = self._committed(table).records.get(key)
            now = None if stored is None else stored.row["version"]
            base = self._base.get((table, key))
            if now != base:
                record = self._store.aggregates[table].record
                raise ConcurrencyError(record, key, base)

    def _hold(self, table: str, key: UUID) -> _Record | None:
        """Read the record `key` of `table` and remember its version for the commit to check."""
        writes = self._writes.get(table)
        if writes is not None and key in writes:
            return writes[key]  # written here: its version is remembered already
        with self._store._lock:  # the record and those locked before it, as of one moment
            stored = self._committed(table).records.get(key)
            if self._held:
                self._check_held()
        self._base.setdefault((table, key), None if stored is None else stored.row["version"])
        self._held.add((table, key))
        return stored

    def _write(self, table: str, key: UUID, record: _Record | None) -> None:
        if (table, key) not in self._base:
            stored = self._committed(table).records.get(key)
            self._base[(table, key)] = None if stored is None else stored.row["version"]
        self._writes.setdefault(table, {})[key] = record
        claims = self._claims.get(table)
        if claims is None:
            claims = self._claims[table] = _Table(len(self._store.aggregates[table].unique))
        claims.put(key, record)

    # --- transaction -----------------------------------------------------------------------------

    def _commit(self) -> None:
        store = self._store
        with store._lock:
            for (table, key), base in self._base.items():
                stored = self._committed(table).records.get(key)
                now = None if stored is None else stored.row["version"]
                if now != base:
                    record = store.aggregates[table].record
                    if base is None and (table, key) not in self._held:
                        raise DuplicateError(record, "id", key)
                    raise ConcurrencyError(record, key, base)
            for table, writes in self._writes.items():
                self._check_keys_at_commit(table, writes)
                self._check_parent_at_commit(table, writes)
                self._check_locked_removals_at_commit(table, writes)
            add_events = store.outbox.add(self.tenant_id, self._events)
            for table, writes in self._writes.items():
                committed = self._committed(table)
                for key, written in writes.items():
                    committed.put(key, written)
            changes = self._changes
            for table, writes in self._writes.items():
                gone = {k for k, record in writes.items() if record is None}
                if gone:
                    self._cascade_at_commit(table, gone, changes)
            store.changes.add(self.tenant_id, self.actor_id, changes)
            add_events()

    def _check_keys_at_commit(self, table: str, writes: dict[UUID, _Record | None]) -> None:
        aggregate = self._store.aggregates[table]
        index = self._committed(table).index
        for key, record in writes.items():
            if record is None:
                continue
            for position, values in enumerate(record.keys):
                for value in values:
                    owner = index[position].get(value)
                    if owner is not None and owner != key and owner not in writes:
                        unique = aggregate.unique[position]
                        raise DuplicateError(unique.record or aggregate.record, unique.field, value)

    def _check_parent_at_commit(self, table: str, writes: dict[UUID, _Record | None]) -> None:
        parent = self._store.aggregates[table].parent
        if parent is None:
            return
        for record in writes.values():
            if record is not None and self._read(parent.table, record.parent) is None:  # type: ignore[arg-type]
                raise ConcurrencyError(parent.record, record.parent, None)

    def _check_locked_removals_at_commit(
        self, table: str, writes: dict[UUID, _Record | None]
    ) -> None:
        """Raise `ConcurrencyError` if others added records under a locked record removed here.

        On a SQL store nobody can add a record under a locked one until the lock's unit of work
        ends (the foreign key check waits, then fails); the memory store never waits, so the
        removal fails instead of taking with it records it never saw (a merge, which locks
        both customers, would otherwise lose what was added to the merged one meanwhile).
        """
        gone = {k for k, r in writes.items() if r is None and (table, k) in self._held}
        if not gone:
            return
        for child in self._store._children.get(table, ()):
            mine = self._writes.get(child.table, {})
            for key, record in self._committed(child.table).records.items():
                if record.parent in gone and key not in mine:
                    raise ConcurrencyError(child.record, key, None)

    def _cascade_at_commit(self, table: str, parents: set[UUID], changes: Entries) -> None:
        """Remove the committed records that belong to the removed `parents` of `table`.

        Those added by others since this unit of work removed their parent get their change
        log entries here; the others got them at the removal.
        """
        for child in self._store._children.get(table, ()):
            records = self._committed(child.table)
            gone = {k: r for k, r in records.records.items() if r.parent in parents}
            writes = self._writes.get(child.table, {})
            for key, record in gone.items():
                records.put(key, None)
                if key not in writes:
                    changes.append(removed(child, key, record.row, self._clock.now()))
            if gone:
                self._cascade_at_commit(child.table, set(gone), changes)

    def _rollback(self) -> None:
        self._writes.clear()
        self._claims.clear()
        self._base.clear()
        self._held.clear()


class MemoryRecords(Repository[T]):
    """The repository core's hooks on a `MemoryUnitOfWork`."""

    _uow: MemoryUnitOfWork

    def __init__(self, uow: MemoryUnitOfWork, aggregate: Aggregate[T]) -> None:
        super().__init__(uow, aggregate)
        self._name = aggregate.table

    def _record(self, obj: T, version: int) -> _Record:
        a = self._aggregate
        row = make_converter().unstructure(obj, a.cls)
        row["version"] = version
        keys = tuple(k.of(obj) for k in a.unique)
        return _Record(row, keys, None if a.parent is None else getattr(obj, a.parent.field))

    def _from(self, key: UUID, record: _Record) -> T:
        try:
            return make_converter(trusted=True).structure(record.row, self._aggregate.cls)
        except ValidationError as e:
            raise CorruptRecord(self._name, key, str(e)) from e

    def _check_keys(self, key: UUID, record: _Record, *, alone: bool) -> None:
        """Raise `DuplicateError` if a unique value of `record` is taken.

        The error shows the value where a SQL store can: for a key of the record itself, in a
        write of one record (`alone`); so the two raise the very same errors.
        """
        a, uow = self._aggregate, self._uow
        for position, values in enumerate(record.keys):
            unique = a.unique[position]
            for value in values:
                if values.count(value) > 1 or uow._taken(
                    self._name, position, value, by_other_than=key
                ):
                    shown = value if alone and unique.record is None else None
                    raise DuplicateError(unique.record or a.record, unique.field, shown)

    def _insert(self, batch: list[T]) -> None:
        uow, record_name = self._uow, self._aggregate.record
        records = []
        seen: set[UUID] = set()
        for obj in batch:
            key: UUID = obj.id  # type: ignore[attr-defined]
            if key in seen or uow._read(self._name, key) is not None:
                raise DuplicateError(record_name, "id", key if len(batch) == 1 else None)
            seen.add(key)
            records.append(self._record(obj, 1))
        for obj, record in zip(batch, records, strict=True):
            self._check_keys(obj.id, record, alone=len(batch) == 1)  # type: ignore[attr-defined]
            uow._write(self._name, obj.id, record)  # type: ignore[attr-defined]

    def _load(self, keys: list[UUID]) -> list[T]:
        found = []
        for key in keys:
            record = self._uow._read(self._name, key)
            if record is not None:
                found.append(self._from(key, record))
        return found

    def _lock(self, key: UUID) -> T | None:
        # Nothing waits: the commit checks, under the store's lock, that nobody changed it since.
        record = self._uow._hold(self._name, key)
        return None if record is None else self._from(key, record)

    def _parents(self, keys: list[UUID]) -> set[UUID]:
        parent = self._aggregate.parent
        assert parent is not None  # noqa: S101 (only asked of aggregates with a parent)
        return {k for k in keys if self._uow._read(parent.table, k) is not None}

    def _page(self, after: UUID | None, limit: int) -> list[T]:
        keys = sorted(k for k, _ in self._uow._scan(self._name) if after is None or k > after)
        return self._load(keys[:limit])

    def _count(self) -> int:
        return sum(1 for _ in self._uow._scan(self._name))

    def _update_if(self, obj: T, version: int) -> str | None:
        uow, a = self._uow, self._aggregate
        stored = uow._read(self._name, obj.id)  # type: ignore[attr-defined]
        if stored is None or stored.row["version"] != version:
            return STALE
        record = self._record(obj, version + 1)
        for field in a.immutable:
            if stored.row[field] != record.row[field]:
                return field
        self._check_keys(obj.id, record, alone=True)  # type: ignore[attr-defined]
        uow._write(self._name, obj.id, record)  # type: ignore[attr-defined]
        return None

    def _belonging(self, parents: list[UUID]) -> list[T]:
        wanted = set(parents)
        found = [(k, r) for k, r in self._uow._scan(self._name) if r.parent in wanted]
        return [self._from(k, r) for k, r in sorted(found, key=lambda item: item[0])]

    def _lock_if(self, key: UUID, version: int) -> bool:
        # Nothing to lock: the commit checks, under the store's lock, what changed since.
        stored = self._uow._read(self._name, key)
        return stored is not None and stored.row["version"] == version

    def _delete_if(self, key: UUID, version: int) -> bool:
        uow = self._uow
        stored = uow._read(self._name, key)
        if stored is None or stored.row["version"] != version:
            return False
        uow._write(self._name, key, None)
        self._remove_children(self._name, {key})
        return True

    def _where(self, field: str, key: UUID, *, lock: bool) -> list[T]:
        wanted = str(key)
        keys = sorted(k for k, r in self._uow._scan(self._name) if r.row[field] == wanted)
        if lock:
            return [r for r in map(self._lock, keys) if r is not None]
        return self._load(keys)

    def _repoint_rows(
        self, field: str, old: UUID, new: UUID, shift: Mapping[str, int], keys: list[UUID]
    ) -> int:
        uow, moved = self._uow, 0
        for key in keys:
            stored = uow._read(self._name, key)
            if stored is None or stored.row[field] != str(old):
                continue
            obj = self._from(key, stored)
            setattr(obj, field, new)
            for name, offset in shift.items():
                if getattr(obj, name):
                    setattr(obj, name, getattr(obj, name) + offset)
            record = self._record(obj, stored.row["version"] + 1)
            self._check_keys(key, record, alone=True)
            uow._write(self._name, key, record)
            moved += 1
        return moved

    def _remove_children(self, table: str, parents: set[UUID]) -> None:
        uow = self._uow
        for child in uow._store._children.get(table, ()):
            gone = {k for k, r in uow._scan(child.table) if r.parent in parents}
            for key in gone:
                uow._write(child.table, key, None)
            if gone:
                self._remove_children(child.table, gone)
