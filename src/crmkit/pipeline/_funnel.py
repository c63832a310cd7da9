"""The funnel of a pipeline, computed in plain Python: the reference the stores must match."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import attrs

from crmkit._clock import to_utc
from crmkit._money import Money
from crmkit._rates import ExchangeRate, ExchangeRates
from crmkit.errors import ValidationError
from crmkit.pipeline._opportunities import Opportunity
from crmkit.pipeline._stages import Pipeline

_MICRO = Decimal("0.000001")


@attrs.frozen
class FunnelStage:
    """One stage of a pipeline's path in a `Funnel`.

    Attributes:
        key: the stage's key.
        reached: how many opportunities entered it at least once.
        current: how many are in it now.
        value: the total amount of those in it now, in the funnel's currency (None when the
            funnel has no currency: nothing counted and none asked for).
        conversion: of those that reached it, the fraction that also reached the next stage of
            the path; None for the last stage or when none reached it.
        average_seconds: the average time, in seconds (exact to the microsecond, half up), of
            the completed stays in it (entered and then left); None when there were none.
    """

    key: str
    reached: int
    current: int
    value: Money | None
    conversion: Decimal | None
    average_seconds: Decimal | None


@attrs.frozen
class FunnelWarning:
    """A conversion below the funnel's threshold.

    Attributes:
        from_stage: the stage converted from (the first stage for opportunity -> won).
        to_stage: the stage converted to.
        reached: how many reached `from_stage`.
        converted: how many of those reached `to_stage`.
        rate: converted / reached.
        threshold: the threshold it fell below.
    """

    from_stage: str
    to_stage: str
    reached: int
    converted: int
    rate: Decimal
    threshold: Decimal


@attrs.frozen
class Funnel:
    """Where a pipeline's opportunities are, how they convert and where they are lost.

    Attributes:
        pipeline: the pipeline's key.
        currency: the currency of stage values; None when nothing was counted and none given.
        opportunities: how many opportunities were counted.
        stages: one `FunnelStage` per stage of the pipeline's path, in order.
        won: how many are won now.
        overall: won / opportunities (opportunity -> won); None when none were counted.
        lost_from: lost deals counted by the stage they were lost from.
        lost_reasons: lost deals counted by reason.
        lost_to: lost deals counted by winning competitor (deals without one are left out).
        warnings: each conversion below the threshold, stage by stage, then opportunity -> won.
        rates: the exchange rates used for stage values, ordered by pair and date.
    """

    pipeline: str
    currency: str | None
    opportunities: int
    stages: tuple[FunnelStage, ...]
    won: int
    overall: Decimal | None
    lost_from: dict[str, int]
    lost_reasons: dict[str, int]
    lost_to: dict[str, int]
    warnings: tuple[FunnelWarning, ...]
    rates: tuple[ExchangeRate, ...] = ()


def funnel(
    opportunities: Iterable[Opportunity],
    pipeline: Pipeline,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    owner: str | None = None,
    rates: ExchangeRates | None = None,
    currency: str | None = None,
    threshold: Decimal = Decimal("0.15"),
) -> Funnel:
    """The funnel of `pipeline` over `opportunities` (those of other pipelines are ignored).

    An opportunity reached a stage if its history enters it at least once. A lost deal was lost
    from the stage before its last entry. Stage values are in `currency`, or in the one currency
    of the counted amounts; several currencies need `rates` and `currency`, each amount converted
    at the rate on its expected close date.

    Args:
        opportunities: the deals.
        pipeline: the pipeline whose deals are counted.
        start: count only deals created (first history entry) at or after it.
        end: count only deals created before it.
        owner: count only deals of this owner.
        rates: exchange rates for stage values in several currencies.
        currency: the currency of stage values.
        threshold: conversions below it give a `FunnelWarning`.

    Examples:
        >>> import datetime as dt, pendulum
        >>> from crmkit import Money, new_id
        >>> from crmkit.pipeline import open_opportunity, transactional_pipeline, win
        >>> p = transactional_pipeline()
        >>> deal, _ = open_opportunity(
        ...     p, at=pendulum.datetime(2026, 3, 2), name="10 seats", customer_id=new_id(),
        ...     owner_id="li", amount=Money("900", "CNY"), expected_close=dt.date(2026, 3, 9),
        ...     quote="Q-7")
        >>> _ = win(deal, p, at=pendulum.datetime(2026, 3, 3))
        >>> f = funnel([deal], p)
        >>> [(s.key, s.reached, s.current, str(s.value)) for s in f.stages]
        [('qualified', 1, 0, '0.00 CNY'), ('quoted', 0, 0, '0.00 CNY'), ('won', 1, 1, '900.00 CNY')]
        >>> f.overall, f.stages[0].average_seconds
        (Decimal('1'), Decimal('86400.000000'))

    Raises:
        ValidationError: amounts in several currencies without `rates` and `currency` (named
            `currency`), a filter is invalid, or `threshold` is not a Decimal.
        MissingRate: a rate needed for a stage value is missing.
    """
    if not isinstance(pipeline, Pipeline):
        raise ValidationError.of("pipeline", f"must be a Pipeline, not {type(pipeline).__name__}")
    if not isinstance(threshold, Decimal) or not threshold.is_finite():
        raise ValidationError.of("threshold", "must be a finite Decimal")
    since = None if start is None else to_utc(start, "start")
    until = None if end is None else to_utc(end, "end")
    chosen = [
        o
        for o in opportunities
        if o.pipeline == pipeline.key
        and (owner is None or o.owner_id == owner)
        and (since is None or o.history[0].entered_at >= since)
        and (until is None or o.history[0].entered_at < until)
    ]
    path = [s.key for s in pipeline.path]
    lost = {s.key for s in pipeline.lost_stages}
    unit = _currency(chosen, rates, currency)
    values, used = _values(chosen, path, rates, unit)
    reached = [{i for i, o in enumerate(chosen) if k in {e.stage for e in o.history}} for k in path]
    stays: dict[str, list[int]] = {k: [] for k in path}
    lost_from: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    to: Counter[str] = Counter()
    for o in chosen:
        for a, b in zip(o.history, o.history[1:], strict=False):
            if a.stage in stays:
                stays[a.stage].append(_micros(b.entered_at) - _micros(a.entered_at))
        if o.stage in lost:
            lost_from[o.history[-2].stage] += 1
            reasons[o.lost_reason or ""] += 1
            if o.winning_competitor is not None:
                to[o.winning_competitor] += 1
    stages = []
    warnings = []
    for i, key in enumerate(path):
        rate = None
        if i + 1 < len(path) and reached[i]:
            converted = len(reached[i] & reached[i + 1])
            rate = Decimal(converted) / len(reached[i])
            if rate < threshold:
                warnings.append(
                    FunnelWarning(key, path[i + 1], len(reached[i]), converted, rate, threshold)
                )
        stages.append(
            FunnelStage(
                key=key,
                reached=len(reached[i]),
                current=sum(1 for o in chosen if o.stage == key),
                value=values.get(key),
                conversion=rate,
                average_seconds=_average(stays[key]),
            )
        )
    won = stages[-1].current
    overall = Decimal(won) / len(chosen) if chosen else None
    if overall is not None and overall < threshold:
        warnings.append(FunnelWarning(path[0], path[-1], len(chosen), won, overall, threshold))
    return Funnel(
        pipeline=pipeline.key,
        currency=unit,
        opportunities=len(chosen),
        stages=tuple(stages),
        won=won,
        overall=overall,
        lost_from=dict(sorted(lost_from.items())),
        lost_reasons=dict(sorted(reasons.items())),
        lost_to=dict(sorted(to.items())),
        warnings=tuple(warnings),
        rates=used,
    )


def _currency(
    chosen: list[Opportunity], rates: ExchangeRates | None, currency: str | None
) -> str | None:
    if rates is not None and not isinstance(rates, ExchangeRates):
        raise ValidationError.of("rates", f"must be ExchangeRates, not {type(rates).__name__}")
    found = sorted({o.amount.currency for o in chosen} | ({currency} if currency else set()))
    if len(found) <= 1:
        return found[0] if found else currency
    if rates is None or currency is None:
        raise ValidationError.of(
            "currency",
            f"amounts are in several currencies ({', '.join(found)}): "
            "give rates and the currency to report in",
        )
    return currency


def _values(
    chosen: list[Opportunity], path: list[str], rates: ExchangeRates | None, unit: str | None
) -> tuple[dict[str, Money], tuple[ExchangeRate, ...]]:
    if unit is None:
        return {}, ()
    book = rates if rates is not None else ExchangeRates()
    values: dict[str, Money] = {}
    used: set[ExchangeRate] = set()
    for key in path:
        conversion = book.total(
            [(o.amount, o.expected_close) for o in chosen if o.stage == key], unit
        )
        values[key] = conversion.total
        used.update(conversion.rates)
    return values, tuple(sorted(used, key=lambda r: (r.base, r.quote, r.effective)))


def _micros(instant: dt.datetime) -> int:
    """Microseconds since 0001-01-01 of a UTC instant, exactly."""
    seconds = instant.hour * 3600 + instant.minute * 60 + instant.second
    return (instant.toordinal() * 86400 + seconds) * 1_000_000 + instant.microsecond


def _average(stays: list[int]) -> Decimal | None:
    if not stays:
        return None
    return (Decimal(sum(stays)) / (len(stays) * 1_000_000)).quantize(_MICRO, rounding=ROUND_HALF_UP)
