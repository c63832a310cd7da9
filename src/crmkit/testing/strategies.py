"""Hypothesis strategies for every crmkit domain type, for crmkit's tests and yours.

Install the ``testing`` extra (``pip install 'crmkit[testing]'``) and draw valid domain objects
with edge values included: amounts of 10**15 and more, microseconds, instants in daylight-saving
folds and at the ends of the range every store holds (years 1000 to 9999), 64-bit integers,
non-BMP text (emoji, rare CJK characters)::

    from hypothesis import given
    from crmkit.testing import strategies as cs

    @given(cs.customers())
    def test_round_trip(customer):
        ...
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from decimal import Context, Decimal
from typing import Any
from uuid import UUID

import pendulum
from hypothesis import strategies as st

from crmkit._clock import FIRST_INSTANT, LAST_INSTANT, to_utc
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._currencies import MINOR_UNITS
from crmkit._ids import new_id
from crmkit._money import MAX_INTEGER_DIGITS, Money
from crmkit.customers import (
    DEFAULT_TIERS,
    MOVES,
    Address,
    Anniversary,
    BuyingRole,
    Channel,
    Complaint,
    ComplaintKind,
    ComplaintStatus,
    Contact,
    Customer,
    CustomerKind,
    CustomerRegistered,
    CustomerRemoved,
    CustomerUpdated,
    CustomField,
    CustomFieldSchema,
    CustomValue,
    DoNotContact,
    FieldType,
    Interaction,
    InteractionKind,
    InteractionLogged,
    LifecycleChange,
    LifecycleStage,
    OwnerChanged,
    QuietHours,
    Tier,
)
from crmkit.events import DomainEvent
from crmkit.pipeline import (
    DealContact,
    Decision,
    FollowUp,
    IntentGrade,
    Lead,
    Opportunity,
    Pipeline,
    b2b_pipeline,
    lose,
    move,
    open_opportunity,
    reopen,
    transactional_pipeline,
    win,
)

__all__ = [
    "addresses",
    "anniversaries",
    "complaints",
    "contacts",
    "currencies",
    "custom_field_schemas",
    "custom_fields",
    "custom_values",
    "customers",
    "dates",
    "do_not_contact_windows",
    "email_addresses",
    "events",
    "ids",
    "instants",
    "interactions",
    "keys",
    "leads",
    "lifecycle_changes",
    "money",
    "opportunities",
    "phone_numbers",
    "quiet_hours",
    "texts",
    "tiers",
    "timezones",
]

TIMEZONES = (
    "UTC",
    "Asia/Shanghai",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
)
"""Time zones with daylight saving on both hemispheres, and some without."""
# Real numbers in national format per region; each passes PhoneNumber.parse.
_NATIONAL = {
    "CN": ("138{:08d}", "139{:08d}", "186{:08d}", "150{:08d}"),
    "US": ("650253{:04d}", "212555{:04d}"),
    "GB": ("7400{:06d}",),
    "DE": ("1512{:07d}",),
}
_WIDE = Context(prec=80)  # the default context would round 38-digit amounts
_LETTERS = st.characters(
    codec="utf-8",
    exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"),
) | st.sampled_from("𠀋😀𝔘𐐷")  # astral (4-byte UTF-8) characters, often


def currencies() -> st.SearchStrategy[str]:
    """ISO 4217 currency codes, with CNY, JPY (0 decimals) and BHD (3 decimals) often."""
    return st.sampled_from(["CNY", "JPY", "BHD", "USD", "EUR"]) | st.sampled_from(
        sorted(MINOR_UNITS)
    )


def money(
    currency: str | None = None, *, max_integer_digits: int = MAX_INTEGER_DIGITS
) -> st.SearchStrategy[Money]:
    """Amounts of money, small and very large (up to `max_integer_digits` before the point)."""
    limit = 10 ** (max_integer_digits + 4)

    @st.composite
    def build(draw: st.DrawFn) -> Money:
        code = currency if currency is not None else draw(currencies())
        digits = MINOR_UNITS[code]
        bound = limit // 10 ** (4 - digits)
        units = draw(
            st.integers(-100_00, 100_00)
            | st.integers(-bound + 1, bound - 1)
            | st.sampled_from([10**15 * 10**digits, -(10**17) * 10**digits])
        )
        return Money(Decimal(units).scaleb(-digits, context=_WIDE), code)

    return build()


@functools.cache
def texts(*, max_size: int = 40, blank: bool = False) -> st.SearchStrategy[str]:
    """Single-line text, CJK and emoji included, never with control characters."""
    strategy = st.text(_LETTERS, min_size=0 if blank else 1, max_size=max_size)
    return strategy if blank else strategy.filter(str.strip)


def _full(length: int) -> st.SearchStrategy[str]:
    """Non-blank text of exactly `length` characters: a field at its longest."""
    return (
        st.text(_LETTERS, min_size=1, max_size=8)
        .map(lambda t: (t * length)[:length])
        .filter(lambda t: t.strip() == t != "")
    )


@functools.cache
def keys(*, max_size: int = 20) -> st.SearchStrategy[str]:
    """Identifiers and codes: non-blank, no surrounding whitespace."""
    return st.text(_LETTERS, min_size=1, max_size=max_size).filter(lambda s: s == s.strip() != "")


@functools.cache
def ids() -> st.SearchStrategy[UUID]:
    """Fresh time-ordered ids (UUIDv7) and, sometimes, a host's own random UUIDs."""
    return st.builds(new_id) | st.uuids()


