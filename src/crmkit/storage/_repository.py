"""The repository core: every storage rule once, with small hooks for each adapter.

`Repository` owns `add`, `add_many`, `get`, `get_many`, `lock`, `update`, `remove`, `page` and
`count`:
the open and writable checks, the argument checks, the version checks, not-found errors and the
per-write hooks. An adapter (memory, SQL) supplies insert, load by ids, load and lock one, load a
page, count, update-if-version and delete-if-version, and raises the same `DuplicateError` for a
unique key.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from uuid import UUID

import attrs
import pendulum

from crmkit._validation import recheck
from crmkit.errors import ConcurrencyError, NotFound, ValidationError
from crmkit.storage._aggregates import Aggregate, Operation, Write
from crmkit.storage._arguments import a_collection, a_limit, an_id, ids

if TYPE_CHECKING:
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["STALE", "Repository"]

T = TypeVar("T")
R = TypeVar("R")

STALE = "stale"
"""What `_update_if` returns when the stored version is not the expected one (or it is gone)."""


class Repository(abc.ABC, Generic[T]):
    """The records of one aggregate in one tenant, as one unit of work sees them.

    Reads return copies; a successful `add` or `update` sets the object's ``version`` to the
    version now stored. Writes check the whole record first (`ValidationError`) and the stored
    version (`ConcurrencyError`).
    """

    def __init__(self, uow: UnitOfWork, aggregate: Aggregate[T]) -> None:
        self._uow = uow
        self._aggregate = aggregate

    # --- the public operations ---------------------------------------------------------------

    def add(self, obj: T) -> None:
        """Store a new record (version 0).

        Raises:
            ValidationError: it is invalid, or already stored (version > 0).
            NotFound: its parent does not exist in this tenant.
            DuplicateError: its id, or a unique key of it, is taken in this tenant.
        """
        self._add([obj])

    def add_many(self, objs: Iterable[T]) -> None:
        """Store many new records at once; all or none, like `add` for each."""
        plural = self._aggregate.table
        self._uow._check_writable()
        self._add(a_collection(objs, plural, f"{self._aggregate.cls.__name__} objects"))

    def _add(self, batch: list[T]) -> None:
        uow, a = self._uow, self._aggregate
        uow._check_writable()
        for i, obj in enumerate(batch):
            try:
                self._check(obj)
                version = obj.version  # type: ignore[attr-defined]
                if version != 0:
                    raise ValidationError.of(
                        "version", f"is {version}: the {a.record} is already stored"
                    )
            except ValidationError as e:
                raise (e.under(f"[{i}]") if len(batch) > 1 else e) from None
        if not batch:
            return
        if a.parent is not None:
            wanted = list(dict.fromkeys(getattr(obj, a.parent.field) for obj in batch))
            found = self._call("loading parents", lambda: self._parents(wanted))
            for key in wanted:
                if key not in found:
                    raise NotFound(a.parent.record, key)
        with uow._writing(f"adding {a.table}"):
            self._call(f"adding {a.table}", lambda: self._insert(batch))
            for obj in batch:
                uow._stamp(obj, 1)
            if uow._write_hooks:
                at = uow.now()
                for obj in batch:
                    self._wrote(Operation.CREATE, obj.id, None, obj, at)  # type: ignore[attr-defined]

    def get(self, key: UUID) -> T:
        """The record with id `key`.

        Raises:
            NotFound: no such record in this tenant.
        """
        self._uow._check_open()
        an_id(key, f"{self._aggregate.record}_id")
        found = self._call(f"loading a {self._aggregate.record}", lambda: self._load([key]))
        if not found:
            raise NotFound(self._aggregate.record, key)
        return found[0]

    def get_many(self, keys: Iterable[UUID]) -> list[T]:
        """The records with these ids that exist, in the order the ids were given."""
        self._uow._check_open()
        wanted = ids(keys, f"{self._aggregate.record}_ids")
        found = self._call(f"loading {self._aggregate.table}", lambda: self._load(wanted))
        by_id = {obj.id: obj for obj in found}  # type: ignore[attr-defined]
        return [by_id[k] for k in wanted if k in by_id]

    def lock(self, key: UUID) -> T:
        """The record with id `key`, locked against other writers till the unit of work ends.

        For a read-decide-write that must not interleave with another unit of work's: everyone
        who locks the same record first takes turns. On PostgreSQL and MariaDB/MySQL it is
        ``SELECT ... FOR UPDATE``: another unit of work that locks or writes the record waits
        until this one ends, and the read sees the newest committed version (on MariaDB too,
        whose plain reads see the snapshot of the transaction's first read). On SQLite a
        writing unit of work holds the database's write lock from its start, so nothing more
        is needed. On the memory store, which never waits, the commit fails with
        `ConcurrencyError` if someone else committed a change to the record (or added it, if
        it was missing) since it was locked.

        Read what the decision depends on after taking the lock, so that it is current.

        Examples:
            >>> import crmkit
            >>> from crmkit.customers import Customer
            >>> crm = crmkit.open("memory://")
            >>> with crm.unit_of_work(actor="li") as uow:
            ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
            >>> with crm.unit_of_work(actor="li") as uow:
            ...     uow.customers.lock(acme.id).name
            'Acme'

        Raises:
            NotFound: no such record in this tenant.
            ValidationError: `key` is not a UUID.
            ReadOnlyError: the unit of work is read-only (a lock is for writing).
        """
        uow, a = self._uow, self._aggregate
        uow._check_writable()
        an_id(key, f"{a.record}_id")
        found = self._call(f"locking a {a.record}", lambda: self._lock(key))
        if found is None:
            raise NotFound(a.record, key)
        return found

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[T]:
        """Up to `limit` records (at most 100,000) with ids after `after`, in id order.

        Keyset paging: pass the id of the last record of a page as `after` for the next.
        """
        self._uow._check_open()
        a_limit(limit)
        if after is not None:
            an_id(after, "after")
        return self._call(f"loading {self._aggregate.table}", lambda: self._page(after, limit))

    def count(self) -> int:
        """How many records the tenant has."""
        self._uow._check_open()
        return self._call(f"counting {self._aggregate.table}", self._count)

    def update(self, obj: T) -> None:
        """Store the changed record, if nobody changed it since it was read.

        Raises:
            ValidationError: it is invalid, changes a field that cannot change, or its
                aggregate is append-only.
            ConcurrencyError: the stored version is not ``obj.version``, or it was removed.
            DuplicateError: a new unique value of it is taken.
        """
        self._uow._check_writable()
        self._refuse_if_append_only("changed")
        self._update(obj, Operation.UPDATE, None)

    def _update(self, obj: T, operation: Operation, sources: Mapping[str, Any] | None) -> None:
        uow, a = self._uow, self._aggregate
        self._check(obj)
        version: int = obj.version  # type: ignore[attr-defined]
        before = self._before(obj)
        with uow._writing(f"updating a {a.record}"):
            outcome = self._call(f"updating a {a.record}", lambda: self._update_if(obj, version))
            if outcome == STALE:
                raise ConcurrencyError(a.record, obj.id, version)  # type: ignore[attr-defined]
            if outcome is None:
                uow._stamp(obj, version + 1)
                self._wrote(operation, obj.id, before, obj, uow.now(), sources)  # type: ignore[attr-defined]
        if outcome is not None:
            # Nothing was written: the refusal leaves the unit of work usable.
            raise ValidationError.of(outcome, a.immutable[outcome])

    def remove(self, obj: T) -> None:
        """Delete the record, and the records that belong to it, if unchanged since it was read.

        Raises:
            ValidationError: its aggregate is append-only.
            ConcurrencyError: the stored version is not ``obj.version``, or it is gone.
        """
        uow, a = self._uow, self._aggregate
        uow._check_writable()
        self._refuse_if_append_only("removed")
        if not isinstance(obj, a.cls):
            raise ValidationError.of("", f"must be a {a.cls.__name__}, not {type(obj).__name__}")
        version: int = obj.version  # type: ignore[attr-defined]
        before = self._before(obj)
        doing = f"removing a {a.record}"
        with uow._writing(doing):
            key: UUID = obj.id  # type: ignore[attr-defined]
            taken: list[tuple[Repository[Any], list[Any]]] = []
            if uow._write_hooks and uow._children(a.table):
                # The records the removal takes with it reach the hooks too. The record is
                # locked first, so none can be added to it between reading them and the delete.
                if not self._call(doing, lambda: self._lock_if(key, version)):
                    raise ConcurrencyError(a.record, key, version)
                taken = self._call(doing, lambda: self._descendants([key]))
            if not self._call(doing, lambda: self._delete_if(key, version)):
                raise ConcurrencyError(a.record, key, version)
            at = uow.now()
            for repository, records in taken:
                for record in records:
                    repository._wrote(Operation.DELETE, record.id, record, None, at)
            self._wrote(Operation.DELETE, key, before, None, at)

    # --- a merge's writes: moving records the usual writes may not move ------------------------

    def _referring(self, field: str, key: UUID) -> list[T]:
        """The records whose `field` holds `key`, in id order (what a merge would move)."""
        self._uow._check_open()
        self._a_reference(field)
        doing = f"loading {self._aggregate.table}"
        return self._call(doing, lambda: self._where(field, key, lock=False))

    def _repoint(
        self,
        field: str,
        old: UUID,
        new: UUID,
        *,
        shift: Mapping[str, int] | None = None,
        sources: Mapping[str, Any] | None = None,
    ) -> list[T]:
        """Make every record whose `field` holds `old` hold `new` instead: for a merge only.

        The records keep their ids; their versions go up by one. A field that cannot change
        (`Aggregate.immutable`) and an append-only aggregate are no obstacle: a merge moves
        what belonged to the merged record, and nothing else may. Each integer field named in
        `shift` moves up by its offset, unless it is 0 (none): a ledger's entries are
        renumbered after the survivor's last. Each moved record reaches the write hooks as a
        ``merge`` with `sources`.

        Returns:
            The moved records, as now stored, in id order.

        Raises:
            ValidationError: `field` holds no id, or a shifted number would be out of range.
            NotFound: `field` is the parent's and `new` names no parent in this tenant.
            ConcurrencyError: the records changed while they were moved (retry the merge).
        """
        uow, a = self._uow, self._aggregate
        uow._check_writable()
        self._a_reference(field)
        an_id(old, "old")
        an_id(new, "new")
        shift = dict(shift or {})
        doing = f"moving {a.table}"
        parent = a.parent
        if (
            parent is not None
            and field == parent.field
            and new not in self._call("loading parents", lambda: self._parents([new]))
        ):
            raise NotFound(parent.record, new)
        before = self._call(doing, lambda: self._where(field, old, lock=True))
        after = []
        for record in before:
            changes: dict[str, Any] = {field: new}
            for name, offset in shift.items():
                number = getattr(record, name)
                changes[name] = number + offset if number else number
            moved = attrs.evolve(record, **changes)  # type: ignore[misc]
            self._check(moved)
            after.append(moved)
        if not before:
            return []
        keys: list[UUID] = [r.id for r in before]  # type: ignore[attr-defined]
        with uow._writing(doing):
            count = self._call(doing, lambda: self._repoint_rows(field, old, new, shift, keys))
            if count != len(keys):
                raise ConcurrencyError(a.record, keys[0] if len(keys) == 1 else old, None)
            at = uow.now()
            for old_record, new_record in zip(before, after, strict=True):
                new_record.version = old_record.version + 1  # type: ignore[attr-defined]
                self._wrote(Operation.MERGE, new_record.id, old_record, new_record, at, sources)  # type: ignore[attr-defined]
        return after

    def _rewrite(self, obj: T, sources: Mapping[str, Any] | None) -> None:
        """`update`, as a merge's: the change log says ``merge``, with `sources`.

        Raises:
            As `update`, except that an append-only aggregate is no obstacle.
        """
        self._uow._check_writable()
        self._update(obj, Operation.MERGE, sources)

    def _a_reference(self, field: object) -> str:
        """`field` if it is one of the aggregate's fields."""
        names = {f.name for f in attrs.fields(self._aggregate.cls)}  # type: ignore[arg-type]
        if not isinstance(field, str) or field not in names:
            raise ValidationError.of(
                "field", f"names no field of {self._aggregate.cls.__name__}: {field!r}"
            )
        return field

    def _descendants(self, keys: list[UUID]) -> list[tuple[Repository[Any], list[Any]]]:
        """The records that belong to the records `keys`, and to those, ..., per repository."""
        found: list[tuple[Repository[Any], list[Any]]] = []
        for child in self._uow._children(self._aggregate.table):
            repository = self._uow.repository(child)
            records = repository._belonging(keys)
            if records:
                found.append((repository, records))
                found.extend(repository._descendants([r.id for r in records]))
        return found

    # --- shared rules ------------------------------------------------------------------------

    def _refuse_if_append_only(self, done: str) -> None:
        a = self._aggregate
        if a.append_only:
            raise ValidationError.of(
                a.record, f"is only ever added, never {done}: a correction is a new {a.record}"
            )

    def _check(self, obj: T) -> None:
        """Raise `ValidationError` for anything wrong with `obj`."""
        a = self._aggregate
        if not isinstance(obj, a.cls):
            raise ValidationError.of("", f"must be a {a.cls.__name__}, not {type(obj).__name__}")
        found = recheck(obj)
        if a.issues is not None:
            found.extend(a.issues(obj, self._uow))
        if found:
            raise ValidationError(found)

    def _before(self, obj: T) -> T | None:
        """The stored record, if a write hook wants it (loading it costs a query)."""
        if not self._uow._write_hooks:
            return None
        key: UUID = obj.id  # type: ignore[attr-defined]
        found = self._call(f"loading a {self._aggregate.record}", lambda: self._load([key]))
        return found[0] if found else None

    def _wrote(  # noqa: PLR0917 (the write's parts, as `Write` holds them)
        self,
        operation: Operation,
        key: UUID,
        before: T | None,
        after: T | None,
        at: pendulum.DateTime,
        sources: Mapping[str, Any] | None = None,
    ) -> None:
        """Tell the unit of work's write hooks (the change log's first) about one write."""
        write = Write(
            self._aggregate.record, key, operation, before, after, at, self._aggregate, sources
        )
        for hook in self._uow._write_hooks:
            hook(write)

    def _call(self, doing: str, action: Callable[[], R]) -> R:
        """Run a hook, `doing` what it says; SQL adapters translate driver errors here."""
        del doing
        return action()

    # --- the adapter's hooks -----------------------------------------------------------------

    @abc.abstractmethod
    def _insert(self, batch: list[T]) -> None:
        """Write new records at version 1; raise `DuplicateError` for a taken key."""

    @abc.abstractmethod
    def _load(self, keys: list[UUID]) -> list[T]:
        """The records with these ids that exist, in any order."""

    @abc.abstractmethod
    def _lock(self, key: UUID) -> T | None:
        """The record with id `key`, locked till the transaction ends; ``None`` if it is missing.

        The read sees the newest committed version; the memory store records it for its commit
        to check instead.
        """

    @abc.abstractmethod
    def _parents(self, keys: list[UUID]) -> set[UUID]:
        """Which of the parent ids `keys` exist in this unit of work's scope."""

    @abc.abstractmethod
    def _page(self, after: UUID | None, limit: int) -> list[T]:
        """Up to `limit` records with ids after `after`, in id order."""

    @abc.abstractmethod
    def _count(self) -> int:
        """How many records are in scope."""

    @abc.abstractmethod
    def _update_if(self, obj: T, version: int) -> str | None:
        """Write `obj` at ``version + 1`` if it is stored at `version`.

        Returns:
            ``None`` once written; `STALE` if the stored version differs (or it is gone); the
            name of an immutable field that `obj` changes (then nothing is written).
        """

    @abc.abstractmethod
    def _belonging(self, parents: list[UUID]) -> list[T]:
        """The records whose parent is one of `parents` (only asked of aggregates with one)."""

    @abc.abstractmethod
    def _lock_if(self, key: UUID, version: int) -> bool:
        """Lock the record till the transaction ends if it is stored at `version`; whether it is."""

    @abc.abstractmethod
    def _delete_if(self, key: UUID, version: int) -> bool:
        """Delete the record and its children if it is stored at `version`; whether it was."""

    @abc.abstractmethod
    def _where(self, field: str, key: UUID, *, lock: bool) -> list[T]:
        """The records whose `field` holds `key`, in id order; locked (as `_lock`) if `lock`."""

    @abc.abstractmethod
    def _repoint_rows(
        self, field: str, old: UUID, new: UUID, shift: Mapping[str, int], keys: list[UUID]
    ) -> int:
        """Set `field` to `new` in the records `keys` whose `field` holds `old`; how many.

        Each field of `shift` moves by its offset unless it is 0; the versions go up by one.
        """
