"""The demo's sales week, and the month after it, on the pipeline.

Leads are assigned, followed up and reclaimed, converted, and their deals moved through a B2B
pipeline (a blocked gate, lost and won deals); then the funnel. Deterministic: one seed, and a
`FixedClock` the story moves forward.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

import crmkit
from crmkit._clock import FixedClock
from crmkit._contact_points import PhoneNumber
from crmkit._money import Money
from crmkit.customers import BuyingRole, Channel, Customer
from crmkit.pipeline import (
    Chain,
    DealContact,
    FollowUp,
    Lead,
    LeadAssigned,
    LeadConverted,
    Opportunity,
    Pipelines,
    RoundRobin,
    Salesperson,
    StageGateError,
    Team,
    add_leads,
    assign_leads,
    b2b_pipeline,
    convert_lead,
    find_customer_matches,
    follow_up_lead,
    lose_opportunity,
    move_opportunity,
    reclaim_leads,
    win_opportunity,
)
from crmkit.storage import UnitOfWork

__all__ = ["run_sales_week"]

_TEAM = Team(
    Salesperson("wang.fang", timezone="Asia/Shanghai", territories=("east",), cap=8),
    Salesperson("li.qiang", timezone="Asia/Shanghai", territories=("south",), cap=8),
    Salesperson("zhang.min", timezone="Asia/Shanghai", cap=8),
    Salesperson("chen.jie", timezone="Asia/Shanghai", cap=8),
)
_CHANNELS = ("trade_show", "website", "short_video", "referral", "wechat")
_TERRITORIES = ("east", "south", "north", None)
_NAMES = ("赵磊", "钱宇", "孙浩", "李静", "周婷", "吴军", "郑洁", "王芳", "Chen Yu", "Liu Na")
_COMPANIES = ("青禾贸易", "恒信机械", "新锐电子", "瑞丰包装", "Blue Harbour Trading", "Nova Foods")
_COMPETITORS = ("globex", "initech", "umbrella")
_LOST_REASONS = ("price", "timing", "features")
_KNOWN_PEOPLE = 2  # leads who are already a customer's contacts: the conversion finds them
_NOT_CONVERTED = 3  # every fourth lead stays a lead
_LOSING = 0.08  # the chance that a step loses the deal


def run_sales_week(
    crm: crmkit.CRM, clock: FixedClock, customers: list[Customer], out: Callable[[str], object]
) -> None:
    """Monday to Friday of a sales team, printed as it happens."""
    r = random.Random(2026)  # noqa: S311 (demo data, not secrets)
    pipelines = Pipelines(b2b_pipeline())
    counts: Counter[str] = Counter()
    crm.subscribe(LeadAssigned, lambda e: counts.update([f"{e.owner_id}|{e.rule}"]))
    converted: list[LeadConverted] = []
    crm.subscribe(LeadConverted, converted.append)

    out("\nA sales week: leads from five channels, assigned, followed up, reclaimed")
    leads = _new_leads(r, customers)
    with crm.unit_of_work(actor="marketing") as uow:
        add_leads(uow, leads)
    policy = Chain(_TEAM.by_territory(), _TEAM.by_workload(cap=8), RoundRobin())
    ids = [lead.id for lead in leads]
    crm.run(lambda uow: assign_leads(uow, ids, policy, _TEAM), actor="dispatcher")
    for who in _TEAM.ids:
        rules = {rule: n for key, n in counts.items() for p, rule in [key.split("|")] if p == who}
        shown = ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items()))
        out(f"  {who:<10} {sum(rules.values()):>2} leads ({shown})")

    # Tuesday and Wednesday: most leads are called back; a few are forgotten.
    forgotten = set(r.sample(ids, 5))
    with crm.unit_of_work(actor="sales") as uow:
        for lead in uow.leads.get_many(ids):
            if lead.id in forgotten or lead.owner_id is None:
                continue
            at = clock.now().add(days=r.choice((1, 2)), hours=r.randrange(8))
            note = r.choice(("回电, 要报价", "Sent the brochure", "约了下周拜访"))
            follow_up_lead(
                uow,
                lead.id,
                FollowUp(at=at, by=lead.owner_id, channel=Channel.CALL, note=note),
                _TEAM,
            )
    friday = clock.now().in_timezone("Asia/Shanghai").add(days=4).start_of("day")
    clock.set(friday.add(hours=9))
    moved = crm.run(lambda uow: reclaim_leads(uow, clock.now(), _TEAM), actor="scheduler")
    out(f"  Friday's reclaim moved {len(moved)} leads back to the pool, e.g.:")
    out(f"    {moved[0].reason}")
    again = crm.run(lambda uow: reclaim_leads(uow, clock.now(), _TEAM), actor="scheduler")
    out(f"  run again: {len(again)} moved (a reclaim is idempotent)")

    out("\nConverting leads into customers and deals:")
    deals = crm.run(lambda uow: _convert(uow, ids, forgotten, out), actor="sales")
    out(f"  {len(converted)} LeadConverted events; {len(deals)} deals opened in the B2B pipeline")

    out("\nWorking the deals through the pipeline:")
    _work_deals(crm, clock, pipelines, deals, r=r, out=out)
    _print_funnel(crm, pipelines, out)


def _new_leads(r: random.Random, customers: list[Customer]) -> list[Lead]:
    leads = []
    for i in range(24):
        name = r.choice(_NAMES)
        phone = PhoneNumber(f"+86139{r.randrange(10**8):08d}")
        if i < _KNOWN_PEOPLE:
            phone = customers[i].contacts[0].phones[0]
            name = customers[i].contacts[0].name
        leads.append(
            Lead(
                name=name,
                company=r.choice(_COMPANIES),
                source=r.choice(_CHANNELS),
                territory=r.choice(_TERRITORIES),
                industry=r.choice(("retail", "manufacturing", "logistics")),
                phones=[phone],
            )
        )
    return leads


def _convert(
    uow: UnitOfWork,
    ids: list[UUID],
    forgotten: set[UUID],
    out: Callable[[str], object],
) -> list[Opportunity]:
    deals = []
    for i, lead in enumerate(uow.leads.get_many(ids)):
        if lead.id in forgotten or lead.owner_id is None or i % 4 == _NOT_CONVERTED:
            continue
        matches = find_customer_matches(uow, lead)
        deal = {
            "name": f"{lead.company} - first order",
            "amount": Money(Decimal(20_000 + 5_000 * (i % 7)), "CNY"),
            "expected_close": dt.date(2026, 4, 30) + dt.timedelta(days=7 * (i % 5)),
            "competitors": {_COMPETITORS[i % 3], _COMPETITORS[(i + 1) % 3]},
        }
        if matches:
            found = matches[0].customer
            out(f"  {lead.name}: matches {found.name} ({found.code}) by {matches[0].reasons[0]}")
            done = convert_lead(
                uow,
                lead.id,
                existing_customer_id=found.id,
                existing_contact_id=found.contacts[0].id,
                opportunity=deal,
                pipeline=b2b_pipeline(),
            )
        else:
            done = convert_lead(uow, lead.id, opportunity=deal, pipeline=b2b_pipeline())
        assert done.opportunity is not None  # noqa: S101 (asked for above)
        deals.append(done.opportunity)
    return deals


def _work_deals(
    crm: crmkit.CRM,
    clock: FixedClock,
    pipelines: Pipelines,
    deals: list[Opportunity],
    *,
    r: random.Random,
    out: Callable[[str], object],
) -> None:
    first = deals[0]
    with crm.unit_of_work(actor=first.owner_id) as uow:
        move_opportunity(uow, pipelines, first.id, "needs_analysis")
    try:
        with crm.unit_of_work(actor=first.owner_id) as uow:
            move_opportunity(uow, pipelines, first.id, "proposal")
    except StageGateError as e:
        out(f"  blocked: {first.name}: {e}".replace("\n", "\n  "))
    for _ in range(5):  # five rounds, a few days apart: each deal may take a step in each
        clock.advance(days=r.randrange(2, 6), hours=r.randrange(8))
        for deal in deals:
            if r.random() < 0.7:  # noqa: PLR2004 (most deals move each round)
                with crm.unit_of_work(actor=deal.owner_id) as uow:
                    _step(uow, pipelines, deal.id, r=r, out=out)


def _step(
    uow: UnitOfWork,
    pipelines: Pipelines,
    deal_id: UUID,
    *,
    r: random.Random,
    out: Callable[[str], object],
) -> None:
    current = uow.opportunities.get(deal_id)
    if pipelines.get(current.pipeline).stage(current.stage).terminal:
        return
    if r.random() < _LOSING:
        rival = r.choice(sorted(current.competitors))
        lost = lose_opportunity(uow, pipelines, deal_id, r.choice(_LOST_REASONS), competitor=rival)
        out(f"  lost: {lost.name}, in {lost.history[-2].stage}, {lost.lost_reason}, to {rival}")
        return
    # What the next gates ask: the needs analysis, the decision maker, then the quote.
    current.needs_analysis = current.needs_analysis or "需求分析: 200 seats, on-site install"
    if not any(BuyingRole.DECISION_MAKER in c.roles for c in current.contacts):
        current.contacts = (
            *current.contacts,
            DealContact(contact_id=crmkit.new_id(), roles={BuyingRole.DECISION_MAKER}),
        )
    current.quote = current.quote or f"Q-{deal_id.hex[-6:]}"
    uow.opportunities.update(current)
    path = [s.key for s in pipelines.get(current.pipeline).path]
    following = path[path.index(current.stage) + 1]
    if following == path[-1]:
        won = win_opportunity(uow, pipelines, deal_id)
        out(f"  won: {won.name}, {won.amount}")
    else:
        move_opportunity(uow, pipelines, deal_id, following)


def _print_funnel(crm: crmkit.CRM, pipelines: Pipelines, out: Callable[[str], object]) -> None:
    b2b = pipelines.get("b2b")
    with crm.unit_of_work(actor="manager", read_only=True) as uow:
        report = uow.opportunities.funnel(b2b)  # computed inside SQLite
        channels = uow.leads.channel_report(b2b)
    out(f"\nFunnel of {b2b.name} ({report.opportunities} deals, values in {report.currency}):")
    out(f"  {'stage':<15}{'reached':>8}{'now':>5}{'value':>14}{'to next':>9}{'avg days':>10}")
    for s in report.stages:
        rate = "" if s.conversion is None else f"{s.conversion:.0%}"
        days = "" if s.average_seconds is None else f"{s.average_seconds / 86_400:.1f}"
        value = "" if s.value is None else f"{s.value.amount:,.2f}"
        out(f"  {s.key:<15}{s.reached:>8}{s.current:>5}{value:>14}{rate:>9}{days:>10}")
    out(f"  won {report.won} of {report.opportunities}; lost from {report.lost_from}")
    out(f"  lost for {report.lost_reasons}; to {report.lost_to}")
    for w in report.warnings:
        out(
            f"  warning: {w.from_stage} -> {w.to_stage} converts {w.rate:.0%} (< {w.threshold:.0%})"
        )
    out("\nChannels:")
    out(f"  {'channel':<13}{'leads':>6}{'converted':>10}{'won':>5}{'revenue':>14}")
    for c in channels.channels:
        revenue = "" if c.revenue is None else f"{c.revenue.amount:,.2f}"
        out(f"  {c.channel:<13}{c.leads:>6}{c.converted:>10}{c.won:>5}{revenue:>14}")