@functools.cache
def timezones() -> st.SearchStrategy[str]:
    """IANA time zones, with and without daylight saving."""
    return st.sampled_from(TIMEZONES)


# Local wall-clock times (a zone is attached when drawn), a day inside the range of instants.
_EARLIEST = dt.datetime(1000, 1, 2)  # noqa: DTZ001
_LATEST = dt.datetime(9999, 12, 29)  # noqa: DTZ001
_EDGES = (
    to_utc(FIRST_INSTANT),
    to_utc(LAST_INSTANT),
    to_utc(dt.datetime(2300, 1, 1, 0, 0, 0, 999_999, tzinfo=dt.UTC)),
)
_DST_EDGES = (
    dt.datetime(2026, 10, 25, 2, 30),  # noqa: DTZ001 (Europe/Berlin autumn fold)
    dt.datetime(2026, 11, 1, 1, 30),  # noqa: DTZ001 (America/New_York autumn fold)
    dt.datetime(2026, 3, 29, 2, 30),  # noqa: DTZ001 (Europe/Berlin spring gap)
)

# Strategies drawn inside composites are built once, here, not again on every draw.
_LOCAL_TIMES = st.datetimes(min_value=_EARLIEST, max_value=_LATEST) | st.sampled_from(_DST_EDGES)
_FOLDS = st.sampled_from([0, 1])


_ONE_IN_TEN = st.integers(0, 9)
_EDGE_INSTANTS = st.sampled_from(_EDGES)


@functools.cache
@st.composite
def instants(draw: st.DrawFn) -> pendulum.DateTime:
    """UTC instants with microseconds, years 1000 to 9999, often in a daylight-saving fold or gap.

    The first and the last instant every store holds (1000-01-01T00:00:00Z and
    9999-12-30T23:59:59.999999Z) come up often.
    """
    if draw(_ONE_IN_TEN) == 0:
        return draw(_EDGE_INSTANTS)
    zone = draw(timezones())
    local = draw(_LOCAL_TIMES)
    fold = draw(_FOLDS)
    return to_utc(local.replace(fold=fold, tzinfo=zoneinfo.ZoneInfo(zone)))


@functools.cache
def dates() -> st.SearchStrategy[dt.date]:
    """Calendar dates from 1000 to 9999 (what every store holds), leap days included."""
    first, last = dt.date(1000, 1, 1), dt.date(9999, 12, 31)
    return st.dates(min_value=first, max_value=last) | st.sampled_from([first, last])


