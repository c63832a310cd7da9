"""Contact permission: may we contact this person through this channel now, and if not, when?

One pure function, `may_contact`, reads the rules on the domain objects: the customer's
do-not-contact windows (they cover every contact of the customer), the contact's own windows,
the channels the contact opted out of, and the contact's quiet hours, read in the person's own
time zone (the contact's, else the customer's). It answers with a `ContactPermission`: whether
contact is allowed, every rule that forbids it now (`Refusal`), and the earliest instant from
which it is allowed (``None`` when never: an opt-out is for good).

The earliest instant is found by stepping from rule to rule: from `at`, jump to the latest
instant at which a rule blocking now stops blocking (a window's end, the end of tonight's quiet
hours in the person's zone), and look again, until nothing blocks. Every instant skipped was
blocked by some rule, so the answer is the earliest allowed instant. The end of quiet hours is
the first instant whose local time is outside them: on a day the clocks spring forward over the
end (quiet until 02:30 in New York on the second Sunday of March), that is the instant the
clocks jump (03:00 EDT), not half an hour later.
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import LAST_INSTANT, to_utc
from crmkit.customers._model import Channel, Contact, Customer, DoNotContact, QuietHours
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = ["ContactPermission", "Refusal", "RefusalKind", "check_contact", "may_contact"]

_ALL_CHANNELS = frozenset(Channel)
_LAST = to_utc(LAST_INSTANT)


class RefusalKind(enum.StrEnum):
    """Which kind of rule forbids contact."""

    CUSTOMER_WINDOW = "customer_window"
    """A do-not-contact window of the customer: it covers all of its contacts."""
    CONTACT_WINDOW = "contact_window"
    """A do-not-contact window of the contact alone."""
    OPT_OUT = "opt_out"
    """The contact opted out of the channel: for good."""
    QUIET_HOURS = "quiet_hours"
    """The contact's daily quiet hours, in their own time zone."""


@attrs.frozen(kw_only=True)
class Refusal:
    """One rule that forbids contact at the moment asked about.

    Attributes:
        kind: which kind of rule.
        text: the rule in words: ``"opted out of sms"``,
            ``"quiet hours 21:00-08:00 Asia/Shanghai"``,
            ``"no calls this week (until 2026-03-09T00:00Z)"``.
        until: when this rule alone stops forbidding contact (UTC); ``None`` for an opt-out,
            which never does.
    """

    kind: RefusalKind
    text: str
    until: pendulum.DateTime | None

    def __str__(self) -> str:
        return self.text


@attrs.frozen(kw_only=True)
class ContactPermission:
    """The answer of `may_contact`: allowed or not, why not, and from when.

    True in a boolean context exactly when contact is allowed.

    Attributes:
        allowed: whether contact is allowed at `at`.
        channel: the channel asked about.
        at: the moment asked about (UTC).
        reasons: every rule that forbids contact at `at`; empty when allowed.
        allowed_from: the earliest instant, at or after `at`, at which contact is allowed
            given all the rules (`at` itself when allowed now); ``None`` when it never is (the
            person opted out of the channel) or not before the year 10000. Rules may forbid
            contact again later (tomorrow's quiet hours): it is where the first allowed stretch
            begins.
    """

    allowed: bool
    channel: Channel
    at: pendulum.DateTime
    reasons: tuple[Refusal, ...]
    allowed_from: pendulum.DateTime | None

    def __bool__(self) -> bool:
        return self.allowed

    def explain(self) -> list[str]:
        """The answer in words, one line per reason."""
        if self.allowed:
            return [f"{self.channel} allowed"]
        return [str(r) for r in self.reasons]


