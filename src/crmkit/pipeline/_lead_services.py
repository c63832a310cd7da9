"""What people do with leads: add, assign, follow up, disqualify and reclaim them.

Each service works in the unit of work it is given and never commits it; it records its events
there, and bad input raises before anything is written. Assignment is a read-decide-write over
the whole team (who holds how many open leads, whose turn it is), so assignments in one tenant
take turns: each locks the tenant's `AssignmentBook` first (``SELECT ... FOR UPDATE`` on
PostgreSQL and MariaDB, SQLite's one writer, a checked read on the memory store) and only then
reads the counts it decides from. Workers assigning at once therefore never push a salesperson
past a cap, and round robin stays fair. Run the services with `crmkit.CRM.run`, which runs a
unit of work again when it loses a race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final
from uuid import UUID

import attrs

from crmkit._clock import to_utc
from crmkit._validation import ON_SETATTR, Validated, bounded_int, check, shown
from crmkit.customers._arguments import an_id as _an_id
from crmkit.customers._model import _timezone, _uuid, version_check
from crmkit.errors import ConcurrencyError, DuplicateError, Issue, NotFound, ValidationError
from crmkit.pipeline._assignment import (
    AssignmentPolicy,
    Decision,
    RoundRobin,
    Snapshot,
    _count,
    _counts,
)
from crmkit.pipeline._lead_events import (
    LeadAssigned,
    LeadCreated,
    LeadDisqualified,
    LeadFollowedUp,
    LeadReclaimed,
)
from crmkit.pipeline._leads import FollowUp, Lead, LeadStatus
from crmkit.pipeline._reclaim import (
    DEFAULT_RECLAIM_DAYS,
    Reclaim,
    _check_days,
    due_for_reclaim,
    reclaim_due_at,
)
from crmkit.pipeline._team import Team

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = [
    "ASSIGNMENT_BOOK_ID",
    "AssignmentBook",
    "add_lead",
    "add_leads",
    "assign_lead",
    "assign_leads",
    "disqualify_lead",
    "follow_up_lead",
    "reclaim_leads",
]

ASSIGNMENT_BOOK_ID: Final = UUID("00000000-0000-4000-8000-00000000b00c")
"""The id of every tenant's `AssignmentBook` (there is one per tenant)."""

_limit = bounded_int(1, 100_000)


def _turns(value: object) -> str | list[Issue] | None:
    if not isinstance(value, dict):
        return f"must be a dict of salesperson to count, not {type(value).__name__}"
    return _counts(value)


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class AssignmentBook(Validated):
    """A tenant's record of assignment: the round-robin turns, and the record assignments lock.

    `assign_leads` keeps it; a host reads it to see how the turns stand.

    Every assignment stores it (a new version), which is how `assign_leads` knows that what it
    reads after locking the book is current: see there.

    Attributes:
        id: always `ASSIGNMENT_BOOK_ID`: one book per tenant.
        assigned: how many assignments were made through the book, by every rule.
        turns: how many leads each salesperson was given by the round-robin rule (decisions
            whose rule is ``"round_robin"``); round robin's fairness is over these.
        version: how many times the book was stored; 0 until it is first added.
    """

    id: UUID = attrs.field(default=ASSIGNMENT_BOOK_ID, metadata=check(_uuid))
    assigned: int = attrs.field(default=0, metadata=check(_count))
    turns: dict[str, int] = attrs.field(factory=dict, metadata=check(_turns))
    version: int = attrs.field(default=0, metadata=check(version_check))


# --- argument checks ------------------------------------------------------------------------------


def _lead_ids(values: object) -> list[UUID]:
    if isinstance(values, str | bytes | UUID) or not isinstance(values, Iterable):
        raise ValidationError.of("lead_ids", f"must be an iterable of UUIDs, not {shown(values)}")
    found = [_an_id(v, f"lead_ids[{i}]") for i, v in enumerate(values)]
    return list(dict.fromkeys(found))


def _a_team(team: object) -> Team:
    if not isinstance(team, Team):
        raise ValidationError.of("team", f"must be a Team, not {type(team).__name__}")
    return team