@functools.cache
@st.composite
def phone_numbers(draw: st.DrawFn) -> PhoneNumber:
    """Valid phone numbers of China, the US, the UK and Germany, in E.164."""
    region = draw(st.sampled_from(sorted(_NATIONAL)))
    pattern = draw(st.sampled_from(_NATIONAL[region]))
    width = int(pattern.split(":")[1].rstrip("d}"))
    national = pattern.format(draw(st.integers(0, 10**width - 1)))
    calling = {"CN": "+86", "US": "+1", "GB": "+44", "DE": "+49"}[region]
    return PhoneNumber(calling + national)


@functools.cache
def email_addresses() -> st.SearchStrategy[EmailAddress]:
    """Email addresses in normalised form."""
    local = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=12).filter(
        lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
    )
    domain = st.sampled_from(["example.cn", "yunshan.example.com", "mail.example.org"])
    return st.builds(lambda a, b: EmailAddress(f"{a}@{b}"), local, domain)


@functools.cache
def tiers() -> st.SearchStrategy[Tier]:
    """The reference tiers and host-defined ones."""
    return st.sampled_from(list(DEFAULT_TIERS.values())) | st.builds(
        Tier, code=keys(max_size=16), service_level=texts(max_size=60, blank=True)
    )


@functools.cache
def anniversaries() -> st.SearchStrategy[Anniversary]:
    """Yearly dates worth a greeting."""
    return st.builds(Anniversary, label=texts(max_size=30), date=dates())


_CHANNEL_SETS = st.frozensets(st.sampled_from(Channel))


@functools.cache
@st.composite
def do_not_contact_windows(draw: st.DrawFn) -> DoNotContact:
    """Do-not-contact windows of a few hours to a few weeks, for some or all channels."""
    start = draw(instants())
    length = dt.timedelta(microseconds=draw(st.integers(1, 30 * 24 * 3600 * 10**6)))
    if start > LAST_INSTANT - length:
        start = to_utc(LAST_INSTANT - length)
    return DoNotContact(
        start=start,
        end=to_utc(start + length),
        channels=draw(_CHANNEL_SETS),
        reason=draw(texts(max_size=40, blank=True)),
    )


@functools.cache
def custom_values() -> st.SearchStrategy[CustomValue]:
    """Values of every type a custom field may hold."""
    return st.one_of(
        texts(max_size=30, blank=True),
        st.integers(-(2**63), 2**63 - 1) | st.sampled_from([-(2**63), 2**63 - 1]),
        st.booleans(),
        st.decimals(allow_nan=False, allow_infinity=False, places=4).filter(
            lambda d: abs(d) < Decimal(10) ** 30
        ),
        dates(),
    )


@st.composite
def custom_fields(draw: st.DrawFn) -> CustomField:
    """Custom field declarations of every type; choice fields with their choices."""
    kind = draw(st.sampled_from(FieldType))
    choices: tuple[str, ...] = ()
    if kind is FieldType.CHOICE:
        choices = tuple(draw(st.lists(keys(max_size=12), min_size=1, max_size=4, unique=True)))
    return CustomField(
        name=draw(keys(max_size=24)),
        type=kind,
        required=draw(st.booleans()),
        choices=choices,
        label=draw(texts(max_size=20, blank=True)),
    )


def custom_field_schemas() -> st.SearchStrategy[CustomFieldSchema]:
    """A host's declarations: fields with distinct names."""
    return st.lists(custom_fields(), max_size=5, unique_by=lambda f: f.name).map(CustomFieldSchema)


