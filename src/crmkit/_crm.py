"""`crmkit.open` and the `CRM` facade: a store, a clock, settings and event subscribers."""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from crmkit._clock import Clock, SystemClock
from crmkit._composition import CustomFieldSchema
from crmkit._validation import key_text
from crmkit.errors import (
    ConcurrencyError,
    CrmkitError,
    RetriesExhausted,
    TransientError,
    UnitOfWorkClosed,
    ValidationError,
)
from crmkit.events import DomainEvent, _check_class
from crmkit.storage._arguments import shown

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


def _key(value: object, name: str) -> str:
    problem = _check_key(value)
    if problem:
        raise ValidationError.of(name, problem)
    assert isinstance(value, str)  # noqa: S101 (narrowing for the type checker)
    return value


class CRM:
    """A CRM over one store: opens units of work and publishes their events.

    Create one with `crmkit.open`, keep it for the life of the app, and open a unit of work for
    each thing a user does.

    Args:
        store: where the data lives (a `MemoryStore` or a `SqlStore`).
        clock: where "now" comes from; the system clock by default.
        tenant: the tenant of units of work that do not name one.
        custom_fields: the host's custom field declarations, checked on every customer write.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        tenant: str = DEFAULT_TENANT,
        custom_fields: CustomFieldSchema | None = None,
    ) -> None:
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
            connection: for SQL stores, a SQLAlchemy ``Connection`` of the host's to work on.
                If it is inside a transaction, crmkit works in a savepoint of it, never commits
                it, and publishes events only when the host commits.
        """
        if not isinstance(read_only, bool):
            raise ValidationError.of("read_only", f"must be True or False, not {shown(read_only)}")
        return self.store.unit_of_work(
            tenant_id=_key(tenant if tenant is not None else self.tenant, "tenant"),
            actor_id=_key(actor, "actor"),
            clock=self.clock,
            custom_fields=self.custom_fields,
            on_commit=self._publish,
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
        """
        if not callable(work):
            raise ValidationError.of(
                "work", f"must be a function of a unit of work, not {shown(work)}"
            )
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValidationError.of(
                "attempts", f"must be a positive integer, not {shown(attempts)}"
            )
        last: CrmkitError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, min(max_backoff, backoff * 2 ** (attempt - 1))))  # noqa: S311 (jitter, not secrets)
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
        """Stop calling `handler` for `kind`; does nothing if it was not subscribed."""
        handlers = self._handlers.get(kind, [])
        if handler in handlers:
            handlers.remove(handler)

    def _publish(self, events: Sequence[DomainEvent]) -> None:
        # The writes are durable by now: a failing handler must not stop the others, so its
        # error is logged with the event instead of raised.
        for event in events:
            for kind in type(event).__mro__:
                for handler in list(self._handlers.get(kind, ())):
                    try:
                        handler(event)
                    except Exception:  # noqa: BLE001 (one bad handler must not stop the rest)
                        _log.exception("handler %r failed on %r", handler, event)

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
    """
    from crmkit.storage import open_store

    store = open_store(url, lock_timeout=lock_timeout)
    try:
        crm = CRM(store, clock=clock, tenant=tenant, custom_fields=custom_fields)
        if create:
            crm.create_all()
        if verify_schema:
            crm.store.verify_schema()
    except BaseException:
        store.close()  # no pool of connections left behind by a refused open
        raise
    return crm
