"""The funnel and the channel report on every store: the same answer as the plain-Python
reference over the same records (issue 16, item 7), whatever the data and the filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import ExchangeRate, ExchangeRates, Money
from crmkit._money import minor_units
from crmkit.customers import Customer
from crmkit.errors import CrmkitError, MissingRate, ValidationError
from crmkit.pipeline import (
    Decision,
    Lead,
    Opportunity,
    Pipeline,
    StageEntry,
    b2b_pipeline,
    channel_report,
    funnel,
    transactional_pipeline,
)

from .conftest import Backend

T0 = pendulum.datetime(2026, 3, 2, 9)
B2B, QUICK = b2b_pipeline(), transactional_pipeline()
PIPELINES = (B2B, QUICK)
OWNERS = ("li", "wang", "zhao")
CHANNELS = ("website", "trade_show", "referral", "wechat_ad")
# The last is before every rate: a deal closing then in another currency has no rate.
CLOSES = (dt.date(2026, 1, 20), dt.date(2026, 4, 30), dt.date(2026, 7, 1), dt.date(2025, 12, 1))
RATES = ExchangeRates(
    [
        ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.185"),
        ExchangeRate("USD", "CNY", dt.date(2026, 6, 1), "7.1"),
        ExchangeRate("JPY", "CNY", dt.date(2026, 1, 1), "0.048"),
        ExchangeRate("JPY", "USD", dt.date(2026, 1, 1), "0.0067"),
    ]
)

# Instants a few minutes to a few weeks apart, to the microsecond.
_STEPS = st.integers(min_value=0, max_value=30 * 86400 * 1_000_000).map(
    lambda us: dt.timedelta(microseconds=us)
)


def _amounts(currency: str) -> st.SearchStrategy[Money]:
    places = minor_units(currency)
    return st.builds(
        Money,
        st.decimals(min_value=0, max_value=10**9, places=places, allow_nan=False),
        st.just(currency),
    )


@st.composite
def deals(draw: st.DrawFn, customers: list[Customer]) -> Opportunity:
    pipeline: Pipeline = draw(st.sampled_from(PIPELINES))
    keys = [s.key for s in pipeline.stages]
    stages = [pipeline.first_stage.key]
    for _ in range(draw(st.integers(0, 5))):
        stages.append(draw(st.sampled_from([k for k in keys if k != stages[-1]])))
    if stages[-1] != pipeline.won_stage.key and draw(st.booleans()):
        stages.append(pipeline.won_stage.key)
    at = T0 + draw(_STEPS)
    history = []
    for stage in stages:
        history.append(StageEntry(stage=stage, entered_at=pendulum.instance(at)))
        at += draw(_STEPS)
    lost = pipeline.stage(stages[-1]).lost
    competitor = draw(st.sampled_from([None, "globex", "initech"])) if lost else None
    return Opportunity(
        name="deal",
        customer_id=draw(st.sampled_from(customers)).id,
        owner_id=draw(st.sampled_from(OWNERS)),
        pipeline=pipeline.key,
        amount=draw(st.sampled_from(["CNY", "CNY", "CNY", "USD", "JPY"]).flatmap(_amounts)),
        expected_close=draw(st.sampled_from(CLOSES[:3] * 5 + CLOSES[3:])),
        stage=stages[-1],
        history=history,
        competitors={"globex", "initech"},
        lost_reason=draw(st.sampled_from(["price", "timing"])) if lost else None,
        winning_competitor=competitor,
        source=draw(st.sampled_from([None, *CHANNELS])),
    )


@st.composite
def leads(draw: st.DrawFn) -> Lead:
    created = draw(st.none() | _STEPS.map(lambda step: pendulum.instance(T0 + step)))
    lead = Lead(name="Zhao Lei", source=draw(st.sampled_from(CHANNELS)), created_at=created)
    owner = draw(st.sampled_from([None, *OWNERS]))
    if owner is not None:
        lead.assign(Decision.manual(owner, "met at the fair"), at=T0)
    outcome = draw(st.sampled_from(["open", "converted", "disqualified"]))
    if outcome == "converted":
        lead.mark_converted(crmkit.new_id())
    elif outcome == "disqualified":
        lead.disqualify("no budget")
    return lead


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.sampled_from([None, None, T0]))
    if start is not None:
        start += draw(_STEPS)
    end = draw(st.sampled_from([None, None, start or T0]))
    if end is not None:
        end += draw(_STEPS) * 2
    return {
        "start": start,
        "end": end,
        "owner": draw(st.sampled_from([None, None, *OWNERS])),
        "currency": draw(st.sampled_from([None, "CNY", "CNY", "USD"])),
        "rates": draw(st.sampled_from([None, RATES, RATES])),
    }


FILTERS = filters()


def outcome(compute: Callable[[], Any]) -> Any:
    """The answer, or the kind of error (the pair a `MissingRate` names may differ)."""
    try:
        return compute()
    except (ValidationError, MissingRate) as e:
        return type(e)


def store(
    crm: crmkit.CRM, deals: list[Opportunity], leads: list[Lead], customers: list[Customer]
) -> None:
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add_many(customers)
        uow.opportunities.add_many(deals)
        uow.leads.add_many(leads)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_funnel_of_any_deals_is_the_reference_answer(backend: Backend, data: Any) -> None:
    crm = backend.fresh()
    customers = [Customer(name="Acme", owner_id="li"), Customer(name="Globex", owner_id="li")]
    opportunities = data.draw(st.lists(deals(customers), min_size=1, max_size=25))
    store(crm, opportunities, [], customers)
    for filters in data.draw(st.lists(FILTERS, min_size=1, max_size=3)):
        pipeline = data.draw(st.sampled_from(PIPELINES))
        threshold = data.draw(st.sampled_from([Decimal("0.15"), Decimal("0.5")]))
        arguments = {**filters, "threshold": threshold}
        expected = outcome(partial(funnel, opportunities, pipeline, **arguments))
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            found = outcome(partial(uow.opportunities.funnel, pipeline, **arguments))
        assert found == expected


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_the_channel_report_of_any_leads_and_deals_is_the_reference_answer(
    backend: Backend,
    data: Any,
) -> None:
    crm = backend.fresh()
    customers = [Customer(name="Acme", owner_id="li")]
    opportunities = data.draw(st.lists(deals(customers), min_size=1, max_size=20))
    prospects = data.draw(st.lists(leads(), min_size=1, max_size=20))
    store(crm, opportunities, prospects, customers)
    for filters in data.draw(st.lists(FILTERS, min_size=1, max_size=3)):
        chosen = data.draw(st.sampled_from([B2B, QUICK, PIPELINES, ()]))
        expected = outcome(partial(channel_report, prospects, opportunities, chosen, **filters))
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            found = outcome(partial(uow.leads.channel_report, chosen, **filters))
        assert found == expected


# --- what the stores keep for the reports, and the edges ----------------------------------------


def a_deal(
    customer: Customer, *stages: tuple[str, pendulum.DateTime], **fields: Any
) -> Opportunity:
    history = [StageEntry(stage=s, entered_at=at) for s, at in stages]
    values: dict[str, Any] = {
        "name": "deal",
        "customer_id": customer.id,
        "owner_id": "li",
        "pipeline": QUICK.key,
        "amount": Money("100", "CNY"),
        "expected_close": CLOSES[0],
        "stage": history[-1].stage,
        "history": history,
        **fields,
    }
    return Opportunity(**values)


def test_the_funnel_follows_updates_removals_and_a_removed_customer(backend: Backend) -> None:
    crm = backend.fresh()
    acme, globex = Customer(name="Acme", owner_id="li"), Customer(name="Globex", owner_id="li")
    kept = a_deal(acme, ("qualified", T0), ("quoted", T0.add(days=1)))
    moved = a_deal(acme, ("qualified", T0))
    removed = a_deal(acme, ("qualified", T0))
    gone = a_deal(globex, ("qualified", T0), ("won", T0.add(days=2)))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add_many([acme, globex])
        uow.opportunities.add_many([kept, moved, removed, gone])
    with crm.unit_of_work(actor="li", tenant="other") as uow:
        other = Customer(name="Other", owner_id="li")
        uow.customers.add(other)
        uow.opportunities.add(a_deal(other, ("qualified", T0), ("won", T0.add(days=1))))
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        deal = uow.opportunities.get(moved.id)
        object.__setattr__(
            deal, "history", (*deal.history, StageEntry(stage="won", entered_at=T0.add(days=3)))
        )
        object.__setattr__(deal, "stage", "won")
        deal.owner_id = "wang"
        uow.opportunities.update(deal)
        uow.opportunities.remove(uow.opportunities.get(removed.id))
        uow.customers.remove(uow.customers.get(globex.id))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        f = uow.opportunities.funnel(QUICK)
        assert [(s.key, s.reached, s.current) for s in f.stages] == [
            ("qualified", 2, 0),
            ("quoted", 1, 1),
            ("won", 1, 1),
        ]
        assert f.stages[0].average_seconds == Decimal(2 * 86400)  # one day and three
        assert uow.opportunities.funnel(QUICK, owner="wang").won == 1
        assert f == funnel([kept, deal], QUICK)


def test_sums_past_64_bits_are_exact(backend: Backend) -> None:
    crm = backend.fresh()
    acme = Customer(name="Acme", owner_id="li")
    ancient = pendulum.datetime(1000, 1, 1)
    # Stays of nine thousand years (2.8e17 microseconds each), amounts whose ten-thousandths
    # fill 63 bits, and amounts far beyond: every sum outgrows SQLite's 64-bit integers.
    opportunities = [
        a_deal(acme, ("qualified", ancient), ("quoted", pendulum.datetime(9999, 1, 1)))
        for _ in range(40)
    ]
    opportunities += [
        a_deal(acme, ("qualified", T0), amount=Money("900000000000000", "CNY")) for _ in range(3)
    ]
    opportunities += [
        a_deal(acme, ("qualified", T0), amount=Money("9" * 30, "CNY")),
        a_deal(acme, ("qualified", T0), amount=Money("-" + "9" * 30, "CNY")),
        a_deal(acme, ("qualified", T0), amount=Money("1.25", "CNY")),
    ]
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add(acme)
        uow.opportunities.add_many(opportunities)
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        found = uow.opportunities.funnel(QUICK)
    expected = funnel(opportunities, QUICK)
    assert found == expected
    assert found.stages[0].value == Money("2700000000000001.25", "CNY")
    assert found.stages[0].average_seconds == expected.stages[0].average_seconds


def test_bad_filters_are_refused_naming_them(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        bad: list[tuple[Callable[[], Any], str]] = [
            (lambda: uow.opportunities.funnel("b2b"), "pipeline"),  # type: ignore[arg-type]
            (lambda: uow.opportunities.funnel(QUICK, owner=" li"), "owner"),
            (lambda: uow.opportunities.funnel(QUICK, start=dt.datetime(2026, 1, 1)), "start"),
            (lambda: uow.opportunities.funnel(QUICK, threshold=0.1), "threshold"),  # type: ignore[arg-type]
            (lambda: uow.opportunities.funnel(QUICK, rates={}), "rates"),  # type: ignore[arg-type]
            (lambda: uow.opportunities.funnel(QUICK, currency="XX"), "to"),
            (lambda: uow.leads.channel_report("b2b"), "pipelines"),  # type: ignore[arg-type]
            (lambda: uow.leads.channel_report([QUICK, 1]), "pipelines\\[1\\]"),  # type: ignore[list-item]
            (lambda: uow.leads.channel_report(QUICK, end="2026"), "end"),  # type: ignore[arg-type]
            (lambda: uow.leads.channel_report(QUICK, owner=7), "owner"),  # type: ignore[arg-type]
        ]
        for call, name in bad:
            with pytest.raises(ValidationError, match=f"^{name}: "):
                call()
        # The unit of work is still usable.
        assert uow.opportunities.funnel(QUICK).opportunities == 0


def test_a_missing_rate_names_the_pair_and_date(backend: Backend) -> None:
    crm = backend.fresh()
    acme = Customer(name="Acme", owner_id="li")
    deal = a_deal(acme, ("qualified", T0), amount=Money("5", "EUR"), source="website")
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add(acme)
        uow.opportunities.add_many([deal, a_deal(acme, ("qualified", T0))])
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        with pytest.raises(MissingRate, match="EUR.*CNY.*2026-01-20"):
            uow.opportunities.funnel(QUICK, rates=RATES, currency="CNY")
        f = uow.opportunities.funnel(QUICK, rates=RATES, currency="CNY", owner="wang")
        assert f.stages[0].value == Money(0, "CNY")
    assert issubclass(MissingRate, CrmkitError)


def test_stage_rows_go_with_their_deal_where_sqlite_enforces_no_foreign_keys() -> None:
    import sqlalchemy as sa

    from crmkit.storage.sql import SqlStore

    engine = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)  # foreign keys off
    store = SqlStore(engine)
    store.create_all()
    crm = crmkit.CRM(store)
    acme, globex = Customer(name="Acme", owner_id="li"), Customer(name="Globex", owner_id="li")
    deals = [
        a_deal(acme, ("qualified", T0), ("quoted", T0.add(days=1))),
        a_deal(globex, ("qualified", T0)),
        a_deal(globex, ("qualified", T0), ("won", T0.add(days=1))),
    ]
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add_many([acme, globex])
        uow.opportunities.add_many(deals)
        uow.opportunities.remove(uow.opportunities.get(deals[0].id))
        uow.customers.remove(uow.customers.get(globex.id))
    with engine.connect() as connection:
        stages = store.tables.table("opportunity_stages")
        assert connection.scalar(sa.select(sa.func.count()).select_from(stages)) == 0
