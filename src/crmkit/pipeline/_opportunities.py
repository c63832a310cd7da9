"""The opportunity aggregate, and how it moves through a pipeline's stages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NoReturn
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._ids import new_id
from crmkit._money import Money
from crmkit._validation import (
    ON_SETATTR,
    Validated,
    as_frozenset,
    as_tuple,
    check,
    each,
    instance_of,
    key_text,
    optional,
    text,
)
from crmkit.customers import BuyingRole

# The checks customers use: the same dates, instants and ids every store keeps.
from crmkit.customers._model import _date, _instant, _uuid, version_check
from crmkit.errors import Issue, ValidationError
from crmkit.events import DomainEvent
from crmkit.pipeline._events import (
    DealLost,
    DealReopened,
    DealWon,
    OpportunityCreated,
    StageChanged,
)
from crmkit.pipeline._stages import (
    Pipeline,
    Requirement,
    Stage,
    StageGateError,
    probability_problem,
)

__all__ = [
    "DealContact",
    "Opportunity",
    "PendingEvent",
    "StageEntry",
    "lose",
    "missing",
    "move",
    "open_opportunity",
    "probability",
    "reopen",
    "win",
]

_key = key_text(max_length=64)
_name = text(max_length=200)
_reason = text(max_length=500)
_note = text(max_length=4000, multiline=True)


def _roles(value: object) -> str | None:
    if not isinstance(value, frozenset) or not all(isinstance(r, BuyingRole) for r in value):
        return "must be a frozenset of BuyingRole"
    return None


@attrs.frozen(kw_only=True)
class DealContact(Validated):
    """A contact of the customer taking part in this deal, with their buying roles in it.

    Attributes:
        contact_id: the id of the customer's contact.
        roles: their parts in this deal's buying process.
    """

    contact_id: UUID = attrs.field(metadata=check(_uuid))
    roles: frozenset[BuyingRole] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(_roles)
    )


@attrs.frozen(kw_only=True)
class StageEntry(Validated):
    """One entry into a stage, in an opportunity's history.

    Attributes:
        stage: the stage's key.
        entered_at: when (UTC).
        reason: why, for a lost deal or a reopened one.
    """

    stage: str = attrs.field(metadata=check(_key))
    entered_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    reason: str | None = attrs.field(default=None, metadata=check(optional(_reason)))


def _by_operations(instance: object, attribute: attrs.Attribute[Any], value: object) -> NoReturn:  # noqa: ARG001
    """Refuse assigning a field that only `move`, `win`, `lose` and `reopen` change."""
    raise ValidationError.of(
        attribute.name, "changes only through move, win, lose and reopen, which check the gates"
    )


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Opportunity(Validated):
    """A deal being pursued with a customer: the opportunity aggregate.

    Its stage, history, lost reason and winning competitor change only through `move`, `win`,
    `lose` and `reopen`, which check the pipeline's rules and gates (assigning them raises
    `ValidationError`); the facts gates read (`needs_analysis`, `contacts`, `quote`, `facts`)
    and the rest are set directly.

    Attributes:
        name: what the deal is, e.g. ``"200 licences for Acme"``.
        customer_id: the customer's id.
        owner_id: the salesperson pursuing it.
        pipeline: the key of its pipeline.
        amount: what the deal is worth, in the deal's own currency.
        expected_close: the day it is expected to close.
        stage: the key of its current stage; see `StageEntry` in `history`.
        history: every entry into a stage, oldest first; the last is the current stage.
        id: the opportunity's identifier; a new UUIDv7 by default.
        contacts: the customer's contacts in the deal, with their buying roles.
        competitors: who else is bidding.
        probability_override: a win probability set by hand; it replaces the stage's until
            cleared, across stage changes (see `probability`).
        needs_analysis: the needs analysis, once recorded.
        quote: the reference of the quote sent, once attached.
        facts: further facts the host's gates read (see `Gate.fact`).
        lost_reason: why the deal was lost.
        winning_competitor: who won it instead, if known.
        source: the channel it came from (the source of the lead it was converted from, say),
            as a key like a lead's `source`.
        lead_id: the lead it was converted from, if any.
        version: how many times it was stored; 0 until first added.
    """

    name: str = attrs.field(metadata=check(_name))
    customer_id: UUID = attrs.field(metadata=check(_uuid))
    owner_id: str = attrs.field(metadata=check(_key))
    pipeline: str = attrs.field(metadata=check(_key))
    amount: Money = attrs.field(metadata=check(instance_of(Money)))
    expected_close: dt.date = attrs.field(metadata=check(_date))
    stage: str = attrs.field(metadata=check(_key), on_setattr=_by_operations)
    history: tuple[StageEntry, ...] = attrs.field(
        converter=as_tuple,
        metadata=check(each(instance_of(StageEntry))),
        on_setattr=_by_operations,
    )
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    contacts: tuple[DealContact, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(instance_of(DealContact)))
    )
    competitors: frozenset[str] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(each(_key))
    )
    probability_override: Decimal | None = attrs.field(
        default=None, metadata=check(optional(probability_problem))
    )
    needs_analysis: str | None = attrs.field(default=None, metadata=check(optional(_note)))
    quote: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    facts: frozenset[str] = attrs.field(
        factory=frozenset, converter=as_frozenset, metadata=check(each(_key))
    )
    lost_reason: str | None = attrs.field(
        default=None, metadata=check(optional(_reason)), on_setattr=_by_operations
    )
    winning_competitor: str | None = attrs.field(
        default=None, metadata=check(optional(_key)), on_setattr=_by_operations
    )
    source: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    lead_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        found: list[Issue] = []
        if not self.history:
            found.append(Issue("history", "must hold at least the entry into the first stage"))
        elif self.history[-1].stage != self.stage:
            found.append(Issue("stage", f"{self.stage!r} is not the last stage in history"))
        found.extend(
            Issue(f"history[{i}].entered_at", "is before the entry before it")
            for i in range(1, len(self.history))
            if self.history[i].entered_at < self.history[i - 1].entered_at
        )
        seen: set[UUID] = set()
        for i, c in enumerate(self.contacts):
            if c.contact_id in seen:
                found.append(Issue(f"contacts[{i}].contact_id", f"{c.contact_id} appears twice"))
            seen.add(c.contact_id)
        if self.winning_competitor is not None:
            if self.lost_reason is None:
                found.append(Issue("winning_competitor", "is only named for a lost deal"))
            if self.winning_competitor not in self.competitors:
                found.append(Issue("winning_competitor", "must be one of the competitors"))
        return found


@attrs.frozen
class PendingEvent:
    """An event an operation asks to record: hand it to ``uow.record(e.kind, **e.fields)``.

    The unit of work fills in the tenant, actor, time and id; the domain knows none of them.

    Attributes:
        kind: the event class.
        fields: the event's own fields.
    """

    kind: type[DomainEvent]
    fields: Mapping[str, Any]


def _event(kind: type[DomainEvent], **fields: Any) -> PendingEvent:  # noqa: ANN401
    return PendingEvent(kind, MappingProxyType(fields))


# What `open_opportunity` takes besides its named arguments; the rest is the operations' own.
_DETAILS = frozenset(
    {
        "id",
        "contacts",
        "competitors",
        "probability_override",
        "needs_analysis",
        "quote",
        "facts",
        "source",
        "lead_id",
    }
)


def open_opportunity(
    pipeline: Pipeline,
    *,
    at: dt.datetime,
    name: str,
    customer_id: UUID,
    owner_id: str,
    amount: Money,
    expected_close: dt.date,
    **details: Any,  # noqa: ANN401 (further Opportunity fields: contacts, quote, ...)
) -> tuple[Opportunity, PendingEvent]:
    """A new opportunity in the pipeline's first stage, and its `OpportunityCreated`.

    Examples:
        >>> import datetime as dt, pendulum
        >>> from crmkit import Money, new_id
        >>> from crmkit.pipeline import b2b_pipeline
        >>> deal, event = open_opportunity(
        ...     b2b_pipeline(), at=pendulum.datetime(2026, 3, 2), name="200 licences",
        ...     customer_id=new_id(), owner_id="li", amount=Money("90000", "CNY"),
        ...     expected_close=dt.date(2026, 6, 30))
        >>> deal.stage, event.kind.__name__
        ('first_contact', 'OpportunityCreated')

    Raises:
        ValidationError: a field is invalid.
        StageGateError: the first stage's gates are not met by what `details` give.
    """
    _check_pipeline(pipeline)
    unknown = sorted(set(details) - _DETAILS)
    if unknown:
        taken = ", ".join(sorted(_DETAILS))
        raise ValidationError(
            Issue(n, f"is not a detail a new deal takes ({taken})") for n in unknown
        )
    first = pipeline.first_stage
    opportunity = Opportunity(
        name=name,
        customer_id=customer_id,
        owner_id=owner_id,
        pipeline=pipeline.key,
        amount=amount,
        expected_close=expected_close,
        stage=first.key,
        history=[StageEntry(stage=first.key, entered_at=to_utc(at, "at"))],
        **details,
    )
    unmet = _gates(opportunity, first)
    if unmet:
        raise StageGateError(first.key, unmet)
    return opportunity, _event(
        OpportunityCreated,
        opportunity_id=opportunity.id,
        pipeline=pipeline.key,
        stage=first.key,
        customer_id=opportunity.customer_id,
        owner_id=opportunity.owner_id,
        amount=opportunity.amount,
    )


def probability(opportunity: Opportunity, pipeline: Pipeline) -> Decimal:
    """The chance of winning `opportunity`: set by hand, or else its stage's.

    A closed deal's is its stage's (1 won, 0 lost) whatever was set by hand; the hand-set
    value is kept for when it is reopened.

    Examples:
        >>> import datetime as dt, pendulum
        >>> from decimal import Decimal
        >>> from crmkit import Money, new_id
        >>> from crmkit.pipeline import b2b_pipeline
        >>> p = b2b_pipeline()
        >>> deal, _ = open_opportunity(
        ...     p, at=pendulum.datetime(2026, 3, 2), name="200 licences", customer_id=new_id(),
        ...     owner_id="li", amount=Money("90000", "CNY"), expected_close=dt.date(2026, 6, 30))
        >>> probability(deal, p)
        Decimal('0.1')
        >>> deal.probability_override = Decimal("0.4")
        >>> probability(deal, p)
        Decimal('0.4')
    """
    stage = _current(opportunity, pipeline)
    if stage.terminal or opportunity.probability_override is None:
        return stage.probability
    return opportunity.probability_override


def missing(opportunity: Opportunity, pipeline: Pipeline, stage: str) -> list[Requirement]:
    """What `opportunity` lacks to enter `stage` now: empty when `move` (or `lose`) would pass.

    A dry run: nothing is changed. It lists every unmet gate of the stage and of the stages a
    move forward would jump over, and the pipeline's rules a move would break (a skipped stage
    where skipping is not allowed, a closed deal that must be reopened first).

    Raises:
        ValidationError: `stage` is not a stage of the pipeline or is the current one, or the
            opportunity is of another pipeline.
    """
    current = _current(opportunity, pipeline)
    target = pipeline.stage(stage)
    if target.key == current.key:
        raise ValidationError.of("stage", f"the opportunity is already in {stage!r}")
    if current.terminal:
        outcome = "won" if current.won else "lost"
        return [Requirement(target.key, f"reopen the deal first: it is {outcome}")]
    if target.lost:
        return _gates(opportunity, target)
    path = [s.key for s in pipeline.path]
    here, there = path.index(current.key), path.index(target.key)
    passed = list(pipeline.path[here + 1 : there])
    found: list[Requirement] = []
    if passed and not pipeline.skipping:
        found.append(
            Requirement(target.key, f"enter {passed[0].key!r} first: this pipeline skips no stage")
        )
    for s in [*passed, target]:
        found.extend(_gates(opportunity, s))
    return found


def move(
    opportunity: Opportunity, pipeline: Pipeline, stage: str, *, at: dt.datetime
) -> PendingEvent:
    """Move `opportunity` to `stage`, or raise listing every requirement it does not meet.

    Moving to the won stage wins the deal (`DealWon`); other moves record `StageChanged`.
    A deal is lost with `lose`, which takes the reason.

    Raises:
        StageGateError: a requirement is unmet (see `missing`); nothing changed.
        ValidationError: `stage` is unknown, current or a lost stage, or `at` is invalid or
            before the opportunity entered its current stage.
    """
    _current(opportunity, pipeline)
    target = pipeline.stage(stage)
    if target.lost:
        raise ValidationError.of(
            "stage", f"{stage!r} is a lost stage: use lose(), which records the reason"
        )
    when = _when(opportunity, at)
    _check_requirements(opportunity, pipeline, target)
    previous = _enter(opportunity, target, when)
    if target.won:
        return _event(
            DealWon,
            opportunity_id=opportunity.id,
            pipeline=pipeline.key,
            from_stage=previous,
            amount=opportunity.amount,
        )
    return _event(
        StageChanged,
        opportunity_id=opportunity.id,
        pipeline=pipeline.key,
        from_stage=previous,
        to_stage=target.key,
        probability=probability(opportunity, pipeline),
    )


def win(opportunity: Opportunity, pipeline: Pipeline, *, at: dt.datetime) -> PendingEvent:
    """Move `opportunity` to the pipeline's won stage (see `move`), recording `DealWon`."""
    _current(opportunity, pipeline)
    return move(opportunity, pipeline, pipeline.won_stage.key, at=at)


