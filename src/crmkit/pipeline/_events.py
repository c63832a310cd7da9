"""Events about opportunities: created, moved, won, lost, reopened.

Each names the opportunity first, so the outbox delivers one deal's events in order.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import attrs

from crmkit._money import Money
from crmkit.events import DomainEvent

__all__ = ["DealLost", "DealReopened", "DealWon", "OpportunityCreated", "StageChanged"]


@attrs.frozen(kw_only=True)
class OpportunityCreated(DomainEvent):
    """A new opportunity was opened in its pipeline's first stage."""

    opportunity_id: UUID
    pipeline: str
    stage: str
    customer_id: UUID
    owner_id: str
    amount: Money


@attrs.frozen(kw_only=True)
class StageChanged(DomainEvent):
    """An open opportunity moved to another open stage; `probability` is its chance now."""

    opportunity_id: UUID
    pipeline: str
    from_stage: str
    to_stage: str
    probability: Decimal


@attrs.frozen(kw_only=True)
class DealWon(DomainEvent):
    """An opportunity entered its pipeline's won stage from `from_stage`."""

    opportunity_id: UUID
    pipeline: str
    from_stage: str
    amount: Money


@attrs.frozen(kw_only=True)
class DealLost(DomainEvent):
    """An opportunity was lost from `from_stage`, for `reason`, perhaps to `competitor`."""

    opportunity_id: UUID
    pipeline: str
    from_stage: str
    stage: str
    reason: str
    competitor: str | None = None


@attrs.frozen(kw_only=True)
class DealReopened(DomainEvent):
    """A won or lost opportunity was taken back into an open stage, for `reason`."""

    opportunity_id: UUID
    pipeline: str
    from_stage: str
    to_stage: str
    reason: str