def _zones(team: object) -> tuple[dict[str, str], str]:
    """The owners' time zones and the zone of the others, from a `Team` or a mapping."""
    if isinstance(team, Team):
        return team.timezones, team.default_timezone
    if not isinstance(team, Mapping):
        raise ValidationError.of(
            "team", f"must be a Team or a mapping of salesperson to time zone, not {shown(team)}"
        )
    zones: dict[str, str] = {}
    for who, zone in team.items():
        problem = _timezone(zone)
        if problem is not None:
            raise ValidationError.of(f"team[{shown(who)}]", problem)
        zones[who] = zone
    return zones, "UTC"


def _a_policy(policy: object) -> AssignmentPolicy:
    if not isinstance(policy, AssignmentPolicy):
        raise ValidationError.of(
            "policy", f"{shown(policy)} is not an assignment policy (it has no decide method)"
        )
    return policy


def _days(days: object) -> int:
    _check_days(days)  # type: ignore[arg-type]
    assert isinstance(days, int)  # noqa: S101 (checked above)
    return days


def _open(lead: Lead, doing: str) -> None:
    if lead.status is not LeadStatus.OPEN:
        raise ValidationError.of("status", f"lead {lead.id} is {lead.status}; cannot {doing} it")


# --- adding ---------------------------------------------------------------------------------------


def add_lead(uow: UnitOfWork, lead: Lead) -> Lead:
    """Store a new lead, recording `LeadCreated`; `created_at` is set from the clock if unset.

    A lead is usually added to the pool (no owner) and then given out with `assign_lead`, which
    starts its reclaim clock.

    Examples:
        >>> import crmkit
        >>> from crmkit.pipeline import Lead, LeadCreated, add_lead
        >>> crm = crmkit.open("memory://")
        >>> crm.subscribe(LeadCreated, lambda e: print("new lead from", e.source))
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     lead = add_lead(uow, Lead(name="Zhao Lei", source="trade_show"))
        new lead from trade_show
        >>> lead.created_at is not None, lead.version
        (True, 1)

    Raises:
        ValidationError: `lead` is not a valid `Lead`, or is already stored.
        DuplicateError: its id is taken in the tenant.
    """
    add_leads(uow, [lead])
    return lead


def add_leads(uow: UnitOfWork, leads: Iterable[Lead]) -> list[Lead]:
    """Store many new leads at once (all or none), recording `LeadCreated` for each.

    Raises:
        ValidationError: `leads` is not an iterable of leads, or one is invalid (named by its
            position, ``[3]``) or already stored.
        DuplicateError: an id is taken in the tenant.
    """
    given: object = leads
    if isinstance(given, Lead):
        raise ValidationError.of("leads", "must be an iterable of leads; use add_lead for one")
    if not isinstance(given, Iterable):
        raise ValidationError.of("leads", f"must be an iterable of leads, not {shown(given)}")
    items: list[object] = list(given)
    batch: list[Lead] = []
    for i, item in enumerate(items):
        if not isinstance(item, Lead):
            problem = f"must be a Lead, not {type(item).__name__}"
            raise ValidationError.of(f"[{i}]" if len(items) > 1 else "lead", problem)
        batch.append(item)
    at = uow.now()
    unset = [lead for lead in batch if lead.created_at is None]
    for lead in unset:
        lead.created_at = at
    try:
        uow.leads.add_many(batch)
    except BaseException:
        for lead in unset:  # the caller's leads as they were
            lead.created_at = None
        raise
    uow.record_many(
        LeadCreated,
        ({"lead_id": lead.id, "source": lead.source, "owner_id": lead.owner_id} for lead in batch),
    )
    return batch


# --- assignment -----------------------------------------------------------------------------------


def _book(uow: UnitOfWork) -> AssignmentBook:
    """The tenant's assignment book, locked till the unit of work ends (added if missing)."""
    books = uow.assignment_books
    try:
        book = books.lock(ASSIGNMENT_BOOK_ID)
    except NotFound:
        pass
    else:
        # The lock reads the newest book. A plain read sees what the unit of work's other plain
        # reads see: on MariaDB/MySQL, the snapshot of its first read, which may be older than
        # the lock. Every assignment stores the book, so an older book there means counts read
        # now would miss assignments made since: run again, with a fresh snapshot.
        seen = [b.version for b in books.get_many([ASSIGNMENT_BOOK_ID])]
        if seen != [book.version]:
            raise ConcurrencyError("assignment_book", ASSIGNMENT_BOOK_ID, seen[0] if seen else None)
        return book
    book = AssignmentBook()
    try:
        books.add(book)
    except DuplicateError as e:
        # Another unit of work added it first: this one lost the race and runs again.
        raise ConcurrencyError("assignment_book", ASSIGNMENT_BOOK_ID, None) from e
    return book


