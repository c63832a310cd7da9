"""The change log: every write through the repository core, recorded in its own transaction.

A unit of work keeps a change entry for each write (create, update, delete, and each record a
removal takes with it) as plain data at once, and writes the entries to the store's change log
when it commits, in the same transaction as the writes: no change without its entry, and no
entry without its change.

Each tenant's changes are numbered (``seq``) in the order of the commits, so a host that follows
the log with a cursor (`ChangeLog.since`, `crmkit.CRM.changes_since`) never skips one. Numbers
taken before the commit (an auto-increment, a UUIDv7) would let a unit of work that commits late
hold a smaller number than one already read. Instead the number is taken at commit: the memory
store under its commit lock; SQL stores bump a counter row per tenant, whose row lock a second
committer waits for until the first has committed (SQLite has a single writer anyway).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import attrs
import pendulum

from crmkit._converter import make_converter
from crmkit._json import dumps
from crmkit.errors import ValidationError
from crmkit.storage._aggregates import Aggregate, Operation, Write
from crmkit.storage._arguments import a_key, a_limit, an_id, an_instant
from crmkit.storage._flat import Flat

if TYPE_CHECKING:
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = [
    "MASKED",
    "Change",
    "ChangeLog",
    "ChangePage",
    "MemoryChangeLog",
    "Query",
    "replay",
]

MASKED: Final = "\u2022masked\u2022"
"""What the change log holds in place of a sensitive field's value (`Aggregate.sensitive`)."""

Plain = dict[str, Any]
# One write, as a unit of work keeps it until its commit: time, record, id, operation, before
# and after (plain data as JSON text, sensitive fields masked). Text rather than dictionaries:
# a bulk write then leaves the garbage collector no containers to track, and every read of
# the log decodes a copy of its own.
Entry = tuple[pendulum.DateTime, str, UUID, str, str | None, str | None]


class Entries(Flat[Entry]):
    """A unit of work's change-log entries until its commit, kept flat (see `Flat`)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(6)


_plain = make_converter()
_encode = dumps


SOURCES: Final = "@sources"
"""The key under which a merge's change keeps `Change.sources` in its stored `after` (no field
of an aggregate can have this name)."""


def decoded(text: str | None) -> Plain | None:
    """The plain data of a change's stored `before` or `after`."""
    return None if text is None else json.loads(text)


def decoded_after(operation: str, text: str | None) -> tuple[Plain | None, Plain | None]:
    """A change's `after` and `sources` from its stored `after`."""
    after = decoded(text)
    if operation != Operation.MERGE or after is None:
        return after, None
    sources = after.pop(SOURCES, None)
    return after, sources


@attrs.frozen
class Change:
    """One write to one record, as the change log holds it.

    Attributes:
        seq: the change's place in its tenant's log: numbers follow the order of the commits,
            so every change after a cursor has a larger one (see `ChangeLog.since`).
        tenant_id: the tenant of the record.
        actor_id: who wrote it (the unit of work's actor).
        at: when (the CRM clock's time at the write).
        record: the record name (``"customer"``).
        record_id: the record's id.
        operation: ``"create"``, ``"update"``, ``"delete"`` or ``"merge"`` (a record a merge
            of two customers moved or changed: see `crmkit.customers.merge_customers`).
        before: the record's plain data (`crmkit.to_dict`) before the write: all of it for a
            delete, only the changed fields for an update or a merge, ``None`` for a create.
        after: the plain data after the write: all of it for a create, only the changed fields
            (the version among them) for an update or a merge, ``None`` for a delete.
        sources: for a merge, where the values came from: ``survivor`` and ``merged`` (the two
            customers' ids, as text) and ``fields``, per changed field, ``"survivor"``,
            ``"merged"`` or ``"both"`` (united or added up); ``None`` for other operations.

    A sensitive field's value is `MASKED` in `before` and `after`: the log says it changed, not
    what it was or became.
    """

    seq: int
    tenant_id: str
    actor_id: str
    at: pendulum.DateTime
    record: str
    record_id: UUID
    operation: str
    before: Plain | None
    after: Plain | None
    sources: Plain | None = None


