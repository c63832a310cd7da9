"""What people do with deals: each use case stores its change and records its event.

The host configures its pipelines once, as `Pipelines` (one per product line, by key), and hands
them to the services that move deals: an opportunity names its pipeline by key, and the service
finds it there. Like every service, these work in the unit of work they are given, never commit
it, and raise before anything is stored or recorded when the input is bad or a gate is unmet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from uuid import UUID

from crmkit._validation import shown
from crmkit.errors import Issue, ValidationError
from crmkit.pipeline._opportunities import (
    Opportunity,
    PendingEvent,
    lose,
    missing,
    move,
    open_opportunity,
    reopen,
    win,
)
from crmkit.pipeline._stages import Pipeline, Requirement

if TYPE_CHECKING:
    from crmkit._money import Money
    from crmkit.storage import UnitOfWork

__all__ = [
    "Pipelines",
    "create_opportunity",
    "lose_opportunity",
    "move_opportunity",
    "reopen_opportunity",
    "stage_check",
    "win_opportunity",
]


class Pipelines:
    """The pipelines a host configures, by key: several coexist, one per product line.

    An opportunity stores the key of its pipeline; the services that move deals take a
    `Pipelines` and find the deal's pipeline in it.

    Examples:
        >>> from crmkit.pipeline import Pipelines, b2b_pipeline, transactional_pipeline
        >>> pipelines = Pipelines(b2b_pipeline(), transactional_pipeline())
        >>> pipelines.keys()
        ('b2b', 'transactional')
        >>> pipelines.get("transactional").won_stage.key
        'won'
        >>> pipelines.get("retail")
        Traceback (most recent call last):
        ...
        crmkit.errors.ValidationError: pipeline: 'retail' is not a configured pipeline (...)

    Raises:
        ValidationError: no pipeline is given, one is not a `Pipeline`, or two share a key
            (named by position, ``pipelines[1].key``).
    """

    __slots__ = ("_by_key",)

    def __init__(self, *pipelines: Pipeline) -> None:
        found: list[Issue] = []
        by_key: dict[str, Pipeline] = {}
        if not pipelines:
            found.append(Issue("pipelines", "must hold at least one pipeline"))
        given: tuple[object, ...] = pipelines  # checked: a caller may pass anything
        for i, p in enumerate(given):
            if not isinstance(p, Pipeline):
                found.append(
                    Issue(f"pipelines[{i}]", f"must be a Pipeline, not {type(p).__name__}")
                )
            elif p.key in by_key:
                found.append(Issue(f"pipelines[{i}].key", f"{p.key!r} appears twice"))
            else:
                by_key[p.key] = p
        if found:
            raise ValidationError(found)
        self._by_key = MappingProxyType(by_key)

    def get(self, key: str) -> Pipeline:
        """The pipeline with `key`.

        Raises:
            ValidationError: no pipeline has that key (named ``pipeline``, listing the keys).
        """
        found = self._by_key.get(key) if isinstance(key, str) else None
        if found is None:
            known = ", ".join(repr(k) for k in self._by_key)
            raise ValidationError.of(
                "pipeline", f"{shown(key)} is not a configured pipeline ({known})"
            )
        return found

    def keys(self) -> tuple[str, ...]:
        """The pipelines' keys, in the order given."""
        return tuple(self._by_key)

    def __iter__(self) -> Iterator[Pipeline]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._by_key

    def __repr__(self) -> str:
        return f"Pipelines({', '.join(repr(k) for k in self._by_key)})"


def create_opportunity(
    uow: UnitOfWork,
    pipeline: Pipeline,
    *,
    name: str,
    customer_id: UUID,
    owner_id: str,
    amount: Money,
    expected_close: dt.date,
    **details: Any,  # noqa: ANN401 (further Opportunity fields: contacts, quote, ...)
) -> Opportunity:
    """Open a deal in `pipeline`'s first stage, now, and record `OpportunityCreated`.

    The fields are `open_opportunity`'s; the time of entry is the unit of work's clock.

    Examples:
        >>> import datetime as dt
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.customers import Customer, register_customer
        >>> from crmkit.pipeline import b2b_pipeline, create_opportunity
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     acme = register_customer(uow, Customer(name="Acme", owner_id="li.na"))
        ...     deal = create_opportunity(
        ...         uow, b2b_pipeline(), name="200 licences", customer_id=acme.id,
        ...         owner_id="li.na", amount=Money("90000", "CNY"),
        ...         expected_close=dt.date(2026, 6, 30))
        >>> deal.stage, deal.version
        ('first_contact', 1)

    Raises:
        ValidationError: a field is invalid, or a detail is not one a new deal takes.
        StageGateError: the first stage's gates are not met.
        NotFound: the customer does not exist in the tenant.
        DuplicateError: the id is taken.
    """
    opportunity, event = open_opportunity(
        pipeline,
        at=uow.now(),
        name=name,
        customer_id=customer_id,
        owner_id=owner_id,
        amount=amount,
        expected_close=expected_close,
        **details,
    )
    uow.opportunities.add(opportunity)
    _record(uow, event)
    return opportunity


