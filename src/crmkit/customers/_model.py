"""The customer aggregate: a customer (company or person) and its contacts."""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Iterator, Mapping
from decimal import Decimal
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import FIRST_INSTANT, LAST_INSTANT, to_utc
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._ids import new_id
from crmkit._validation import (
    INT64,
    ON_SETATTR,
    Check,
    SimpleCheck,
    Validated,
    as_frozenset,
    as_list,
    as_tuple,
    bounded_int,
    check,
    each,
    instance_of,
    key_text,
    optional,
    shown,
    text,
)
from crmkit.errors import Issue, NotFound, ValidationError

__all__ = [
    "DEFAULT_TIERS",
    "Address",
    "Anniversary",
    "BuyingRole",
    "Channel",
    "Contact",
    "CustomValue",
    "Customer",
    "CustomerKind",
    "DoNotContact",
    "LifecycleStage",
    "QuietHours",
    "Tier",
]

CustomValue = str | int | bool | Decimal | dt.date
"""Values a custom field may hold. Floats are not among them: use `Decimal`."""


class CustomerKind(enum.StrEnum):
    """Whether a customer is an organisation or a private person."""

    COMPANY = "company"
    PERSON = "person"


class LifecycleStage(enum.StrEnum):
    """Where a customer is in its relationship with the business."""

    LEAD = "lead"
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    REPEAT_CUSTOMER = "repeat_customer"
    AT_RISK = "at_risk"
    CHURNED = "churned"
    WON_BACK = "won_back"


class BuyingRole(enum.StrEnum):
    """A contact's part in the customer's buying process."""

    DECISION_MAKER = "decision_maker"
    PURCHASER = "purchaser"
    TECHNICAL_EVALUATOR = "technical_evaluator"
    INFLUENCER = "influencer"
    USER = "user"
    CHAMPION = "champion"
    GATEKEEPER = "gatekeeper"


class Channel(enum.StrEnum):
    """A way of reaching a customer, as do-not-contact windows name them."""

    CALL = "call"
    SMS = "sms"
    EMAIL = "email"
    MESSAGE = "message"
    VISIT = "visit"


# --- checks shared by the classes below ----------------------------------------------------------

_name: SimpleCheck = text(max_length=200)
_note = text(max_length=2000, multiline=True)
_key = key_text(max_length=64)
_external = key_text(max_length=128)


def _uuid(value: object) -> str | None:
    return None if isinstance(value, UUID) else f"must be a UUID, not {type(value).__name__}"


def _phone(value: object) -> str | None:
    if not isinstance(value, str):
        return _is_phone(value)
    if value.strip().startswith("+"):
        return f"must be a PhoneNumber, not a str: use PhoneNumber.parse({value!r})"
    return (
        f"must be a PhoneNumber, not a str: use PhoneNumber.parse({value!r}, region='CN') "
        "(region: the country of numbers written without a country code)"
    )


_is_phone = instance_of(PhoneNumber)


def _date(value: object) -> str | None:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        return f"must be a date, not {type(value).__name__}"
    if value.year < 1000:  # noqa: PLR2004 (MariaDB's DATE starts at year 1000)
        return "must be in year 1000 or later"
    return None


def _instant(value: object) -> str | None:
    if not isinstance(value, pendulum.DateTime):
        return f"must be a pendulum DateTime, not {type(value).__name__}"
    if value.tzinfo is None or value.utcoffset() != dt.timedelta(0):
        return "must be in UTC (use crmkit.to_utc)"
    if not FIRST_INSTANT <= value <= LAST_INSTANT:
        return (
            f"{value.isoformat()} is outside 1000-01-01T00:00:00Z .. "
            "9999-12-30T23:59:59.999999Z, the instants every store can hold"
        )
    return None


MAX_VERSION = 2**31 - 2
"""The highest version a record may be read at: stores keep versions in a 32-bit ``INTEGER``
column, and the next write stores this plus one."""


