"""Pipelines as configuration: stages, their win probabilities, forecast categories and gates."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from crmkit._validation import (
    Validated,
    as_tuple,
    check,
    each,
    instance_of,
    key_text,
    shown,
    text,
)
from crmkit.customers import BuyingRole
from crmkit.errors import Issue, ValidationError

if TYPE_CHECKING:
    from crmkit.pipeline._opportunities import Opportunity

__all__ = [
    "DECISION_MAKER_IDENTIFIED",
    "NEEDS_ANALYSIS_RECORDED",
    "QUOTE_ATTACHED",
    "ForecastCategory",
    "Gate",
    "Pipeline",
    "Requirement",
    "Stage",
    "StageGateError",
    "b2b_pipeline",
    "transactional_pipeline",
]

_key = key_text(max_length=64)
_name = text(max_length=200)
_PROBABILITY_PLACES = 4


class ForecastCategory(enum.StrEnum):
    """How a stage's deals count in a forecast."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"


def probability_problem(value: object) -> str | None:
    """What keeps `value` from being a win probability (a `Decimal` from 0 to 1), or ``None``."""
    if not isinstance(value, Decimal):
        return f"must be a Decimal from 0 to 1, not {type(value).__name__}"
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        return f"{shown(value)} is not from 0 to 1"
    if value != value.quantize(Decimal(1).scaleb(-_PROBABILITY_PLACES)):
        return f"{value} has more than {_PROBABILITY_PLACES} decimal places"
    return None


def _callable(value: object) -> str | None:
    return None if callable(value) else f"must be a function, not {type(value).__name__}"


@attrs.frozen(kw_only=True)
class Gate(Validated):
    """A requirement an opportunity must meet to enter a stage.

    crmkit ships three (`NEEDS_ANALYSIS_RECORDED`, `DECISION_MAKER_IDENTIFIED`,
    `QUOTE_ATTACHED`); a host adds its own with any predicate, or with `Gate.fact` for a fact it
    marks on the opportunity itself.

    Attributes:
        key: the gate's short name, e.g. ``"quote_attached"``.
        requirement: what it asks for, in words, as an error lists it.
        predicate: whether an opportunity meets it; it reads the opportunity and changes nothing.

    Examples:
        >>> legal = Gate(key="legal_review", requirement="legal review done",
        ...              predicate=lambda o: "legal_review" in o.facts)
        >>> legal.key
        'legal_review'
    """

    key: str = attrs.field(metadata=check(_key))
    requirement: str = attrs.field(metadata=check(_name))
    predicate: Callable[[Opportunity], bool] = attrs.field(metadata=check(_callable))

    def met_by(self, opportunity: Opportunity) -> bool:
        """Whether `opportunity` meets this gate."""
        return bool(self.predicate(opportunity))

    @classmethod
    def fact(cls, key: str, requirement: str) -> Gate:
        """A gate met when the opportunity's `facts` hold `key` (a fact the host marks).

        Examples:
            >>> Gate.fact("legal_review", "legal review done").requirement
            'legal review done'
        """
        return cls(key=key, requirement=requirement, predicate=lambda o: key in o.facts)


NEEDS_ANALYSIS_RECORDED = Gate(
    key="needs_analysis_recorded",
    requirement="needs analysis recorded",
    predicate=lambda o: o.needs_analysis is not None,
)
"""Met when the opportunity's `needs_analysis` is written down."""

DECISION_MAKER_IDENTIFIED = Gate(
    key="decision_maker_identified",
    requirement="decision maker identified",
    predicate=lambda o: any(BuyingRole.DECISION_MAKER in c.roles for c in o.contacts),
)
"""Met when one of the opportunity's contacts has the decision-maker buying role."""

QUOTE_ATTACHED = Gate(
    key="quote_attached", requirement="quote attached", predicate=lambda o: o.quote is not None
)
"""Met when the opportunity names its quote."""


