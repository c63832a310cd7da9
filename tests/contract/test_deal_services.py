"""The opportunity services store the deal the domain computes and record its event, on every
adapter; a refused call stores and records nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import FixedClock, Money
from crmkit.customers import BuyingRole, Customer, register_customer
from crmkit.errors import NotFound, ValidationError
from crmkit.events import DomainEvent
from crmkit.pipeline import (
    DealContact,
    DealLost,
    DealReopened,
    DealWon,
    Opportunity,
    OpportunityCreated,
    PendingEvent,
    Pipelines,
    StageChanged,
    StageGateError,
    b2b_pipeline,
    create_opportunity,
    lose,
    lose_opportunity,
    move,
    move_opportunity,
    reopen,
    reopen_opportunity,
    stage_check,
    transactional_pipeline,
    win,
    win_opportunity,
)
from crmkit.storage import UnitOfWork

from .conftest import NOW, Backend

B2B = b2b_pipeline()
QUICK = transactional_pipeline()
PIPELINES = Pipelines(B2B, QUICK)


@pytest.fixture
def published(crm: crmkit.CRM) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    crm.subscribe(DomainEvent, seen.append)
    return seen


def a_customer(uow: UnitOfWork) -> Customer:
    return register_customer(uow, Customer(name="上海云杉科技有限公司", owner_id="li.na"))


def open_deal(uow: UnitOfWork, customer_id: UUID, **changes: Any) -> Opportunity:
    fields: dict[str, Any] = {
        "name": "200 licences",
        "customer_id": customer_id,
        "owner_id": "li.na",
        "amount": Money("90000.00", "CNY"),
        "expected_close": dt.date(2026, 6, 30),
        **changes,
    }
    return create_opportunity(uow, fields.pop("pipeline", B2B), **fields)


def fields_of(event: DomainEvent) -> dict[str, Any]:
    common = {"id", "tenant_id", "actor_id", "occurred_at"}
    return {k: v for k, v in attrs.asdict(event, recurse=False).items() if k not in common}


def test_a_deal_goes_through_its_pipeline_and_each_step_is_stored_and_recorded(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    boss = crmkit.new_id()
    with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        acme = a_customer(uow)
        deal = open_deal(uow, acme.id, competitors={"globex"})
        assert published == []  # nothing before the commit
    with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        move_opportunity(uow, PIPELINES, deal.id, "needs_analysis")
        stored = uow.opportunities.get(deal.id)
        stored.needs_analysis = "200 seats, SSO, on-premises"
        stored.contacts = (DealContact(contact_id=boss, roles={BuyingRole.DECISION_MAKER}),)
        stored.quote = "Q-2026-007"
        uow.opportunities.update(stored)
        move_opportunity(uow, PIPELINES, deal.id, "proposal")
        moved = move_opportunity(uow, PIPELINES, deal.id, "negotiation")
        assert moved.version == 5  # created, needs analysis, facts, proposal, negotiation
    with crm.unit_of_work(actor="wang", tenant="acme") as uow:
        won = win_opportunity(uow, PIPELINES, deal.id)
        assert (won.stage, won.version) == ("signed", 6)
    with crm.unit_of_work(actor="wang", tenant="acme") as uow:
        reopened = reopen_opportunity(uow, PIPELINES, deal.id, "the contract was not signed")
        assert reopened.stage == "negotiation"
        lost = lose_opportunity(uow, PIPELINES, deal.id, "price", competitor="initech")
    with crm.unit_of_work(actor="wang", tenant="acme", read_only=True) as uow:
        stored = uow.opportunities.get(deal.id)
        assert stored == lost
        assert [e.stage for e in stored.history] == [
            "first_contact",
            "needs_analysis",
            "proposal",
            "negotiation",
            "signed",
            "negotiation",
            "lost",
        ]
        assert (stored.lost_reason, stored.winning_competitor) == ("price", "initech")
        assert stored.competitors == {"globex", "initech"}
        assert stored.history[-2].reason == "the contract was not signed"

    kinds = [type(e) for e in published[1:]]  # after the customer's registration
    assert kinds == [
        OpportunityCreated,
        StageChanged,
        StageChanged,
        StageChanged,
        DealWon,
        DealReopened,
        DealLost,
    ]
    created, *_, negotiated, won_event, reopened_event, lost_event = published[1:]
    assert fields_of(created) == {
        "opportunity_id": deal.id,
        "pipeline": "b2b",
        "stage": "first_contact",
        "customer_id": acme.id,
        "owner_id": "li.na",
        "amount": Money("90000.00", "CNY"),
    }
    assert fields_of(negotiated) == {
        "opportunity_id": deal.id,
        "pipeline": "b2b",
        "from_stage": "proposal",
        "to_stage": "negotiation",
        "probability": Decimal("0.75"),
    }
    assert isinstance(won_event, DealWon)
    assert (won_event.from_stage, won_event.actor_id) == ("negotiation", "wang")
    assert isinstance(reopened_event, DealReopened)
    assert (reopened_event.to_stage, reopened_event.reason) == (
        "negotiation",
        "the contract was not signed",
    )
    assert isinstance(lost_event, DealLost)
    assert (lost_event.reason, lost_event.competitor) == ("price", "initech")
    assert {e.tenant_id for e in published} == {"acme"}
    assert created.occurred_at == crmkit.to_utc(NOW)


def test_pipelines_coexist_and_each_deal_follows_its_own(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li.na") as uow:
        acme = a_customer(uow)
        big = open_deal(uow, acme.id)
        small = open_deal(uow, acme.id, pipeline=QUICK, quote="Q-1")
        # The quick pipeline skips stages; the B2B one does not.
        assert win_opportunity(uow, PIPELINES, small.id).stage == "won"
        with pytest.raises(StageGateError) as caught:
            win_opportunity(uow, PIPELINES, big.id)
        assert caught.value.stage == "signed"
        assert caught.value.requirements[0].text == (
            "enter 'needs_analysis' first: this pipeline skips no stage"
        )
        assert uow.opportunities.get(big.id).stage == "first_contact"


def test_a_gate_refusal_lists_every_requirement_and_stores_and_records_nothing(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    with crm.unit_of_work(actor="li.na") as uow:
        deal = open_deal(uow, a_customer(uow).id)
        move_opportunity(uow, PIPELINES, deal.id, "needs_analysis")
    published.clear()
    with crm.unit_of_work(actor="li.na") as uow:
        with pytest.raises(StageGateError) as caught:
            move_opportunity(uow, PIPELINES, deal.id, "proposal")
        # The caller caught it and the block commits: still nothing was written.
        assert uow.events == ()
    assert [str(r) for r in caught.value.requirements] == [
        "proposal: needs analysis recorded",
        "proposal: decision maker identified",
    ]
    assert {i.path for i in caught.value.issues} == {"stage"}
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        stored = uow.opportunities.get(deal.id)
        assert (stored.stage, stored.version) == ("needs_analysis", 2)
    assert published == []


def test_the_dry_run_says_what_is_missing_and_changes_nothing(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li.na") as uow:
        deal = open_deal(uow, a_customer(uow).id, needs_analysis="SSO")
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        found = stage_check(uow, PIPELINES, deal.id, "proposal")
        assert [(r.stage, r.gate) for r in found] == [
            ("proposal", None),  # a skipped stage
            ("proposal", "decision_maker_identified"),
        ]
        assert found == stage_check(uow, PIPELINES, deal.id, "proposal")
        assert stage_check(uow, PIPELINES, deal.id, "needs_analysis") == []
        assert stage_check(uow, PIPELINES, deal.id, "lost") == []
        assert uow.opportunities.get(deal.id).version == 1
    with crm.unit_of_work(actor="li.na") as uow:
        lose_opportunity(uow, PIPELINES, deal.id, "no budget")
        assert [str(r) for r in stage_check(uow, PIPELINES, deal.id, "needs_analysis")] == [
            "needs_analysis: reopen the deal first: it is lost"
        ]
        with pytest.raises(StageGateError):
            move_opportunity(uow, PIPELINES, deal.id, "needs_analysis")
        assert uow.opportunities.get(deal.id).stage == "lost"


def test_closed_deals_stay_closed_until_reopened(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li.na") as uow:
        deal = open_deal(uow, a_customer(uow).id, pipeline=QUICK, quote="Q-1")
        won = win_opportunity(uow, PIPELINES, deal.id)
        won.quote = None  # the quote was withdrawn
        uow.opportunities.update(won)
        with pytest.raises(ValidationError, match="already in 'won'"):
            win_opportunity(uow, PIPELINES, deal.id)
        with pytest.raises(StageGateError, match="reopen the deal first: it is won"):
            lose_opportunity(uow, PIPELINES, deal.id, "changed their mind")
        with pytest.raises(StageGateError, match="reopen the deal first: it is won"):
            move_opportunity(uow, PIPELINES, deal.id, "qualified")
        with pytest.raises(ValidationError) as caught:
            reopen_opportunity(uow, PIPELINES, deal.id, "   ")
        assert [i.path for i in caught.value.issues] == ["reason"]
        with pytest.raises(StageGateError):  # the quote stage needs a quote
            reopen_opportunity(uow, PIPELINES, deal.id, "order cancelled", stage="quoted")
        back = reopen_opportunity(uow, PIPELINES, deal.id, "order cancelled")
        assert (back.stage, back.version) == ("qualified", 4)
        with pytest.raises(ValidationError, match="only a won or lost deal"):
            reopen_opportunity(uow, PIPELINES, deal.id, "again")


def test_bad_input_gets_a_crmkit_error_naming_the_field(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li.na") as uow:
        acme = a_customer(uow)
        deal = open_deal(uow, acme.id)

    def path_of(call: Any) -> list[str]:
        with pytest.raises(ValidationError) as caught:
            call()
        return [i.path for i in caught.value.issues]

    with crm.unit_of_work(actor="li.na") as uow:
        assert path_of(lambda: move_opportunity(uow, B2B, deal.id, "needs_analysis")) == [  # type: ignore[arg-type]
            "pipelines"
        ]
        with pytest.raises(ValidationError, match=r"pipeline: 'b2b' is not a configured"):
            move_opportunity(uow, Pipelines(QUICK), deal.id, "needs_analysis")
        assert path_of(lambda: move_opportunity(uow, PIPELINES, "x", "proposal")) == [  # type: ignore[arg-type]
            "opportunity_id"
        ]
        with pytest.raises(NotFound, match="opportunity"):
            win_opportunity(uow, PIPELINES, crmkit.new_id())
        assert path_of(lambda: move_opportunity(uow, PIPELINES, deal.id, "signing")) == ["stage"]
        assert path_of(lambda: move_opportunity(uow, PIPELINES, deal.id, "lost")) == ["stage"]
        assert path_of(lambda: stage_check(uow, PIPELINES, deal.id, 7)) == ["stage"]  # type: ignore[arg-type]
        assert path_of(lambda: lose_opportunity(uow, PIPELINES, deal.id, None)) == ["reason"]  # type: ignore[arg-type]
        assert path_of(
            lambda: lose_opportunity(uow, PIPELINES, deal.id, "price", competitor=" globex ")
        ) == ["competitor"]
        assert path_of(lambda: open_deal(uow, acme.id, amount=90000.0)) == ["amount"]
        assert path_of(lambda: open_deal(uow, acme.id, colour="red")) == ["colour"]
        assert path_of(lambda: open_deal(uow, acme.id, pipeline=PIPELINES)) == ["pipeline"]
        with pytest.raises(NotFound, match="customer"):
            open_deal(uow, crmkit.new_id())
        assert uow.events == ()
        assert uow.opportunities.get(deal.id).version == 1
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        assert uow.opportunities.count() == 1


# --- the law: the services store what the domain computes ---------------------------------------

# What a host may call: (service, the domain function it stands for, a stage or a reason).
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["move", "win", "lose", "reopen"]),
        st.sampled_from([s.key for s in B2B.stages] + [None]),
        st.integers(min_value=0, max_value=3),  # hours the clock moves on first
    ),
    max_size=8,
)
FACTS = st.fixed_dictionaries(
    {},
    optional={
        "needs_analysis": st.just("SSO"),
        "quote": st.just("Q-1"),
        "contacts": st.just(
            (DealContact(contact_id=crmkit.new_id(), roles={BuyingRole.DECISION_MAKER}),)
        ),
    },
)


def _domain(kind: str, deal: Opportunity, stage: str | None, at: dt.datetime) -> PendingEvent:
    if kind == "move":
        return move(deal, B2B, stage or "proposal", at=at)
    if kind == "win":
        return win(deal, B2B, at=at)
    if kind == "lose":
        return lose(deal, B2B, at=at, reason="price", stage=stage)
    return reopen(deal, B2B, at=at, reason="back", stage=stage)


def _service(kind: str, uow: UnitOfWork, deal_id: UUID, stage: str | None) -> Opportunity:
    if kind == "move":
        return move_opportunity(uow, PIPELINES, deal_id, stage or "proposal")
    if kind == "win":
        return win_opportunity(uow, PIPELINES, deal_id)
    if kind == "lose":
        return lose_opportunity(uow, PIPELINES, deal_id, "price", stage=stage)
    return reopen_opportunity(uow, PIPELINES, deal_id, "back", stage=stage)


def test_any_sequence_of_calls_stores_what_the_domain_computes(backend: Backend) -> None:
    clock = FixedClock(NOW)
    crm = backend.fresh(clock=clock)
    with crm.unit_of_work(actor="li.na") as uow:
        customer_id = a_customer(uow).id
    examples = 25 if backend.name in ("memory", "sqlite") else 8

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(facts=FACTS, steps=STEPS)
    def law(facts: dict[str, Any], steps: list[tuple[str, str | None, int]]) -> None:
        with crm.unit_of_work(actor="li.na") as uow:
            deal = open_deal(uow, customer_id, **facts)
        model = attrs.evolve(deal)
        for kind, stage, hours in steps:
            clock.advance(hours=hours)
            try:
                expected: PendingEvent | None = _domain(kind, model, stage, clock.now())
            except ValidationError:
                expected = None
            with crm.unit_of_work(actor="li.na") as uow:
                if expected is None:
                    with pytest.raises(ValidationError):
                        _service(kind, uow, deal.id, stage)
                    assert uow.events == ()
                else:
                    _service(kind, uow, deal.id, stage)
                    (event,) = uow.events
                    assert type(event) is expected.kind
                    assert fields_of(event) == dict(expected.fields)
                    model.version += 1
            with crm.unit_of_work(actor="li.na", read_only=True) as uow:
                assert uow.opportunities.get(deal.id) == model

    law()
