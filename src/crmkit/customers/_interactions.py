"""The interaction timeline: calls, emails, visits, meetings, notes and complaints."""

from __future__ import annotations

import enum
from uuid import UUID

import attrs
import pendulum

from crmkit._ids import new_id
from crmkit._validation import ON_SETATTR, Validated, check, instance_of, key_text, optional, text
from crmkit.customers._model import _instant, _uuid, version_check

__all__ = ["Interaction", "InteractionKind"]


class InteractionKind(enum.StrEnum):
    """What kind of contact with the customer an interaction was."""

    CALL = "call"
    EMAIL = "email"
    VISIT = "visit"
    MEETING = "meeting"
    NOTE = "note"
    COMPLAINT = "complaint"


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Interaction(Validated):
    """One entry of a customer's timeline: who did what with the customer, and when.

    Interactions are their own records rather than part of the `Customer` aggregate: a timeline
    only grows, and loading a customer should not load years of calls.

    Attributes:
        customer_id: the customer it concerns.
        kind: call, email, visit, meeting, note or complaint.
        occurred_at: when it happened (UTC).
        actor_id: who did it (a user id of the host app).
        summary: what happened, in words.
        contact_id: the contact at the customer it involved, if one.
        id: the interaction's identifier; a new UUIDv7 by default.
        version: how many times it was stored; 0 until it is first added.
    """

    customer_id: UUID = attrs.field(metadata=check(_uuid))
    kind: InteractionKind = attrs.field(metadata=check(instance_of(InteractionKind)))
    occurred_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    actor_id: str = attrs.field(metadata=check(key_text(max_length=64)))
    summary: str = attrs.field(metadata=check(text(max_length=4000, multiline=True)))
    contact_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(version_check))
