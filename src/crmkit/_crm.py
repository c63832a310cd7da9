"""`crmkit.open` and the `CRM` facade: a store, a clock, settings and event subscribers."""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from crmkit._clock import Clock, SystemClock
from crmkit._composition import CustomFieldSchema
from crmkit._relay import RelaySettings, parked_event
from crmkit._relay import relay as _relay
from crmkit._validation import key_text, shown
from crmkit.errors import (
    ConcurrencyError,
    CrmkitError,
    RetriesExhausted,
    TransientError,
    UnitOfWorkClosed,
    ValidationError,
)
from crmkit.events import DomainEvent, ParkedEvent, RelayReport, _check_class
from crmkit.storage._arguments import a_limit, ids, seconds
from crmkit.storage._changes import ChangePage, a_cursor

if TYPE_CHECKING:
    from crmkit.storage import Store, UnitOfWork

__all__ = ["CRM", "DEFAULT_TENANT", "open"]

DEFAULT_TENANT = "default"
"""The tenant of a host that never mentions tenants."""

E = TypeVar("E", bound=DomainEvent)
T = TypeVar("T")
Handler = Callable[[E], object]

_log = logging.getLogger("crmkit.events")
_check_key = key_text(max_length=64)
_STORE_METHODS = ("unit_of_work", "create_all", "verify_schema", "close")
_LONGEST_WAIT = 3600  # seconds between retries; longer is a mistake, not a policy


# A unit of work's own events, right after its commit: tried once here, then left to `relay`.
_OWN = RelaySettings()


def _key(value: object, name: str) -> str:
    problem = _check_key(value)
    if problem:
        raise ValidationError.of(name, problem)
    assert isinstance(value, str)  # noqa: S101 (narrowing for the type checker)
    return value