def lose(
    opportunity: Opportunity,
    pipeline: Pipeline,
    *,
    at: dt.datetime,
    reason: str,
    competitor: str | None = None,
    stage: str | None = None,
) -> PendingEvent:
    """Close `opportunity` as lost, for `reason`, perhaps to `competitor`; records `DealLost`.

    The competitor is added to the deal's competitors if it was not among them.

    Args:
        opportunity: the deal.
        pipeline: its pipeline.
        at: when it was lost.
        reason: why, in words; required.
        competitor: who won it instead, if known.
        stage: the lost stage to put it in; the pipeline's first lost stage by default.

    Raises:
        StageGateError: the deal is closed already, or the lost stage's gates are unmet.
        ValidationError: `reason` is missing or blank, `stage` is not a lost stage, or `at`
            is invalid.
    """
    _current(opportunity, pipeline)
    target = pipeline.lost_stages[0] if stage is None else pipeline.stage(stage)
    if not target.lost:
        raise ValidationError.of("stage", f"{target.key!r} is not a lost stage")
    problems = [Issue("reason", p) for p in [_reason_problem(reason)] if p is not None]
    if competitor is not None and (problem := _key(competitor)) is not None:
        problems.append(Issue("competitor", problem))
    if problems:
        raise ValidationError(problems)
    when = _when(opportunity, at)
    _check_requirements(opportunity, pipeline, target)
    if competitor is not None:
        opportunity.competitors = opportunity.competitors | {competitor}
    previous = _enter(
        opportunity, target, when, reason, lost_reason=reason, winning_competitor=competitor
    )
    return _event(
        DealLost,
        opportunity_id=opportunity.id,
        pipeline=pipeline.key,
        from_stage=previous,
        stage=target.key,
        reason=reason,
        competitor=competitor,
    )


