"""The funnel of a pipeline, computed in plain Python: the reference the stores must match."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, Overflow

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._money import Money
from crmkit._rates import ExchangeRate, ExchangeRates, _code
from crmkit._validation import key_text
from crmkit.errors import ValidationError
from crmkit.pipeline._opportunities import Opportunity
from crmkit.pipeline._stages import Pipeline

_MICRO = Decimal("0.000001")
_key = key_text(max_length=64)


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
    since, until = funnel_filters(pipeline, start, end, owner, threshold)
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
    unit = funnel_currency({o.amount.currency for o in chosen}, rates, currency)
    values, used = _values(chosen, path, rates, unit)
    bits = {k: 1 << i for i, k in enumerate(path)}
    reached: Counter[int] = Counter(
        sum(bits[k] for k in {e.stage for e in o.history} if k in bits) for o in chosen
    )
    stays: dict[str, list[int]] = {k: [] for k in path}
    lost_from: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    to: Counter[str] = Counter()
    for o in chosen:
        for a, b in zip(o.history, o.history[1:], strict=False):
            if a.stage in stays:
                stays[a.stage].append(micros(b.entered_at) - micros(a.entered_at))
        if o.stage in lost:
            lost_from[o.history[-2].stage] += 1
            reasons[o.lost_reason or ""] += 1
            if o.winning_competitor is not None:
                to[o.winning_competitor] += 1
    tally = FunnelTally(
        reached=dict(reached),
        current=dict(Counter(o.stage for o in chosen)),
        stays={k: (sum(v), len(v)) for k, v in stays.items() if v},
        lost_from=dict(lost_from),
        lost_reasons=dict(reasons),
        lost_to=dict(to),
    )
    return assemble_funnel(
        pipeline, tally, unit=unit, values=values, used=used, threshold=threshold
    )


@attrs.frozen
class FunnelTally:
    """What a funnel counts, however it was counted (in Python here, in SQL by the stores).

    Attributes:
        reached: how many deals reached each set of path stages, the set as a bit mask (bit i
            for the i-th stage of the pipeline's path).
        current: how many deals are in each stage now.
        stays: per path stage, the total microseconds and the number of completed stays.
        lost_from: lost deals by the stage before their last entry.
        lost_reasons: lost deals by reason ("" for none).
        lost_to: lost deals by winning competitor.
    """

    reached: dict[int, int]
    current: dict[str, int]
    stays: dict[str, tuple[int, int]]
    lost_from: dict[str, int]
    lost_reasons: dict[str, int]
    lost_to: dict[str, int]


def funnel_filters(
    pipeline: object,
    start: dt.datetime | None,
    end: dt.datetime | None,
    owner: object,
    threshold: object,
) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None]:
    """Check a funnel's arguments (as `funnel` does); the period's bounds in UTC."""
    if not isinstance(pipeline, Pipeline):
        raise ValidationError.of("pipeline", f"must be a Pipeline, not {type(pipeline).__name__}")
    if not isinstance(threshold, Decimal) or not threshold.is_finite():
        raise ValidationError.of("threshold", "must be a finite Decimal")
    if owner is not None and (problem := _key(owner)) is not None:
        raise ValidationError.of("owner", problem)
    since = None if start is None else to_utc(start, "start")
    until = None if end is None else to_utc(end, "end")
    return since, until


def assemble_funnel(
    pipeline: Pipeline,
    tally: FunnelTally,
    *,
    unit: str | None,
    values: dict[str, Money],
    used: tuple[ExchangeRate, ...],
    threshold: Decimal,
) -> Funnel:
    """The `Funnel` of what `tally` counted, with stage `values` in `unit` and the rates `used`."""
    path = [s.key for s in pipeline.path]

    def reaching(*positions: int) -> int:
        want = sum(1 << i for i in positions)
        return sum(n for mask, n in tally.reached.items() if mask & want == want)

    total = sum(tally.reached.values())
    stages = []
    warnings = []
    for i, key in enumerate(path):
        rate = None
        here = reaching(i)
        if i + 1 < len(path) and here:
            converted = reaching(i, i + 1)
            rate = Decimal(converted) / here
            if rate < threshold:
                warnings.append(FunnelWarning(key, path[i + 1], here, converted, rate, threshold))
        stay = tally.stays.get(key)
        stages.append(
            FunnelStage(
                key=key,
                reached=here,
                current=tally.current.get(key, 0),
                value=values.get(key),
                conversion=rate,
                average_seconds=None if stay is None else _average(*stay),
            )
        )
    won = stages[-1].current
    overall = Decimal(won) / total if total else None
    if overall is not None and overall < threshold:
        warnings.append(FunnelWarning(path[0], path[-1], total, won, overall, threshold))
    return Funnel(
        pipeline=pipeline.key,
        currency=unit,
        opportunities=total,
        stages=tuple(stages),
        won=won,
        overall=overall,
        lost_from=dict(sorted(tally.lost_from.items())),
        lost_reasons=dict(sorted(tally.lost_reasons.items())),
        lost_to=dict(sorted(tally.lost_to.items())),
        warnings=tuple(warnings),
        rates=used,
    )


def funnel_currency(
    currencies: set[str], rates: ExchangeRates | None, currency: str | None
) -> str | None:
    """The currency of a report's values, given the `currencies` of the amounts it counts.

    The one currency of the amounts (or `currency`, if given); several need `rates` and
    `currency`.

    Raises:
        ValidationError: `rates` is not `ExchangeRates`, `currency` is not an ISO 4217 code
            (named ``to``), or several currencies come without `rates` and `currency` (named
            ``currency``).
    """
    if rates is not None and not isinstance(rates, ExchangeRates):
        raise ValidationError.of("rates", f"must be ExchangeRates, not {type(rates).__name__}")
    found = sorted(currencies | ({currency} if currency else set()))
    if currency is not None:
        _code(currency, "to")
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


def micros(instant: dt.datetime) -> int:
    """Microseconds since 0001-01-01 of a UTC instant, exactly."""
    seconds = instant.hour * 3600 + instant.minute * 60 + instant.second
    return (instant.toordinal() * 86400 + seconds) * 1_000_000 + instant.microsecond


def _average(total: int, count: int) -> Decimal:
    return (Decimal(total) / (count * 1_000_000)).quantize(_MICRO, rounding=ROUND_HALF_UP)


# Wide enough that a sum of amounts times a rate (an inverse rate has 80 digits) is exact.
_WIDE = Context(prec=250, traps=[InvalidOperation, Overflow])


def convert_sums(
    sums: Iterable[tuple[str, str, dt.date, Decimal]],
    keys: Iterable[str],
    rates: ExchangeRates | None,
    unit: str,
) -> tuple[dict[str, Money], tuple[ExchangeRate, ...]]:
    """Totals in `unit` per key of `keys`, from `sums` of amounts (key, currency, date, sum).

    What a store does with amounts it summed in the database, grouped by currency and date:
    each sum is converted at the rate in force on its date, exactly, and each key's total is
    rounded once, as `ExchangeRates.total` rounds the same amounts one by one. (The two
    differ only where that one-by-one sum, kept to 80 digits, and the exact one straddle a
    half of a minor unit: never for rates given in the direction of the conversion.)

    Raises:
        ValidationError: `unit` is not an ISO 4217 code (named ``to``).
        MissingRate: a rate needed is missing (naming the pair and the date).
    """
    book = rates if rates is not None else ExchangeRates()
    totals = dict.fromkeys(keys, Decimal(0))
    _code(unit, "to")
    used: dict[tuple[str, str, dt.date], ExchangeRate] = {}
    for key, code, on, amount in sums:
        if key not in totals:
            continue
        rate, source = book._find(code, unit, on)  # noqa: SLF001 (the rate and where it comes from)
        totals[key] = _WIDE.add(totals[key], _WIDE.multiply(amount, rate))
        if source is not None:
            used[(source.base, source.quote, source.effective)] = source
    return (
        {k: Money.rounded(v, unit) for k, v in totals.items()},
        tuple(used[k] for k in sorted(used)),
    )
