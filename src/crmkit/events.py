"""Domain events: what happened, recorded by services and published after commit.

Host apps subscribe to the events they care about to send emails, push notifications or sync an
ERP::

    crm.subscribe(CustomerRegistered, lambda event: print(event.customer_id))

An event is published only after the unit of work that recorded it has committed (or, when crmkit
works inside the host's transaction, after the host commits); a rollback drops it.
"""

from __future__ import annotations

from uuid import UUID

import attrs
import pendulum

from crmkit._validation import shown
from crmkit.errors import Issue, ValidationError

__all__ = ["DomainEvent"]


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of every event: the tenant it happened in, who caused it and when.

    Attributes:
        tenant_id: the tenant whose data changed.
        actor_id: the user who did it (the unit of work's actor).
        occurred_at: when it was recorded (UTC, from the unit of work's clock).
        id: the event's identifier, time-ordered.
    """

    tenant_id: str
    actor_id: str
    occurred_at: pendulum.DateTime
    id: UUID


# The fields of every event that `UnitOfWork.record` fills in.
_FILLED_IN = frozenset({"tenant_id", "actor_id", "occurred_at", "id"})


def _check_class(kind: object) -> None:
    """Raise `ValidationError` (on ``kind``) unless `kind` is an event class."""
    if not (isinstance(kind, type) and issubclass(kind, DomainEvent)):
        raise ValidationError.of(
            "kind", f"must be a DomainEvent class such as CustomerRegistered, not {shown(kind)}"
        )


def _check_record(kind: object, fields: dict[str, object]) -> None:
    """Raise `ValidationError` unless `kind(**fields)` plus what `record` fills in is whole."""
    _check_class(kind)
    assert isinstance(kind, type)  # noqa: S101 (narrowing for the type checker)
    declared = {a.name: a for a in attrs.fields(kind)}
    issues = [Issue(n, "is filled in by the unit of work") for n in fields if n in _FILLED_IN]
    issues += [Issue(n, f"is not a field of {kind.__name__}") for n in fields if n not in declared]
    issues += [
        Issue(name, "is required")
        for name, a in declared.items()
        if name not in _FILLED_IN and name not in fields and a.default is attrs.NOTHING
    ]
    if issues:
        raise ValidationError(issues)