def events() -> st.SearchStrategy[DomainEvent]:
    """Any of the customer events, as a unit of work records them."""
    common = {"tenant_id": keys(), "actor_id": keys(), "occurred_at": instants(), "id": ids()}
    return st.one_of(
        st.builds(CustomerRegistered, customer_id=ids(), owner_id=keys(), **common),
        st.builds(CustomerUpdated, customer_id=ids(), version=st.integers(1, 2**31), **common),
        st.builds(CustomerRemoved, customer_id=ids(), **common),
        st.builds(
            OwnerChanged, customer_id=ids(), previous_owner_id=keys(), owner_id=keys(), **common
        ),
        st.builds(
            InteractionLogged,
            interaction_id=ids(),
            customer_id=ids(),
            kind=st.sampled_from(InteractionKind),
            **common,
        ),
    )


@functools.cache
def contacts(*, reports_to: UUID | None = None) -> st.SearchStrategy[Contact]:
    """Contacts with roles, phone numbers and email addresses."""
    return st.builds(
        Contact,
        name=texts(max_size=30),
        id=ids(),
        title=st.none() | texts(max_size=30),
        roles=st.frozensets(st.sampled_from(BuyingRole), max_size=3),
        reports_to=st.just(reports_to),
        phones=st.lists(phone_numbers(), max_size=2).map(tuple),
        emails=st.lists(email_addresses(), max_size=2).map(tuple),
        birthday=st.none() | dates(),
        external_id=st.none() | keys(max_size=128),
        timezone=st.none() | timezones(),
        opt_outs=_CHANNEL_SETS,
        quiet_hours=st.none() | quiet_hours(),
        do_not_contact=st.lists(do_not_contact_windows(), max_size=1).map(tuple),
    )


