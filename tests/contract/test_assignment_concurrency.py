"""Workers assigning and reclaiming at once, each on its own connection: caps hold, round robin
stays fair, and each due lead is reclaimed once with one event.

Every worker opens its own CRM on the same database (another process, as far as the database
can tell) and runs the services through `crmkit.CRM.run`, which runs a unit of work again when
it loses a race. The assignment book's lock is what makes this safe: without it, workers that
read the same counts would each give a lead to the same salesperson.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import pendulum
import pytest

import crmkit
from crmkit.pipeline import (
    ASSIGNMENT_BOOK_ID,
    AssignmentPolicy,
    Lead,
    LeadAssigned,
    LeadReclaimed,
    RoundRobin,
    Salesperson,
    Team,
    add_leads,
    assign_lead,
    assign_leads,
    reclaim_leads,
)
from crmkit.storage import UnitOfWork

from .conftest import Backend

WORKERS = 8
LEADS = 80
TEAM = Team(*(Salesperson(f"rep{i}", timezone="Asia/Shanghai") for i in range(5)))


def _pool(crm: crmkit.CRM, n: int) -> list[Lead]:
    leads = [Lead(name=f"Lead {i}", source="website") for i in range(n)]
    with crm.unit_of_work(actor="setup") as uow:
        add_leads(uow, leads)
    return leads


def _at_once(backend: Backend, work: Callable[[crmkit.CRM, int], None]) -> None:
    """Run `work(crm, n)` on `WORKERS` threads, each with a CRM of its own, started together."""
    failures: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> None:
        crm = backend.crm()
        try:
            start.wait(timeout=30)
            work(crm, n)
        except BaseException as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []


def _assign_in_parallel(
    backend: Backend, policy: AssignmentPolicy, *, read_first: bool = False
) -> tuple[crmkit.CRM, list[Lead], list[Any]]:
    crm = backend.fresh()
    leads = _pool(crm, LEADS)
    events: list[LeadAssigned] = []

    def assign(worker: crmkit.CRM, n: int) -> None:
        worker.subscribe(LeadAssigned, events.append)

        def work(uow: UnitOfWork, key: UUID) -> None:
            if read_first:  # on MariaDB, the snapshot every later plain read sees
                uow.leads.get(key)
            assign_lead(uow, key, policy, TEAM)

        for lead in leads[n::WORKERS]:
            worker.run(
                partial(work, key=lead.id),
                actor=f"worker{n}",
                attempts=500,
                backoff=0.002,
                max_backoff=0.02,
            )

    _at_once(backend, assign)
    return crm, leads, events


def _owners(crm: crmkit.CRM, leads: list[Lead]) -> Counter[str | None]:
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        return Counter(x.owner_id for x in uow.leads.get_many([x.id for x in leads]))


def test_eight_workers_assigning_by_round_robin_keep_the_turns_fair(backend: Backend) -> None:
    crm, leads, events = _assign_in_parallel(backend, RoundRobin())
    owners = _owners(crm, leads)
    assert owners == dict.fromkeys(TEAM.ids, LEADS // len(TEAM.ids))
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        assert uow.assignment_books.get(ASSIGNMENT_BOOK_ID).turns == owners
    # One event per lead: the runs that lost a race recorded nothing.
    assert sorted(e.lead_id for e in events) == sorted(x.id for x in leads)
    # Each decision saw the turns as they stood: the one chosen had the fewest.
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        for lead in uow.leads.get_many([x.id for x in leads]):
            assert lead.decision is not None
            turns = lead.decision.figures
            assert turns[f"assignments:{lead.owner_id}"] == min(turns.values())


@pytest.mark.parametrize("read_first", [False, True], ids=["alone", "after-a-read"])
def test_eight_workers_assigning_by_workload_never_pass_a_cap(
    backend: Backend, read_first: bool
) -> None:
    cap = 6
    policy = TEAM.by_workload(cap=cap)
    crm, leads, events = _assign_in_parallel(backend, policy, read_first=read_first)
    owners = _owners(crm, leads)
    expected: dict[str | None, int] = {**dict.fromkeys(TEAM.ids, cap)}
    expected[None] = LEADS - cap * len(TEAM.ids)
    assert owners == expected
    assert len(events) == cap * len(TEAM.ids)
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        assert uow.leads.open_counts() == dict.fromkeys(TEAM.ids, cap)


def test_two_reclaims_at_once_move_each_due_lead_once_with_one_event(backend: Backend) -> None:
    crm = backend.fresh()
    leads = _pool(crm, 40)
    with crm.unit_of_work(actor="setup") as uow:
        assign_leads(uow, [x.id for x in leads], RoundRobin(), TEAM)
    later = pendulum.datetime(2026, 4, 1)
    moved: list[list[Any]] = [[] for _ in range(WORKERS)]
    events: list[LeadReclaimed] = []

    def reclaim(worker: crmkit.CRM, n: int) -> None:
        worker.subscribe(LeadReclaimed, events.append)
        if n >= 2:  # two reclaims; the other workers only start with them
            return

        def work(uow: UnitOfWork) -> None:
            # Each attempt starts afresh: only a committed attempt's leads count.
            moved[n] = reclaim_leads(uow, later, TEAM, limit=1000)

        worker.run(work, actor=f"scheduler{n}", attempts=200, backoff=0.002, max_backoff=0.02)

    _at_once(backend, reclaim)
    first, second = ({m.lead_id for m in batch} for batch in moved[:2])
    assert not first & second
    assert first | second == {x.id for x in leads}
    assert sorted(e.lead_id for e in events) == sorted(x.id for x in leads)
    with crm.unit_of_work(actor="check", read_only=True) as uow:
        assert uow.leads.open_counts() == {}
        assert uow.leads.due(later) == []