def may_contact(
    customer: Customer,
    channel: Channel,
    at: dt.datetime,
    *,
    contact_id: UUID | None = None,
    quiet_channels: Iterable[Channel] | None = None,
) -> ContactPermission:
    """May the customer (or one of its contacts) be contacted through `channel` at `at`?

    The customer's do-not-contact windows apply to the customer and to every contact of it;
    the contact's own windows, opt-outs and quiet hours apply to that contact only. Quiet hours
    are read in the contact's time zone, else the customer's, and by default hold for every
    channel: pass `quiet_channels` to name the channels they hold for (a host may decide that an
    email at night disturbs nobody: ``quiet_channels={Channel.CALL, Channel.SMS,
    Channel.VISIT}``).

    Examples:
        >>> import datetime as dt, pendulum
        >>> from crmkit.customers import Channel, Contact, Customer, QuietHours, may_contact
        >>> wang = Contact(name="王伟", timezone="Asia/Shanghai",
        ...                opt_outs=frozenset({Channel.SMS}),
        ...                quiet_hours=QuietHours(start=dt.time(21), end=dt.time(8)))
        >>> acme = Customer(name="Acme", owner_id="li", contacts=[wang])
        >>> night = pendulum.datetime(2026, 3, 2, 15)  # 23:00 in Shanghai
        >>> answer = may_contact(acme, Channel.CALL, night, contact_id=wang.id)
        >>> bool(answer), answer.explain(), answer.allowed_from.isoformat()
        (False, ['quiet hours 21:00-08:00 Asia/Shanghai'], '2026-03-03T00:00:00+00:00')
        >>> may_contact(acme, Channel.SMS, night, contact_id=wang.id).allowed_from is None
        True

    Args:
        customer: the customer, with its contacts.
        channel: how contact would be made.
        at: the moment asked about (an aware datetime).
        contact_id: the contact to reach; ``None`` for the customer itself (only the
            customer's windows apply).
        quiet_channels: the channels quiet hours hold for; every channel when ``None``.

    Raises:
        ValidationError: an argument is not of its type (named), or `at` is naive.
        NotFound: the customer has no contact `contact_id`.
    """
    if not isinstance(customer, Customer):
        raise ValidationError.of("customer", f"must be a Customer, not {type(customer).__name__}")
    if not isinstance(channel, Channel):
        raise ValidationError.of("channel", f"must be a Channel, not {type(channel).__name__}")
    moment = to_utc(at, "at")
    quiet = _quiet_channels(quiet_channels)
    contact = None if contact_id is None else customer.contact(contact_id)
    rules = _Rules(customer, contact, channel, quiet=channel in quiet)
    reasons = rules.refusals(moment)
    return ContactPermission(
        allowed=not reasons,
        channel=channel,
        at=moment,
        reasons=reasons,
        allowed_from=moment if not reasons else rules.allowed_from(moment, reasons),
    )


def check_contact(
    uow: UnitOfWork,
    customer_id: UUID,
    channel: Channel,
    *,
    contact_id: UUID | None = None,
    at: dt.datetime | None = None,
    quiet_channels: Iterable[Channel] | None = None,
) -> ContactPermission:
    """`may_contact` for a stored customer, now by the unit of work's clock (or at `at`).

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Channel, Contact, Customer, check_contact
        >>> crm = crmkit.open("memory://")
        >>> wang = Contact(name="王伟", opt_outs=frozenset({Channel.CALL}))
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li", contacts=[wang]))
        ...     answer = check_contact(uow, acme.id, Channel.CALL, contact_id=wang.id)
        >>> answer.allowed, answer.explain()
        (False, ['opted out of call'])

    Raises:
        NotFound: no such customer in the tenant, or no such contact of it.
        ValidationError: as `may_contact`; `customer_id` is not a UUID.
    """
    if not isinstance(customer_id, UUID):
        raise ValidationError.of("customer_id", f"must be a UUID, not {type(customer_id).__name__}")
    customer = uow.customers.get(customer_id)
    moment = uow.now() if at is None else at
    return may_contact(
        customer, channel, moment, contact_id=contact_id, quiet_channels=quiet_channels
    )


def _quiet_channels(value: object) -> frozenset[Channel]:
    if value is None:
        return _ALL_CHANNELS
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError.of(
            "quiet_channels", f"must be a collection of Channel, not {type(value).__name__}"
        )
    found = frozenset(value)
    for item in found:
        if not isinstance(item, Channel):
            raise ValidationError.of(
                "quiet_channels", f"must hold only Channel values, not {type(item).__name__}"
            )
    return found


