"""Domain events: what happened, recorded by services and delivered after the commit.

Host apps subscribe to the events they care about to send emails, push notifications or sync an
ERP::

    crm.subscribe(CustomerRegistered, lambda event: print(event.customer_id))

Every recorded event is written to an outbox in the same transaction as the change it tells of, and
delivered from there after the commit, at least once, with its `id` as a stable key for
idempotent handlers; a rollback drops it with the change. See "Events and the outbox" in the
docs for delivery, ordering, retries and parked events.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import ClassVar
from uuid import UUID

import attrs
import pendulum

from crmkit._validation import shown
from crmkit.errors import Issue, ValidationError

__all__ = ["DomainEvent", "ParkedEvent", "RelayReport"]

# Every event class by its stored kind name, filled in as the classes are defined.
_KINDS: dict[str, type[DomainEvent]] = {}


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of every event: the tenant it happened in, who caused it and when.

    Attributes:
        tenant_id: the tenant whose data changed.
        actor_id: the user who did it (the unit of work's actor).
        occurred_at: when it was recorded (UTC, from the unit of work's clock).
        id: the event's identifier, time-ordered; it stays the same however often the event
            is delivered, so a handler can use it to do its work only once.
        aggregate_field: the name of the field that identifies the aggregate the event is about
            (a class attribute). Events of one aggregate are delivered in the order their
            transactions committed. By default it is the first field of the subclass whose
            name ends in ``_id``; an event class with no such field is ordered with every other
            such event of its tenant.
    """

    aggregate_field: ClassVar[str | None] = None

    tenant_id: str
    actor_id: str
    occurred_at: pendulum.DateTime
    id: UUID

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # attrs builds a slotted class anew from the one defined, so the last one wins.
        _KINDS[_kind_name(cls)] = cls


def _kind_name(cls: type[DomainEvent]) -> str:
    """The name an event class is stored under in the outbox: its module and qualified name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _event_class(name: str) -> type[DomainEvent] | None:
    """The event class stored as `name`, or None if no such class is defined (imported)."""
    return _KINDS.get(name)


def _stream(event: DomainEvent) -> str:
    """The key of the aggregate `event` is about, as text ("" for the tenant as a whole)."""
    cls = type(event)
    try:
        field = _STREAM_FIELDS[cls]
    except KeyError:
        field = _STREAM_FIELDS[cls] = _stream_field(cls)
    return "" if field is None else str(getattr(event, field))


# Per event class, the field `_stream` reads: found once per class, not once per event.
_STREAM_FIELDS: dict[type[DomainEvent], str | None] = {}


def _stream_field(cls: type[DomainEvent]) -> str | None:
    """The field of `cls` naming the aggregate its events are about (see `_stream`)."""
    field = cls.aggregate_field
    if field is None:
        own = [a.name for a in attrs.fields(cls) if a.name not in _FILLED_IN]
        field = next((n for n in own if n.endswith("_id")), None)
    return field


@attrs.frozen(kw_only=True)
class RelayReport:
    """What one `CRM.relay` call did.

    Attributes:
        delivered: events handed to every subscriber without an error, and marked delivered.
        retried: events a subscriber failed on; they are tried again after a pause.
        parked: events set aside after their last attempt (see `CRM.parked_events`).
    """

    delivered: int = 0
    retried: int = 0
    parked: int = 0

    def __add__(self, other: RelayReport) -> RelayReport:
        return RelayReport(
            delivered=self.delivered + other.delivered,
            retried=self.retried + other.retried,
            parked=self.parked + other.parked,
        )


@attrs.frozen(kw_only=True)
class ParkedEvent:
    """An event the relay gave up on, with the error of its last attempt.

    Attributes:
        id: the event's id.
        tenant_id: its tenant.
        kind: the stored name of its class (module and qualified name).
        attempts: how often delivery was tried.
        error: what went wrong the last time.
        event: the event itself, or None if it cannot be read back (its class is not
            imported, or its stored form no longer fits the class; `error` says which).
        data: the event as stored (its `crmkit.to_dict` form).
    """

    id: UUID
    tenant_id: str
    kind: str
    attempts: int
    error: str
    event: DomainEvent | None
    data: dict[str, object]


# The fields of every event that `UnitOfWork.record` fills in.
_FILLED_IN = frozenset({"tenant_id", "actor_id", "occurred_at", "id"})


def _check_class(kind: object) -> None:
    """Raise `ValidationError` (on ``kind``) unless `kind` is an event class."""
    if not (isinstance(kind, type) and issubclass(kind, DomainEvent)):
        raise ValidationError.of(
            "kind", f"must be a DomainEvent class such as CustomerRegistered, not {shown(kind)}"
        )


def _check_record(kind: object, fields: Mapping[str, object]) -> None:
    """Raise `ValidationError` unless `kind(**fields)` plus what `record` fills in is whole."""
    _check_class(kind)
    assert isinstance(kind, type)  # noqa: S101 (narrowing for the type checker)
    # A service records one kind with the same field names many times over: checked once.
    issues = _record_issues(kind, tuple(fields))
    if issues:
        raise ValidationError(list(issues))


@functools.lru_cache(maxsize=256)
def _record_issues(kind: type[DomainEvent], names: tuple[str, ...]) -> tuple[Issue, ...]:
    """What is wrong with recording `kind` given the fields `names`, in `_check_record`."""
    declared = {a.name: a for a in attrs.fields(kind)}
    issues = [Issue(n, "is filled in by the unit of work") for n in names if n in _FILLED_IN]
    issues += [Issue(n, f"is not a field of {kind.__name__}") for n in names if n not in declared]
    issues += [
        Issue(name, "is required")
        for name, a in declared.items()
        if name not in _FILLED_IN and name not in names and a.default is attrs.NOTHING
    ]
    return tuple(issues)