@attrs.frozen
class ChangePage:
    """A page of changes, and the cursor to ask for the next one with.

    Attributes:
        changes: the changes, in the order of their numbers.
        cursor: the number of the last change of the page, or the cursor asked with if the page
            is empty: pass it back to get the changes after these.
    """

    changes: tuple[Change, ...]
    cursor: int


@attrs.frozen
class Query:
    """Which changes of a tenant to read (every given condition holds)."""

    record: str | None = None
    record_id: UUID | None = None
    actor_id: str | None = None
    start: pendulum.DateTime | None = None
    end: pendulum.DateTime | None = None

    def matches(self, change: Change) -> bool:
        """Whether `change` is one of those asked for."""
        return (
            (self.record is None or change.record == self.record)
            and (self.record_id is None or change.record_id == self.record_id)
            and (self.actor_id is None or change.actor_id == self.actor_id)
            and (self.start is None or change.at >= self.start)
            and (self.end is None or change.at < self.end)
        )


def masked(data: Plain, sensitive: frozenset[str]) -> Plain:
    """`data` with the values of the `sensitive` fields it has replaced by `MASKED`."""
    if not sensitive:
        return data
    return {k: MASKED if k in sensitive else v for k, v in data.items()}


def entry(write: Write) -> Entry:
    """What the change log keeps of `write`: plain data read at once, sensitive fields masked."""
    a = write.aggregate
    if a is None:
        raise ValidationError.of("write", f"names no aggregate for its {write.record}")
    cls, hidden = a.cls, a.sensitive
    before = None if write.before is None else _plain.unstructure(write.before, cls)
    after = None if write.after is None else _plain.unstructure(write.after, cls)
    if before is not None and after is not None:
        changed = [k for k, v in after.items() if before.get(k, MASKED) != v]
        before = {k: before[k] for k in changed if k in before}
        after = {k: after[k] for k in changed}
    if after is not None:
        after = masked(after, hidden)
        if write.operation is Operation.MERGE:
            after = {**after, SOURCES: _sources(write.sources, after)}
    return (
        write.at,
        write.record,
        write.id,
        write.operation.value,
        None if before is None else _encode(masked(before, hidden)),
        None if after is None else _encode(after),
    )


def _sources(sources: Any, after: Plain) -> Plain:  # noqa: ANN401 (a mapping, or None)
    """A merge's `sources` as plain data, naming only the fields that changed."""
    found: Plain = _plain.unstructure(dict(sources or {}))
    if isinstance(found.get("fields"), dict):
        found["fields"] = {k: v for k, v in found["fields"].items() if k in after}
    return found


def removed(aggregate: Aggregate[Any], key: UUID, row: Plain, at: pendulum.DateTime) -> Entry:
    """The entry of a stored record (`row`, plain data) that a removal took with it."""
    data = _encode(masked(row, aggregate.sensitive))
    return (at, aggregate.record, key, Operation.DELETE.value, data, None)


def replay(changes: Sequence[Change]) -> dict[tuple[str, UUID], Plain]:
    """The records that `changes` (a tenant's log from its start, in order) leave, as plain data.

    Each record is keyed by its record name and id. The law crmkit's tests check: this equals
    the plain data of every stored record, apart from sensitive fields, which hold `MASKED`.
    """
    state: dict[tuple[str, UUID], Plain] = {}
    for change in changes:
        key = (change.record, change.record_id)
        if change.operation == Operation.CREATE:
            state[key] = dict(change.after or {})
        elif change.operation in (Operation.UPDATE, Operation.MERGE):
            state.setdefault(key, {}).update(change.after or {})
        else:
            state.pop(key, None)
    return state