@functools.cache
def quiet_hours() -> st.SearchStrategy[QuietHours]:
    """Daily quiet hours, some of them over midnight."""
    minutes = st.integers(0, 24 * 60 - 1).map(lambda m: dt.time(m // 60, m % 60))
    return (
        st.tuples(minutes, minutes)
        .filter(lambda pair: pair[0] != pair[1])
        .map(lambda pair: QuietHours(start=pair[0], end=pair[1]))
    )


@functools.cache
def addresses() -> st.SearchStrategy[Address]:
    """Postal addresses with some parts left empty."""
    return st.builds(
        Address,
        street=texts(max_size=60, blank=True),
        city=texts(max_size=30, blank=True),
        region=texts(max_size=30, blank=True),
        postcode=st.sampled_from(["", "518057", "200120", "10115", "SW1A 1AA"]),
        country=st.none() | st.sampled_from(["CN", "DE", "GB", "US"]),
    )


@functools.cache
def _customer_fields() -> dict[str, st.SearchStrategy[Any]]:
    # Built once: a strategy made inside a draw is built and validated again on every draw,
    # which made drawing a customer slow enough (~50 ms) to fail Hypothesis's too_slow health
    # check on a busy machine (pytest -n 4 on 2 cores).
    return {
        "name": texts(max_size=60) | _full(200),
        "owner_id": keys(),
        "id": ids(),
        "kind": st.sampled_from(CustomerKind),
        "code": st.none() | keys(),
        "external_id": st.none() | keys(max_size=128),
        "address": st.none() | addresses(),
        "lifecycle": st.sampled_from(LifecycleStage),
        "source": st.none() | keys(),
        "tags": st.frozensets(keys(max_size=12), max_size=3),
        "custom_fields": st.dictionaries(keys(max_size=12), custom_values(), max_size=4),
        "preferences": st.lists(texts(max_size=40), max_size=2).map(tuple),
        "birthday": st.none() | dates(),
        "anniversaries": st.lists(anniversaries(), max_size=2).map(tuple),
        "timezone": timezones(),
        "do_not_contact": st.lists(do_not_contact_windows(), max_size=2).map(tuple),
        "tier": st.none() | tiers(),
    }


@st.composite
def customers(draw: st.DrawFn, *, max_contacts: int = 4) -> Customer:
    """Customers with up to `max_contacts` contacts whose reporting lines form a tree."""
    people: list[Contact] = []
    for _ in range(draw(st.integers(0, max_contacts))):
        person = draw(contacts())
        if person.id in {p.id for p in people}:
            continue
        if person.external_id is not None and person.external_id in {p.external_id for p in people}:
            person.external_id = None
        if people:
            boss = draw(st.integers(-1, len(people) - 1))
            person.reports_to = people[boss].id if boss >= 0 else None
        people.append(person)
    fields = {name: draw(strategy) for name, strategy in _customer_fields().items()}
    return Customer(**fields, contacts=people)


def interactions(customer_id: UUID | None = None) -> st.SearchStrategy[Interaction]:
    """Timeline entries (of the customer with `customer_id`, if given)."""
    return st.builds(
        Interaction,
        customer_id=st.just(customer_id) if customer_id is not None else ids(),
        kind=st.sampled_from(InteractionKind),
        occurred_at=instants(),
        actor_id=keys(),
        summary=st.text(
            _LETTERS | st.sampled_from("\n\t"),
            min_size=1,
            max_size=200,
        ).filter(str.strip),
        contact_id=st.none() | ids(),
        id=ids(),
    )


_SOURCES = st.sampled_from(["trade_show", "website", "short_video", "referral", "wechat_group"])
_SALESPEOPLE = st.sampled_from(["li.na", "wang.fang", "zhou.min", "chen.jie"])
# Deals live in decades a walk of many steps cannot carry past what every store holds.
_WALK_STARTS = st.integers(
    to_utc("2000-01-01T00:00:00Z").int_timestamp, to_utc("2090-01-01T00:00:00Z").int_timestamp
).map(lambda seconds: pendulum.from_timestamp(seconds, tz="UTC"))
_STEPS = st.integers(0, 30 * 86_400 * 1_000_000).map(lambda us: dt.timedelta(microseconds=us))


@st.composite
def leads(draw: st.DrawFn, *, owners: st.SearchStrategy[str] | None = None) -> Lead:
    """Leads in the pool, owned, disqualified or converted, with follow-ups.

    An owned lead has a decision and a reclaim time; `owners` draws the salespeople (a few
    fixed ids by default).
    """
    people = owners if owners is not None else _SALESPEOPLE
    start = draw(_WALK_STARTS)
    lead = Lead(
        name=draw(texts(max_size=60)),
        source=draw(_SOURCES),
        company=draw(st.none() | texts(max_size=60)),
        intent=draw(st.sampled_from(IntentGrade)),
        probability=draw(st.none() | st.decimals(0, 1, places=2)),
        industry=draw(st.none() | st.sampled_from(["retail", "energy", "software"])),
        territory=draw(st.none() | st.sampled_from(["east", "west", "north"])),
        phones=draw(st.lists(phone_numbers(), max_size=2, unique=True)),
        emails=draw(st.lists(email_addresses(), max_size=2, unique=True)),
        created_at=start,
    )
    at = start
    if draw(st.booleans()):
        who = draw(people)
        at += draw(_STEPS)
        lead.assign(Decision.manual(who, draw(texts(max_size=40))), at=at)
        for _ in range(draw(st.integers(0, 3))):
            at += draw(_STEPS)
            lead.follow_up(FollowUp(at=at, by=who, channel=draw(st.sampled_from(Channel)), note=""))
        lead.reclaim_at = at + dt.timedelta(days=3)
    outcome = draw(st.sampled_from(["open", "open", "disqualified", "converted"]))
    if outcome == "disqualified":
        lead.disqualify(draw(texts(max_size=60)))
    elif outcome == "converted":
        lead.mark_converted(draw(ids()), opportunity_id=draw(st.none() | ids()))
    return lead


_PIPELINES = (b2b_pipeline(), transactional_pipeline())


@st.composite
def opportunities(
    draw: st.DrawFn,
    *,
    customer_id: UUID | None = None,
    pipelines: tuple[Pipeline, ...] = _PIPELINES,
    owners: st.SearchStrategy[str] | None = None,
    amounts: st.SearchStrategy[Money] | None = None,
) -> Opportunity:
    """Opportunities after a random walk through one of `pipelines`.

    The walk moves (the built-in gates are met), wins, loses (with a reason and often the
    competitor that won) and reopens; the steps are up to 30 days apart, to the microsecond.
    """
    pipeline = draw(st.sampled_from(pipelines))
    at = draw(_WALK_STARTS)
    competitors = draw(st.frozensets(st.sampled_from(["globex", "initech", "umbrella"])))
    deal, _ = open_opportunity(
        pipeline,
        at=at,
        name=draw(texts(max_size=60)),
        customer_id=customer_id if customer_id is not None else draw(ids()),
        owner_id=draw(owners if owners is not None else _SALESPEOPLE),
        amount=draw(amounts if amounts is not None else money(max_integer_digits=12)),
        expected_close=draw(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31))),
        competitors=competitors,
        source=draw(st.none() | _SOURCES),
    )
    # Meet every built-in gate, so that the walk goes where it draws.
    deal.needs_analysis = "needs recorded"
    deal.contacts = (DealContact(contact_id=draw(ids()), roles={BuyingRole.DECISION_MAKER}),)
    deal.quote = "Q-1"
    path = [s.key for s in pipeline.path[:-1]]
    for _ in range(draw(st.integers(0, 8))):
        at += draw(_STEPS)
        closed = pipeline.stage(deal.stage).terminal
        choice = draw(
            st.sampled_from(["move", "move", "win", "lose"] if not closed else ["reopen"])
        )
        if choice == "move":
            here = path.index(deal.stage) if deal.stage in path else 0
            ahead = path[here + 1 :] if pipeline.skipping else path[here + 1 : here + 2]
            if ahead:
                move(deal, pipeline, draw(st.sampled_from(ahead)), at=at)
        elif choice == "win":
            if pipeline.skipping or deal.stage == path[-1]:
                win(deal, pipeline, at=at)
        elif choice == "lose":
            rival = draw(st.none() | st.sampled_from(sorted(competitors))) if competitors else None
            lose(
                deal,
                pipeline,
                at=at,
                reason=draw(st.sampled_from(["price", "timing"])),
                competitor=rival,
            )
        else:
            reopen(deal, pipeline, at=at, reason="asked again")
    return deal


