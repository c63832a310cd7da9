"""Pipelines, stages and gates, and opportunities moving through them (issue 16, item 5)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import attrs
import pendulum
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import crmkit
from crmkit import Money, from_dict, new_id, to_dict
from crmkit._validation import recheck
from crmkit.customers import BuyingRole
from crmkit.errors import ValidationError
from crmkit.events import DomainEvent, _stream, _stream_field
from crmkit.pipeline import (
    DECISION_MAKER_IDENTIFIED,
    NEEDS_ANALYSIS_RECORDED,
    QUOTE_ATTACHED,
    DealContact,
    DealLost,
    DealReopened,
    DealWon,
    ForecastCategory,
    Gate,
    Opportunity,
    OpportunityCreated,
    Pipeline,
    Requirement,
    Stage,
    StageChanged,
    StageGateError,
    b2b_pipeline,
    lose,
    missing,
    move,
    open_opportunity,
    probability,
    reopen,
    transactional_pipeline,
    win,
)

T0 = pendulum.datetime(2026, 3, 2, 9)
B2B = b2b_pipeline()
QUICK = transactional_pipeline()
DECIDER = DealContact(contact_id=new_id(), roles={BuyingRole.DECISION_MAKER})


def messages(error: ValidationError) -> list[str]:
    return [str(issue) for issue in error.issues]


def stage(key: str, p: str = "0.5", **kw: object) -> Stage:
    forecast = (
        ForecastCategory.CLOSED if kw.get("won") or kw.get("lost") else ForecastCategory.PIPELINE
    )
    return Stage(key=key, name=key.title(), probability=Decimal(p), forecast=forecast, **kw)  # type: ignore[arg-type]


def deal(pipeline: Pipeline = B2B, **details: object) -> Opportunity:
    opportunity, _ = open_opportunity(
        pipeline,
        at=T0,
        name="200 licences",
        customer_id=new_id(),
        owner_id="li",
        amount=Money("90000", "CNY"),
        expected_close=dt.date(2026, 6, 30),
        **details,
    )
    return opportunity


def ready(pipeline: Pipeline = B2B) -> Opportunity:
    """A deal meeting every built-in gate."""
    return deal(pipeline, needs_analysis="wants 200 seats", contacts=[DECIDER], quote="Q-1")


def at(hours: int) -> pendulum.DateTime:
    return T0.add(hours=hours)


# --- stages --------------------------------------------------------------------------------------


def test_a_stage_is_won_or_lost_not_both() -> None:
    with pytest.raises(ValidationError) as e:
        stage("x", "1", won=True, lost=True)
    assert messages(e.value) == ["lost: a stage cannot be both won and lost"]


def test_closed_stages_are_certain_and_only_they_forecast_as_closed() -> None:
    with pytest.raises(ValidationError) as e:
        Stage(key="w", name="W", probability=Decimal("0.9"), forecast="commit", won=True)  # type: ignore[arg-type]
    assert messages(e.value) == [
        "forecast: must be ForecastCategory, not str",
    ]
    with pytest.raises(ValidationError) as e:
        Stage(
            key="w",
            name="W",
            probability=Decimal("0.9"),
            forecast=ForecastCategory.COMMIT,
            won=True,
        )
    assert messages(e.value) == [
        "forecast: must be closed",
        "probability: must be 1 for a won stage",
    ]
    with pytest.raises(ValidationError) as e:
        Stage(
            key="l",
            name="L",
            probability=Decimal("0.1"),
            forecast=ForecastCategory.CLOSED,
            lost=True,
        )
    assert messages(e.value) == ["probability: must be 0 for a lost stage"]
    with pytest.raises(ValidationError) as e:
        Stage(key="o", name="O", probability=Decimal("0.1"), forecast=ForecastCategory.CLOSED)
    assert messages(e.value) == ["forecast: cannot be closed for an open stage"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0.5, "must be a Decimal from 0 to 1, not float"),
        (Decimal("1.01"), "Decimal('1.01') is not from 0 to 1"),
        (Decimal(-1), "Decimal('-1') is not from 0 to 1"),
        (Decimal("NaN"), "Decimal('NaN') is not from 0 to 1"),
        (Decimal("0.12345"), "0.12345 has more than 4 decimal places"),
    ],
)
def test_a_probability_is_an_exact_decimal_from_0_to_1(value: object, problem: str) -> None:
    with pytest.raises(ValidationError) as e:
        Stage(key="s", name="S", probability=value, forecast=ForecastCategory.PIPELINE)  # type: ignore[arg-type]
    assert messages(e.value) == [f"probability: {problem}"]


def test_a_gate_needs_a_predicate_and_words() -> None:
    with pytest.raises(ValidationError) as e:
        Gate(key="g", requirement=" ", predicate="yes")  # type: ignore[arg-type]
    assert messages(e.value) == [
        "requirement: must not be blank",
        "predicate: must be a function, not str",
    ]


# --- pipelines -----------------------------------------------------------------------------------


def test_a_pipeline_has_unique_keys_one_won_stage_a_lost_one_and_an_open_one() -> None:
    with pytest.raises(ValidationError) as e:
        Pipeline(key="p", name="P", stages=[stage("a"), stage("a")])
    assert messages(e.value) == [
        "stages[1].key: 'a' appears twice",
        "stages: must have exactly one won stage, not 0",
        "stages: must have at least one lost stage",
    ]
    with pytest.raises(ValidationError) as e:
        Pipeline(key="p", name="P", stages=[stage("w", "1", won=True), stage("v", "1", won=True)])
    assert messages(e.value) == [
        "stages: must have exactly one won stage, not 2",
        "stages: must have at least one lost stage",
        "stages: must have at least one open stage",
    ]


def test_no_open_stage_comes_after_the_won_one() -> None:
    stages = [stage("a"), stage("w", "1", won=True), stage("b"), stage("l", "0", lost=True)]
    with pytest.raises(ValidationError) as e:
        Pipeline(key="p", name="P", stages=stages)
    assert messages(e.value) == ["stages[2]: open stage 'b' comes after the won stage"]


def test_an_unknown_stage_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValidationError) as e:
        QUICK.stage("nope")
    assert messages(e.value) == [
        (
            "stage: 'nope' is not a stage of pipeline 'transactional' "
            "('qualified', 'quoted', 'won', 'lost')"
        )
    ]


def test_the_presets() -> None:
    assert [s.key for s in B2B.path] == [
        "first_contact",
        "needs_analysis",
        "proposal",
        "negotiation",
        "signed",
    ]
    assert B2B.stage("proposal").gates == (NEEDS_ANALYSIS_RECORDED, DECISION_MAKER_IDENTIFIED)
    assert B2B.stage("negotiation").gates == (QUOTE_ATTACHED,)
    assert not B2B.skipping
    assert [s.key for s in B2B.lost_stages] == ["lost"]
    assert QUICK.skipping
    assert QUICK.won_stage.key == "won"
    # Several pipelines coexist, one per product line.
    assert b2b_pipeline("hardware", "Hardware").key == "hardware"


# --- opening and the dry run ---------------------------------------------------------------------


def test_a_new_deal_starts_in_the_first_stage_and_says_so() -> None:
    opportunity, event = open_opportunity(
        B2B,
        at=dt.datetime.fromisoformat("2026-03-02T17:00:00+08:00"),
        name="200 licences",
        customer_id=(customer := new_id()),
        owner_id="li",
        amount=Money("90000", "CNY"),
        expected_close=dt.date(2026, 6, 30),
    )
    assert opportunity.stage == "first_contact"
    assert [(e.stage, e.entered_at) for e in opportunity.history] == [("first_contact", T0)]
    assert event.kind is OpportunityCreated
    assert dict(event.fields) == {
        "opportunity_id": opportunity.id,
        "pipeline": "b2b",
        "stage": "first_contact",
        "customer_id": customer,
        "owner_id": "li",
        "amount": Money("90000", "CNY"),
    }
    assert probability(opportunity, B2B) == Decimal("0.1")


def test_a_new_deal_takes_only_details_of_its_own() -> None:
    with pytest.raises(ValidationError) as e:
        deal(stage="signed", colour="red")
    taken = (
        "competitors, contacts, facts, id, lead_id, needs_analysis, probability_override, "
        "quote, source"
    )
    assert messages(e.value) == [
        f"colour: is not a detail a new deal takes ({taken})",
        f"stage: is not a detail a new deal takes ({taken})",
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda o: move(o, B2B, None, at=T0),  # type: ignore[arg-type]
        lambda o: move(o, B2B, "needs_analysis", at=None),  # type: ignore[arg-type]
        lambda o: move(None, B2B, "needs_analysis", at=T0),  # type: ignore[arg-type]
        lambda o: missing(o, None, "proposal"),  # type: ignore[arg-type]
        lambda o: win(o, 5, at=T0),  # type: ignore[arg-type]
        lambda o: lose(o, B2B, at=T0, reason=5, competitor=["x"]),  # type: ignore[arg-type]
        lambda o: lose(o, B2B, at=T0, reason="r", stage=b"lost"),  # type: ignore[arg-type]
        lambda o: reopen(o, B2B, at="yesterday", reason="r"),  # type: ignore[arg-type]
        lambda o: probability(o, QUICK),
    ],
)
def test_junk_arguments_raise_crmkit_errors(call: Callable[[Opportunity], object]) -> None:
    with pytest.raises(ValidationError):
        call(deal())


def test_a_new_deal_meets_its_first_stage_gates() -> None:
    gated = Pipeline(
        key="g",
        name="G",
        stages=[
            stage("qualified", gates=[QUOTE_ATTACHED]),
            stage("won", "1", won=True),
            stage("lost", "0", lost=True),
        ],
    )
    with pytest.raises(StageGateError) as e:
        deal(gated)
    assert e.value.requirements == (Requirement("qualified", "quote attached", "quote_attached"),)
    assert deal(gated, quote="Q-1").stage == "qualified"


def test_the_dry_run_lists_every_unmet_gate() -> None:
    opportunity = deal()
    move(opportunity, B2B, "needs_analysis", at=at(1))
    assert missing(opportunity, B2B, "proposal") == [
        Requirement("proposal", "needs analysis recorded", "needs_analysis_recorded"),
        Requirement("proposal", "decision maker identified", "decision_maker_identified"),
    ]
    opportunity.needs_analysis = "wants 200 seats"
    opportunity.contacts = (DealContact(contact_id=new_id(), roles={BuyingRole.USER}),)
    assert [r.gate for r in missing(opportunity, B2B, "proposal")] == ["decision_maker_identified"]
    opportunity.contacts = (DECIDER,)
    assert missing(opportunity, B2B, "proposal") == []
    assert opportunity.stage == "needs_analysis"  # a dry run changes nothing


def test_the_dry_run_refuses_what_is_no_move() -> None:
    opportunity = deal()
    with pytest.raises(ValidationError) as e:
        missing(opportunity, B2B, "first_contact")
    assert messages(e.value) == ["stage: the opportunity is already in 'first_contact'"]
    with pytest.raises(ValidationError) as e:
        missing(opportunity, QUICK, "won")
    assert messages(e.value) == [
        "pipeline: the opportunity is in pipeline 'b2b', not 'transactional'"
    ]
    with pytest.raises(ValidationError) as e:
        missing(opportunity, "b2b", "won")  # type: ignore[arg-type]
    assert messages(e.value) == ["pipeline: must be a Pipeline, not str"]


# --- moving --------------------------------------------------------------------------------------


def test_a_blocked_move_lists_every_requirement_and_changes_nothing() -> None:
    opportunity = deal()
    move(opportunity, B2B, "needs_analysis", at=at(1))
    before = attrs.evolve(opportunity)
    with pytest.raises(StageGateError) as e:
        move(opportunity, B2B, "proposal", at=at(2))
    assert str(e.value) == (
        "cannot enter stage 'proposal'; unmet:\n"
        "  proposal: needs analysis recorded\n"
        "  proposal: decision maker identified"
    )
    assert e.value.stage == "proposal"
    assert messages(e.value) == [
        "stage: proposal: needs analysis recorded",
        "stage: proposal: decision maker identified",
    ]
    assert isinstance(e.value, ValidationError)
    assert opportunity == before


def test_a_move_enters_the_stage_and_records_it() -> None:
    opportunity = ready()
    move(opportunity, B2B, "needs_analysis", at=at(1))
    event = move(opportunity, B2B, "proposal", at=at(2))
    assert opportunity.stage == "proposal"
    assert [(e.stage, e.entered_at) for e in opportunity.history][1:] == [
        ("needs_analysis", at(1)),
        ("proposal", at(2)),
    ]
    assert event.kind is StageChanged
    assert dict(event.fields) == {
        "opportunity_id": opportunity.id,
        "pipeline": "b2b",
        "from_stage": "needs_analysis",
        "to_stage": "proposal",
        "probability": Decimal("0.5"),
    }
    # Back is always allowed, any distance.
    move(opportunity, B2B, "first_contact", at=at(3))
    assert opportunity.stage == "first_contact"


def test_a_pipeline_without_skipping_goes_one_stage_at_a_time() -> None:
    opportunity = ready()
    assert missing(opportunity, B2B, "proposal") == [
        Requirement("proposal", "enter 'needs_analysis' first: this pipeline skips no stage")
    ]
    with pytest.raises(StageGateError):
        win(opportunity, B2B, at=at(1))


def test_skipping_still_asks_for_the_gates_of_the_stages_jumped_over() -> None:
    opportunity = deal(QUICK)
    assert missing(opportunity, QUICK, "won") == [
        Requirement("quoted", "quote attached", "quote_attached")
    ]
    opportunity.quote = "Q-7"
    event = win(opportunity, QUICK, at=at(1))
    assert opportunity.stage == "won"
    assert event.kind is DealWon
    assert dict(event.fields) == {
        "opportunity_id": opportunity.id,
        "pipeline": "transactional",
        "from_stage": "qualified",
        "amount": Money("90000", "CNY"),
    }


def test_a_deal_is_lost_with_lose_not_move() -> None:
    with pytest.raises(ValidationError) as e:
        move(deal(), B2B, "lost", at=at(1))
    assert messages(e.value) == [
        "stage: 'lost' is a lost stage: use lose(), which records the reason"
    ]


def test_time_does_not_run_backwards() -> None:
    opportunity = deal()
    with pytest.raises(ValidationError) as e:
        move(opportunity, B2B, "needs_analysis", at=at(-1))
    assert messages(e.value) == [
        (
            "at: 2026-03-02T08:00:00+00:00 is before the deal entered its stage at "
            "2026-03-02T09:00:00+00:00"
        )
    ]
    with pytest.raises(ValidationError) as e:
        move(opportunity, B2B, "needs_analysis", at=dt.datetime(2026, 3, 3))
    assert messages(e.value) == ["at: 2026-03-03T00:00:00 has no time zone; give an offset"]


# --- winning, losing, reopening ------------------------------------------------------------------


def walk_to_negotiation(opportunity: Opportunity) -> None:
    for hours, key in enumerate(["needs_analysis", "proposal", "negotiation"], start=1):
        move(opportunity, B2B, key, at=at(hours))


def test_a_won_deal_moves_nowhere_until_reopened() -> None:
    opportunity = ready()
    walk_to_negotiation(opportunity)
    win(opportunity, B2B, at=at(4))
    assert missing(opportunity, B2B, "proposal") == [
        Requirement("proposal", "reopen the deal first: it is won")
    ]
    with pytest.raises(StageGateError):
        move(opportunity, B2B, "proposal", at=at(5))
    with pytest.raises(StageGateError) as e:
        lose(opportunity, B2B, at=at(5), reason="changed their mind")
    assert e.value.requirements == (Requirement("lost", "reopen the deal first: it is won"),)
    assert opportunity.stage == "signed"


def test_losing_needs_a_reason_and_may_name_the_winner() -> None:
    opportunity = deal(competitors={"globex"})
    with pytest.raises(ValidationError) as e:
        lose(opportunity, B2B, at=at(1), reason=None, competitor=" x")  # type: ignore[arg-type]
    assert messages(e.value) == [
        "reason: is required: say why",
        "competitor: must not start or end with whitespace",
    ]
    with pytest.raises(ValidationError) as e:
        lose(opportunity, B2B, at=at(1), reason="  ")
    assert messages(e.value) == ["reason: must not be blank"]
    with pytest.raises(ValidationError) as e:
        lose(opportunity, B2B, at=at(1), reason="price", stage="signed")
    assert messages(e.value) == ["stage: 'signed' is not a lost stage"]
    event = lose(opportunity, B2B, at=at(1), reason="price", competitor="initech")
    assert (opportunity.stage, opportunity.lost_reason) == ("lost", "price")
    assert opportunity.winning_competitor == "initech"
    assert opportunity.competitors == {"globex", "initech"}
    assert opportunity.history[-1].reason == "price"
    assert event.kind is DealLost
    assert dict(event.fields) == {
        "opportunity_id": opportunity.id,
        "pipeline": "b2b",
        "from_stage": "first_contact",
        "stage": "lost",
        "reason": "price",
        "competitor": "initech",
    }
    assert recheck(opportunity) == []


def test_reopening_is_explicit_recorded_and_gated() -> None:
    opportunity = ready()
    walk_to_negotiation(opportunity)
    with pytest.raises(ValidationError) as e:
        reopen(opportunity, B2B, at=at(4), reason="why not")
    assert messages(e.value) == ["stage: only a won or lost deal can be reopened"]
    lose(opportunity, B2B, at=at(4), reason="budget cut", competitor="globex")
    with pytest.raises(ValidationError) as e:
        reopen(opportunity, B2B, at=at(5), reason="")
    assert messages(e.value) == ["reason: must not be blank"]
    with pytest.raises(ValidationError) as e:
        reopen(opportunity, B2B, at=at(5), reason="budget back", stage="signed")
    assert messages(e.value) == ["stage: 'signed' is not an open stage"]
    opportunity.quote = None
    with pytest.raises(StageGateError) as gate:
        reopen(opportunity, B2B, at=at(5), reason="budget back")
    assert gate.value.requirements == (
        Requirement("negotiation", "quote attached", "quote_attached"),
    )
    event = reopen(opportunity, B2B, at=at(5), reason="budget back", stage="proposal")
    assert opportunity.stage == "proposal"
    assert (opportunity.lost_reason, opportunity.winning_competitor) == (None, None)
    assert opportunity.competitors == {"globex"}
    assert [(e.stage, e.reason) for e in opportunity.history[-2:]] == [
        ("lost", "budget cut"),
        ("proposal", "budget back"),
    ]
    assert event.kind is DealReopened
    assert dict(event.fields) == {
        "opportunity_id": opportunity.id,
        "pipeline": "b2b",
        "from_stage": "lost",
        "to_stage": "proposal",
        "reason": "budget back",
    }


def test_a_reopened_deal_goes_back_to_its_last_open_stage_by_default() -> None:
    opportunity = ready()
    walk_to_negotiation(opportunity)
    win(opportunity, B2B, at=at(4))
    reopen(opportunity, B2B, at=at(5), reason="contract annulled")
    assert opportunity.stage == "negotiation"


# --- probability ---------------------------------------------------------------------------------


def test_a_probability_set_by_hand_is_kept_across_stages_until_cleared() -> None:
    opportunity = ready(QUICK)
    opportunity.probability_override = Decimal("0.9")
    event = move(opportunity, QUICK, "quoted", at=at(1))
    assert event.fields["probability"] == Decimal("0.9")
    lose(opportunity, QUICK, at=at(2), reason="price")
    assert probability(opportunity, QUICK) == Decimal(0)  # a closed deal's is its stage's
    reopen(opportunity, QUICK, at=at(3), reason="back")
    assert probability(opportunity, QUICK) == Decimal("0.9")
    opportunity.probability_override = None
    assert probability(opportunity, QUICK) == Decimal("0.7")
    with pytest.raises(ValidationError) as e:
        opportunity.probability_override = Decimal(2)
    assert messages(e.value) == ["probability_override: Decimal('2') is not from 0 to 1"]


# --- the aggregate -------------------------------------------------------------------------------


def test_the_aggregate_checks_its_own_rules() -> None:
    with pytest.raises(ValidationError) as e:
        attrs.evolve(deal(), stage="proposal", winning_competitor="globex")
    assert messages(e.value) == [
        "stage: 'proposal' is not the last stage in history",
        "winning_competitor: is only named for a lost deal",
        "winning_competitor: must be one of the competitors",
    ]
    with pytest.raises(ValidationError) as e:
        deal(contacts=[DECIDER, DECIDER])
    assert messages(e.value) == [f"contacts[1].contact_id: {DECIDER.contact_id} appears twice"]
    with pytest.raises(ValidationError) as e:
        attrs.evolve(deal(), history=[])
    assert messages(e.value) == ["history: must hold at least the entry into the first stage"]


def test_only_the_operations_change_the_stage_history_and_outcome() -> None:
    opportunity = deal()
    for name, value in [
        ("stage", "signed"),
        ("history", ()),
        ("lost_reason", "price"),
        ("winning_competitor", "globex"),
    ]:
        with pytest.raises(ValidationError) as e:
            setattr(opportunity, name, value)
        assert messages(e.value) == [
            f"{name}: changes only through move, win, lose and reopen, which check the gates"
        ]
    assert opportunity == attrs.evolve(opportunity, stage="first_contact")
    with pytest.raises(ValidationError) as e:
        opportunity.quote = " Q-1"  # the facts gates read are set directly, and checked
    assert messages(e.value) == ["quote: must not start or end with whitespace"]


def test_a_host_gate_reads_a_fact_it_marks() -> None:
    legal = Gate.fact("legal_review", "legal review done")
    pipeline = attrs.evolve(
        QUICK,
        stages=[
            attrs.evolve(QUICK.stages[0]),
            attrs.evolve(QUICK.stages[1], gates=[legal]),
            *QUICK.stages[2:],
        ],
    )
    opportunity = deal(pipeline)
    assert missing(opportunity, pipeline, "quoted") == [
        Requirement("quoted", "legal review done", "legal_review")
    ]
    opportunity.facts = frozenset({"legal_review"})
    assert missing(opportunity, pipeline, "quoted") == []


def test_events_are_streamed_by_opportunity() -> None:
    for kind in (OpportunityCreated, StageChanged, DealWon, DealLost, DealReopened):
        assert _stream_field(kind) == "opportunity_id"


# --- no sequence of calls breaks the rules -------------------------------------------------------

CUSTOM = Pipeline(
    key="custom",
    name="Custom",
    stages=[
        stage("lead", "0.1"),
        stage("lost_early", "0", lost=True),
        stage("demo", "0.3", gates=[DECISION_MAKER_IDENTIFIED]),
        stage("legal", "0.6", gates=[Gate.fact("legal", "legal review done"), QUOTE_ATTACHED]),
        stage("won", "1", won=True),
        stage("lost", "0", lost=True, gates=[NEEDS_ANALYSIS_RECORDED]),
    ],
    skipping=True,
)


class DealMachine(RuleBasedStateMachine):
    """Random calls on one deal: every stage entered meets its gates, closed deals stay closed."""

    pipeline: Pipeline
    opportunity: Opportunity
    now: pendulum.DateTime

    @initialize(pipeline=st.sampled_from([B2B, QUICK, CUSTOM]))
    def start(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.now = T0
        self.opportunity = deal(pipeline)
        self.override: Decimal | None = None

    def tick(self, minutes: int) -> pendulum.DateTime:
        self.now = self.now.add(minutes=minutes)
        return self.now

    # facts the gates read
    @rule(value=st.sampled_from([None, "wants 200 seats"]))
    def needs_analysis(self, value: str | None) -> None:
        self.opportunity.needs_analysis = value

    @rule(value=st.sampled_from([None, "Q-1"]))
    def quote(self, value: str | None) -> None:
        self.opportunity.quote = value

    @rule(decider=st.booleans())
    def contacts(self, decider: bool) -> None:
        self.opportunity.contacts = (DECIDER,) if decider else ()

    @rule(legal=st.booleans())
    def facts(self, legal: bool) -> None:
        self.opportunity.facts = frozenset({"legal"} if legal else ())

    @rule(value=st.one_of(st.none(), st.decimals(0, 1, places=2)))
    def set_probability(self, value: Decimal | None) -> None:
        self.opportunity.probability_override = value
        self.override = value

    # operations
    def attempt(self, operation: str, call: object, *, target: str | None = None) -> None:
        before = attrs.evolve(self.opportunity)
        closed = self.pipeline.stage(before.stage).terminal
        refusal: ValidationError | None = None
        try:
            event = call()  # type: ignore[operator]
        except ValidationError as e:
            refusal = e
        if refusal is not None:
            assert self.opportunity == before, "a refused call changed the deal"
            if isinstance(refusal, StageGateError) and target is not None:
                # The dry run said exactly this beforehand.
                assert list(refusal.requirements) == missing(before, self.pipeline, target)
            return
        entered = self.pipeline.stage(self.opportunity.stage)
        assert not [g.key for g in entered.gates if not g.met_by(self.opportunity)]
        assert not closed or operation == "reopen", f"{operation} left a closed deal"
        assert event.fields["opportunity_id"] == self.opportunity.id
        assert len(self.opportunity.history) == len(before.history) + 1

    @rule(key=st.data(), minutes=st.integers(0, 600))
    def move(self, key: st.DataObject, minutes: int) -> None:
        target = key.draw(st.sampled_from([s.key for s in self.pipeline.stages]))
        when = self.tick(minutes)
        if target == self.opportunity.stage:
            return
        self.attempt(
            "move", lambda: move(self.opportunity, self.pipeline, target, at=when), target=target
        )

    @rule(minutes=st.integers(0, 600))
    def win(self, minutes: int) -> None:
        when = self.tick(minutes)
        self.attempt("win", lambda: win(self.opportunity, self.pipeline, at=when))

    @rule(minutes=st.integers(0, 600), competitor=st.sampled_from([None, "globex"]))
    def lose(self, minutes: int, competitor: str | None) -> None:
        when = self.tick(minutes)
        self.attempt(
            "lose",
            lambda: lose(
                self.opportunity, self.pipeline, at=when, reason="price", competitor=competitor
            ),
        )

    @rule(minutes=st.integers(0, 600), data=st.data())
    def reopen(self, minutes: int, data: st.DataObject) -> None:
        when = self.tick(minutes)
        target = data.draw(st.sampled_from([None, *(s.key for s in self.pipeline.path[:-1])]))
        self.attempt(
            "reopen",
            lambda: reopen(self.opportunity, self.pipeline, at=when, reason="back", stage=target),
        )

    @precondition(lambda self: hasattr(self, "opportunity"))
    @invariant()
    def consistent(self) -> None:
        opportunity = self.opportunity
        assert recheck(opportunity) == []
        current = self.pipeline.stage(opportunity.stage)
        assert (opportunity.lost_reason is not None) == current.lost
        # The probability law: the hand-set value stays until cleared, and rules open deals.
        assert opportunity.probability_override == self.override
        expected = (
            current.probability if current.terminal or self.override is None else self.override
        )
        assert probability(opportunity, self.pipeline) == expected


TestDealMachine = DealMachine.TestCase


def test_a_deal_reads_back_equal_from_its_stored_form() -> None:
    opportunity = ready()
    lose(opportunity, B2B, at=at(1), reason="price", competitor="globex")
    opportunity.probability_override = Decimal("0.35")
    assert from_dict(to_dict(opportunity), Opportunity) == opportunity


def test_pending_events_are_recorded_by_a_unit_of_work() -> None:
    crm = crmkit.open("memory://")
    seen: list[DomainEvent] = []
    for kind in (OpportunityCreated, StageChanged, DealLost):
        crm.subscribe(kind, seen.append)
    opportunity, created = open_opportunity(
        B2B,
        at=T0,
        name="200 licences",
        customer_id=new_id(),
        owner_id="li",
        amount=Money("90000", "CNY"),
        expected_close=dt.date(2026, 6, 30),
    )
    moved = move(opportunity, B2B, "needs_analysis", at=at(1))
    lost = lose(opportunity, B2B, at=at(2), reason="price")
    with crm.unit_of_work(actor="li") as uow:
        for pending in (created, moved, lost):
            uow.record(pending.kind, **pending.fields)
    assert [type(e) for e in seen] == [OpportunityCreated, StageChanged, DealLost]
    assert {_stream(e) for e in seen} == {str(opportunity.id)}
