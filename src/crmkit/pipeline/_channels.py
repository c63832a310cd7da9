"""The channel report, computed in plain Python: the reference the stores must match.

Where do customers come from? Per source channel (a lead's `source`, an opportunity's
`source`): how many leads came in, how many were converted, and what the deals from that
channel won.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._money import Money
from crmkit._rates import ExchangeRate, ExchangeRates
from crmkit._validation import key_text
from crmkit.errors import ValidationError
from crmkit.pipeline._funnel import funnel_currency
from crmkit.pipeline._leads import Lead, LeadStatus
from crmkit.pipeline._opportunities import Opportunity
from crmkit.pipeline._stages import Pipeline

__all__ = ["ChannelReport", "ChannelRow", "channel_report"]

_key = key_text(max_length=64)


@attrs.frozen
class ChannelRow:
    """One source channel in a `ChannelReport`.

    Attributes:
        channel: the channel's key (``"trade_show"``).
        leads: how many leads came from it.
        converted: how many of those are converted.
        conversion: converted / leads; None when no lead came from it.
        won: how many won deals came from it.
        revenue: what those deals are worth, in the report's currency (None when the report
            has no currency: no won deal counted and none asked for).
    """

    channel: str
    leads: int
    converted: int
    conversion: Decimal | None
    won: int
    revenue: Money | None


@attrs.frozen
class ChannelReport:
    """Leads, their conversion and the revenue won, per source channel.

    Attributes:
        currency: the currency of revenues; None when no won deal was counted and none given.
        channels: one `ChannelRow` per channel with a lead or a won deal, by channel key.
        leads: how many leads were counted.
        converted: how many of those are converted.
        conversion: converted / leads; None when no lead was counted.
        won: how many won deals were counted.
        revenue: the sum of the channels' revenues.
        rates: the exchange rates used, ordered by pair and date.
    """

    currency: str | None
    channels: tuple[ChannelRow, ...]
    leads: int
    converted: int
    conversion: Decimal | None
    won: int
    revenue: Money | None
    rates: tuple[ExchangeRate, ...] = ()


def channel_report(
    leads: Iterable[Lead],
    opportunities: Iterable[Opportunity],
    pipelines: Pipeline | Iterable[Pipeline],
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    owner: str | None = None,
    rates: ExchangeRates | None = None,
    currency: str | None = None,
) -> ChannelReport:
    """Per source channel: the leads, how many were converted, and the revenue won.

    A lead counts if it was created (`Lead.created_at`) in the period and, with `owner`, if
    that salesperson owns it; its channel is its `source`. A deal counts as won if it is in
    the won stage of its pipeline, one of `pipelines` (deals of other pipelines are left out:
    that is the pipeline filter), was created (its first history entry) in the period and,
    with `owner`, is that salesperson's; its channel is its own `source` (deals without one
    are left out: they came from no channel). Revenues are in `currency`, or in the one
    currency of the won deals; several currencies need `rates` and `currency`, each amount
    converted at the rate on the deal's expected close date, and each channel's revenue
    rounded once.

    Args:
        leads: the leads.
        opportunities: the deals.
        pipelines: the pipeline, or pipelines, whose won deals count.
        start: count only leads and deals created at or after it.
        end: count only leads and deals created before it (a lead without `created_at`
            counts only when neither `start` nor `end` is given).
        owner: count only the leads and deals of this salesperson.
        rates: exchange rates for revenues in several currencies.
        currency: the currency of revenues.

    Examples:
        >>> import datetime as dt, pendulum
        >>> from crmkit import Money, new_id
        >>> from crmkit.pipeline import Lead, open_opportunity, transactional_pipeline, win
        >>> p, at = transactional_pipeline(), pendulum.datetime(2026, 3, 2)
        >>> leads = [Lead(name="Zhao Lei", source="trade_show", created_at=at),
        ...          Lead(name="Chen Jie", source="website", created_at=at)]
        >>> leads[0].mark_converted(new_id())
        >>> deal, _ = open_opportunity(
        ...     p, at=at, name="10 seats", customer_id=new_id(), owner_id="li",
        ...     amount=Money("900", "CNY"), expected_close=dt.date(2026, 3, 9), quote="Q-7",
        ...     source="trade_show")
        >>> _ = win(deal, p, at=at.add(days=1))
        >>> report = channel_report(leads, [deal], p)
        >>> for c in report.channels:
        ...     print(c.channel, c.leads, c.converted, c.conversion, c.won, c.revenue)
        trade_show 1 1 1 1 900.00 CNY
        website 1 0 0 0 0.00 CNY
        >>> report.conversion, str(report.revenue)
        (Decimal('0.5'), '900.00 CNY')

    Raises:
        ValidationError: a filter or `pipelines` is invalid, or won amounts are in several
            currencies without `rates` and `currency` (named ``currency``).
        MissingRate: a rate needed to convert a revenue is missing.
    """
    won_stages, since, until = channel_filters(pipelines, start, end, owner)
    counted = [
        lead
        for lead in leads
        if (owner is None or lead.owner_id == owner)
        and (since is None or (lead.created_at is not None and lead.created_at >= since))
        and (until is None or (lead.created_at is not None and lead.created_at < until))
    ]
    won = [
        o
        for o in opportunities
        if won_stages.get(o.pipeline) == o.stage
        and o.source is not None
        and (owner is None or o.owner_id == owner)
        and (since is None or o.history[0].entered_at >= since)
        and (until is None or o.history[0].entered_at < until)
    ]
    tally = ChannelTally(
        leads=dict(Counter(lead.source for lead in counted)),
        converted=dict(
            Counter(lead.source for lead in counted if lead.status is LeadStatus.CONVERTED)
        ),
        won=dict(Counter(o.source for o in won if o.source is not None)),
    )
    unit = funnel_currency({o.amount.currency for o in won}, rates, currency)
    revenues: dict[str, Money] = {}
    used: set[ExchangeRate] = set()
    if unit is not None:
        book = rates if rates is not None else ExchangeRates()
        for channel in tally.channels():
            conversion = book.total(
                [(o.amount, o.expected_close) for o in won if o.source == channel], unit
            )
            revenues[channel] = conversion.total
            used.update(conversion.rates)
    ordered = tuple(sorted(used, key=lambda r: (r.base, r.quote, r.effective)))
    return assemble_channels(tally, unit=unit, revenues=revenues, used=ordered)


@attrs.frozen
class ChannelTally:
    """What a channel report counts, however it was counted (in Python, or in SQL).

    Attributes:
        leads: leads by channel.
        converted: converted leads by channel.
        won: won deals by channel.
    """

    leads: dict[str, int]
    converted: dict[str, int]
    won: dict[str, int]

    def channels(self) -> list[str]:
        """Every channel with a lead or a won deal, in key order."""
        return sorted(set(self.leads) | set(self.won))


def channel_filters(
    pipelines: object, start: object, end: object, owner: object
) -> tuple[dict[str, str], pendulum.DateTime | None, pendulum.DateTime | None]:
    """Check a channel report's filters: the won stage by pipeline key, and the period in UTC."""
    chosen = [pipelines] if isinstance(pipelines, Pipeline) else pipelines
    if isinstance(chosen, str | bytes) or not isinstance(chosen, Iterable):
        raise ValidationError.of(
            "pipelines", f"must be a Pipeline or a collection of them, not {type(chosen).__name__}"
        )
    won: dict[str, str] = {}
    for i, p in enumerate(chosen):
        if not isinstance(p, Pipeline):
            raise ValidationError.of(
                f"pipelines[{i}]", f"must be a Pipeline, not {type(p).__name__}"
            )
        won[p.key] = p.won_stage.key
    if owner is not None and (problem := _key(owner)) is not None:
        raise ValidationError.of("owner", problem)
    since = None if start is None else to_utc(start, "start")
    until = None if end is None else to_utc(end, "end")
    return won, since, until


def assemble_channels(
    tally: ChannelTally,
    *,
    unit: str | None,
    revenues: dict[str, Money],
    used: tuple[ExchangeRate, ...],
) -> ChannelReport:
    """The `ChannelReport` of what `tally` counted, with revenues in `unit`."""
    rows = []
    for channel in tally.channels():
        leads = tally.leads.get(channel, 0)
        converted = tally.converted.get(channel, 0)
        rows.append(
            ChannelRow(
                channel=channel,
                leads=leads,
                converted=converted,
                conversion=Decimal(converted) / leads if leads else None,
                won=tally.won.get(channel, 0),
                revenue=revenues.get(channel, None if unit is None else Money.rounded(0, unit)),
            )
        )
    leads = sum(tally.leads.values())
    converted = sum(tally.converted.values())
    revenue = None
    if unit is not None:
        revenue = sum((r.revenue for r in rows if r.revenue is not None), Money.rounded(0, unit))
    return ChannelReport(
        currency=unit,
        channels=tuple(rows),
        leads=leads,
        converted=converted,
        conversion=Decimal(converted) / leads if leads else None,
        won=sum(tally.won.values()),
        revenue=revenue,
        rates=used,
    )