_CAUSES = st.sampled_from(["late_delivery", "wrong_item", "rude_staff", "billing_error"])


@st.composite
def complaints(draw: st.DrawFn, customer_id: UUID | None = None) -> Complaint:
    """Complaints and feedback in any status (of the customer with `customer_id`, if given)."""
    opened = draw(_WALK_STARTS)
    complaint = Complaint(
        customer_id=customer_id if customer_id is not None else draw(ids()),
        subject=draw(texts(max_size=200)),
        opened_at=opened,
        kind=draw(st.sampled_from(ComplaintKind)),
        contact_id=draw(st.none() | ids()),
        description=draw(st.text(_LETTERS | st.sampled_from("\n\t"), max_size=300)),
        cause=draw(st.none() | _CAUSES | keys()),
        assignee_id=draw(st.none() | _SALESPEOPLE),
        due=draw(st.none() | _STEPS.map(lambda step: opened + step)),
    )
    status = draw(st.sampled_from(ComplaintStatus))
    if status is ComplaintStatus.IN_PROGRESS:
        complaint.start()
    elif status in (ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED):
        close = complaint.resolve if status is ComplaintStatus.RESOLVED else complaint.reject
        close(draw(texts(max_size=2000)), at=opened + draw(_STEPS))
    return complaint


@st.composite
def lifecycle_changes(draw: st.DrawFn, customer_id: UUID | None = None) -> LifecycleChange:
    """Allowed moves between lifecycle stages (of the customer with `customer_id`, if given)."""
    previous = draw(st.sampled_from(LifecycleStage))
    return LifecycleChange(
        customer_id=customer_id if customer_id is not None else draw(ids()),
        previous=previous,
        stage=draw(st.sampled_from(sorted(MOVES[previous]))),
        at=draw(instants()),
        by=draw(keys()),
        reason=draw(texts(max_size=500)),
    )
