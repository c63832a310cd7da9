"""Leads check themselves; assignment policies decide fairly and within caps; the reclaim rule
counts whole days in the owner's time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import EmailAddress, PhoneNumber, new_id
from crmkit.customers import Channel
from crmkit.errors import ValidationError
from crmkit.pipeline import (
    AssignmentPolicy,
    ByIndustry,
    ByTerritory,
    ByWorkload,
    Chain,
    Decision,
    FollowUp,
    IntentGrade,
    Lead,
    LeadAssigned,
    LeadReclaimed,
    LeadStatus,
    RoundRobin,
    Snapshot,
    due_for_reclaim,
    reclaim_due_at,
)

MONDAY = pendulum.datetime(2026, 3, 2, 15, tz="Asia/Shanghai").in_timezone("UTC")


def lead(**fields: object) -> Lead:
    return Lead(**{"name": "Zhao Lei", "source": "trade_show", **fields})  # type: ignore[arg-type]


def owned(at: pendulum.DateTime = MONDAY, who: str = "li.na") -> Lead:
    result = lead()
    result.assign(Decision.manual(who, "met at the fair"), at=at)
    return result


# --- the lead --------------------------------------------------------------------------------


def test_a_new_lead_waits_in_the_pool_open_with_a_fresh_id() -> None:
    new = lead(
        company="杭州青禾贸易",
        intent=IntentGrade.HIGH,
        probability=Decimal("0.35"),
        phones=[PhoneNumber.parse("13800138000", region="CN")],
        emails=[EmailAddress.parse("zhao@example.com")],
    )
    assert new.in_pool
    assert (new.status, new.owner_id, new.decision, new.version) == (LeadStatus.OPEN, None, None, 0)
    assert new.id.version == 7
    assert new.phones == (PhoneNumber.parse("+8613800138000"),)


def test_a_constructor_names_every_bad_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Lead(
            name=" ",
            source="Trade Show",
            company="x" * 201,
            intent="high",  # type: ignore[arg-type]
            probability=Decimal("1.5"),
            industry=" retail",
            phones=["13800138000"],
            emails=["zhao@example.com"],
            version=-1,
        )
    assert [i.path for i in caught.value.issues] == [
        "name",
        "source",
        "company",
        "intent",
        "probability",
        "industry",
        "phones[0]",
        "emails[0]",
        "version",
    ]
    assert "PhoneNumber.parse('13800138000', region='CN')" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0.5, "must be a Decimal, not float"),
        (Decimal("-0.01"), "is not a probability from 0 to 1"),
        (Decimal("NaN"), "is not a probability from 0 to 1"),
        (Decimal("0.12345"), "has more than 4 decimal places"),
    ],
)
def test_the_probability_is_an_exact_fraction_from_0_to_1(value: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=f"probability: .*{problem}"):
        lead(probability=value)
    assert lead(probability=Decimal(1)).probability == 1
    assert lead().probability is None  # not estimated yet


def test_source_channels_are_keys_the_host_can_extend() -> None:
    assert lead(source="wechat_ad").source == "wechat_ad"
    for bad in ("", "Website", "web site", "1st", "x" * 65):
        with pytest.raises(ValidationError, match="source: .*is not a channel key"):
            lead(source=bad)


def test_owner_time_and_decision_go_together() -> None:
    with pytest.raises(ValidationError) as caught:
        lead(owner_id="li.na")
    assert [i.path for i in caught.value.issues] == ["assigned_at", "decision"]
    with pytest.raises(ValidationError, match="decision.salesperson_id: 'wang' is not the owner"):
        lead(owner_id="li.na", assigned_at=MONDAY, decision=Decision.manual("wang", "why not"))


def test_assign_stores_the_decision_and_return_to_pool_clears_it() -> None:
    it = lead()
    decision = RoundRobin().decide(it, Snapshot(salespeople=("li.na",)))
    assert decision is not None
    it.assign(decision, at=pendulum.datetime(2026, 3, 2, 15, tz="Asia/Shanghai"))
    assert (it.owner_id, it.decision, it.assigned_at) == ("li.na", decision, MONDAY)
    assert not it.in_pool
    it.return_to_pool()
    assert (it.owner_id, it.decision, it.assigned_at, it.in_pool) == (None, None, None, True)
    with pytest.raises(ValidationError, match="owner_id: the lead is already in the pool"):
        it.return_to_pool()


def test_assign_refuses_what_is_not_a_decision_or_an_aware_instant() -> None:
    it = lead()
    with pytest.raises(ValidationError, match="decision: must be a Decision, not str"):
        it.assign("li.na", at=MONDAY)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at: .* has no time zone"):
        it.assign(Decision.manual("li.na", "x"), at=dt.datetime(2026, 3, 2))
    assert it.in_pool


def test_follow_ups_are_checked_and_kept_in_order() -> None:
    it = owned()
    call = FollowUp(at=MONDAY.add(hours=1), by="li.na", channel=Channel.CALL, note="wants a demo")
    it.follow_up(call)
    it.follow_up(FollowUp(at=MONDAY.add(minutes=30), by="li.na", channel=Channel.SMS))
    assert it.follow_ups[0] == call
    assert it.last_follow_up == call
    with pytest.raises(ValidationError) as caught:
        FollowUp(at=dt.datetime(2026, 3, 2), by="", channel="call")  # type: ignore[arg-type]
    assert [i.path for i in caught.value.issues] == ["at", "by", "channel"]
    with pytest.raises(ValidationError, match="follow_up: must be a FollowUp"):
        it.follow_up("called")  # type: ignore[arg-type]


def test_a_closed_lead_refuses_every_change_of_state() -> None:
    dropped = owned()
    dropped.disqualify("no budget this year")
    assert (dropped.status, dropped.disqualified_reason) == (
        LeadStatus.DISQUALIFIED,
        "no budget this year",
    )
    converted = owned()
    converted.mark_converted(new_id())
    for closed, status in ((dropped, "disqualified"), (converted, "converted")):
        with pytest.raises(ValidationError, match=f"status: the lead is {status}; cannot convert"):
            closed.mark_converted(new_id())
        with pytest.raises(ValidationError, match="cannot assign"):
            closed.assign(Decision.manual("wang", "x"), at=MONDAY)
        with pytest.raises(ValidationError, match="cannot follow up"):
            closed.follow_up(FollowUp(at=MONDAY, by="li.na", channel=Channel.CALL))
        with pytest.raises(ValidationError, match="cannot return to the pool"):
            closed.return_to_pool()
    with pytest.raises(ValidationError, match="reason: must not be blank"):
        owned().disqualify(" ")


def test_lead_events_are_keyed_by_the_lead() -> None:
    from crmkit.events import _stream

    it = owned()
    assigned = LeadAssigned(
        lead_id=it.id,
        owner_id="li.na",
        previous_owner_id=None,
        rule="manual",
        tenant_id="t",
        actor_id="li.na",
        occurred_at=MONDAY,
        id=it.id,
    )
    reclaimed = LeadReclaimed(
        lead_id=it.id,
        previous_owner_id="li.na",
        due_at=MONDAY,
        reason="late",
        tenant_id="t",
        actor_id="li.na",
        occurred_at=MONDAY,
        id=it.id,
    )
    assert _stream(assigned) == _stream(reclaimed) == str(it.id)


# --- assignment policies ---------------------------------------------------------------------


TEAM = Snapshot(
    salespeople=("li.na", "wang.fang", "chen.jie"),
    open_leads={"li.na": 4, "wang.fang": 2, "chen.jie": 2},
    assignments={"li.na": 7, "wang.fang": 9, "chen.jie": 7},
)


def test_a_snapshot_is_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        Snapshot(salespeople=("li.na", " x"), open_leads={"li.na": -1}, assignments=[])  # type: ignore[arg-type]
    assert [i.path for i in caught.value.issues] == [
        "salespeople[1]",
        "open_leads['li.na']",
        "assignments",
    ]
    with pytest.raises(ValidationError, match=r"salespeople\[1\]: 'li.na' appears twice"):
        Snapshot(salespeople=("li.na", "li.na"))


def test_round_robin_picks_the_fewest_assignments_ties_by_the_team_order() -> None:
    decision = RoundRobin().decide(lead(), TEAM)
    assert decision == Decision(
        salesperson_id="li.na",
        rule="round_robin",
        reason="li.na has had the fewest leads so far (7)",
        figures={"assignments:li.na": 7, "assignments:wang.fang": 9, "assignments:chen.jie": 7},
    )
    assert RoundRobin().decide(lead(), Snapshot(salespeople=())) is None


def test_territory_and_industry_pick_among_the_coverers_present() -> None:
    by_territory = ByTerritory({"east": ("wang.fang", "chen.jie"), "north": "gone.person"})
    east = by_territory.decide(lead(territory="east"), TEAM)
    assert east is not None
    assert (east.salesperson_id, east.rule) == ("chen.jie", "territory")
    assert east.reason == (
        "territory 'east' is covered by chen.jie (of wang.fang, chen.jie, the fewest leads so far)"
    )
    assert east.figures == {"assignments:wang.fang": 9, "assignments:chen.jie": 7}
    assert by_territory.decide(lead(territory="north"), TEAM) is None  # nobody present
    assert by_territory.decide(lead(territory="west"), TEAM) is None
    assert by_territory.decide(lead(), TEAM) is None
    retail = ByIndustry({"retail": "wang.fang"}).decide(lead(industry="retail"), TEAM)
    assert retail is not None
    assert (retail.salesperson_id, retail.rule) == ("wang.fang", "industry")


def test_a_match_table_is_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        ByTerritory({"east": (), " west": "li.na", "north": ("li.na", "")})
    assert [i.path for i in caught.value.issues] == [
        "matches['east']",
        "matches[' west']",
        "matches['north'][1]",
    ]


def test_workload_picks_the_least_loaded_under_their_cap() -> None:
    decision = ByWorkload(cap=3).decide(lead(), TEAM)
    assert decision is not None
    # wang.fang and chen.jie hold 2 each; chen.jie was given fewer leads so far.
    assert (decision.salesperson_id, decision.rule) == ("chen.jie", "workload")
    assert decision.reason == "chen.jie holds the fewest open leads (2, cap 3)"
    assert decision.figures["cap:chen.jie"] == 3
    # Individual caps: chen.jie is full, li.na may hold more.
    decision = ByWorkload(cap=2, caps={"li.na": 5}).decide(lead(), TEAM)
    assert decision is not None
    assert decision.salesperson_id == "li.na"
    assert ByWorkload(cap=2).decide(lead(), TEAM) is None  # everyone at the cap
    with pytest.raises(ValidationError, match="cap: must be an integer"):
        ByWorkload(cap="3")  # type: ignore[arg-type]


def test_a_chain_takes_the_first_rule_that_decides() -> None:
    chain = Chain(ByTerritory({"east": "wang.fang"}), ByWorkload(cap=3), RoundRobin())
    assert chain.decide(lead(territory="east"), TEAM).rule == "territory"  # type: ignore[union-attr]
    assert chain.decide(lead(territory="west"), TEAM).rule == "workload"  # type: ignore[union-attr]
    full = attrs.evolve(TEAM, open_leads={"li.na": 3, "wang.fang": 3, "chen.jie": 3})
    assert chain.decide(lead(), full).rule == "round_robin"  # type: ignore[union-attr]
    assert Chain(ByWorkload(cap=3)).decide(lead(), full) is None
    assert isinstance(chain, AssignmentPolicy)
    with pytest.raises(ValidationError, match="policies: must name at least one policy"):
        Chain()
    with pytest.raises(ValidationError, match=r"policies: \[1\] 'round robin' is not a policy"):
        Chain(RoundRobin(), "round robin")  # type: ignore[arg-type]


names = st.lists(
    st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=6, unique=True
)


@given(team=names, steps=st.integers(0, 60), start=st.lists(st.integers(0, 3), max_size=6))
def test_round_robin_is_fair_across_any_sequence_of_assignments(
    team: list[str], steps: int, start: list[int]
) -> None:
    # From any counts, round robin never widens the gap between the most and the fewest
    # assignments beyond what it was (or 1): from equal counts no one gets two more than another.
    snapshot = Snapshot(salespeople=tuple(team), assignments=dict(zip(team, start, strict=False)))

    def spread(s: Snapshot) -> int:
        counts = [s.assignments_of(p) for p in team]
        return max(counts) - min(counts)

    bound = max(spread(snapshot), 1)
    for _ in range(steps):
        decision = RoundRobin().decide(lead(), snapshot)
        assert decision is not None
        snapshot = snapshot.after(decision)
        assert spread(snapshot) <= bound
    if not start:
        assert spread(snapshot) <= 1


@given(
    team=names,
    cap=st.integers(0, 5),
    load=st.lists(st.integers(0, 6), max_size=6),
    steps=st.integers(0, 40),
)
def test_workload_never_pushes_anyone_past_the_cap(
    team: list[str], cap: int, load: list[int], steps: int
) -> None:
    snapshot = Snapshot(salespeople=tuple(team), open_leads=dict(zip(team, load, strict=False)))
    before = {p: snapshot.open_leads_of(p) for p in team}
    policy = ByWorkload(cap=cap)
    for _ in range(steps):
        decision = policy.decide(lead(), snapshot)
        under = [p for p in team if snapshot.open_leads_of(p) < cap]
        if decision is None:
            assert under == []
            break
        who = decision.salesperson_id
        assert snapshot.open_leads_of(who) == min(snapshot.open_leads_of(p) for p in under)
        snapshot = snapshot.after(decision)
    for p in team:
        assert snapshot.open_leads_of(p) <= max(cap, before[p])


# --- reclaim ---------------------------------------------------------------------------------


def local(lead_: Lead, zone: str) -> str:
    due = reclaim_due_at(lead_, zone)
    assert due is not None
    return due.in_timezone(zone).isoformat()


def test_a_lead_is_due_at_local_midnight_after_three_whole_days() -> None:
    assert local(owned(), "Asia/Shanghai") == "2026-03-06T00:00:00+08:00"
    late = owned(pendulum.datetime(2026, 3, 2, 23, 59, 59, tz="Asia/Shanghai"))
    assert local(late, "Asia/Shanghai") == "2026-03-06T00:00:00+08:00"
    early = owned(pendulum.datetime(2026, 3, 2, tz="Asia/Shanghai"))
    assert local(early, "Asia/Shanghai") == "2026-03-06T00:00:00+08:00"
    assert reclaim_due_at(owned(), "Asia/Shanghai", days=1) == pendulum.datetime(
        2026, 3, 4, tz="Asia/Shanghai"
    )


def test_the_owners_time_zone_decides_the_day() -> None:
    # Monday 15:00 in Shanghai is Sunday 23:00 in Los Angeles.
    assert local(owned(), "America/Los_Angeles") == "2026-03-05T00:00:00-08:00"


def test_a_follow_up_since_the_assignment_restarts_the_clock() -> None:
    it = owned()
    wednesday = pendulum.datetime(2026, 3, 4, 9, tz="Asia/Shanghai").in_timezone("UTC")
    it.follow_up(FollowUp(at=wednesday, by="li.na", channel=Channel.CALL))
    assert local(it, "Asia/Shanghai") == "2026-03-08T00:00:00+08:00"
    # A follow-up from before the assignment (the previous owner's) does not count.
    handed = owned(pendulum.datetime(2026, 3, 5, 10, tz="Asia/Shanghai"), who="wang.fang")
    handed.follow_ups.append(FollowUp(at=wednesday, by="li.na", channel=Channel.CALL))
    assert local(handed, "Asia/Shanghai") == "2026-03-09T00:00:00+08:00"


def test_dst_days_are_whole_local_days() -> None:
    # Berlin springs forward on 2026-03-29: that day has 23 hours.
    berlin = owned(pendulum.datetime(2026, 3, 26, 10, tz="Europe/Berlin"))
    assert local(berlin, "Europe/Berlin") == "2026-03-30T00:00:00+02:00"
    # New York falls back on 2026-11-01: that day has 25 hours.
    new_york = owned(pendulum.datetime(2026, 10, 29, 10, tz="America/New_York"))
    assert local(new_york, "America/New_York") == "2026-11-02T00:00:00-05:00"
    # Santiago skips midnight on 2026-09-06: that day starts at 01:00.
    santiago = owned(pendulum.datetime(2026, 9, 2, 12, tz="America/Santiago"))
    assert local(santiago, "America/Santiago") == "2026-09-06T01:00:00-03:00"


ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/Santiago",
    "America/Havana",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "America/St_Johns",
]


@given(
    at=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1)),
    zone=st.sampled_from(ZONES),
    days=st.integers(1, 10),
)
def test_the_due_instant_is_the_first_of_the_local_day_days_plus_one_after(
    at: dt.datetime, zone: str, days: int
) -> None:
    start = pendulum.instance(at.replace(tzinfo=dt.UTC))
    due = reclaim_due_at(owned(start), zone, days=days)
    assert due is not None
    tz = zoneinfo.ZoneInfo(zone)
    day = start.astimezone(tz).date() + dt.timedelta(days=days + 1)
    assert due.astimezone(tz).date() == day
    assert (due - dt.timedelta(microseconds=1)).astimezone(tz).date() < day


def test_due_for_reclaim_reports_what_to_move_and_why() -> None:
    ours, theirs, fresh, pooled = owned(), owned(who="wang.fang"), owned(), lead()
    fresh.follow_up(FollowUp(at=MONDAY.add(days=2), by="li.na", channel=Channel.VISIT))
    due = pendulum.datetime(2026, 3, 6, tz="Asia/Shanghai")
    leads = [ours, theirs, fresh, pooled]
    zones = {"li.na": "Asia/Shanghai", "wang.fang": "Europe/Berlin"}
    assert due_for_reclaim(leads, due.subtract(microseconds=1), zones) == []
    (found,) = due_for_reclaim(leads, due, zones)
    assert (found.lead_id, found.owner_id, found.since, found.due_at) == (
        ours.id,
        "li.na",
        MONDAY,
        due,
    )
    assert found.reason == (
        "no follow-up by li.na within 3 days of the assignment at 2026-03-02 15:00; "
        "due 2026-03-06 00:00 (Asia/Shanghai)"
    )
    later = due_for_reclaim(leads, pendulum.datetime(2026, 3, 9, tz="UTC"), zones)
    assert [r.lead_id for r in later] == [ours.id, theirs.id, fresh.id]
    assert "last follow-up" in later[2].reason
    # Owners without a zone use the default; closed leads are never due.
    theirs.mark_converted(new_id())
    assert due_for_reclaim([ours], due, {}) == []  # UTC: due eight hours later
    shanghai = due_for_reclaim([theirs, ours], due, {}, default_timezone="Asia/Shanghai")
    assert [r.lead_id for r in shanghai] == [ours.id]


def test_reclaim_arguments_are_checked() -> None:
    with pytest.raises(ValidationError, match="timezone: 'Mars' is not an IANA time zone"):
        reclaim_due_at(owned(), "Mars")
    with pytest.raises(ValidationError, match="days: 0 is out of range"):
        reclaim_due_at(owned(), "UTC", days=0)
    with pytest.raises(ValidationError, match="now: .* has no time zone"):
        due_for_reclaim([], dt.datetime(2026, 3, 2), {})
    with pytest.raises(ValidationError, match="timezone: 'Nowhere'"):
        due_for_reclaim([], MONDAY, {"li.na": "Nowhere"})
