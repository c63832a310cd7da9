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