def reopen(
    opportunity: Opportunity,
    pipeline: Pipeline,
    *,
    at: dt.datetime,
    reason: str,
    stage: str | None = None,
) -> PendingEvent:
    """Take a won or lost deal back into an open stage, for `reason`; records `DealReopened`.

    The deal goes back to `stage`, by default the open stage it was in last; that stage's gates
    must be met. The lost reason and winning competitor are cleared; the history keeps them.

    Raises:
        StageGateError: the stage's gates are unmet.
        ValidationError: the deal is not closed, `reason` is missing or blank, `stage` is not an
            open stage, or `at` is invalid.
    """
    current = _current(opportunity, pipeline)
    if not current.terminal:
        raise ValidationError.of("stage", "only a won or lost deal can be reopened")
    problem = _reason_problem(reason)
    if problem is not None:
        raise ValidationError.of("reason", problem)
    if stage is None:
        open_keys = {s.key for s in pipeline.path if not s.terminal}
        last_open = (e.stage for e in reversed(opportunity.history) if e.stage in open_keys)
        stage = next(last_open, pipeline.first_stage.key)
    target = pipeline.stage(stage)
    if target.terminal:
        raise ValidationError.of("stage", f"{stage!r} is not an open stage")
    when = _when(opportunity, at)
    unmet = _gates(opportunity, target)
    if unmet:
        raise StageGateError(target.key, unmet)
    previous = _enter(opportunity, target, when, reason, lost_reason=None, winning_competitor=None)
    return _event(
        DealReopened,
        opportunity_id=opportunity.id,
        pipeline=pipeline.key,
        from_stage=previous,
        to_stage=target.key,
        reason=reason,
    )