def move_opportunity(
    uow: UnitOfWork, pipelines: Pipelines, opportunity_id: UUID, stage: str
) -> Opportunity:
    """Move the deal to `stage` now, storing it and recording `StageChanged` (or `DealWon`).

    Moving to the won stage wins the deal, as `win_opportunity` does; a deal is lost with
    `lose_opportunity`, which takes the reason. See `move` for the pipeline's rules.

    Examples:
        >>> import datetime as dt
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.customers import Customer, register_customer
        >>> from crmkit.pipeline import (
        ...     Pipelines, StageGateError, b2b_pipeline, create_opportunity, move_opportunity)
        >>> pipelines = Pipelines(b2b_pipeline())
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     acme = register_customer(uow, Customer(name="Acme", owner_id="li.na"))
        ...     deal = create_opportunity(
        ...         uow, pipelines.get("b2b"), name="200 licences", customer_id=acme.id,
        ...         owner_id="li.na", amount=Money("90000", "CNY"),
        ...         expected_close=dt.date(2026, 6, 30))
        ...     move_opportunity(uow, pipelines, deal.id, "needs_analysis").stage
        'needs_analysis'
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     move_opportunity(uow, pipelines, deal.id, "proposal")
        Traceback (most recent call last):
        ...
        crmkit.pipeline._stages.StageGateError: cannot enter stage 'proposal'; unmet:
          proposal: needs analysis recorded
          proposal: decision maker identified

    Raises:
        NotFound: no such opportunity in the tenant.
        StageGateError: a requirement is unmet (every one is listed); nothing was changed.
        ValidationError: `stage` is unknown, current or a lost stage, or the deal's pipeline
            is not among `pipelines` (named ``pipeline``).
        ConcurrencyError: someone changed the deal since this unit of work read it.
    """
    opportunity, pipeline = _load(uow, pipelines, opportunity_id)
    return _store(uow, opportunity, move(opportunity, pipeline, stage, at=uow.now()))


def stage_check(
    uow: UnitOfWork, pipelines: Pipelines, opportunity_id: UUID, stage: str
) -> list[Requirement]:
    """What the deal lacks to enter `stage` now: empty when `move_opportunity` would pass.

    A dry run (see `missing`): it reads the deal and changes nothing, so it works in a
    read-only unit of work too. Every unmet gate is listed, with the pipeline's rules a move
    would break.

    Examples:
        >>> import datetime as dt
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.customers import Customer, register_customer
        >>> from crmkit.pipeline import Pipelines, b2b_pipeline, create_opportunity, stage_check
        >>> pipelines = Pipelines(b2b_pipeline())
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     acme = register_customer(uow, Customer(name="Acme", owner_id="li.na"))
        ...     deal = create_opportunity(
        ...         uow, pipelines.get("b2b"), name="200 licences", customer_id=acme.id,
        ...         owner_id="li.na", amount=Money("90000", "CNY"),
        ...         expected_close=dt.date(2026, 6, 30), quote="Q-7")
        >>> with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        ...     for requirement in stage_check(uow, pipelines, deal.id, "proposal"):
        ...         print(requirement)
        proposal: enter 'needs_analysis' first: this pipeline skips no stage
        proposal: needs analysis recorded
        proposal: decision maker identified

    Raises:
        NotFound: no such opportunity in the tenant.
        ValidationError: `stage` is unknown or current, or the deal's pipeline is not among
            `pipelines`.
    """
    opportunity, pipeline = _load(uow, pipelines, opportunity_id)
    return missing(opportunity, pipeline, stage)


def win_opportunity(uow: UnitOfWork, pipelines: Pipelines, opportunity_id: UUID) -> Opportunity:
    """Move the deal to its pipeline's won stage now, storing it and recording `DealWon`.

    Raises:
        NotFound: no such opportunity in the tenant.
        StageGateError: a requirement is unmet (a skipped stage, a gate, a closed deal).
        ValidationError: the deal's pipeline is not among `pipelines`.
        ConcurrencyError: someone changed the deal since this unit of work read it.
    """
    opportunity, pipeline = _load(uow, pipelines, opportunity_id)
    return _store(uow, opportunity, win(opportunity, pipeline, at=uow.now()))