@attrs.frozen(kw_only=True)
class Stage(Validated):
    """One step of a pipeline.

    Attributes:
        key: the stage's short name, stored on opportunities, e.g. ``"proposal"``.
        name: its name as people read it.
        probability: the chance of winning a deal in this stage, from 0 to 1.
        forecast: how its deals count in a forecast; `ForecastCategory.CLOSED` exactly for the
            won and lost stages.
        gates: what an opportunity must meet to enter it.
        won: the deal is won here (probability 1).
        lost: the deal is lost here (probability 0).
    """

    key: str = attrs.field(metadata=check(_key))
    name: str = attrs.field(metadata=check(_name))
    probability: Decimal = attrs.field(metadata=check(probability_problem))
    forecast: ForecastCategory = attrs.field(metadata=check(instance_of(ForecastCategory)))
    gates: tuple[Gate, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(Gate)))
    )
    won: bool = attrs.field(default=False, metadata=check(instance_of(bool)))
    lost: bool = attrs.field(default=False, metadata=check(instance_of(bool)))

    @property
    def terminal(self) -> bool:
        """Whether the deal is closed here (won or lost)."""
        return self.won or self.lost

    def _invariants(self) -> list[Issue]:
        if self.won and self.lost:
            return [Issue("lost", "a stage cannot be both won and lost")]
        found: list[Issue] = []
        if self.terminal != (self.forecast is ForecastCategory.CLOSED):
            need = "must be closed" if self.terminal else "cannot be closed for an open stage"
            found.append(Issue("forecast", need))
        expected = Decimal(1) if self.won else Decimal(0) if self.lost else None
        if expected is not None and self.probability != expected:
            found.append(Issue("probability", f"must be {expected} for a {self._outcome} stage"))
        return found

    @property
    def _outcome(self) -> str:
        return "won" if self.won else "lost"


@attrs.frozen(kw_only=True)
class Pipeline(Validated):
    """An ordered list of stages: the sales process of one product line.

    The open stages come first, in the order deals go through them, then the won stage; lost
    stages may stand anywhere. Without `skipping`, a deal moves forward one stage at a time (to
    the next open stage, or from the last one to the won stage); with it, a deal may jump ahead,
    but must still meet the gates of every stage it jumps over. Moving back and losing are
    always allowed.

    Attributes:
        key: the pipeline's short name, stored on opportunities.
        name: its name as people read it.
        stages: the stages, in order.
        skipping: whether a deal may jump over stages.

    Examples:
        >>> p = b2b_pipeline()
        >>> [s.key for s in p.stages]
        ['first_contact', 'needs_analysis', 'proposal', 'negotiation', 'signed', 'lost']
        >>> p.won_stage.key, p.first_stage.key
        ('signed', 'first_contact')
    """

    key: str = attrs.field(metadata=check(_key))
    name: str = attrs.field(metadata=check(_name))
    stages: tuple[Stage, ...] = attrs.field(
        converter=as_tuple, metadata=check(each(instance_of(Stage)))
    )
    skipping: bool = attrs.field(default=False, metadata=check(instance_of(bool)))

    def _invariants(self) -> list[Issue]:
        found: list[Issue] = []
        seen: set[str] = set()
        for i, s in enumerate(self.stages):
            if s.key in seen:
                found.append(Issue(f"stages[{i}].key", f"{s.key!r} appears twice"))
            seen.add(s.key)
        won = [i for i, s in enumerate(self.stages) if s.won]
        if len(won) != 1:
            found.append(Issue("stages", f"must have exactly one won stage, not {len(won)}"))
        if not any(s.lost for s in self.stages):
            found.append(Issue("stages", "must have at least one lost stage"))
        if not any(not s.terminal for s in self.stages):
            found.append(Issue("stages", "must have at least one open stage"))
        elif len(won) == 1:
            found.extend(
                Issue(f"stages[{i}]", f"open stage {s.key!r} comes after the won stage")
                for i, s in enumerate(self.stages)
                if i > won[0] and not s.terminal
            )
        return found

    def stage(self, key: str) -> Stage:
        """The stage with `key`.

        Raises:
            ValidationError: the pipeline has no such stage (named ``stage``).
        """
        for s in self.stages:
            if s.key == key:
                return s
        known = ", ".join(repr(s.key) for s in self.stages)
        raise ValidationError.of(
            "stage", f"{shown(key)} is not a stage of pipeline {self.key!r} ({known})"
        )

    @property
    def path(self) -> tuple[Stage, ...]:
        """The open stages and then the won stage: the way forward, without the lost stages."""
        return tuple(s for s in self.stages if not s.lost)

    @property
    def first_stage(self) -> Stage:
        """The stage new opportunities start in."""
        return self.path[0]

    @property
    def won_stage(self) -> Stage:
        """The stage of won deals."""
        return self.path[-1]

    @property
    def lost_stages(self) -> tuple[Stage, ...]:
        """The stages of lost deals; the first is where `lose` puts a deal by default."""
        return tuple(s for s in self.stages if s.lost)


