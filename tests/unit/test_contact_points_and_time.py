"""Phone numbers, email addresses, clocks, instants and ids."""

from __future__ import annotations

import datetime as dt
import pickle
import threading
import time
import uuid
import zoneinfo

import pendulum
import pytest

from crmkit import EmailAddress, FixedClock, PhoneNumber, SystemClock, new_id, to_utc
from crmkit.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "region", "e164"),
    [
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 139-1234-5678", None, "+8613912345678"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("07400 123456", "GB", "+447400123456"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(text: str, region: str | None, e164: str) -> None:
    number = PhoneNumber.parse(text, region=region)
    assert number.e164 == e164
    assert str(number) == e164


def test_invalid_phone_numbers_name_the_region() -> None:
    with pytest.raises(ValidationError, match="not a valid phone number for region CN"):
        PhoneNumber.parse("12345", region="CN")
    with pytest.raises(ValidationError, match="start with \\+"):
        PhoneNumber.parse("13800138000")
    with pytest.raises(ValidationError, match="is not an E.164 phone number"):
        PhoneNumber("13800138000")
    assert PhoneNumber("+8613800138000").region == "CN"


def test_email_addresses_are_checked_and_their_domain_lowered() -> None:
    assert EmailAddress.parse("Li.Wei@Example.COM").address == "Li.Wei@example.com"
    assert EmailAddress.parse("王伟@例子.中国").address == "王伟@例子.中国"
    for bad in ("li.wei", "li@", "li wei@example.com", "li@@example.com"):
        with pytest.raises(ValidationError):
            EmailAddress.parse(bad)
        with pytest.raises(ValidationError):
            EmailAddress(bad)


def test_a_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock("2026-03-08T09:00:00+08:00")
    assert clock.now() == pendulum.datetime(2026, 3, 8, 1)
    assert clock.now().timezone_name == "UTC"
    clock.advance(days=1, hours=2)
    assert clock.now() == pendulum.datetime(2026, 3, 9, 3)
    clock.set(dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert clock.now().year == 2027
    with pytest.raises(ValidationError, match="no time zone"):
        clock.set(dt.datetime(2027, 1, 1))
    assert abs(SystemClock().now() - pendulum.now("UTC")).total_seconds() < 5


def test_instants_without_a_time_zone_are_refused() -> None:
    with pytest.raises(ValidationError, match="no time zone"):
        to_utc("2026-03-02T09:00:00")
    with pytest.raises(ValidationError, match="not an ISO 8601"):
        to_utc("next tuesday")
    with pytest.raises(ValidationError, match="must be a datetime"):
        to_utc(dt.date(2026, 3, 2))


@pytest.mark.parametrize(
    ("zone", "local", "utc_fold_0", "utc_fold_1"),
    [
        (
            "Europe/Berlin",
            dt.datetime(2026, 10, 25, 2, 30),
            "2026-10-25T00:30:00+00:00",
            "2026-10-25T01:30:00+00:00",
        ),
        (
            "America/New_York",
            dt.datetime(2026, 11, 1, 1, 30),
            "2026-11-01T05:30:00+00:00",
            "2026-11-01T06:30:00+00:00",
        ),
    ],
)
def test_the_autumn_fold_gives_two_different_instants(
    zone: str, local: dt.datetime, utc_fold_0: str, utc_fold_1: str
) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    first = to_utc(local.replace(tzinfo=tz, fold=0))
    second = to_utc(local.replace(tzinfo=tz, fold=1))
    assert first.isoformat() == utc_fold_0
    assert second.isoformat() == utc_fold_1
    assert (second - first).in_hours() == 1


def test_an_instant_in_the_spring_gap_still_maps_to_one_utc_instant() -> None:
    # 02:30 does not exist that night in Berlin; read with the offset before the jump (+01:00).
    gap = dt.datetime(2026, 3, 29, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert to_utc(gap).isoformat() == "2026-03-29T01:30:00+00:00"
    assert to_utc(gap).add(microseconds=1).timezone_name == "UTC"


def test_ids_are_uuid7_in_creation_order() -> None:
    made = [new_id() for _ in range(1000)]
    assert all(i.version == 7 for i in made)
    assert made == sorted(made)
    assert len(set(made)) == 1000


def test_an_id_has_the_rfc_9562_layout_and_the_time_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert made.variant == uuid.RFC_4122
    assert made.version == 7
    assert before <= made.int >> 80 <= after + 1  # + 1: ids of one tick may step ahead
    assert made == uuid.UUID(str(made)) == uuid.UUID(bytes=made.bytes)
    assert hash(made) == hash(uuid.UUID(str(made)))
    assert pickle.loads(pickle.dumps(made)) == made  # noqa: S301 (our own bytes)


def test_ids_stay_in_order_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id()
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000_000_000)  # 2001
    later = [new_id() for _ in range(3)]
    assert [first, *later] == sorted([first, *later])
    assert len({first, *later}) == 4


def test_ids_made_by_many_threads_at_once_are_all_different() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(8)]

    def make(mine: list[uuid.UUID]) -> None:
        mine.extend(new_id() for _ in range(2000))

    threads = [threading.Thread(target=make, args=(m,)) for m in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for m in made for i in m]
    assert len(set(every)) == len(every) == 16_000
    assert all(m == sorted(m) for m in made)  # each thread's ids in the order it made them
