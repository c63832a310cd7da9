"""Events about a customer's care: lifecycle moves, complaints, and ownership transfers."""

from __future__ import annotations

from uuid import UUID

import attrs

from crmkit.customers._model import LifecycleStage
from crmkit.events import DomainEvent

__all__ = [
    "ComplaintOpened",
    "ComplaintReassigned",
    "ComplaintRejected",
    "ComplaintReopened",
    "ComplaintResolved",
    "ComplaintStarted",
    "LifecycleChanged",
    "OwnershipTransferred",
]


@attrs.frozen(kw_only=True)
class LifecycleChanged(DomainEvent):
    """A customer moved from one lifecycle stage to another; `by` is the actor or ``"policy"``."""

    customer_id: UUID
    previous: LifecycleStage
    stage: LifecycleStage
    by: str
    reason: str


@attrs.frozen(kw_only=True)
class ComplaintOpened(DomainEvent):
    """A complaint or a piece of feedback was recorded."""

    complaint_id: UUID
    customer_id: UUID
    kind: str
    cause: str | None
    assignee_id: str | None


@attrs.frozen(kw_only=True)
class ComplaintStarted(DomainEvent):
    """Someone started working on a complaint."""

    complaint_id: UUID
    customer_id: UUID
    assignee_id: str | None


@attrs.frozen(kw_only=True)
class ComplaintResolved(DomainEvent):
    """A complaint was resolved, with the resolution given."""

    complaint_id: UUID
    customer_id: UUID
    resolution: str


@attrs.frozen(kw_only=True)
class ComplaintRejected(DomainEvent):
    """A complaint was rejected (found unfounded), with the reason given."""

    complaint_id: UUID
    customer_id: UUID
    resolution: str


@attrs.frozen(kw_only=True)
class ComplaintReopened(DomainEvent):
    """A closed complaint was opened again, for the reason given."""

    complaint_id: UUID
    customer_id: UUID
    reason: str


@attrs.frozen(kw_only=True)
class ComplaintReassigned(DomainEvent):
    """A complaint was given to another person (``None``: to nobody in particular)."""

    complaint_id: UUID
    customer_id: UUID
    previous_assignee_id: str | None
    assignee_id: str | None


@attrs.frozen(kw_only=True)
class OwnershipTransferred(DomainEvent):
    """A departing salesperson's customers, leads, deals and complaints were handed to others.

    Attributes:
        transfer_id: the `OwnershipTransfer` record.
        from_owner: who left.
        to_owners: who received, in the rule's order.
        customers: how many customers moved.
        leads: how many open leads moved.
        opportunities: how many open opportunities moved.
        complaints: how many open complaints moved.
    """

    transfer_id: UUID
    from_owner: str
    to_owners: tuple[str, ...]
    customers: int
    leads: int
    opportunities: int
    complaints: int