def lose_opportunity(
    uow: UnitOfWork,
    pipelines: Pipelines,
    opportunity_id: UUID,
    reason: str,
    *,
    competitor: str | None = None,
    stage: str | None = None,
) -> Opportunity:
    """Close the deal as lost now, for `reason`, perhaps to `competitor`; records `DealLost`.

    Args:
        uow: the unit of work.
        pipelines: the host's pipelines.
        opportunity_id: the deal.
        reason: why it was lost, in words; required.
        competitor: who won it instead, if known; added to the deal's competitors.
        stage: the lost stage to put it in; the pipeline's first lost stage by default.

    Examples:
        >>> import datetime as dt
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.customers import Customer, register_customer
        >>> from crmkit.pipeline import (
        ...     Pipelines, b2b_pipeline, create_opportunity, lose_opportunity)
        >>> pipelines = Pipelines(b2b_pipeline())
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     acme = register_customer(uow, Customer(name="Acme", owner_id="li.na"))
        ...     deal = create_opportunity(
        ...         uow, pipelines.get("b2b"), name="200 licences", customer_id=acme.id,
        ...         owner_id="li.na", amount=Money("90000", "CNY"),
        ...         expected_close=dt.date(2026, 6, 30))
        ...     lost = lose_opportunity(uow, pipelines, deal.id, "price", competitor="globex")
        >>> lost.stage, lost.lost_reason, lost.winning_competitor
        ('lost', 'price', 'globex')

    Raises:
        NotFound: no such opportunity in the tenant.
        StageGateError: the deal is closed already, or the lost stage's gates are unmet.
        ValidationError: `reason` is missing or blank, `competitor` is not a key, `stage` is not
            a lost stage, or the deal's pipeline is not among `pipelines`.
        ConcurrencyError: someone changed the deal since this unit of work read it.
    """
    opportunity, pipeline = _load(uow, pipelines, opportunity_id)
    event = lose(
        opportunity, pipeline, at=uow.now(), reason=reason, competitor=competitor, stage=stage
    )
    return _store(uow, opportunity, event)


def reopen_opportunity(
    uow: UnitOfWork,
    pipelines: Pipelines,
    opportunity_id: UUID,
    reason: str,
    *,
    stage: str | None = None,
) -> Opportunity:
    """Take a won or lost deal back into an open stage now, for `reason`; records `DealReopened`.

    The deal goes back to `stage`, by default the open stage it was in last (see `reopen`).

    Raises:
        NotFound: no such opportunity in the tenant.
        StageGateError: the stage's gates are unmet.
        ValidationError: the deal is not closed, `reason` is missing or blank, `stage` is not
            an open stage, or the deal's pipeline is not among `pipelines`.
        ConcurrencyError: someone changed the deal since this unit of work read it.
    """
    opportunity, pipeline = _load(uow, pipelines, opportunity_id)
    event = reopen(opportunity, pipeline, at=uow.now(), reason=reason, stage=stage)
    return _store(uow, opportunity, event)


# --- helpers -------------------------------------------------------------------------------------


def _check_pipelines(pipelines: object) -> Pipelines:
    """`pipelines`, if it is a `Pipelines`; otherwise a `ValidationError` naming it."""
    if not isinstance(pipelines, Pipelines):
        hint = ": wrap it, Pipelines(pipeline)" if isinstance(pipelines, Pipeline) else ""
        raise ValidationError.of(
            "pipelines", f"must be a Pipelines, not {type(pipelines).__name__}{hint}"
        )
    return pipelines


def _load(
    uow: UnitOfWork, pipelines: Pipelines, opportunity_id: UUID
) -> tuple[Opportunity, Pipeline]:
    """The stored deal and its pipeline."""
    _check_pipelines(pipelines)
    opportunity = uow.opportunities.get(opportunity_id)
    return opportunity, pipelines.get(opportunity.pipeline)


def _store(uow: UnitOfWork, opportunity: Opportunity, event: PendingEvent) -> Opportunity:
    uow.opportunities.update(opportunity)
    _record(uow, event)
    return opportunity


def _record(uow: UnitOfWork, event: PendingEvent) -> None:
    uow.record(event.kind, **event.fields)