def assign_lead(
    uow: UnitOfWork,
    lead_id: UUID,
    policy: AssignmentPolicy,
    team: Team,
    *,
    days: int = DEFAULT_RECLAIM_DAYS,
) -> Decision | None:
    """Give a lead to the salesperson `policy` picks from `team`; see `assign_leads`.

    Examples:
        >>> import crmkit
        >>> from crmkit.pipeline import (
        ...     Lead, RoundRobin, Salesperson, Team, add_lead, assign_lead)
        >>> crm = crmkit.open("memory://")
        >>> team = Team(Salesperson("li.na", timezone="Asia/Shanghai"), Salesperson("wang.fang"))
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     lead = add_lead(uow, Lead(name="Zhao Lei", source="website"))
        >>> decision = crm.run(lambda uow: assign_lead(uow, lead.id, RoundRobin(), team),
        ...                    actor="dispatcher")
        >>> decision.salesperson_id, decision.rule
        ('li.na', 'round_robin')

    Returns:
        The decision now stored with the lead, or ``None`` when the policy did not decide (the
        lead stays where it was).
    """
    return assign_leads(uow, [lead_id], policy, team, days=days)[0]


def assign_leads(
    uow: UnitOfWork,
    lead_ids: Iterable[UUID],
    policy: AssignmentPolicy,
    team: Team,
    *,
    days: int = DEFAULT_RECLAIM_DAYS,
) -> list[Decision | None]:
    """Give each lead to the salesperson `policy` picks from `team`, one after another.

    First the tenant's `AssignmentBook` is locked, so that assignments take turns; then the
    open leads each salesperson holds and the round-robin turns are read, the policy is asked
    for each lead in the order given (each decision counting in the next), and each decided
    lead is assigned: the decision is stored with it, its reclaim clock starts (`reclaim_at`,
    in the owner's time zone, after `days` whole days), and `LeadAssigned` is recorded. A lead
    that already has an owner is handed over (its old owner's count drops by one).

    Run it with `crmkit.CRM.run`: a unit of work that loses a race for the book runs again. So
    does one whose earlier reads (on MariaDB/MySQL, whose plain reads all see the snapshot of
    the transaction's first read) predate the latest assignment: every assignment stores the
    book, so a plain read of it older than the locked one shows the counts would be stale.

    Args:
        uow: the unit of work.
        lead_ids: the leads, each open.
        policy: who gets a lead (`RoundRobin`, `ByWorkload`, a `Chain`, ...).
        team: the salespeople to choose among, in the order that breaks ties, with their zones.
        days: whole local days an owner has to follow a lead up before it is reclaimed.

    Returns:
        Per lead, in the order given (each id once), the decision stored with it, or ``None``
        when the policy did not decide (that lead is left as it was). The tenant's book is
        added the first time it is needed, even if nothing is decided.

    Raises:
        NotFound: a lead does not exist in the tenant.
        ValidationError: an argument is bad, a lead is not open, or the policy returned
            something other than a `Decision` for a member of `team`; nothing is written.
        ConcurrencyError: another unit of work won a race (run it again: `crmkit.CRM.run`).
    """
    wanted = _lead_ids(lead_ids)
    policy = _a_policy(policy)
    team = _a_team(team)
    days = _days(days)
    book = _book(uow)  # first: the counts read below are then current
    leads = uow.leads.get_many(wanted)
    if len(leads) != len(wanted):
        present = {lead.id for lead in leads}
        raise NotFound("lead", next(k for k in wanted if k not in present))
    for lead in leads:
        _open(lead, "assign")
    held = dict(uow.leads.open_counts())
    turns = dict(book.turns)
    decisions: list[Decision | None] = []
    for lead in leads:
        open_leads = dict(held)
        if lead.owner_id is not None:  # a hand-over: the lead leaves its owner
            open_leads[lead.owner_id] -= 1
        snapshot = Snapshot(salespeople=team.ids, open_leads=open_leads, assignments=turns)
        decision = policy.decide(lead, snapshot)
        if decision is not None:
            if not isinstance(decision, Decision):
                raise ValidationError.of(
                    "policy", f"returned {shown(decision)}, not a Decision or None"
                )
            who = decision.salesperson_id
            if who not in team.ids:
                raise ValidationError.of(
                    "policy", f"chose {who!r}, who is not a member of the team"
                )
            held[who] = held.get(who, 0) + 1
            if lead.owner_id is not None:
                held[lead.owner_id] -= 1
            if decision.rule == RoundRobin.rule:
                turns[who] = turns.get(who, 0) + 1
        decisions.append(decision)
    at = uow.now()
    for lead, decision in zip(leads, decisions, strict=True):
        if decision is None:
            continue
        previous = lead.owner_id
        lead.assign(decision, at=at)
        lead.reclaim_at = reclaim_due_at(lead, team.timezone_of(decision.salesperson_id), days)
        uow.leads.update(lead)
        uow.record(
            LeadAssigned,
            lead_id=lead.id,
            owner_id=decision.salesperson_id,
            previous_owner_id=previous,
            rule=decision.rule,
        )
    made = sum(decision is not None for decision in decisions)
    if made:
        book.assigned += made
        book.turns = turns
        uow.assignment_books.update(book)
    return decisions