@attrs.frozen
class Requirement:
    """Something an opportunity lacks to enter a stage.

    Attributes:
        stage: the key of the stage that asks for it.
        text: what is missing, in words.
        gate: the key of the unmet gate, or ``None`` for a rule of the pipeline (the order of
            its stages, a closed deal).
    """

    stage: str
    text: str
    gate: str | None = None

    def __str__(self) -> str:
        return f"{self.stage}: {self.text}"


class StageGateError(ValidationError):
    """An opportunity cannot enter a stage; `requirements` lists everything it lacks.

    A `ValidationError` whose issues are all on ``stage``; nothing was changed.
    """

    def __init__(self, stage: str, requirements: Iterable[Requirement]) -> None:
        self.stage = stage
        self.requirements: tuple[Requirement, ...] = tuple(requirements)
        self.issues = tuple(Issue("stage", str(r)) for r in self.requirements)
        lines = "\n".join(f"  {r}" for r in self.requirements)
        # ValidationError's own message speaks of fields; this one speaks of the stage.
        Exception.__init__(self, f"cannot enter stage {stage!r}; unmet:\n{lines}")


def b2b_pipeline(key: str = "b2b", name: str = "B2B sales") -> Pipeline:
    """The five-step B2B process: first contact, needs analysis, proposal, negotiation, signed.

    A proposal needs the needs analysis recorded and a decision maker identified; negotiation
    needs a quote attached. Stages are not skipped.

    Examples:
        >>> [(s.key, str(s.probability), s.forecast.value) for s in b2b_pipeline().path]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('first_contact', '0.1', 'pipeline'), ('needs_analysis', '0.25', 'pipeline'),
         ('proposal', '0.5', 'best_case'), ('negotiation', '0.75', 'commit'),
         ('signed', '1', 'closed')]
    """
    return Pipeline(
        key=key,
        name=name,
        stages=(
            _open("first_contact", "First contact", "0.1", ForecastCategory.PIPELINE),
            _open("needs_analysis", "Needs analysis", "0.25", ForecastCategory.PIPELINE),
            _open(
                "proposal",
                "Proposal",
                "0.5",
                ForecastCategory.BEST_CASE,
                NEEDS_ANALYSIS_RECORDED,
                DECISION_MAKER_IDENTIFIED,
            ),
            _open("negotiation", "Negotiation", "0.75", ForecastCategory.COMMIT, QUOTE_ATTACHED),
            _won("signed", "Signed"),
            _lost("lost", "Lost"),
        ),
    )


def transactional_pipeline(key: str = "transactional", name: str = "Quick sale") -> Pipeline:
    """A short process for small deals: qualified, quoted, won; stages may be skipped.

    Examples:
        >>> p = transactional_pipeline()
        >>> [s.key for s in p.stages], p.skipping
        (['qualified', 'quoted', 'won', 'lost'], True)
    """
    return Pipeline(
        key=key,
        name=name,
        stages=(
            _open("qualified", "Qualified", "0.3", ForecastCategory.PIPELINE),
            _open("quoted", "Quoted", "0.7", ForecastCategory.COMMIT, QUOTE_ATTACHED),
            _won("won", "Won"),
            _lost("lost", "Lost"),
        ),
        skipping=True,
    )


def _open(key: str, name: str, p: str, forecast: ForecastCategory, *gates: Gate) -> Stage:
    return Stage(key=key, name=name, probability=Decimal(p), forecast=forecast, gates=gates)


def _won(key: str, name: str) -> Stage:
    return Stage(
        key=key, name=name, probability=Decimal(1), forecast=ForecastCategory.CLOSED, won=True
    )


def _lost(key: str, name: str) -> Stage:
    return Stage(
        key=key, name=name, probability=Decimal(0), forecast=ForecastCategory.CLOSED, lost=True
    )
