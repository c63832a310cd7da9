"""The lead services on every store: add, assign under the assignment book's lock, follow up,
disqualify and reclaim, with their events; and the assignment book's contract."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit
from crmkit.customers import Channel
from crmkit.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFound,
    ReadOnlyError,
    UnitOfWorkClosed,
    ValidationError,
)
from crmkit.events import DomainEvent
from crmkit.pipeline import (
    ASSIGNMENT_BOOK_ID,
    AssignmentBook,
    ByWorkload,
    Chain,
    Decision,
    FollowUp,
    Lead,
    LeadAssigned,
    LeadCreated,
    LeadDisqualified,
    LeadFollowedUp,
    LeadReclaimed,
    LeadStatus,
    RoundRobin,
    Salesperson,
    Snapshot,
    Team,
    add_lead,
    add_leads,
    assign_lead,
    assign_leads,
    disqualify_lead,
    follow_up_lead,
    reclaim_leads,
)
from crmkit.storage import MemoryStore, Store, UnitOfWork
from crmkit.storage._pipeline import ASSIGNMENT_BOOKS
from crmkit.testing.contract import AggregateContract, SqlContract

from .conftest import NOW, Backend

# The CRM's clock: 2026-03-02 09:30 in Shanghai, 01:30 UTC (a Monday).
T0 = pendulum.parse(NOW).in_timezone("UTC")  # type: ignore[union-attr]
SHANGHAI = "Asia/Shanghai"
TEAM = Team(
    Salesperson("li.na", timezone=SHANGHAI, territories=("east",)),
    Salesperson("wang.fang", timezone="America/New_York", industries=("retail",), cap=2),
    Salesperson("zhang.wei"),
)


def a_lead(**changes: Any) -> Lead:
    return Lead(**{"name": "Zhao Lei", "source": "trade_show", **changes})


def events(crm: crmkit.CRM, kind: type[DomainEvent]) -> list[Any]:
    seen: list[Any] = []
    crm.subscribe(kind, seen.append)
    return seen


def pooled(crm: crmkit.CRM, n: int, **changes: Any) -> list[Lead]:
    leads = [a_lead(**changes) for _ in range(n)]
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        add_leads(uow, leads)
    return leads


def run(crm: crmkit.CRM, work: Callable[[UnitOfWork], Any]) -> Any:
    return crm.run(work, actor="dispatcher", tenant="acme")


# --- adding ---------------------------------------------------------------------------------------


def test_an_added_lead_gets_the_clocks_time_and_records_lead_created(backend: Backend) -> None:
    crm = backend.fresh()
    created = events(crm, LeadCreated)
    dated = a_lead(created_at=T0.subtract(days=1))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        lead = add_lead(uow, a_lead())
        add_leads(uow, [dated, a_lead(source="website")])
    assert lead.created_at == T0
    assert dated.created_at == T0.subtract(days=1)
    assert [(e.lead_id, e.source, e.owner_id) for e in created] == [
        (lead.id, "trade_show", None),
        (dated.id, "trade_show", None),
        (created[2].lead_id, "website", None),
    ]
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.leads.get(lead.id) == lead
        assert uow.leads.count() == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda uow: add_lead(uow, "a lead"), "lead: must be a Lead, not str"),  # type: ignore[arg-type]
        (lambda uow: add_leads(uow, a_lead()), "leads: must be an iterable of leads"),  # type: ignore[arg-type]
        (lambda uow: add_leads(uow, 3), "leads: must be an iterable of leads, not 3"),  # type: ignore[arg-type]
        (lambda uow: add_leads(uow, [a_lead(), None]), r"\[1\]: must be a Lead, not NoneType"),  # type: ignore[list-item]
    ],
)
def test_adding_bad_leads_is_refused_naming_the_argument(
    backend: Backend, call: Callable[[UnitOfWork], object], message: str
) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        with pytest.raises(ValidationError, match=message):
            call(uow)
        assert uow.is_open
        assert uow.events == ()
        assert uow.leads.count() == 0


def test_a_lead_added_twice_is_refused_and_keeps_no_time_it_was_given(backend: Backend) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    again = a_lead(id=lead.id)
    uow = crm.unit_of_work(actor="li", tenant="acme")
    with pytest.raises(DuplicateError):
        add_lead(uow, again)
    uow.rollback()
    assert again.created_at is None


# --- assignment -----------------------------------------------------------------------------------


def test_round_robin_takes_turns_in_the_teams_order_and_keeps_them_in_the_book(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    assigned = events(crm, LeadAssigned)
    leads = pooled(crm, 7)
    owners = [
        run(crm, partial(assign_lead, lead_id=x.id, policy=RoundRobin(), team=TEAM)) for x in leads
    ]
    assert [d.salesperson_id for d in owners] == ["li.na", "wang.fang", "zhang.wei"] * 2 + ["li.na"]
    assert owners[3].figures == {
        "assignments:li.na": 1,
        "assignments:wang.fang": 1,
        "assignments:zhang.wei": 1,
    }
    assert [(e.lead_id, e.owner_id, e.previous_owner_id, e.rule) for e in assigned] == [
        (x.id, d.salesperson_id, None, "round_robin") for x, d in zip(leads, owners, strict=True)
    ]
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        book = uow.assignment_books.get(ASSIGNMENT_BOOK_ID)
        assert book.turns == {"li.na": 3, "wang.fang": 2, "zhang.wei": 2}
        assert (book.assigned, book.version) == (7, 8)
        stored = uow.leads.get(leads[0].id)
    assert stored.decision == owners[0]
    assert stored.assigned_at == T0
    # Assigned Monday 09:30 in Shanghai: due back Friday 00:00 there.
    assert stored.reclaim_at == pendulum.datetime(2026, 3, 6, tz=SHANGHAI)
    with (
        crm.unit_of_work(actor="li", tenant="other", read_only=True) as uow,
        pytest.raises(NotFound),
    ):
        uow.assignment_books.get(ASSIGNMENT_BOOK_ID)


def test_the_reclaim_clock_runs_in_the_owners_zone_for_the_days_given(backend: Backend) -> None:
    crm = backend.fresh()
    leads = pooled(crm, 2)
    policy = Chain(ByWorkload(cap=0, caps={"wang.fang": 5}))  # only wang.fang takes leads
    run(crm, lambda uow: assign_leads(uow, [x.id for x in leads], policy, TEAM, days=1))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        stored = uow.leads.get_many([x.id for x in leads])
    # 01:30 UTC on Monday is Sunday 20:30 in New York: due Tuesday 00:00 there.
    assert {x.reclaim_at for x in stored} == {pendulum.datetime(2026, 3, 3, tz="America/New_York")}
    assert {x.owner_id for x in stored} == {"wang.fang"}


def test_workload_counts_the_stored_open_leads_and_leaves_the_rest_in_the_pool(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    held = pooled(crm, 2)
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        for lead in uow.leads.get_many([x.id for x in held]):
            lead.assign(Decision.manual("li.na", "asked for"), at=T0)
            uow.leads.update(lead)
    leads = pooled(crm, 5)
    policy = TEAM.by_workload(cap=2)
    decisions = run(crm, lambda uow: assign_leads(uow, [x.id for x in leads], policy, TEAM))
    owners = [None if d is None else d.salesperson_id for d in decisions]
    assert owners == ["wang.fang", "zhang.wei", "wang.fang", "zhang.wei", None]
    assert decisions[0].figures == {
        "open_leads:li.na": 2,
        "open_leads:wang.fang": 0,
        "open_leads:zhang.wei": 0,
        "cap:wang.fang": 2,
    }
    assert decisions[3].figures["open_leads:zhang.wei"] == 1  # each decision counts in the next
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.leads.open_counts() == {"li.na": 2, "wang.fang": 2, "zhang.wei": 2}
        assert uow.leads.get(leads[4].id).in_pool
        # Only round robin's decisions take turns: the book holds none, but counts them all.
        book = uow.assignment_books.get(ASSIGNMENT_BOOK_ID)
        assert (book.assigned, book.turns) == (4, {})


def test_a_lead_with_an_owner_is_handed_over_and_its_old_owner_counts_one_less(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    assigned = events(crm, LeadAssigned)
    only_li = Team(Salesperson("li.na"))
    run(crm, lambda uow: assign_lead(uow, lead.id, RoundRobin(), only_li))
    # At a cap of one, li.na may take her own lead again: it leaves her as it comes back.
    decision = run(crm, lambda uow: assign_lead(uow, lead.id, ByWorkload(cap=1), only_li))
    assert decision.salesperson_id == "li.na"
    assert decision.figures["open_leads:li.na"] == 0
    moved = run(
        crm,
        lambda uow: assign_lead(
            uow, lead.id, Chain(ByWorkload(cap=0, caps={"zhang.wei": 1})), TEAM
        ),
    )
    assert moved.salesperson_id == "zhang.wei"
    assert [(e.owner_id, e.previous_owner_id) for e in assigned] == [
        ("li.na", None),
        ("li.na", "li.na"),
        ("zhang.wei", "li.na"),
    ]


class _Outsider:
    def decide(self, lead: Lead, team: Snapshot) -> Decision | None:
        return Decision.manual("someone.else", "not in the team")


class _Junk:
    def decide(self, lead: Lead, team: Snapshot) -> object:
        return "li.na"


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"lead_id": "x"}, ValidationError, "lead_ids\\[0\\]: must be a UUID"),
        ({"policy": object()}, ValidationError, "policy: .* is not an assignment policy"),
        ({"team": ("li.na",)}, ValidationError, "team: must be a Team, not tuple"),
        ({"days": 0}, ValidationError, "days"),
        ({"policy": _Outsider()}, ValidationError, "policy: chose 'someone.else', who is not"),
        ({"policy": _Junk()}, ValidationError, "policy: returned 'li.na', not a Decision"),
        ({"lead_id": crmkit.new_id()}, NotFound, "lead"),
    ],
)
def test_bad_assignments_are_refused_and_write_nothing(
    backend: Backend, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    given: dict[str, Any] = {"lead_id": lead.id, "policy": RoundRobin(), "team": TEAM}
    given.update(arguments)
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        with pytest.raises(error, match=message):
            assign_lead(uow, **given)
        assert uow.events == ()
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.leads.get(lead.id) == lead


def test_a_closed_lead_is_not_assigned_and_a_read_only_unit_of_work_assigns_nothing(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    run(crm, lambda uow: disqualify_lead(uow, lead.id, "no budget"))
    closed = "status: lead .* is disqualified; cannot assign"
    with (
        crm.unit_of_work(actor="li", tenant="acme") as uow,
        pytest.raises(ValidationError, match=closed),
    ):
        assign_lead(uow, lead.id, RoundRobin(), TEAM)
    with (
        crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow,
        pytest.raises(ReadOnlyError),
    ):
        assign_lead(uow, lead.id, RoundRobin(), TEAM)


def test_a_policy_that_does_not_decide_leaves_the_lead_and_writes_nothing(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    assert run(crm, lambda uow: assign_lead(uow, lead.id, ByWorkload(cap=0), TEAM)) is None
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.leads.get(lead.id) == lead
        # Nothing written but the tenant's book, made the first time it is locked.
        assert [(c.record, c.operation) for c in uow.changes.since(0).changes] == [
            ("lead", "create"),
            ("assignment_book", "create"),
        ]


def test_the_memory_store_fails_a_commit_whose_locked_record_changed_since() -> None:
    crm = crmkit.CRM(MemoryStore())
    with crm.unit_of_work(actor="li") as uow:
        uow.assignment_books.add(AssignmentBook())
    locker = crm.unit_of_work(actor="li")
    locker.assignment_books.lock(ASSIGNMENT_BOOK_ID)
    with crm.unit_of_work(actor="wang") as uow:
        book = uow.assignment_books.get(ASSIGNMENT_BOOK_ID)
        book.turns = {"wang": 1}
        uow.assignment_books.update(book)
    with pytest.raises(ConcurrencyError, match="assignment_book"):
        locker.commit()
    # A missing record locked, then added by someone else: a conflict too, not a duplicate.
    locker = crm.unit_of_work(actor="li", tenant="new")
    with pytest.raises(NotFound):
        locker.assignment_books.lock(ASSIGNMENT_BOOK_ID)
    locker.assignment_books.add(AssignmentBook())
    with crm.unit_of_work(actor="wang", tenant="new") as uow:
        uow.assignment_books.add(AssignmentBook())
    with pytest.raises(ConcurrencyError):
        locker.commit()
    with pytest.raises(UnitOfWorkClosed):
        locker.commit()


# --- working a lead -------------------------------------------------------------------------------


def test_a_follow_up_pushes_the_reclaim_clock_in_the_owners_zone(backend: Backend) -> None:
    crm = backend.fresh()
    followed = events(crm, LeadFollowedUp)
    (lead,) = pooled(crm, 1)
    run(crm, lambda uow: assign_lead(uow, lead.id, RoundRobin(), TEAM))  # li.na, Shanghai
    # Wednesday 09:00 in Shanghai: due Sunday 00:00 there.
    call = FollowUp(at=pendulum.datetime(2026, 3, 4, 1), by="li.na", channel=Channel.CALL)
    stored = run(crm, lambda uow: follow_up_lead(uow, lead.id, call, TEAM))
    assert stored.reclaim_at == pendulum.datetime(2026, 3, 8, tz=SHANGHAI)
    assert stored.follow_ups == [call]
    # A mapping of zones serves too; an owner it does not name counts in UTC.
    later = FollowUp(at=pendulum.datetime(2026, 3, 5, 1), by="li.na", channel=Channel.VISIT)
    stored = run(crm, lambda uow: follow_up_lead(uow, lead.id, later, {}, days=1))
    assert stored.reclaim_at == pendulum.datetime(2026, 3, 7)
    assert [(e.lead_id, e.by, e.channel, e.at) for e in followed] == [
        (lead.id, "li.na", Channel.CALL, call.at),
        (lead.id, "li.na", Channel.VISIT, later.at),
    ]


def test_a_follow_up_of_a_pooled_lead_starts_no_clock(backend: Backend) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    call = FollowUp(at=T0, by="li.na", channel=Channel.CALL)
    stored = run(crm, lambda uow: follow_up_lead(uow, lead.id, call, TEAM))
    assert (stored.reclaim_at, stored.in_pool, len(stored.follow_ups)) == (None, True, 1)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"lead_id": None}, ValidationError, "lead_id: must be a UUID"),
        ({"follow_up": "called"}, ValidationError, "follow_up: must be a FollowUp"),
        ({"team": 3}, ValidationError, "team: must be a Team or a mapping"),
        ({"team": {"li.na": "Mars/Olympus"}}, ValidationError, r"team\['li.na'\]: .* IANA"),
        ({"days": "3"}, ValidationError, "days"),
        ({"lead_id": crmkit.new_id()}, NotFound, "lead"),
    ],
)
def test_bad_follow_ups_are_refused_and_write_nothing(
    backend: Backend, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    given: dict[str, Any] = {
        "lead_id": lead.id,
        "follow_up": FollowUp(at=T0, by="li.na", channel=Channel.CALL),
        "team": TEAM,
    }
    given.update(arguments)
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        with pytest.raises(error, match=message):
            follow_up_lead(uow, **given)
        assert uow.events == ()
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.leads.get(lead.id) == lead


def test_a_disqualified_lead_is_closed_stops_its_clock_and_records_why(backend: Backend) -> None:
    crm = backend.fresh()
    dropped = events(crm, LeadDisqualified)
    (lead,) = pooled(crm, 1)
    run(crm, lambda uow: assign_lead(uow, lead.id, RoundRobin(), TEAM))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        with pytest.raises(ValidationError, match="reason: must not be blank"):
            disqualify_lead(uow, lead.id, " ")
        with pytest.raises(ValidationError, match="lead_id"):
            disqualify_lead(uow, "x", "no budget")  # type: ignore[arg-type]
        stored = disqualify_lead(uow, lead.id, "no budget")
    assert (stored.status, stored.reclaim_at) == (LeadStatus.DISQUALIFIED, None)
    assert [(e.lead_id, e.reason) for e in dropped] == [(lead.id, "no budget")]
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        with pytest.raises(ValidationError, match="is disqualified; cannot disqualify"):
            disqualify_lead(uow, lead.id, "again")
        with pytest.raises(ValidationError, match="is disqualified; cannot follow up"):
            follow_up_lead(uow, lead.id, FollowUp(at=T0, by="li", channel=Channel.CALL), TEAM)
        assert uow.leads.open_counts() == {}


# --- reclaim --------------------------------------------------------------------------------------


def test_a_reclaim_returns_due_leads_to_the_pool_once_and_says_why(backend: Backend) -> None:
    crm = backend.fresh()
    reclaimed = events(crm, LeadReclaimed)
    leads = pooled(crm, 4)
    run(crm, lambda uow: assign_leads(uow, [x.id for x in leads], RoundRobin(), TEAM))
    # li.na (Shanghai) twice, wang.fang (New York), zhang.wei (UTC). wang.fang calls hers back
    # on Wednesday evening in New York: due Sunday 00:00 there.
    call = FollowUp(at=T0.add(days=3), by="wang.fang", channel=Channel.CALL)
    run(crm, lambda uow: follow_up_lead(uow, leads[1].id, call, TEAM))
    friday = pendulum.datetime(2026, 3, 6, tz=SHANGHAI)
    moved = run(crm, lambda uow: reclaim_leads(uow, friday, TEAM))
    assert [(m.lead_id, m.owner_id) for m in moved] == [
        (leads[0].id, "li.na"),
        (leads[3].id, "li.na"),
    ]
    assert moved[0].due_at == friday
    assert moved[0].reason == (
        "no follow-up by li.na within 3 days of the assignment at 2026-03-02 09:30; "
        "due 2026-03-06 00:00 (Asia/Shanghai)"
    )
    assert [(e.lead_id, e.previous_owner_id, e.due_at, e.reason) for e in reclaimed] == [
        (m.lead_id, m.owner_id, m.due_at, m.reason) for m in moved
    ]
    assert run(crm, lambda uow: reclaim_leads(uow, friday, TEAM)) == []
    assert len(reclaimed) == 2
    # Saturday 00:00 UTC: zhang.wei's lead is due; wang.fang's not yet.
    saturday = pendulum.datetime(2026, 3, 7)
    later = run(crm, lambda uow: reclaim_leads(uow, saturday, TEAM))
    assert [m.lead_id for m in later] == [leads[2].id]
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        stored = {x.id: x for x in uow.leads.get_many([x.id for x in leads])}
        assert [stored[x.id].in_pool for x in leads] == [True, False, True, True]
        assert stored[leads[0].id].reclaim_at is None
        assert uow.leads.open_counts() == {"wang.fang": 1}


def test_a_reclaim_looks_at_most_at_limit_leads_earliest_first(backend: Backend) -> None:
    crm = backend.fresh()
    leads = pooled(crm, 3)
    run(crm, lambda uow: assign_leads(uow, [x.id for x in leads], RoundRobin(), TEAM))
    later = pendulum.datetime(2026, 4, 1)
    first = run(crm, lambda uow: reclaim_leads(uow, later, TEAM, limit=2))
    # Assigned on Sunday evening in New York, Monday in Shanghai and UTC: due in that order.
    assert [m.owner_id for m in first] == ["wang.fang", "li.na"]
    rest = run(crm, lambda uow: reclaim_leads(uow, later, TEAM, limit=2))
    assert [m.owner_id for m in rest] == ["zhang.wei"]


def test_a_lead_the_rule_no_longer_finds_due_gets_the_rules_time_and_stays(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    (lead,) = pooled(crm, 1)
    run(crm, lambda uow: assign_lead(uow, lead.id, RoundRobin(), TEAM, days=1))
    wednesday = pendulum.datetime(2026, 3, 4, tz=SHANGHAI)
    # The host now gives its people five days: the lead is not due yet after all.
    assert run(crm, lambda uow: reclaim_leads(uow, wednesday, TEAM, days=5)) == []
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        stored = uow.leads.get(lead.id)
        assert uow.leads.due(wednesday) == []
    assert stored.owner_id == "li.na"
    assert stored.reclaim_at == pendulum.datetime(2026, 3, 8, tz=SHANGHAI)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"now": "2026-03-06"}, "now"),
        ({"now": pendulum.naive(2026, 3, 6)}, "now"),
        ({"team": ["li.na"]}, "team: must be a Team or a mapping"),
        ({"days": 0}, "days"),
        ({"limit": 0}, "limit"),
        ({"limit": True}, "limit"),
    ],
)
def test_bad_reclaims_are_refused(
    backend: Backend, arguments: dict[str, Any], message: str
) -> None:
    crm = backend.fresh()
    given: dict[str, Any] = {"now": T0, "team": TEAM}
    given.update(arguments)
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        with pytest.raises(ValidationError, match=message):
            reclaim_leads(uow, **given)
        assert uow.is_open


# --- the team -------------------------------------------------------------------------------------


def test_a_team_names_its_members_zones_and_the_rules_they_cover() -> None:
    assert TEAM.ids == ("li.na", "wang.fang", "zhang.wei")
    assert TEAM.timezone_of("wang.fang") == "America/New_York"
    assert TEAM.timezone_of("gone") == "UTC"
    assert Team(default_timezone=SHANGHAI).timezone_of("gone") == SHANGHAI
    assert TEAM.by_territory().matches == {"east": ("li.na",)}
    assert TEAM.by_industry().matches == {"retail": ("wang.fang",)}
    assert TEAM.by_workload(cap=7) == ByWorkload(7, {"wang.fang": 2})


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Salesperson("li.na", timezone="Mars/Olympus"), "timezone: .*IANA"),
        (lambda: Salesperson(""), "^id: "),
        (lambda: Salesperson("li.na", territories="east"), r"territories"),
        (lambda: Salesperson("li.na", cap=-1), "cap"),
        (
            lambda: Team(Salesperson("li.na"), Salesperson("li.na")),
            r"members\[1\]: 'li.na' appears twice",
        ),
        (lambda: Team("li.na"), r"members\[0\]: must be Salesperson, not str"),  # type: ignore[arg-type]
        (lambda: Team(default_timezone="nowhere"), "default_timezone"),
        (lambda: TEAM.by_workload(cap=-1), "cap"),
    ],
)
def test_a_bad_team_is_refused_naming_the_field(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()


# --- the assignment book's contract ---------------------------------------------------------------


class BookContract(AggregateContract[AssignmentBook]):
    aggregate = ASSIGNMENT_BOOKS

    def new(self, uow: UnitOfWork) -> AssignmentBook:
        return AssignmentBook(id=crmkit.new_id(), turns={"li.na": 3, "wang.fang": 2})

    def change(self, obj: AssignmentBook) -> None:
        obj.turns = {**obj.turns, "zhang.wei": obj.turns.get("zhang.wei", 0) + 1}


class TestBooksInMemory(BookContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestBooksOnSqlite(SqlContract, BookContract):
    url = "sqlite://"
    machine_examples = 10


class TestBooksOnPostgres(SqlContract, BookContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 5


class TestBooksOnMariaDB(SqlContract, BookContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 5


# --- laws -----------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    people=st.integers(1, 5),
    held=st.lists(st.integers(0, 4), min_size=5, max_size=5),
    cap=st.integers(0, 5),
    batches=st.lists(st.integers(1, 6), min_size=1, max_size=4),
)
def test_assignments_in_any_batches_keep_the_caps_and_fair_turns(
    people: int, held: list[int], cap: int, batches: list[int]
) -> None:
    crm = crmkit.CRM(MemoryStore(), clock=crmkit.FixedClock(NOW))
    team = Team(*(Salesperson(f"rep{i}") for i in range(people)))
    before = dict(zip(team.ids, held, strict=False))
    with crm.unit_of_work(actor="setup", tenant="acme") as uow:
        for who, n in before.items():
            for _ in range(n):
                lead = a_lead()
                lead.assign(Decision.manual(who, "before"), at=T0)
                uow.leads.add(lead)
    policy = Chain(team.by_workload(cap=cap), RoundRobin())
    for size in batches:
        ids = [x.id for x in pooled(crm, size)]
        run(crm, partial(assign_leads, lead_ids=ids, policy=policy, team=team))
    with crm.unit_of_work(actor="check", tenant="acme", read_only=True) as uow:
        counts = uow.leads.open_counts()
        book = uow.assignment_books.get(ASSIGNMENT_BOOK_ID)
    assert book.assigned == sum(batches)  # the chain always decides
    by_turns = {who: book.turns.get(who, 0) for who in team.ids}
    by_load = {who: counts.get(who, 0) - before[who] - by_turns[who] for who in team.ids}
    # Workload never takes anyone past the cap; round robin keeps its turns within one.
    assert all(before[who] + by_load[who] <= max(cap, before[who]) for who in team.ids)
    assert max(by_turns.values()) - min(by_turns.values()) <= 1
    # Round robin decides only once everyone is full.
    if sum(by_turns.values()):
        assert all(before[who] + by_load[who] >= cap for who in team.ids)