def version_check(value: object) -> str | None:
    """The check of an entity's ``version``: a whole number from 0 to `MAX_VERSION`."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, not {type(value).__name__}"
    if value < 0:
        return "must not be negative"
    if value > MAX_VERSION:
        return f"{shown(value)} is out of range; versions go up to {MAX_VERSION}"
    return None


def _timezone(value: object) -> str | None:
    problem = _key(value)
    if problem is not None:
        return problem
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder's name
        return f"{shown(value)} is not an IANA time zone such as 'Asia/Shanghai'"
    return None


def _enum_set(kind: type[enum.Enum]) -> Check:
    def check_set(value: object) -> str | None:
        if not isinstance(value, frozenset):
            return f"must be a frozenset, not {type(value).__name__}"
        bad = [v for v in value if not isinstance(v, kind)]
        return f"{shown(bad[0])} is not a {kind.__name__}" if bad else None

    return check_set


_custom_int = bounded_int(*INT64)
_custom_text = text(max_length=2000, blank=True, multiline=True)
MAX_DECIMAL_DIGITS = 100
"""The most digits a `Decimal` custom value may have (it is stored as text, exactly)."""


def _custom_values(value: object) -> str | list[Issue] | None:
    if not isinstance(value, dict):
        return f"must be a dict, not {type(value).__name__}"
    found: list[Issue] = []
    for name, item in value.items():
        problem = _key(name)
        if problem is not None:
            found.append(Issue(f"[{shown(name)}]", f"field name {problem}"))
            continue
        problem = custom_value_problem(item)
        if problem is not None:
            found.append(Issue(name, problem))
    return found


def custom_value_problem(value: object) -> str | None:
    """What keeps `value` from being stored as a custom field value, or ``None``.

    Every value accepted here reads back equal from every store: integers fit 64 bits, decimals
    are finite (and kept as text), dates are dates and not datetimes.
    """
    if isinstance(value, bool) or (
        isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    ):
        return None
    if isinstance(value, int):
        return _custom_int(value)
    if isinstance(value, str):
        return _custom_text(value)
    if isinstance(value, Decimal):
        return _custom_decimal(value)
    if isinstance(value, dt.datetime):
        return "must be a date, not a datetime (a custom field holds no time of day)"
    return f"{type(value).__name__} is not a custom field value (str, int, bool, Decimal, date)"


def _custom_decimal(value: Decimal) -> str | None:
    if not value.is_finite():
        return f"{value} is not a finite number"
    if len(value.as_tuple().digits) > MAX_DECIMAL_DIGITS:
        return f"has more than {MAX_DECIMAL_DIGITS} digits"
    return None


def _moment(at: object, channel: object) -> pendulum.DateTime:
    """`at` as a UTC instant, if `channel` is a `Channel` or ``None``; else `ValidationError`."""
    if channel is not None and not isinstance(channel, Channel):
        raise ValidationError.of(
            "channel", f"must be a Channel or None, not {type(channel).__name__}"
        )
    return to_utc(at, "at")


# --- value objects -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Tier(Validated):
    """A customer tier and the service level that comes with it.

    Attributes:
        code: the tier's short name, e.g. ``"A"``.
        service_level: what customers of this tier get, e.g. ``"dedicated service"``.
    """

    code: str = attrs.field(metadata=check(key_text(max_length=16)))
    service_level: str = attrs.field(default="", metadata=check(text(max_length=200, blank=True)))


DEFAULT_TIERS: Mapping[str, Tier] = {
    "A": Tier(code="A", service_level="dedicated service"),
    "B": Tier(code="B", service_level="quarterly visit"),
    "C": Tier(code="C", service_level="monthly newsletter"),
}
"""The reference tiers: A gets a dedicated service, B a quarterly visit, C a monthly newsletter."""


@attrs.frozen(kw_only=True)
class Anniversary(Validated):
    """A date worth remembering every year, such as the day the customer first signed.

    Attributes:
        label: what is remembered, e.g. ``"first contract"``.
        date: the original date; reminders recur on its month and day.
    """

    label: str = attrs.field(metadata=check(_name))
    date: dt.date = attrs.field(metadata=check(_date))


@attrs.frozen(kw_only=True)
class DoNotContact(Validated):
    """A window in which the customer must not be contacted (through some or all channels).

    Attributes:
        start: the first instant of the window (UTC).
        end: the instant the window ends, excluded (UTC).
        channels: the channels it blocks; empty blocks every channel.
        reason: why, in words (``"no calls this week"``).
    """

    start: pendulum.DateTime = attrs.field(metadata=check(_instant))
    end: pendulum.DateTime = attrs.field(metadata=check(_instant))
    channels: frozenset[Channel] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(_enum_set(Channel))
    )
    reason: str = attrs.field(default="", metadata=check(text(max_length=200, blank=True)))

    def _invariants(self) -> list[Issue]:
        return [] if self.end > self.start else [Issue("end", "must be after start")]

    def blocks(self, at: pendulum.DateTime, channel: Channel | None = None) -> bool:
        """Whether this window forbids contact at `at` (through `channel`, or any channel).

        Raises:
            ValidationError: `at` is not an aware datetime, or `channel` is not a `Channel`.
        """
        at = _moment(at, channel)
        if not self.start <= at < self.end:
            return False
        return not self.channels or channel is None or channel in self.channels


def _time(value: object) -> str | None:
    if not isinstance(value, dt.time):
        return f"must be a time of day, not {type(value).__name__}"
    if value.tzinfo is not None:
        return "must be a local time of day without a time zone (the person's zone applies)"
    if value.second or value.microsecond:
        return "must be a whole minute"
    return None


@attrs.frozen(kw_only=True)
class QuietHours(Validated):
    """The daily hours in which a person must not be contacted, in their own time zone.

    A window that ends before it starts runs over midnight: 21:00 to 08:00 is quiet at 23:30
    and at 07:59, not at 08:00.

    Examples:
        >>> import datetime as dt
        >>> night = QuietHours(start=dt.time(21), end=dt.time(8))
        >>> night.covers(dt.time(23, 30)), night.covers(dt.time(8))
        (True, False)

    Attributes:
        start: the first quiet minute, local time.
        end: the first minute contact is allowed again, local time (excluded).
    """

    start: dt.time = attrs.field(metadata=check(_time))
    end: dt.time = attrs.field(metadata=check(_time))

    def _invariants(self) -> list[Issue]:
        return [] if self.end != self.start else [Issue("end", "must differ from start")]

    def covers(self, local: dt.time) -> bool:
        """Whether the local time of day `local` falls in the quiet hours."""
        local = local.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


_address_line = text(max_length=200, blank=True)


def _country(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a str, not {type(value).__name__}"
    if len(value) != 2 or not value.isascii() or not value.isalpha() or not value.isupper():  # noqa: PLR2004
        return f"{shown(value)} is not an ISO 3166-1 alpha-2 country code such as 'CN'"
    return None


@attrs.frozen(kw_only=True)
class Address(Validated):
    """A postal address, as written in its country (every part may be left empty).

    Attributes:
        street: street and number, or the whole address on one line (``"南山区科技园路1号"``).
        city: the city (``"深圳市"``, ``"Hamburg"``).
        region: the province, state or region (``"广东省"``).
        postcode: the postal code (``"518057"``).
        country: the ISO 3166-1 alpha-2 code (``"CN"``), if known.
    """

    street: str = attrs.field(default="", metadata=check(_address_line))
    city: str = attrs.field(default="", metadata=check(text(max_length=100, blank=True)))
    region: str = attrs.field(default="", metadata=check(text(max_length=100, blank=True)))
    postcode: str = attrs.field(default="", metadata=check(text(max_length=16, blank=True)))
    country: str | None = attrs.field(default=None, metadata=check(optional(_country)))

    def one_line(self) -> str:
        """The parts that are set, joined by ", " (street first)."""
        return ", ".join(p for p in (self.street, self.postcode, self.city, self.region) if p)


# --- entities ------------------------------------------------------------------------------------


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Contact(Validated):
    """A person at a customer: their buying roles, place in the decision tree and how to reach them.

    Attributes:
        name: the person's name, as they write it (``"王伟"``, ``"Wang Wei"``).
        id: the contact's identifier; a new UUIDv7 by default.
        title: job title (``"采购经理"``, ``"CTO"``).
        roles: parts in the buying process (decision maker, purchaser, ...).
        reports_to: the id of the contact at the same customer this person reports to.
        phones: phone numbers, E.164.
        emails: email addresses.
        birthday: the day of birth, if known.
        external_id: the contact's id in the host's or an imported system, unique in a tenant.
        timezone: the IANA time zone the person lives in; ``None`` for the customer's.
        opt_outs: channels the person asked never to be contacted through.
        quiet_hours: daily hours, in the person's time zone, without contact.
        do_not_contact: windows in which the person must not be contacted.
    """

    name: str = attrs.field(metadata=check(_name))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    title: str | None = attrs.field(default=None, metadata=check(optional(_name)))
    roles: frozenset[BuyingRole] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(_enum_set(BuyingRole))
    )
    reports_to: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    phones: tuple[PhoneNumber, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(_phone))
    )
    emails: tuple[EmailAddress, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(EmailAddress)))
    )
    birthday: dt.date | None = attrs.field(default=None, metadata=check(optional(_date)))
    external_id: str | None = attrs.field(default=None, metadata=check(optional(_external)))
    timezone: str | None = attrs.field(default=None, metadata=check(optional(_timezone)))
    opt_outs: frozenset[Channel] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(_enum_set(Channel))
    )
    quiet_hours: QuietHours | None = attrs.field(
        default=None, metadata=check(optional(instance_of(QuietHours)))
    )
    do_not_contact: tuple[DoNotContact, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(DoNotContact)))
    )

    def _invariants(self) -> list[Issue]:
        if self.reports_to == self.id:
            return [Issue("reports_to", "a contact cannot report to themselves")]
        return []


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Customer(Validated):
    """A customer, company or person, with its contacts: the customer aggregate.

    Everything about the customer that must change together lives here; the interaction
    timeline is kept apart (see `Interaction`) because it only grows.

    Examples:
        >>> from crmkit.customers import Customer, Contact, BuyingRole
        >>> acme = Customer(name="上海云杉科技有限公司", owner_id="wang.fang", code="C-0001")
        >>> boss = Contact(name="李明", roles=frozenset({BuyingRole.DECISION_MAKER}))
        >>> acme.add_contact(boss)
        >>> acme.add_contact(Contact(name="Chen Jie", reports_to=boss.id))
        >>> [c.name for c in acme.chain_of_command(acme.contacts[1].id)]
        ['Chen Jie', '李明']

    Attributes:
        name: the customer's name.
        owner_id: the id (in the host's user system) of the salesperson who owns the customer.
        id: the customer's identifier; a new UUIDv7 by default.
        kind: company or person.
        code: the host's customer code, unique within a tenant, if it uses one.
        external_id: the customer's id in the host's or an imported system, unique within a
            tenant: importing a file again updates the customers it names.
        address: the postal address.
        lifecycle: the lifecycle stage.
        source: the channel the customer came from (``"trade_show"``, ``"website"``, ...).
        tags: free labels (``"budget 100k+"``).
        custom_fields: values of the host's custom fields, checked against its
            `CustomFieldSchema` when stored.
        preferences: preferences and special needs, in words (``"prefers eco packaging"``).
        birthday: for a person, the day of birth.
        anniversaries: other yearly dates worth a greeting.
        timezone: the IANA time zone the customer lives in; rules that speak of "09:00" use it.
        do_not_contact: windows in which the customer must not be contacted.
        tier: the customer's tier and its service level.
        contacts: the people at the customer.
        version: how many times the customer was stored; 0 until it is first added.
    """

    name: str = attrs.field(metadata=check(_name))
    owner_id: str = attrs.field(metadata=check(_key))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    kind: CustomerKind = attrs.field(
        default=CustomerKind.COMPANY, metadata=check(instance_of(CustomerKind))
    )
    code: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    external_id: str | None = attrs.field(default=None, metadata=check(optional(_external)))
    address: Address | None = attrs.field(
        default=None, metadata=check(optional(instance_of(Address)))
    )
    lifecycle: LifecycleStage = attrs.field(
        default=LifecycleStage.LEAD, metadata=check(instance_of(LifecycleStage))
    )
    source: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    tags: frozenset[str] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(each(_key))
    )
    custom_fields: dict[str, CustomValue] = attrs.field(
        factory=dict, metadata=check(_custom_values)
    )
    preferences: tuple[str, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(text(max_length=500)))
    )
    birthday: dt.date | None = attrs.field(default=None, metadata=check(optional(_date)))
    anniversaries: tuple[Anniversary, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(Anniversary)))
    )
    timezone: str = attrs.field(default="UTC", metadata=check(_timezone))
    do_not_contact: tuple[DoNotContact, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(DoNotContact)))
    )
    tier: Tier | None = attrs.field(default=None, metadata=check(optional(instance_of(Tier))))
    contacts: list[Contact] = attrs.field(
        factory=list, converter=as_list, metadata=check(each(instance_of(Contact)))
    )
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        found: list[Issue] = []
        ids: set[UUID] = set()
        for i, c in enumerate(self.contacts):
            if c.id in ids:
                found.append(Issue(f"contacts[{i}].id", f"{c.id} appears twice"))
            ids.add(c.id)
        reporting = False
        for i, c in enumerate(self.contacts):
            if c.reports_to is not None:
                reporting = True
                if c.reports_to not in ids:
                    found.append(
                        Issue(
                            f"contacts[{i}].reports_to",
                            f"{c.reports_to} is not a contact of this customer",
                        )
                    )
        if reporting and not found:
            found.extend(self._cycles())
        return found

    def _cycles(self) -> Iterator[Issue]:
        boss = {c.id: c.reports_to for c in self.contacts}
        settled: set[UUID] = set()  # contacts whose reporting line is known to end at a top
        for i, c in enumerate(self.contacts):
            walked: list[UUID] = []
            up: UUID | None = c.id
            while up is not None and up not in settled:
                if up in walked:
                    yield Issue(
                        f"contacts[{i}].reports_to", "the reporting line goes round in a circle"
                    )
                    break
                walked.append(up)
                up = boss.get(up)
            else:
                settled.update(walked)

    def contact(self, contact_id: UUID) -> Contact:
        """The contact with `contact_id`.

        Raises:
            NotFound: the customer has no such contact.
            ValidationError: `contact_id` is not a UUID.
        """
        if not isinstance(contact_id, UUID):
            raise ValidationError.of(
                "contact_id", f"must be a UUID, not {type(contact_id).__name__}"
            )
        for c in self.contacts:
            if c.id == contact_id:
                return c
        raise NotFound("contact", contact_id)

    def add_contact(self, contact: Contact) -> None:
        """Add `contact`, checking that the decision tree stays valid.

        Raises:
            ValidationError: the contact's id is taken, or it reports to an unknown contact.
        """
        if not isinstance(contact, Contact):
            raise ValidationError.of("contact", f"must be a Contact, not {type(contact).__name__}")
        self.contacts.append(contact)
        found = self._invariants()
        if found:
            self.contacts.pop()
            raise ValidationError(found)

    def chain_of_command(self, contact_id: UUID) -> list[Contact]:
        """The contact with `contact_id` followed by whom they report to, up to the top."""
        chain = [self.contact(contact_id)]
        while chain[-1].reports_to is not None:
            chain.append(self.contact(chain[-1].reports_to))
        return chain

    def reports_of(self, contact_id: UUID) -> list[Contact]:
        """The contacts who report directly to the contact with `contact_id`."""
        return [c for c in self.contacts if c.reports_to == contact_id]

    def is_contactable(self, at: pendulum.DateTime, channel: Channel | None = None) -> bool:
        """Whether the customer may be contacted at `at` through `channel` (or at all).

        Examples:
            >>> import pendulum
            >>> from crmkit.customers import Customer, DoNotContact, Channel
            >>> week = DoNotContact(start=pendulum.datetime(2026, 3, 2),
            ...                     end=pendulum.datetime(2026, 3, 9),
            ...                     channels=frozenset({Channel.CALL}), reason="no calls this week")
            >>> c = Customer(name="Acme", owner_id="li", do_not_contact=(week,))
            >>> c.is_contactable(pendulum.datetime(2026, 3, 4), Channel.CALL)
            False
            >>> c.is_contactable(pendulum.datetime(2026, 3, 4), Channel.EMAIL)
            True
        """
        at = _moment(at, channel)
        return not any(w.blocks(at, channel) for w in self.do_not_contact)