# --- working a lead -------------------------------------------------------------------------------


def follow_up_lead(
    uow: UnitOfWork,
    lead_id: UUID,
    follow_up: FollowUp,
    team: Team | Mapping[str, str],
    *,
    days: int = DEFAULT_RECLAIM_DAYS,
) -> Lead:
    """Record a follow-up on a lead, restarting its reclaim clock; records `LeadFollowedUp`.

    The lead is then due back to the pool `days` whole days after the follow-up's local day,
    in its owner's time zone (see `reclaim_due_at`).

    Examples:
        >>> import crmkit, pendulum
        >>> from crmkit.customers import Channel
        >>> from crmkit.pipeline import (
        ...     FollowUp, Lead, RoundRobin, Salesperson, Team, add_lead, assign_lead,
        ...     follow_up_lead)
        >>> crm = crmkit.open("memory://", clock=crmkit.FixedClock("2026-03-02T09:00:00+08:00"))
        >>> team = Team(Salesperson("li.na", timezone="Asia/Shanghai"))
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     lead = add_lead(uow, Lead(name="Zhao Lei", source="website"))
        ...     _ = assign_lead(uow, lead.id, RoundRobin(), team)
        ...     call = FollowUp(at=pendulum.datetime(2026, 3, 4, 1), by="li.na",
        ...                     channel=Channel.CALL)
        ...     lead = follow_up_lead(uow, lead.id, call, team)
        >>> lead.reclaim_at.in_timezone("Asia/Shanghai").isoformat()
        '2026-03-08T00:00:00+08:00'

    Args:
        uow: the unit of work.
        lead_id: the lead, open.
        follow_up: what happened.
        team: the team, or a mapping of salesperson to IANA time zone (others: UTC).
        days: whole local days an owner has to follow a lead up before it is reclaimed.

    Raises:
        NotFound: no such lead in the tenant.
        ValidationError: an argument is bad, or the lead is not open; nothing is written.
        ConcurrencyError: someone changed the lead since it was read (run it again).
    """
    key = _an_id(lead_id, "lead_id")
    if not isinstance(follow_up, FollowUp):
        raise ValidationError.of("follow_up", f"must be a FollowUp, not {shown(follow_up)}")
    zones, default = _zones(team)
    days = _days(days)
    lead = uow.leads.get(key)
    _open(lead, "follow up")
    lead.follow_up(follow_up)
    if lead.owner_id is not None:
        lead.reclaim_at = reclaim_due_at(lead, zones.get(lead.owner_id, default), days)
    uow.leads.update(lead)
    uow.record(
        LeadFollowedUp, lead_id=lead.id, by=follow_up.by, channel=follow_up.channel, at=follow_up.at
    )
    return lead


