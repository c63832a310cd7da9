"""Events about leads: created, assigned, followed up, reclaimed, converted, disqualified."""

from __future__ import annotations

from uuid import UUID

import attrs
import pendulum

from crmkit.customers._model import Channel
from crmkit.events import DomainEvent

__all__ = [
    "LeadAssigned",
    "LeadConverted",
    "LeadCreated",
    "LeadDisqualified",
    "LeadFollowedUp",
    "LeadReclaimed",
]


@attrs.frozen(kw_only=True)
class LeadCreated(DomainEvent):
    """A new lead was stored, in the pool (`owner_id` None) or with an owner."""

    lead_id: UUID
    source: str
    owner_id: str | None


@attrs.frozen(kw_only=True)
class LeadAssigned(DomainEvent):
    """A lead was given to a salesperson; `rule` names the rule of the stored decision."""

    lead_id: UUID
    owner_id: str
    previous_owner_id: str | None
    rule: str


@attrs.frozen(kw_only=True)
class LeadFollowedUp(DomainEvent):
    """A follow-up was recorded on a lead."""

    lead_id: UUID
    by: str
    channel: Channel
    at: pendulum.DateTime


@attrs.frozen(kw_only=True)
class LeadReclaimed(DomainEvent):
    """A lead went back to the pool: its owner did not follow it up by `due_at`."""

    lead_id: UUID
    previous_owner_id: str
    due_at: pendulum.DateTime
    reason: str


@attrs.frozen(kw_only=True)
class LeadConverted(DomainEvent):
    """A lead became a customer (new or existing) and, if one was opened, an opportunity."""

    lead_id: UUID
    customer_id: UUID
    opportunity_id: UUID | None


@attrs.frozen(kw_only=True)
class LeadDisqualified(DomainEvent):
    """A lead was dropped, for the reason given."""

    lead_id: UUID
    reason: str