def a_cursor(value: object, name: str = "cursor") -> int:
    """`value` if it is a cursor into the change log: a whole number from 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError.of(name, f"must be a whole number, not {type(value).__name__}")
    if value < 0:
        raise ValidationError.of(name, f"must be 0 or more, not {value}")
    return value


class ChangeLog:
    """A tenant's change log, as a unit of work reads it (``uow.changes``).

    It holds committed changes only: a unit of work's own writes join it when it commits.
    Every query returns up to `limit` changes (at most 100,000) in the order of their numbers;
    pass the `Change.seq` of the last one as `after` for the next page.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Customer
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     acme = Customer(name="Acme", owner_id="li.na")
        ...     uow.customers.add(acme)
        >>> with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        ...     found = uow.changes.for_record("customer", acme.id)
        >>> [(c.operation, c.actor_id, c.after["name"]) for c in found]
        [('create', 'li.na', 'Acme')]
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def for_record(
        self, record: str, record_id: UUID, *, after: int = 0, limit: int = 100
    ) -> list[Change]:
        """The changes of one record (`record` is its record name, ``"customer"``).

        Raises:
            ValidationError: an argument is not what it should be, named.
        """
        query = Query(record=a_key(record, "record"), record_id=an_id(record_id, "record_id"))
        return self._read(query, after, limit)

    def by_actor(self, actor: str, *, after: int = 0, limit: int = 100) -> list[Change]:
        """The changes `actor` made.

        Raises:
            ValidationError: an argument is not what it should be, named.
        """
        return self._read(Query(actor_id=a_key(actor, "actor")), after, limit)

    def between(
        self, start: pendulum.DateTime, end: pendulum.DateTime, *, after: int = 0, limit: int = 100
    ) -> list[Change]:
        """The changes made from `start` up to (not including) `end`, both aware instants.

        Raises:
            ValidationError: an argument is not what it should be, or `end` is before `start`.
        """
        since, until = an_instant(start, "start"), an_instant(end, "end")
        if since is None or until is None:
            raise ValidationError.of("start" if since is None else "end", "must be an instant")
        if until < since:
            raise ValidationError.of("end", f"is before start ({until} < {since})")
        return self._read(Query(start=since, end=until), after, limit)

    def since(self, cursor: int, *, limit: int = 100) -> ChangePage:
        """The changes after `cursor` (0 for the start), and the cursor for the next page.

        Following the log this way never skips a change: a change committed later always gets
        a larger number than those already committed.

        Raises:
            ValidationError: `cursor` is not a whole number from 0, or `limit` is wrong.
        """
        cursor = a_cursor(cursor)
        found = self._read(Query(), cursor, limit, name="cursor")
        return ChangePage(tuple(found), found[-1].seq if found else cursor)

    def _read(self, query: Query, after: int, limit: int, name: str = "after") -> list[Change]:
        after = a_cursor(after, name)
        a_limit(limit)
        self._uow._check_open()
        return self._uow._read_changes(query, after, limit)


class MemoryChangeLog:
    """The memory store's change log: each tenant's changes in this process, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Per tenant, its changes in order (the first is number 1), each with its actor.
        self._changes: dict[str, list[tuple[str, Entry]]] = {}

    def add(self, tenant_id: str, actor_id: str, entries: Collection[Entry]) -> None:
        """Append a committing unit of work's entries; call it under the store's commit lock."""
        with self._lock:
            self._changes.setdefault(tenant_id, []).extend((actor_id, e) for e in entries)

    def read(self, tenant_id: str, query: Query, after: int, limit: int) -> list[Change]:
        """Up to `limit` of the tenant's changes that `query` asks for, numbered after `after`."""
        with self._lock:
            log = self._changes.get(tenant_id, [])
            end = len(log)
        found = []
        # Only appended to, so the first `end` entries stay as they are: no copy of the log.
        for seq in range(after + 1, end + 1):
            actor_id, (at, record, key, operation, before, text) = log[seq - 1]
            change = Change(seq, tenant_id, actor_id, at, record, key, operation, None, None)
            if query.matches(change):
                changed, sources = decoded_after(operation, text)
                found.append(
                    attrs.evolve(change, before=decoded(before), after=changed, sources=sources)
                )
                if len(found) == limit:
                    break
        return found
