"""Events about customers and their timeline."""

from __future__ import annotations

from uuid import UUID

import attrs

from crmkit.customers._interactions import InteractionKind
from crmkit.events import DomainEvent

__all__ = [
    "CustomerRegistered",
    "CustomerRemoved",
    "CustomerUpdated",
    "CustomersMerged",
    "InteractionLogged",
    "OwnerChanged",
]


@attrs.frozen(kw_only=True)
class CustomerRegistered(DomainEvent):
    """A new customer was stored."""

    customer_id: UUID
    owner_id: str


@attrs.frozen(kw_only=True)
class CustomerUpdated(DomainEvent):
    """A customer's record changed; `version` is the version now stored."""

    customer_id: UUID
    version: int


@attrs.frozen(kw_only=True)
class CustomerRemoved(DomainEvent):
    """A customer and its contacts and timeline were deleted."""

    customer_id: UUID


@attrs.frozen(kw_only=True)
class OwnerChanged(DomainEvent):
    """A customer was handed from one salesperson to another."""

    customer_id: UUID
    previous_owner_id: str
    owner_id: str


@attrs.frozen(kw_only=True)
class InteractionLogged(DomainEvent):
    """A call, email, visit, meeting, note or complaint was added to a customer's timeline."""

    interaction_id: UUID
    customer_id: UUID
    kind: InteractionKind


@attrs.frozen(kw_only=True)
class CustomersMerged(DomainEvent):
    """Customer `merged_id` was merged into customer `survivor_id`, and removed.

    Attributes:
        survivor_id: the customer that stays, with everything of the other's.
        merged_id: the customer merged into it, now gone.
        moved: per record name (``"interaction"``, ``"ledger_entry"``), how many records
            moved to the survivor (its contacts under ``"contact"``).
    """

    survivor_id: UUID
    merged_id: UUID
    moved: dict[str, int]