def disqualify_lead(uow: UnitOfWork, lead_id: UUID, reason: str) -> Lead:
    """Drop a lead, saying why; records `LeadDisqualified`.

    Examples:
        >>> import crmkit
        >>> from crmkit.pipeline import Lead, add_lead, disqualify_lead
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     lead = add_lead(uow, Lead(name="Zhao Lei", source="website"))
        ...     str(disqualify_lead(uow, lead.id, "no budget this year").status)
        'disqualified'

    Raises:
        NotFound: no such lead in the tenant.
        ValidationError: `reason` is blank or too long, or the lead is not open.
        ConcurrencyError: someone changed the lead since it was read (run it again).
    """
    key = _an_id(lead_id, "lead_id")
    lead = uow.leads.get(key)
    _open(lead, "disqualify")
    lead.disqualify(reason)
    uow.leads.update(lead)
    uow.record(LeadDisqualified, lead_id=lead.id, reason=reason)
    return lead


# --- reclaim --------------------------------------------------------------------------------------


def reclaim_leads(
    uow: UnitOfWork,
    now: dt.datetime,
    team: Team | Mapping[str, str],
    *,
    days: int = DEFAULT_RECLAIM_DAYS,
    limit: int = 1000,
) -> list[Reclaim]:
    """Return the leads nobody followed up in time to the pool, saying what moved and why.

    A host runs it on a schedule (every few minutes, say). It finds the leads due at `now`
    through the index on `Lead.reclaim_at` (the cost grows with the leads due, not the leads
    stored), checks each against the reclaim rule in its owner's time zone, returns it to the
    pool and records one `LeadReclaimed`. Running it again moves nothing more: a reclaimed
    lead is in the pool and no longer due. A lead whose stored due time the rule no longer
    agrees with (the host changed `days` or a zone) gets the rule's instead and stays put.

    Two reclaims at once move each lead once: the one that loses the race on a lead fails
    with `ConcurrencyError` (or waits for the other, on SQLite), and run with
    `crmkit.CRM.run` it runs again and finds that lead gone from the due list.

    Examples:
        >>> import crmkit, pendulum
        >>> from crmkit.pipeline import (
        ...     Lead, RoundRobin, Salesperson, Team, add_lead, assign_lead, reclaim_leads)
        >>> crm = crmkit.open("memory://", clock=crmkit.FixedClock("2026-03-02T15:00:00+08:00"))
        >>> team = Team(Salesperson("li.na", timezone="Asia/Shanghai"))
        >>> with crm.unit_of_work(actor="dispatcher") as uow:
        ...     lead = add_lead(uow, Lead(name="Zhao Lei", source="website"))
        ...     _ = assign_lead(uow, lead.id, RoundRobin(), team)
        >>> friday = pendulum.datetime(2026, 3, 6, tz="Asia/Shanghai")
        >>> moved = crm.run(lambda uow: reclaim_leads(uow, friday, team), actor="scheduler")
        >>> [(m.owner_id, m.due_at == friday) for m in moved]
        [('li.na', True)]
        >>> crm.run(lambda uow: reclaim_leads(uow, friday, team), actor="scheduler")
        []

    Args:
        uow: the unit of work.
        now: the current instant (an aware datetime).
        team: the team, or a mapping of salesperson to IANA time zone (others: UTC).
        days: whole local days an owner has to follow a lead up; the same as when assigning.
        limit: the most leads looked at in one call (from 1 to 100,000), earliest due first;
            call again while it moves that many.

    Returns:
        One `Reclaim` per lead returned to the pool, earliest due first.

    Raises:
        ValidationError: an argument is bad; nothing is written.
        ConcurrencyError: another unit of work moved a lead first (run it again).
    """
    instant = to_utc(now, "now")
    zones, default = _zones(team)
    days = _days(days)
    problem = _limit(limit)
    if problem is not None:
        raise ValidationError.of("limit", problem)
    due = uow.leads.due(instant, limit=limit)
    found = {
        r.lead_id: r
        for r in due_for_reclaim(due, instant, zones, days=days, default_timezone=default)
    }
    moved: list[Reclaim] = []
    for lead in due:
        reclaim = found.get(lead.id)
        if reclaim is None:
            assert lead.owner_id is not None  # noqa: S101 (a due lead has an owner)
            lead.reclaim_at = reclaim_due_at(lead, zones.get(lead.owner_id, default), days)
            uow.leads.update(lead)
            continue
        lead.return_to_pool()
        uow.leads.update(lead)
        uow.record(
            LeadReclaimed,
            lead_id=lead.id,
            previous_owner_id=reclaim.owner_id,
            due_at=reclaim.due_at,
            reason=reclaim.reason,
        )
        moved.append(reclaim)
    return moved
