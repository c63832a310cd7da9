"""Contact permission: windows, opt-outs and quiet hours in the person's zone, and from when."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

import pendulum
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crmkit._clock import to_utc
from crmkit.customers import (
    Channel,
    Contact,
    ContactPermission,
    Customer,
    DoNotContact,
    QuietHours,
    RefusalKind,
    may_contact,
)
from crmkit.errors import NotFound, ValidationError
from crmkit.testing import strategies as cs

NIGHT = QuietHours(start=dt.time(21), end=dt.time(8))
ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Shanghai",
    "UTC",
    "America/Sao_Paulo",
    "Pacific/Chatham",
)


def _customer(contact: Contact | None = None, **fields: object) -> Customer:
    return Customer(
        name="Acme",
        owner_id="li",
        contacts=[] if contact is None else [contact],
        **fields,  # type: ignore[arg-type]
    )


def _ask(customer: Customer, channel: Channel, at: dt.datetime, **kw: object) -> ContactPermission:
    contact = customer.contacts[0].id if customer.contacts else None
    return may_contact(customer, channel, at, contact_id=contact, **kw)  # type: ignore[arg-type]


def _local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> pendulum.DateTime:
    """The instant at a wall-clock time in `zone` (the earlier of two in a fold, by default)."""
    wall = dt.datetime(year, month, day, hour, minute, fold=fold, tzinfo=zoneinfo.ZoneInfo(zone))
    return to_utc(wall)


# --- named examples ------------------------------------------------------------------------------


def test_nothing_forbids_contact_so_it_is_allowed_now() -> None:
    at = pendulum.datetime(2026, 3, 2, 9)
    answer = _ask(_customer(Contact(name="Wang")), Channel.CALL, at)
    assert answer.allowed
    assert bool(answer)
    assert answer.reasons == ()
    assert answer.allowed_from == at
    assert answer.explain() == ["call allowed"]


def test_an_opt_out_forbids_that_channel_for_good_and_no_other() -> None:
    wang = Contact(name="Wang", opt_outs=frozenset({Channel.SMS}))
    at = pendulum.datetime(2026, 3, 2, 9)
    sms = _ask(_customer(wang), Channel.SMS, at)
    assert not sms
    assert [(r.kind, r.text, r.until) for r in sms.reasons] == [
        (RefusalKind.OPT_OUT, "opted out of sms", None)
    ]
    assert sms.allowed_from is None
    assert _ask(_customer(wang), Channel.EMAIL, at).allowed


def test_quiet_hours_are_read_in_the_contacts_own_zone() -> None:
    wang = Contact(name="王伟", timezone="Asia/Shanghai", quiet_hours=NIGHT)
    customer = _customer(wang, timezone="Europe/Berlin")
    # 15:00 UTC is 23:00 in Shanghai (quiet) but 16:00 in Berlin.
    answer = _ask(customer, Channel.CALL, pendulum.datetime(2026, 3, 2, 15))
    assert [r.text for r in answer.reasons] == ["quiet hours 21:00-08:00 Asia/Shanghai"]
    assert answer.allowed_from == pendulum.datetime(2026, 3, 3, 0)  # 08:00 in Shanghai
    assert answer.reasons[0].until == answer.allowed_from


def test_without_a_zone_of_its_own_the_contact_lives_in_the_customers() -> None:
    wang = Contact(name="Wang", quiet_hours=NIGHT)
    customer = _customer(wang, timezone="Asia/Shanghai")
    answer = _ask(customer, Channel.CALL, pendulum.datetime(2026, 3, 2, 15))
    assert answer.reasons[0].text == "quiet hours 21:00-08:00 Asia/Shanghai"


def test_quiet_hours_within_one_day_end_the_same_day() -> None:
    lunch = QuietHours(start=dt.time(12), end=dt.time(13, 30))
    customer = _customer(Contact(name="Wang", quiet_hours=lunch))
    answer = _ask(customer, Channel.VISIT, pendulum.datetime(2026, 3, 2, 12, 15))
    assert answer.allowed_from == pendulum.datetime(2026, 3, 2, 13, 30)
    assert _ask(customer, Channel.VISIT, pendulum.datetime(2026, 3, 2, 13, 30)).allowed


def test_quiet_hours_hold_only_for_the_quiet_channels_when_given() -> None:
    customer = _customer(Contact(name="Wang", timezone="Asia/Shanghai", quiet_hours=NIGHT))
    night = pendulum.datetime(2026, 3, 2, 15)
    calls = {Channel.CALL, Channel.SMS, Channel.VISIT}
    assert _ask(customer, Channel.EMAIL, night, quiet_channels=calls).allowed
    assert not _ask(customer, Channel.CALL, night, quiet_channels=calls).allowed
    assert not _ask(customer, Channel.EMAIL, night).allowed


def test_a_customer_window_covers_every_contact_and_the_customer_itself() -> None:
    week = DoNotContact(
        start=pendulum.datetime(2026, 3, 2),
        end=pendulum.datetime(2026, 3, 9),
        channels=frozenset({Channel.CALL}),
        reason="no calls this week",
    )
    customer = _customer(Contact(name="Wang"), do_not_contact=(week,))
    at = pendulum.datetime(2026, 3, 4)
    for answer in (
        _ask(customer, Channel.CALL, at),
        may_contact(customer, Channel.CALL, at),
    ):
        assert [(r.kind, r.text) for r in answer.reasons] == [
            (RefusalKind.CUSTOMER_WINDOW, "no calls this week (until 2026-03-09T00:00Z)")
        ]
        assert answer.allowed_from == week.end
    assert _ask(customer, Channel.EMAIL, at).allowed


def test_a_contacts_window_covers_that_contact_only() -> None:
    holiday = DoNotContact(start=pendulum.datetime(2026, 3, 2), end=pendulum.datetime(2026, 3, 9))
    wang = Contact(name="Wang", do_not_contact=(holiday,))
    customer = _customer(wang)
    customer.add_contact(li := Contact(name="Li"))
    at = pendulum.datetime(2026, 3, 4)
    answer = may_contact(customer, Channel.EMAIL, at, contact_id=wang.id)
    assert [(r.kind, r.text) for r in answer.reasons] == [
        (RefusalKind.CONTACT_WINDOW, "do not contact (until 2026-03-09T00:00Z)")
    ]
    assert may_contact(customer, Channel.EMAIL, at, contact_id=li.id).allowed
    assert may_contact(customer, Channel.EMAIL, at).allowed


def test_a_window_ending_in_quiet_hours_waits_for_the_morning() -> None:
    # The window ends at 22:00 in Shanghai: contact is allowed at 08:00 the next morning.
    window = DoNotContact(
        start=pendulum.datetime(2026, 3, 1), end=pendulum.datetime(2026, 3, 2, 14)
    )
    wang = Contact(
        name="Wang", timezone="Asia/Shanghai", quiet_hours=NIGHT, do_not_contact=(window,)
    )
    answer = _ask(_customer(wang), Channel.CALL, pendulum.datetime(2026, 3, 1, 5))
    assert [r.kind for r in answer.reasons] == [RefusalKind.CONTACT_WINDOW]
    assert answer.allowed_from == pendulum.datetime(2026, 3, 3, 0)


def test_quiet_hours_ending_in_a_window_wait_for_the_window_and_the_next_night() -> None:
    # Quiet until 08:00 Shanghai (00:00 UTC); a window from 23:00 UTC to 14:00 UTC (22:00
    # Shanghai, quiet again) then ends: allowed at 08:00 the morning after.
    window = DoNotContact(
        start=pendulum.datetime(2026, 3, 2, 23), end=pendulum.datetime(2026, 3, 3, 14)
    )
    wang = Contact(name="Wang", timezone="Asia/Shanghai", quiet_hours=NIGHT)
    customer = _customer(wang, do_not_contact=(window,))
    answer = _ask(customer, Channel.CALL, pendulum.datetime(2026, 3, 2, 15))
    assert [r.kind for r in answer.reasons] == [RefusalKind.QUIET_HOURS]
    assert answer.allowed_from == pendulum.datetime(2026, 3, 4, 0)


def test_a_window_for_other_channels_and_an_opt_out_are_listed_together() -> None:
    window = DoNotContact(start=pendulum.datetime(2026, 3, 1), end=pendulum.datetime(2026, 3, 2))
    wang = Contact(name="Wang", opt_outs=frozenset({Channel.CALL}), do_not_contact=(window,))
    answer = _ask(_customer(wang), Channel.CALL, pendulum.datetime(2026, 3, 1, 5))
    assert [r.kind for r in answer.reasons] == [RefusalKind.OPT_OUT, RefusalKind.CONTACT_WINDOW]
    assert answer.allowed_from is None


# --- daylight saving ------------------------------------------------------------------------------


def test_new_york_spring_gap_over_the_end_of_quiet_hours_allows_contact_at_the_jump() -> None:
    # 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 never happens. Quiet until 02:30 ends
    # at the jump (07:00 UTC), the first instant whose local time is past 02:30.
    quiet = QuietHours(start=dt.time(22), end=dt.time(2, 30))
    customer = _customer(Contact(name="Ann", timezone="America/New_York", quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, _local("America/New_York", 2026, 3, 8, 1))
    assert answer.allowed_from == pendulum.datetime(2026, 3, 8, 7)
    before = answer.allowed_from.subtract(microseconds=1)
    assert not _ask(customer, Channel.CALL, before).allowed


def test_new_york_spring_gap_before_the_end_counts_local_time_after_the_jump() -> None:
    quiet = QuietHours(start=dt.time(22), end=dt.time(3, 30))
    customer = _customer(Contact(name="Ann", timezone="America/New_York", quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, _local("America/New_York", 2026, 3, 8, 1))
    assert answer.allowed_from == _local("America/New_York", 2026, 3, 8, 3, 30)
    assert answer.allowed_from == pendulum.datetime(2026, 3, 8, 7, 30)


def test_new_york_autumn_fold_ends_quiet_hours_at_the_first_and_again_at_the_second() -> None:
    # 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00 to 02:00 happens twice.
    quiet = QuietHours(start=dt.time(22), end=dt.time(1, 30))
    customer = _customer(Contact(name="Ann", timezone="America/New_York", quiet_hours=quiet))
    first = _ask(customer, Channel.CALL, _local("America/New_York", 2026, 11, 1, 0, 30))
    assert first.allowed_from == _local("America/New_York", 2026, 11, 1, 1, 30, fold=0)
    # In the second 01:00 to 01:30 it is quiet again, until the second 01:30.
    second = _ask(customer, Channel.CALL, _local("America/New_York", 2026, 11, 1, 1, 10, fold=1))
    assert not second.allowed
    assert second.allowed_from == _local("America/New_York", 2026, 11, 1, 1, 30, fold=1)
    assert second.allowed_from - first.allowed_from == dt.timedelta(hours=1)


def test_berlin_quiet_hours_over_the_autumn_night_end_at_eight_local() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; the night lasts an hour longer.
    customer = _customer(Contact(name="Jan", timezone="Europe/Berlin", quiet_hours=NIGHT))
    answer = _ask(customer, Channel.CALL, _local("Europe/Berlin", 2026, 10, 24, 23))
    assert answer.allowed_from == _local("Europe/Berlin", 2026, 10, 25, 8)
    assert answer.allowed_from == pendulum.datetime(2026, 10, 25, 7)


def test_berlin_spring_gap_over_the_end_of_quiet_hours() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST.
    quiet = QuietHours(start=dt.time(23), end=dt.time(2, 15))
    customer = _customer(Contact(name="Jan", timezone="Europe/Berlin", quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, _local("Europe/Berlin", 2026, 3, 29, 1, 59))
    assert answer.allowed_from == pendulum.datetime(2026, 3, 29, 1)


def test_lord_howe_half_hour_spring_gap_over_the_end_of_quiet_hours() -> None:
    # 2026-10-04: 02:00 +10:30 becomes 02:30 +11:00; 02:15 never happens.
    quiet = QuietHours(start=dt.time(22), end=dt.time(2, 15))
    customer = _customer(Contact(name="Kim", timezone="Australia/Lord_Howe", quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, _local("Australia/Lord_Howe", 2026, 10, 4, 1))
    assert answer.allowed_from == pendulum.datetime(2026, 10, 3, 15, 30)
    assert answer.allowed_from.in_timezone("Australia/Lord_Howe").time() == dt.time(2, 30)


def test_lord_howe_half_hour_autumn_fold() -> None:
    # 2026-04-05: 02:00 +11:00 becomes 01:30 +10:30; 01:30 to 02:00 happens twice.
    quiet = QuietHours(start=dt.time(22), end=dt.time(1, 45))
    customer = _customer(Contact(name="Kim", timezone="Australia/Lord_Howe", quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, _local("Australia/Lord_Howe", 2026, 4, 5, 1, 50))
    # 01:50 (+11:00) is after the end; at 23:00 the night before it is quiet until the first 01:45.
    assert answer.allowed
    night = _ask(customer, Channel.CALL, _local("Australia/Lord_Howe", 2026, 4, 4, 23))
    assert night.allowed_from == _local("Australia/Lord_Howe", 2026, 4, 5, 1, 45, fold=0)
    again = _ask(customer, Channel.CALL, _local("Australia/Lord_Howe", 2026, 4, 5, 1, 35, fold=1))
    assert again.allowed_from == _local("Australia/Lord_Howe", 2026, 4, 5, 1, 45, fold=1)


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kw", "field"),
    [
        (("not a customer", Channel.CALL, pendulum.datetime(2026, 3, 2)), {}, "customer"),
        ((None, "call", pendulum.datetime(2026, 3, 2)), {}, "channel"),
        ((None, Channel.CALL, dt.datetime(2026, 3, 2)), {}, "at"),
        ((None, Channel.CALL, pendulum.datetime(2026, 3, 2)), {"quiet_channels": "call"}, None),
        ((None, Channel.CALL, pendulum.datetime(2026, 3, 2)), {"quiet_channels": ["call"]}, None),
        ((None, Channel.CALL, pendulum.datetime(2026, 3, 2)), {"contact_id": "x"}, "contact_id"),
    ],
)
def test_bad_arguments_are_refused_by_name(
    args: tuple[object, ...], kw: dict[str, object], field: str | None
) -> None:
    customer = _customer(Contact(name="Wang"))
    call = (customer if args[0] is None else args[0], *args[1:])
    with pytest.raises(ValidationError) as raised:
        may_contact(*call, **kw)  # type: ignore[arg-type]
    assert [i.path for i in raised.value.issues] == [field or "quiet_channels"]


def test_an_unknown_contact_is_not_found() -> None:
    customer = _customer(Contact(name="Wang"))
    other = Contact(name="Li").id
    with pytest.raises(NotFound):
        may_contact(customer, Channel.CALL, pendulum.datetime(2026, 3, 2), contact_id=other)


# --- laws ---------------------------------------------------------------------------------------

_BASE = pendulum.datetime(2026, 1, 1)
_YEAR = 366 * 24 * 3600
# The daylight-saving transitions of 2026 in New York, Berlin and Lord Howe (UTC).
_JUMPS = {
    "America/New_York": (pendulum.datetime(2026, 3, 8, 7), pendulum.datetime(2026, 11, 1, 6)),
    "Europe/Berlin": (pendulum.datetime(2026, 3, 29, 1), pendulum.datetime(2026, 10, 25, 1)),
    "Australia/Lord_Howe": (
        pendulum.datetime(2026, 10, 3, 15, 30),
        pendulum.datetime(2026, 4, 4, 15),
    ),
}
_NEAR = 30 * 3600


@functools.cache
def _instants(zone: str | None = None) -> st.SearchStrategy[pendulum.DateTime]:
    """Instants in 2026, half of them within 30 hours of a transition (of `zone`, if given)."""
    jumps = _JUMPS.get(zone, ()) if zone else tuple(j for js in _JUMPS.values() for j in js)
    anywhere = st.builds(lambda s: _BASE.add(seconds=s), st.integers(0, _YEAR))
    if not jumps:
        return anywhere
    near = st.builds(
        lambda jump, s: jump.add(seconds=s), st.sampled_from(jumps), st.integers(-_NEAR, _NEAR)
    )
    return anywhere | near


@st.composite
def _minutes(draw: st.DrawFn) -> dt.time:
    minute = draw(st.integers(0, 24 * 60 - 1))
    return dt.time(minute // 60, minute % 60)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[Customer, Channel, pendulum.DateTime, frozenset[Channel]]:
    zone = draw(st.sampled_from(ZONES))
    at = draw(_instants(zone))

    def window() -> DoNotContact:
        start = at.add(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
        return DoNotContact(
            start=start,
            end=start.add(seconds=draw(st.integers(1, 3 * 86400))),
            channels=draw(st.frozensets(st.sampled_from(Channel), max_size=2)),
        )

    quiet = None
    if draw(st.booleans()):
        start, end = draw(_minutes()), draw(_minutes())
        assume(start != end)
        quiet = QuietHours(start=start, end=end)
    contact = Contact(
        name="Wang",
        timezone=draw(st.none() | st.just(zone)),
        opt_outs=draw(st.frozensets(st.sampled_from(Channel), max_size=1)),
        quiet_hours=quiet,
        do_not_contact=[window() for _ in range(draw(st.integers(0, 3)))],
    )
    customer = _customer(
        contact,
        timezone=zone if contact.timezone is None else draw(st.sampled_from(ZONES)),
        do_not_contact=[window() for _ in range(draw(st.integers(0, 3)))],
    )
    quiet_channels = draw(st.frozensets(st.sampled_from(Channel)) | st.just(frozenset(Channel)))
    return customer, draw(st.sampled_from(Channel)), at, quiet_channels


@settings(max_examples=200, deadline=None)
@given(_scenarios(), st.lists(st.floats(0, 1), max_size=10))
def test_allowed_from_is_the_first_allowed_instant(
    scenario: tuple[Customer, Channel, pendulum.DateTime, frozenset[Channel]],
    fractions: list[float],
) -> None:
    customer, channel, at, quiet = scenario
    answer = _ask(customer, channel, at, quiet_channels=quiet)
    assert answer.allowed == (not answer.reasons)
    opted_out = channel in customer.contacts[0].opt_outs
    assert (answer.allowed_from is None) == opted_out
    if answer.allowed:
        assert answer.allowed_from == at
        return
    if answer.allowed_from is None:
        assert any(r.kind is RefusalKind.OPT_OUT for r in answer.reasons)
        return
    start = answer.allowed_from
    assert start > at
    assert _ask(customer, channel, start, quiet_channels=quiet).allowed
    span = start - at
    probes = [at, start - dt.timedelta(microseconds=1), *(at + span * f for f in fractions)]
    for probe in probes:
        if probe < start:
            assert not _ask(customer, channel, probe, quiet_channels=quiet).allowed, probe
    # Each reason's end is when it stops forbidding on its own: never after the answer.
    assert all(r.until is not None and r.until <= start for r in answer.reasons)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(ZONES[:3]).flatmap(lambda z: st.tuples(st.just(z), _instants(z))),
    _minutes(),
    _minutes(),
)
def test_quiet_hours_end_at_the_first_instant_whose_local_time_is_outside_them(
    zone_at: tuple[str, pendulum.DateTime], start: dt.time, end: dt.time
) -> None:
    zone, at = zone_at
    assume(start != end)
    quiet = QuietHours(start=start, end=end)
    customer = _customer(Contact(name="Ann", timezone=zone, quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, at)
    local = zoneinfo.ZoneInfo(zone)
    assert answer.allowed == (not quiet.covers(at.astimezone(local).time()))
    assert answer.allowed_from is not None
    # A minute-by-minute walk (quiet hours and offsets change on whole minutes here) agrees.
    walk: dt.datetime = at
    while quiet.covers(walk.astimezone(local).time()):
        walk = (walk + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    assert walk == answer.allowed_from


@settings(max_examples=100, deadline=None)
@given(cs.instants(), cs.timezones(), _minutes(), _minutes())
def test_any_instant_in_any_zone_gets_an_answer_that_holds(
    at: pendulum.DateTime, zone: str, start: dt.time, end: dt.time
) -> None:
    # Years 1000 to 9999 (local mean time offsets with seconds, the last instant stores hold).
    assume(start != end)
    quiet = QuietHours(start=start, end=end)
    customer = _customer(Contact(name="Ann", timezone=zone, quiet_hours=quiet))
    answer = _ask(customer, Channel.CALL, at)
    if answer.allowed_from is None:
        # Only past the last instant stores hold: quiet until after 9999-12-30T23:59:59Z.
        assert at.year == 9999
        return
    assert answer.allowed_from >= at
    assert _ask(customer, Channel.CALL, answer.allowed_from).allowed