class _Rules:
    """The rules that may forbid contacting one person through one channel."""

    def __init__(
        self, customer: Customer, contact: Contact | None, channel: Channel, *, quiet: bool
    ) -> None:
        self.channel = channel
        self.windows = [(RefusalKind.CUSTOMER_WINDOW, w) for w in customer.do_not_contact]
        self.opted_out = False
        self.quiet_hours: QuietHours | None = None
        self.zone_name = customer.timezone
        if contact is not None:
            self.windows += [(RefusalKind.CONTACT_WINDOW, w) for w in contact.do_not_contact]
            self.opted_out = channel in contact.opt_outs
            self.quiet_hours = contact.quiet_hours if quiet else None
            self.zone_name = contact.timezone or customer.timezone
        self.zone = zoneinfo.ZoneInfo(self.zone_name)

    def refusals(self, at: pendulum.DateTime) -> tuple[Refusal, ...]:
        """Every rule that forbids contact at `at`."""
        found: list[Refusal] = []
        if self.opted_out:
            found.append(
                Refusal(kind=RefusalKind.OPT_OUT, text=f"opted out of {self.channel}", until=None)
            )
        for kind, window in self.windows:
            if window.blocks(at, self.channel):
                found.append(Refusal(kind=kind, text=_window_text(window), until=window.end))
        quiet = self.quiet_hours
        if quiet is not None and quiet.covers(_local(at, self.zone).time()):
            found.append(
                Refusal(
                    kind=RefusalKind.QUIET_HOURS,
                    text=f"quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M} {self.zone_name}",
                    until=_quiet_end(at, quiet, self.zone),
                )
            )
        return tuple(found)

    def allowed_from(
        self, at: pendulum.DateTime, reasons: tuple[Refusal, ...]
    ) -> pendulum.DateTime | None:
        """The earliest allowed instant from `at`, where `reasons` forbid contact."""
        moment = at
        while reasons:
            ends = [r.until for r in reasons]
            if any(end is None for end in ends):
                return None
            # Each rule forbids contact from `moment` until its end, so every instant before
            # the latest of the ends is forbidden by one of them.
            moment = max(end for end in ends if end is not None)
            reasons = self.refusals(moment)
        return moment


def _window_text(window: DoNotContact) -> str:
    what = window.reason or (
        "do not contact"
        if not window.channels
        else "no " + ", ".join(sorted(str(c) for c in window.channels))
    )
    return f"{what} (until {_short(window.end)})"


def _short(at: pendulum.DateTime) -> str:
    if at.second or at.microsecond:
        return at.isoformat().replace("+00:00", "Z")
    return at.strftime("%Y-%m-%dT%H:%MZ")


def _local(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return at.astimezone(zone)


def _offset(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.timedelta:
    found = _local(at, zone).utcoffset()
    assert found is not None  # noqa: S101 (a ZoneInfo always has an offset)
    return found


def _quiet_end(
    at: pendulum.DateTime, quiet: QuietHours, zone: zoneinfo.ZoneInfo
) -> pendulum.DateTime | None:
    """The first instant after `at` (which falls in `quiet`) whose local time is outside it.

    ``None`` when that is after the last instant stores hold (in the year 9999).

    Within a stretch of constant UTC offset, local time runs with UTC: the end is the next
    local end time less the offset. If the offset changes before that (a daylight-saving
    transition), the transition instant is found by bisection; if its local time is already
    outside the quiet hours (the clocks jumped over the end), it is the answer, else the search
    goes on from there with the new offset.
    """
    moment: dt.datetime = at
    while True:
        offset = _offset(moment, zone)
        wall = moment.replace(tzinfo=None) + offset
        end_wall = dt.datetime.combine(wall.date(), quiet.end)
        try:
            if quiet.start > quiet.end and wall.time() >= quiet.start:
                end_wall += dt.timedelta(days=1)  # over midnight: it ends tomorrow
            candidate = (end_wall - offset).replace(tzinfo=dt.UTC)
        except OverflowError:  # past the year 9999
            return None
        if candidate > _LAST:
            return None
        if _offset(candidate, zone) == offset:
            return to_utc(candidate)
        moment = _transition(moment, candidate, zone, offset)
        if not quiet.covers(_local(moment, zone).time()):
            return to_utc(moment)


def _transition(
    low: dt.datetime, high: dt.datetime, zone: zoneinfo.ZoneInfo, offset: dt.timedelta
) -> dt.datetime:
    """The first instant in (`low`, `high`] whose offset is not `offset` (`high`'s is not)."""
    one = dt.timedelta(microseconds=1)
    while high - low > one:
        middle = low + (high - low) // 2
        if _offset(middle, zone) == offset:
            low = middle
        else:
            high = middle
    return high