# --- helpers -------------------------------------------------------------------------------------


def _reason_problem(reason: object) -> str | None:
    return "is required: say why" if reason is None else _reason(reason)


def _check_pipeline(pipeline: object) -> None:
    if not isinstance(pipeline, Pipeline):
        raise ValidationError.of("pipeline", f"must be a Pipeline, not {type(pipeline).__name__}")


def _current(opportunity: Opportunity, pipeline: Pipeline) -> Stage:
    """The opportunity's stage in `pipeline`, which must be its own."""
    _check_pipeline(pipeline)
    if not isinstance(opportunity, Opportunity):
        raise ValidationError.of(
            "opportunity", f"must be an Opportunity, not {type(opportunity).__name__}"
        )
    if opportunity.pipeline != pipeline.key:
        raise ValidationError.of(
            "pipeline",
            f"the opportunity is in pipeline {opportunity.pipeline!r}, not {pipeline.key!r}",
        )
    return pipeline.stage(opportunity.stage)


def _gates(opportunity: Opportunity, stage: Stage) -> list[Requirement]:
    return [
        Requirement(stage.key, g.requirement, g.key)
        for g in stage.gates
        if not g.met_by(opportunity)
    ]


def _check_requirements(opportunity: Opportunity, pipeline: Pipeline, target: Stage) -> None:
    unmet = missing(opportunity, pipeline, target.key)
    if unmet:
        raise StageGateError(target.key, unmet)


def _when(opportunity: Opportunity, at: object) -> pendulum.DateTime:
    """`at` in UTC, if not before the opportunity entered its current stage."""
    when = to_utc(at, "at")
    since = opportunity.history[-1].entered_at
    if when < since:
        raise ValidationError.of(
            "at", f"{when.isoformat()} is before the deal entered its stage at {since.isoformat()}"
        )
    return when


def _enter(
    opportunity: Opportunity,
    stage: Stage,
    at: pendulum.DateTime,
    reason: str | None = None,
    **outcome: str | None,
) -> str:
    """Put `opportunity` in `stage` from `at`; return the key of the stage it left.

    `outcome` sets the lost reason and winning competitor: like the stage and its history,
    fields that only the operations change (their assignment is refused to callers).
    """
    previous = opportunity.stage
    entry = StageEntry(stage=stage.key, entered_at=at, reason=reason)
    for name, value in {
        "history": (*opportunity.history, entry),
        "stage": stage.key,
        **outcome,
    }.items():
        object.__setattr__(opportunity, name, value)
    return previous