class CRM:
    """A CRM over one store: opens units of work and delivers their events.

    Create one with `crmkit.open`, keep it for the life of the app, and open a unit of work for
    each thing a user does.

    Args:
        store: where the data lives (a `MemoryStore` or a `SqlStore`).
        clock: where "now" comes from; the system clock by default.
        tenant: the tenant of units of work that do not name one.
        custom_fields: the host's custom field declarations, checked on every customer write.
        relay_on_commit: deliver a unit of work's events right after its own commit (see
            `relay`). Turn it off in an app whose events a separate relay process delivers
            (``crmkit relay``): its own subscribers would otherwise take them first.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        tenant: str = DEFAULT_TENANT,
        custom_fields: CustomFieldSchema | None = None,
        relay_on_commit: bool = True,
    ) -> None:
        missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
        if missing:
            raise ValidationError.of(
                "store",
                f"must be a Store such as MemoryStore or SqlStore, not {type(store).__name__} "
                f"(it has no {missing[0]}() method)",
            )
        if clock is not None and not isinstance(clock, Clock):
            raise ValidationError.of(
                "clock", f"must be a Clock (with a now() method), not {type(clock).__name__}"
            )
        if custom_fields is not None and not isinstance(custom_fields, CustomFieldSchema):
            raise ValidationError.of(
                "custom_fields",
                f"must be a CustomFieldSchema, not {type(custom_fields).__name__}",
            )
        self.store = store
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.tenant = _key(tenant, "tenant")
        self.custom_fields = custom_fields
        if not isinstance(relay_on_commit, bool):
            raise ValidationError.of(
                "relay_on_commit", f"must be True or False, not {shown(relay_on_commit)}"
            )
        self.relay_on_commit = relay_on_commit
        self._handlers: defaultdict[type[DomainEvent], list[Callable[[Any], object]]] = defaultdict(
            list
        )

    def unit_of_work(
        self,
        *,
        actor: str,
        tenant: str | None = None,
        read_only: bool = False,
        connection: Any = None,  # noqa: ANN401 (sqlalchemy.Connection; not imported here)
    ) -> UnitOfWork:
        """Begin a unit of work for `tenant` (the CRM's default tenant if not given).

        Args:
            actor: who is acting: a user id of the host app, recorded on events and changes.
            tenant: the tenant to work in; nothing outside it can be read or written.
            read_only: refuse writes (`ReadOnlyError`), for reports and pages that only read.
                On SQL stores the transaction itself is read-only; on SQLite it then takes no
                write lock, so long reads never hold up writers.
            connection: for SQL stores, a SQLAlchemy ``Connection`` or ``Session`` of the
                host's to work on. If it is inside a transaction, crmkit works in a savepoint of
                it and never commits it; its events are delivered only once the host's commit
                has succeeded: right after it for a ``Session``, by `relay` for a
                ``Connection`` (crmkit cannot see when a connection's commit succeeds).
        """
        if not isinstance(read_only, bool):
            raise ValidationError.of("read_only", f"must be True or False, not {shown(read_only)}")
        return self.store.unit_of_work(
            tenant_id=_key(tenant if tenant is not None else self.tenant, "tenant"),
            actor_id=_key(actor, "actor"),
            clock=self.clock,
            custom_fields=self.custom_fields,
            on_commit=self._relay_own,
            read_only=read_only,
            connection=connection,
        )

    def run(
        self,
        work: Callable[[UnitOfWork], T],
        *,
        actor: str,
        tenant: str | None = None,
        attempts: int = 5,
        backoff: float = 0.02,
        max_backoff: float = 1.0,
    ) -> T:
        """Run `work` in a unit of work and commit it, running it again on a transient conflict.

        A deadlock, a serialization failure, a busy SQLite database (`TransientError`) or a
        record changed by someone else in between (`ConcurrencyError`) makes the whole unit
        of work run again from the start, so `work` must read what it changes through the unit
        of work it is given. Between attempts it waits a random time of up to `backoff`,
        doubling each time up to `max_backoff` ("full jitter"), so that colliding writers
        spread out.

        Examples:
            >>> import crmkit
            >>> from crmkit.customers import Customer
            >>> crm = crmkit.open("memory://")
            >>> crm.run(lambda uow: uow.customers.add(Customer(name="Acme", owner_id="li")),
            ...         actor="li")

        Returns:
            What `work` returned.

        Raises:
            RetriesExhausted: every one of the `attempts` failed transiently; the last error is
                its ``__cause__``.
            ValidationError: `work` cannot be called, `attempts` is not a positive integer, or
                a backoff is not a number of seconds from 0 to 3600.
        """
        if not callable(work):
            raise ValidationError.of(
                "work", f"must be a function of a unit of work, not {shown(work)}"
            )
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValidationError.of(
                "attempts", f"must be a positive integer, not {shown(attempts)}"
            )
        seconds(backoff, "backoff", at_most=_LONGEST_WAIT)
        seconds(max_backoff, "max_backoff", at_most=_LONGEST_WAIT)
        last: CrmkitError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, min(max_backoff, backoff * 2 ** min(attempt - 1, 64))))  # noqa: S311 (jitter, not secrets)
            try:
                with self.unit_of_work(actor=actor, tenant=tenant) as uow:
                    result = work(uow)
            except (TransientError, ConcurrencyError) as e:
                last = e
            except UnitOfWorkClosed as e:
                # A transient failure inside `work` that `work` caught spoils the unit of work.
                if not isinstance(e.__cause__, TransientError | ConcurrencyError):
                    raise
                last = e
            else:
                return result
        raise RetriesExhausted(
            f"the unit of work failed {attempts} times on transient conflicts; last: {last}"
        ) from last

    def subscribe(self, kind: type[E], handler: Handler[E]) -> None:
        """Call `handler` with every committed event of type `kind` (subclasses included).

        Raises:
            ValidationError: `kind` is not an event class, or `handler` cannot be called.
        """
        _check_class(kind)
        if not callable(handler):
            raise ValidationError.of("handler", f"must be callable, not {shown(handler)}")
        self._handlers[kind].append(handler)

    def unsubscribe(self, kind: type[E], handler: Handler[E]) -> None:
        """Stop calling `handler` for `kind`; does nothing if it was not subscribed.

        Raises:
            ValidationError: `kind` is not an event class.
        """
        _check_class(kind)
        handlers = self._handlers.get(kind, [])
        if handler in handlers:
            handlers.remove(handler)

    def relay(
        self,
        *,
        limit: int | None = None,
        attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        lease: float = 300.0,
    ) -> RelayReport:
        """Deliver the outbox's pending events, of every tenant, to the subscribers.

        Each event goes to every handler subscribed to its class or a base class, and is then
        marked delivered. Delivery is at least once: a relay that dies before it marks an event
        leaves it to the next relay, so a handler must do its work once per `event.id`. Events
        of one aggregate go out in the order their transactions committed. Two relays at once
        never take the same event: each claims its events for `lease` seconds.

        If a handler raises, the error is logged, the event's other handlers still run, and the
        event is tried again (all of its handlers) after `backoff` seconds, doubling each time
        up to `max_backoff`; later events of its aggregate wait for it. After `attempts` tries
        it is parked with its error (see `parked_events` and `retry_parked`), and its aggregate's
        later events go on.

        Examples:
            >>> import crmkit
            >>> crm = crmkit.open("memory://")
            >>> crm.relay()
            RelayReport(delivered=0, retried=0, parked=0)

        Args:
            limit: deliver at most this many events (all that are due, if not given).
            attempts: how many times to try an event before it is parked.
            backoff: seconds to wait before the second attempt.
            max_backoff: the longest wait between attempts.
            lease: seconds a claimed event is left to this relay before another may take it.

        Returns:
            How many events were delivered, will be tried again, and were parked.

        Raises:
            ValidationError: a bad argument.
            StorageError: the store failed; events claimed but not settled are taken up
                again once their lease runs out.
        """
        if limit is not None:
            a_limit(limit)
        settings = RelaySettings(
            attempts=attempts, backoff=backoff, max_backoff=max_backoff, lease=lease
        )
        return _relay(
            self.store.outbox,
            handlers_of=self._handlers_of,
            clock=self.clock,
            settings=settings,
            limit=limit,
        )

    def parked_events(self, *, tenant: str | None = None, limit: int = 100) -> list[ParkedEvent]:
        """Events the relay gave up on, oldest first, with the error of their last attempt.

        Args:
            tenant: only this tenant's (every tenant's, if not given).
            limit: at most this many (at most 100,000).
        """
        a_limit(limit)
        tenant_id = None if tenant is None else _key(tenant, "tenant")
        return [parked_event(c) for c in self.store.outbox.parked(tenant_id=tenant_id, limit=limit)]

    def retry_parked(self, event_ids: Any = None, *, tenant: str | None = None) -> int:  # noqa: ANN401 (a collection of UUIDs)
        """Make parked events pending again, with fresh attempts; the next `relay` tries them.

        Args:
            event_ids: the ids of the events to retry (every parked event, if not given).
            tenant: only this tenant's.

        Returns:
            How many events were parked and are pending again.
        """
        wanted: list[UUID] | None = None if event_ids is None else ids(event_ids, "event_ids")
        tenant_id = None if tenant is None else _key(tenant, "tenant")
        return self.store.outbox.retry(now=self.clock.now(), tenant_id=tenant_id, ids=wanted)

    def purge_delivered(self, *, older_than: float = 7 * 86400) -> int:
        """Delete events delivered more than `older_than` seconds ago (a week by default).

        Delivered events stay in the outbox until purged, for a look at what went out; the
        relay looks through them for pending ones, so purge them regularly (``crmkit relay``
        does it every hour).

        Returns:
            How many events were deleted.
        """
        age = seconds(older_than, "older_than", at_most=100 * 366 * 86400)
        return self.store.outbox.purge(before=self.clock.now() - timedelta(seconds=age))

    def changes_since(
        self, cursor: int, *, tenant: str | None = None, limit: int = 100
    ) -> ChangePage:
        """The tenant's changes after `cursor` (0 for the start), and the cursor for the next.

        A host that keeps the returned cursor and asks again from it follows every write, in
        the order of the commits, and never skips one: a unit of work that commits later than
        another always gets the larger numbers, whenever its writes began.

        Examples:
            >>> import crmkit
            >>> from crmkit.customers import Customer
            >>> crm = crmkit.open("memory://")
            >>> with crm.unit_of_work(actor="li.na") as uow:
            ...     uow.customers.add(Customer(name="Acme", owner_id="li.na"))
            >>> page = crm.changes_since(0)
            >>> [(c.seq, c.record, c.operation) for c in page.changes], page.cursor
            ([(1, 'customer', 'create')], 1)
            >>> crm.changes_since(page.cursor).changes
            ()

        Args:
            cursor: the `ChangePage.cursor` of the last page read, or 0.
            tenant: the tenant whose log to read (the CRM's default tenant if not given).
            limit: at most this many changes (at most 100,000).

        Raises:
            ValidationError: `cursor` is not a whole number from 0, or another argument is
                wrong.
        """
        a_cursor(cursor)
        a_limit(limit)
        with self.unit_of_work(actor="crmkit", tenant=tenant, read_only=True) as uow:
            return uow.changes.since(cursor, limit=limit)

    def _handlers_of(self, kind: type[DomainEvent]) -> list[Callable[[Any], object]]:
        return self._handlers.get(kind, [])

    def _relay_own(self, events: Sequence[DomainEvent]) -> None:
        """Right after a unit of work's commit: deliver its events, unless a relay does it."""
        if not self.relay_on_commit or not events:
            return
        # The writes are durable by now: whatever goes wrong here must not look as if the
        # unit of work failed. The events stay in the outbox for the next relay.
        try:
            _relay(
                self.store.outbox,
                handlers_of=self._handlers_of,
                clock=self.clock,
                settings=_OWN,
                keys=[(e.tenant_id, e.id) for e in events],
                known={(e.tenant_id, e.id): e for e in events},
            )
        except Exception:  # noqa: BLE001 (logged; the relay delivers them later)
            _log.exception("delivering %d events after the commit failed", len(events))

    def create_all(self) -> None:
        """Create the store's tables if they are missing (for tests, notebooks and demos)."""
        self.store.create_all()

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()

    def __enter__(self) -> CRM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CRM({self.store!r}, tenant={self.tenant!r})"


def open(  # noqa: A001 (the library's entry point, like io.open and sqlite3.connect)
    url: Any,  # noqa: ANN401 (a URL string, or a SQLAlchemy Engine)
    *,
    clock: Clock | None = None,
    tenant: str = DEFAULT_TENANT,
    custom_fields: CustomFieldSchema | None = None,
    create: bool = False,
    verify_schema: bool = True,
    lock_timeout: float | None = None,
    relay_on_commit: bool = True,
) -> CRM:
    """Open a CRM on the store at `url`.

    Args:
        url: ``"memory://"`` for the in-memory store; a SQLAlchemy URL (``"sqlite:///crm.db"``,
            ``"postgresql+psycopg://..."``, ``"mysql+pymysql://..."``) or ``Engine`` for SQL.
        clock: where "now" comes from; the system clock by default.
        tenant: the tenant of units of work that do not name one.
        custom_fields: the host's custom field declarations.
        create: create missing tables (for tests, notebooks and demos; apps use migrations).
        verify_schema: refuse a database whose crmkit tables are missing, behind or ahead of
            this code (`SchemaVersionError`, naming the command to run).
        lock_timeout: for a SQL database URL, how many seconds a statement may wait for a lock
            that another transaction holds; then the unit of work fails with `TransientError`.
            5 seconds if not given. On an `Engine` of your own, call
            `crmkit.storage.sql.configure_lock_timeout` instead. The memory store never waits.
        relay_on_commit: deliver a unit of work's events right after its commit (see `CRM`).
    """
    from crmkit.storage import open_store

    for name, flag in (("create", create), ("verify_schema", verify_schema)):
        if not isinstance(flag, bool):
            raise ValidationError.of(name, f"must be True or False, not {shown(flag)}")
    store = open_store(url, lock_timeout=lock_timeout)
    try:
        crm = CRM(
            store,
            clock=clock,
            tenant=tenant,
            custom_fields=custom_fields,
            relay_on_commit=relay_on_commit,
        )
        if create:
            crm.create_all()
        if verify_schema:
            crm.store.verify_schema()
    except BaseException:
        store.close()  # no pool of connections left behind by a refused open
        raise
    return crm
