"""The unit of work: one transaction, for one tenant and one actor, that collects domain events."""

from __future__ import annotations

import abc
import contextlib
import enum
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import pendulum

from crmkit._clock import Clock
from crmkit._ids import new_id
from crmkit.errors import (
    Conflict,
    CrmkitError,
    ReadOnlyError,
    StorageError,
    UnitOfWorkClosed,
    ValidationError,
)
from crmkit.events import DomainEvent, _check_record
from crmkit.storage._aggregates import Aggregate, Scope, Write, WriteHook
from crmkit.storage._changes import Change, ChangeLog, Entries, Query, entry
from crmkit.storage._protocols import EventSink, FieldRules
from crmkit.storage._registry import bound

if TYPE_CHECKING:
    # The composition root types the repositories capabilities register (`uow.customers`).
    from crmkit._composition import Repositories
    from crmkit.storage._repository import Repository
else:

    class Repositories:
        """At run time, the registered repositories are set on each unit of work."""

        __slots__ = ()


__all__ = ["UnitOfWork"]

E = TypeVar("E", bound=DomainEvent)
T = TypeVar("T")


class _State(enum.Enum):
    OPEN = "open"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"


class UnitOfWork(Repositories, abc.ABC):
    """One transaction against a store, for one tenant, done by one actor.

    Use it as a context manager: it commits when the block ends normally and rolls back when
    the block raises. The events recorded with `record` are written to the store's outbox in
    the same transaction, and reach the CRM's subscribers only after the commit; a rollback
    drops them.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Customer
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        ...     uow.customers.add(Customer(name="Acme", owner_id="li.na"))
        ...     uow.customers.count()
        1

    A write that fails once it has touched the store spoils the unit of work, whatever the
    exception (a conflict, a storage error, an error of the database driver, even one the
    caller catches as `ValueError`): it can only be rolled back, and `commit` (or the end of
    the block) raises `UnitOfWorkClosed`, so a part of a write is never committed. A write
    refused before it touched the store (`ValidationError`, `NotFound`, `ReadOnlyError`)
    spoils nothing. Conflicts (`DuplicateError`, `ConcurrencyError`) always spoil it.

    Attributes:
        customers: the tenant's customers.
        interactions: the tenant's customer timelines.
        tenant_id: the tenant every read and write is confined to.
        actor_id: who is acting (a user id of the host app).
        read_only: whether writes are refused (`ReadOnlyError`). SQL stores then run a read-only
            transaction: on SQLite it takes no write lock, so it never holds up a writer.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        actor_id: str,
        clock: Clock,
        custom_fields: FieldRules | None,
        on_commit: EventSink,
        read_only: bool = False,
    ) -> None:
        self.tenant_id = tenant_id
        self.scope = Scope(tenant_id)
        self.actor_id = actor_id
        self.read_only = read_only
        self._clock = clock
        self._custom_fields = custom_fields
        self._on_commit = on_commit
        self._events: list[DomainEvent] = []
        # Objects written, and the versions they had before: two lists rather than a list of
        # pairs, so a bulk write adds no container per object for the garbage collector.
        self._stamped: list[Any] = []
        self._old_versions: list[int] = []
        self._state = _State.OPEN
        self._failure: BaseException | None = None
        self._repositories: dict[str, Any] = {}
        # Called for every write through the repository core; the change log's comes first.
        self._write_hooks: list[WriteHook] = [self._log_change]
        # The change log's entries of this unit of work's writes, written at its commit.
        self._changes = Entries()

    # --- for services ------------------------------------------------------------------------

    def repository(self, aggregate: Aggregate[T]) -> Repository[T]:
        """The repository of `aggregate`'s records in this unit of work.

        Raises:
            ValidationError: the store does not hold `aggregate` (it was not registered).
        """
        if not isinstance(aggregate, Aggregate):
            raise ValidationError.of(
                "aggregate", f"must be an Aggregate, not {type(aggregate).__name__}"
            )
        found: Repository[T] | None = self._repositories.get(aggregate.table)
        if found is None:
            found = self._repositories[aggregate.table] = self._repository(aggregate)
        return found

    def now(self) -> pendulum.DateTime:
        """The current instant from the CRM's clock (UTC)."""
        return self._clock.now()

    def record(self, kind: type[E], /, **fields: Any) -> E:  # noqa: ANN401
        """Record that something happened; it is delivered after a successful commit.

        The tenant, the actor, the time and a new id are filled in.

        Examples:
            >>> import crmkit
            >>> from crmkit.customers import OwnerChanged
            >>> crm = crmkit.open("memory://")
            >>> seen = []
            >>> crm.subscribe(OwnerChanged, seen.append)
            >>> with crm.unit_of_work(actor="boss") as uow:
            ...     _ = uow.record(OwnerChanged, customer_id=crmkit.new_id(),
            ...                    previous_owner_id="li", owner_id="wang")
            >>> seen[0].owner_id, seen[0].actor_id
            ('wang', 'boss')

        Raises:
            ValidationError: `kind` is not an event class, or `fields` do not fit it.
            ReadOnlyError: the unit of work is read-only (an event is written like a change).
        """
        self._check_writable()
        event = self._event(kind, fields, self._clock.now())
        self._events.append(event)
        return event

    def record_many(self, kind: type[E], items: Iterable[Mapping[str, Any]], /) -> list[E]:
        """Record one event of `kind` for each mapping of fields in `items`, as `record` does.

        For services that write in bulk: the events share one instant (the time of the call,
        as the change log's entries of one bulk write do), and their field names are checked
        once per set of names. All or none: a bad item records nothing.

        Examples:
            >>> import crmkit
            >>> from crmkit.customers import CustomerRemoved
            >>> crm = crmkit.open("memory://")
            >>> with crm.unit_of_work(actor="boss") as uow:
            ...     gone = uow.record_many(CustomerRemoved, [{"customer_id": crmkit.new_id()}] * 2)
            >>> len(gone), gone[0].occurred_at == gone[1].occurred_at, gone[0].id != gone[1].id
            (2, True, True)

        Raises:
            ValidationError: `kind` is not an event class, or an item does not fit it (named
                by its position, ``[3]``).
            ReadOnlyError: the unit of work is read-only.
        """
        self._check_writable()
        if isinstance(items, Mapping) or not isinstance(items, Iterable):
            raise ValidationError.of("items", "must be an iterable of mappings of fields")
        at = self._clock.now()
        made: list[E] = []
        for i, fields in enumerate(items):
            try:
                if not isinstance(fields, Mapping):
                    raise ValidationError.of("", f"must be a mapping, not {type(fields).__name__}")
                made.append(self._event(kind, fields, at))
            except ValidationError as e:
                raise e.under(f"[{i}]") from None
        self._events.extend(made)
        return made

    def _event(self, kind: type[E], fields: Mapping[str, Any], at: pendulum.DateTime) -> E:
        """An event of `kind` with `fields`, and the tenant, actor, time `at` and a new id."""
        _check_record(kind, fields)
        return kind(
            tenant_id=self.tenant_id, actor_id=self.actor_id, occurred_at=at, id=new_id(), **fields
        )

    @property
    def events(self) -> tuple[DomainEvent, ...]:
        """The events recorded so far, oldest first."""
        return tuple(self._events)

    @cached_property
    def changes(self) -> ChangeLog:
        """The tenant's change log: every committed write, by record, by actor, by period."""
        return ChangeLog(self)

    # --- transaction -----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the unit of work can still read and write."""
        return self._state is _State.OPEN

    def commit(self) -> None:
        """Make every write durable, with the recorded events, then hand the events on.

        Raises:
            UnitOfWorkClosed: it already ended, or an earlier write failed (it is rolled back).
            ConcurrencyError, DuplicateError: a conflict found at commit; nothing was written.
        """
        if self._state is _State.FAILED:
            closed = UnitOfWorkClosed(
                f"the unit of work was rolled back because a write failed: {self._failure}"
            )
            self._roll_back_after(closed)
            raise closed from self._failure
        self._check_open()
        try:
            self._commit()
        except BaseException as e:
            self._state = _State.FAILED
            self._failure = e
            self._roll_back_after(e)
            raise
        self._state = _State.COMMITTED
        self._changes.clear()
        events, self._events = self._events, []
        self._stamped.clear()
        self._old_versions.clear()
        self._publish(events)

    def rollback(self) -> None:
        """Undo every write of this unit of work and drop its events; safe to call twice."""
        if self._state in (_State.COMMITTED, _State.ROLLED_BACK):
            return
        try:
            self._rollback()
        finally:
            self._state = _State.ROLLED_BACK
            self._events.clear()
            self._changes.clear()
            # Objects written in this unit of work get back the version they had before it.
            for obj, version in zip(
                reversed(self._stamped), reversed(self._old_versions), strict=True
            ):
                obj.version = version
            self._stamped.clear()
            self._old_versions.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self._state in (_State.OPEN, _State.FAILED):
            self.commit()
        elif exc is None:
            self.rollback()
        else:
            self._roll_back_after(exc)

    def _roll_back_after(self, error: BaseException) -> None:
        """Roll back because `error` happened; if that fails too, say so in a note on `error`.

        The caller then sees the error that happened (a lookup on a lost connection, say), not
        the failed rollback that followed it.
        """
        try:
            self.rollback()
        except Exception as failure:  # noqa: BLE001 (it becomes a note on the error raised)
            error.add_note(
                f"rolling back the unit of work afterwards failed too: "
                f"{type(failure).__name__}: {failure}"
            )

    # --- for adapters ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is _State.FAILED:
            raise UnitOfWorkClosed(
                f"a write in this unit of work failed ({self._failure}); roll it back"
            ) from self._failure
        if self._state is not _State.OPEN:
            raise UnitOfWorkClosed(f"the unit of work is already {self._state.value}")

    def _check_writable(self) -> None:
        """`_check_open`, and raise `ReadOnlyError` if writes are refused."""
        self._check_open()
        if self.read_only:
            raise ReadOnlyError(
                "this unit of work is read-only; open one without read_only=True to write"
            )

    def _fail(self, error: BaseException) -> None:
        """Mark the unit of work spoilt by a failed write."""
        if isinstance(error, Conflict | StorageError):
            self._state = _State.FAILED
            self._failure = error

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """Around the part of a write that touches the store, `doing` what it says.

        Whatever escapes it may leave a part of the write done, so it spoils the unit of work.
        A crmkit error passes as it is; any other `Exception` (a driver's encoding or overflow
        error, a bug) becomes a `StorageError` naming what was being done, with the original
        as its cause, since no raw exception may reach a caller.
        """
        self._check_open()
        try:
            yield
        except CrmkitError as e:
            self._spoil(e)
            raise
        except Exception as e:
            error = StorageError(f"{doing} failed: {type(e).__name__}: {e}")
            self._spoil(error)
            raise error from e
        except BaseException as e:
            self._spoil(e)
            raise

    def _spoil(self, error: BaseException) -> None:
        """Mark the unit of work spoilt by a write that failed after touching the store."""
        if self._state is _State.OPEN:
            self._state = _State.FAILED
            self._failure = error

    def _stamp(self, obj: Any, version: int) -> None:  # noqa: ANN401 (any versioned entity)
        """Set `obj.version`, remembering the old one in case of rollback."""
        self._stamped.append(obj)
        self._old_versions.append(obj.version)
        obj.version = version

    def _log_change(self, write: Write) -> None:
        """Keep the change log's entry of `write`, to be written with the commit."""
        self._changes.append(entry(write))

    def _publish(self, events: list[DomainEvent]) -> None:
        """Hand `events` to the subscribers; SQL adapters joined to a host transaction defer it."""
        if events:
            self._on_commit(events)

    if not TYPE_CHECKING:  # type checkers see the typed attributes of `Repositories`

        def __getattr__(self, name: str) -> Any:  # noqa: ANN401
            # The repository a registered aggregate asks for (`uow.customers`), made when
            # first used.
            aggregate = bound(name)
            if aggregate is None:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
                )
            found = self.repository(aggregate)
            setattr(self, name, found)
            return found

    @abc.abstractmethod
    def _repository(self, aggregate: Aggregate[T]) -> Repository[T]:
        """A new repository of `aggregate` on this adapter."""

    @abc.abstractmethod
    def _children(self, table: str) -> list[Aggregate[Any]]:
        """The aggregates whose records belong to records of `table` (removed with them)."""

    @abc.abstractmethod
    def _read_changes(self, query: Query, after: int, limit: int) -> list[Change]:
        """Up to `limit` committed changes of the tenant that `query` asks for, after `after`."""

    @abc.abstractmethod
    def _commit(self) -> None:
        """Make the writes durable (or, inside a host's transaction, release the savepoint)."""

    @abc.abstractmethod
    def _rollback(self) -> None:
        """Undo the writes."""
