"""The lead aggregate: a prospect not yet a customer, its owner (or the pool) and follow-ups."""

from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._ids import new_id
from crmkit._validation import (
    ON_SETATTR,
    Validated,
    as_list,
    as_tuple,
    check,
    each,
    instance_of,
    optional,
    text,
)
from crmkit.customers._model import (
    Channel,
    _instant,
    _key,
    _name,
    _phone,
    _uuid,
    version_check,
)
from crmkit.errors import Issue, ValidationError
from crmkit.pipeline._assignment import Decision

__all__ = [
    "PROBABILITY_PLACES",
    "SOURCE_CHANNELS",
    "FollowUp",
    "IntentGrade",
    "Lead",
    "LeadStatus",
]

SOURCE_CHANNELS = ("trade_show", "website", "short_video", "referral")
"""Source channels crmkit names; a host uses any other key of the same form (``"wechat_ad"``)."""

PROBABILITY_PLACES = 4
"""The most decimal places of a lead's probability (``0.3750``), so every store keeps it exactly."""

_SOURCE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _source(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not _SOURCE.fullmatch(value):
        return (
            f"{value[:70]!r} is not a channel key: lower-case letters, digits and '_', "
            "starting with a letter, at most 64 (e.g. 'trade_show')"
        )
    return None


def _probability(value: object) -> str | None:
    if not isinstance(value, Decimal):
        return f"must be a Decimal, not {type(value).__name__}"
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        return f"{value} is not a probability from 0 to 1"
    if value.as_tuple().exponent < -PROBABILITY_PLACES:  # type: ignore[operator]  # finite
        return f"{value} has more than {PROBABILITY_PLACES} decimal places"
    return None


class IntentGrade(enum.StrEnum):
    """How keen a lead is to buy, as the salesperson judges it."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class LeadStatus(enum.StrEnum):
    """Where a lead stands: still worked on, turned into a customer, or dropped."""

    OPEN = "open"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


@attrs.frozen(kw_only=True)
class FollowUp(Validated):
    """One contact with a lead: a call, a message, a visit.

    Attributes:
        at: when it happened (UTC).
        by: the salesperson who made it.
        channel: how (call, SMS, email, message, visit).
        note: what was said or agreed, in words.
    """

    at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    by: str = attrs.field(metadata=check(_key))
    channel: Channel = attrs.field(metadata=check(instance_of(Channel)))
    note: str = attrs.field(
        default="", metadata=check(text(max_length=2000, blank=True, multiline=True))
    )


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Lead(Validated):
    """A prospect: where it came from, how keen it is, who works it and how it was followed up.

    A lead in the pool has no owner; `assign` gives it to a salesperson with the `Decision` that
    chose them, and `return_to_pool` takes it back (a reclaim). Converting or disqualifying a lead
    closes it.

    Examples:
        >>> import pendulum
        >>> from crmkit.customers import Channel
        >>> from crmkit.pipeline import Decision, FollowUp, Lead
        >>> lead = Lead(name="Zhao Lei", company="杭州青禾贸易", source="trade_show")
        >>> lead.in_pool
        True
        >>> at = pendulum.datetime(2026, 3, 2, 9)
        >>> lead.assign(Decision.manual("li.na", "met at the fair"), at=at)
        >>> lead.follow_up(FollowUp(at=at.add(hours=2), by="li.na", channel=Channel.CALL))
        >>> lead.owner_id, len(lead.follow_ups)
        ('li.na', 1)

    Attributes:
        name: the person's name.
        source: the channel the lead came from: a key such as ``"trade_show"``, ``"website"``,
            ``"short_video"``, ``"referral"``, or one of the host's own (see `SOURCE_CHANNELS`).
        id: the lead's identifier; a new UUIDv7 by default.
        company: the organisation the person is with, if any.
        intent: the intent grade.
        probability: the estimated chance it becomes a customer, from 0 to 1 (at most
            `PROBABILITY_PLACES` decimal places); ``None`` until someone estimates it.
        industry: the industry, as a key the host chooses (``"retail"``).
        size: the size of the organisation, as a key the host chooses (``"50-200"``).
        territory: the sales territory it falls in (``"east"``), for assignment by territory.
        phones: phone numbers, E.164.
        emails: email addresses.
        owner_id: the salesperson working the lead; ``None`` while it is in the shared pool.
        assigned_at: when it was given to its owner (UTC); ``None`` in the pool.
        decision: the assignment decision that chose the owner; ``None`` in the pool.
        follow_ups: every follow-up, in the order recorded.
        status: open, converted or disqualified.
        disqualified_reason: why it was dropped; set exactly when it is disqualified.
        created_at: when the lead was first stored (UTC); `crmkit.pipeline.add_lead` sets it
            from the unit of work's clock when it is ``None``.
        reclaim_at: when the lead goes back to the pool unless followed up before (UTC); the
            services set it from the owner's time zone, and stores find due leads by it.
            ``None`` while the lead has no owner or is closed.
        customer_id: the customer it was converted into; set exactly when converted.
        contact_id: the contact it became, if the conversion made or chose one.
        opportunity_id: the opportunity the conversion opened, if any.
        version: how many times the lead was stored; 0 until it is first added.
    """

    name: str = attrs.field(metadata=check(_name))
    source: str = attrs.field(metadata=check(_source))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    company: str | None = attrs.field(default=None, metadata=check(optional(_name)))
    intent: IntentGrade = attrs.field(
        default=IntentGrade.MEDIUM, metadata=check(instance_of(IntentGrade))
    )
    probability: Decimal | None = attrs.field(default=None, metadata=check(optional(_probability)))
    industry: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    size: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    territory: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    phones: tuple[PhoneNumber, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(_phone))
    )
    emails: tuple[EmailAddress, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(EmailAddress)))
    )
    owner_id: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    assigned_at: pendulum.DateTime | None = attrs.field(
        default=None, metadata=check(optional(_instant))
    )
    decision: Decision | None = attrs.field(
        default=None, metadata=check(optional(instance_of(Decision)))
    )
    follow_ups: list[FollowUp] = attrs.field(
        factory=list, converter=as_list, metadata=check(each(instance_of(FollowUp)))
    )
    status: LeadStatus = attrs.field(
        default=LeadStatus.OPEN, metadata=check(instance_of(LeadStatus))
    )
    disqualified_reason: str | None = attrs.field(
        default=None, metadata=check(optional(text(max_length=500)))
    )
    created_at: pendulum.DateTime | None = attrs.field(
        default=None, metadata=check(optional(_instant))
    )
    reclaim_at: pendulum.DateTime | None = attrs.field(
        default=None, metadata=check(optional(_instant))
    )
    customer_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    contact_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    opportunity_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        found: list[Issue] = []
        owned = self.owner_id is not None
        if (self.assigned_at is not None) != owned:
            found.append(Issue("assigned_at", "must be set exactly when the lead has an owner"))
        if (self.decision is not None) != owned:
            found.append(Issue("decision", "must be set exactly when the lead has an owner"))
        elif self.decision is not None and self.decision.salesperson_id != self.owner_id:
            found.append(
                Issue(
                    "decision.salesperson_id",
                    f"{self.decision.salesperson_id!r} is not the owner {self.owner_id!r}",
                )
            )
        if self.reclaim_at is not None and not (owned and self.status is LeadStatus.OPEN):
            found.append(Issue("reclaim_at", "is only set on an open lead with an owner"))
        converted = self.status is LeadStatus.CONVERTED
        if (self.customer_id is not None) != converted:
            found.append(Issue("customer_id", "must be set exactly when the lead is converted"))
        found.extend(
            Issue(name, "is only set on a converted lead")
            for name in ("contact_id", "opportunity_id")
            if getattr(self, name) is not None and not converted
        )
        disqualified = self.status is LeadStatus.DISQUALIFIED
        if (self.disqualified_reason is not None) != disqualified:
            found.append(
                Issue("disqualified_reason", "must be set exactly when the lead is disqualified")
            )
        return found

    @property
    def in_pool(self) -> bool:
        """Whether the lead is open and has no owner (any salesperson may pick it up)."""
        return self.status is LeadStatus.OPEN and self.owner_id is None

    @property
    def last_follow_up(self) -> FollowUp | None:
        """The latest follow-up by time, or ``None`` if there is none."""
        return max(self.follow_ups, key=lambda f: f.at, default=None)

    def _require_open(self, operation: str) -> None:
        if self.status is not LeadStatus.OPEN:
            raise ValidationError.of("status", f"the lead is {self.status}; cannot {operation} it")

    def assign(self, decision: Decision, *, at: dt.datetime) -> None:
        """Give the lead to the salesperson `decision` names, storing the decision.

        Assigning an owned lead hands it over; the reclaim clock starts again at `at`.

        Raises:
            ValidationError: the lead is not open, `decision` is not a `Decision`, or `at` is
                not an aware datetime.
        """
        self._require_open("assign")
        if not isinstance(decision, Decision):
            raise ValidationError.of(
                "decision", f"must be a Decision, not {type(decision).__name__}"
            )
        when = to_utc(at, "at")
        problem = _instant(when)
        if problem is not None:
            raise ValidationError.of("at", problem)
        # Set together: the invariants tie owner, time and decision.
        object.__setattr__(self, "owner_id", decision.salesperson_id)
        object.__setattr__(self, "assigned_at", when)
        object.__setattr__(self, "decision", decision)

    def return_to_pool(self) -> None:
        """Take the lead from its owner back to the shared pool (what a reclaim does).

        Raises:
            ValidationError: the lead is not open or has no owner.
        """
        self._require_open("return to the pool")
        if self.owner_id is None:
            raise ValidationError.of("owner_id", "the lead is already in the pool")
        object.__setattr__(self, "owner_id", None)
        object.__setattr__(self, "assigned_at", None)
        object.__setattr__(self, "decision", None)
        object.__setattr__(self, "reclaim_at", None)

    def follow_up(self, follow_up: FollowUp) -> None:
        """Record a follow-up.

        Raises:
            ValidationError: the lead is not open, or `follow_up` is not a `FollowUp`.
        """
        self._require_open("follow up")
        if not isinstance(follow_up, FollowUp):
            raise ValidationError.of(
                "follow_up", f"must be a FollowUp, not {type(follow_up).__name__}"
            )
        self.follow_ups.append(follow_up)

    def disqualify(self, reason: str) -> None:
        """Drop the lead, saying why (``"no budget this year"``).

        Raises:
            ValidationError: the lead is not open, or `reason` is blank or too long.
        """
        self._require_open("disqualify")
        problem = text(max_length=500)(reason)
        if problem is not None:
            raise ValidationError.of("reason", problem)
        object.__setattr__(self, "status", LeadStatus.DISQUALIFIED)
        object.__setattr__(self, "disqualified_reason", reason)
        object.__setattr__(self, "reclaim_at", None)

    def mark_converted(
        self,
        customer_id: UUID,
        *,
        contact_id: UUID | None = None,
        opportunity_id: UUID | None = None,
    ) -> None:
        """Close the lead as converted into the customer `customer_id`, linking what it became.

        Raises:
            ValidationError: the lead is not open (converting twice is refused), or an id is
                not a UUID.
        """
        self._require_open("convert")
        links = {
            "customer_id": customer_id,
            "contact_id": contact_id,
            "opportunity_id": opportunity_id,
        }
        for name, value in links.items():
            problem = None if value is None and name != "customer_id" else _uuid(value)
            if problem is not None:
                raise ValidationError.of(name, problem)
        for name, value in links.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "status", LeadStatus.CONVERTED)
        object.__setattr__(self, "reclaim_at", None)
