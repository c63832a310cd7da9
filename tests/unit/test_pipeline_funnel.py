"""The funnel's reference computation in plain Python (issue 16, item 7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit import ExchangeRate, ExchangeRates, Money, new_id
from crmkit.errors import ValidationError
from crmkit.pipeline import (
    FunnelWarning,
    Opportunity,
    StageGateError,
    b2b_pipeline,
    funnel,
    lose,
    move,
    open_opportunity,
    transactional_pipeline,
    win,
)

QUICK = transactional_pipeline()
T0 = pendulum.datetime(2026, 3, 2, 9)
CLOSE = dt.date(2026, 6, 30)


def deal(
    minute: int, amount: str, owner: str = "li", currency: str = "CNY", close: dt.date = CLOSE
) -> Opportunity:
    opportunity, _ = open_opportunity(
        QUICK,
        at=T0.add(minutes=minute),
        name=f"deal {minute}",
        customer_id=new_id(),
        owner_id=owner,
        amount=Money(amount, currency),
        expected_close=close,
        quote="Q-1",
    )
    return opportunity


def day(n: int) -> pendulum.DateTime:
    return T0.add(days=n)


def example() -> list[Opportunity]:
    d1, d2, d3, d4, d5 = (
        deal(1, "100"),
        deal(2, "200"),
        deal(3, "300", "wang"),
        deal(4, "400", "wang"),
        deal(5, "500", "wang"),
    )
    move(d1, QUICK, "quoted", at=day(1))
    win(d1, QUICK, at=day(3))
    move(d2, QUICK, "quoted", at=day(2))
    lose(d2, QUICK, at=day(4), reason="price", competitor="acme")
    lose(d3, QUICK, at=day(1), reason="no budget")
    win(d5, QUICK, at=day(2))
    return [d1, d2, d3, d4, d5]


def test_worked_example_with_exact_figures() -> None:
    f = funnel(example(), QUICK)
    assert f.opportunities == 5
    assert f.currency == "CNY"
    assert [(s.key, s.reached, s.current, s.value) for s in f.stages] == [
        ("qualified", 5, 1, Money("400", "CNY")),
        ("quoted", 2, 0, Money("0", "CNY")),
        ("won", 2, 2, Money("600", "CNY")),
    ]
    assert [s.conversion for s in f.stages] == [Decimal("0.4"), Decimal("0.5"), None]
    # qualified: 1 day (d1), 2 (d2), 1 (d3, lost from it), 2 (d5) minus the creation minutes
    day_s = 86400
    qualified = Decimal((day_s - 60) + (2 * day_s - 120) + (day_s - 180) + (2 * day_s - 300)) / 4
    assert f.stages[0].average_seconds == qualified
    assert f.stages[1].average_seconds == Decimal(2 * day_s)
    assert f.stages[2].average_seconds is None
    assert (f.won, f.overall) == (2, Decimal("0.4"))
    assert f.lost_from == {"qualified": 1, "quoted": 1}
    assert f.lost_reasons == {"no budget": 1, "price": 1}
    assert f.lost_to == {"acme": 1}
    assert f.warnings == ()
    assert f.rates == ()


def test_warnings_name_each_conversion_below_the_threshold() -> None:
    f = funnel(example(), QUICK, threshold=Decimal("0.45"))
    assert f.warnings == (
        FunnelWarning("qualified", "quoted", 5, 2, Decimal("0.4"), Decimal("0.45")),
        FunnelWarning("qualified", "won", 5, 2, Decimal("0.4"), Decimal("0.45")),
    )
    assert funnel(example(), QUICK, threshold=Decimal("0.4")).warnings == ()
    one = deal(9, "1")
    lose(one, QUICK, at=day(1), reason="gone")
    assert [(w.from_stage, w.to_stage, w.rate) for w in funnel([one], QUICK).warnings] == [
        ("qualified", "quoted", Decimal(0)),
        ("qualified", "won", Decimal(0)),
    ]
    with pytest.raises(ValidationError) as caught:
        funnel([], QUICK, threshold=0.2)  # type: ignore[arg-type]
    assert caught.value.issues[0].path == "threshold"


def test_filters_by_creation_period_owner_and_pipeline() -> None:
    other, _ = open_opportunity(
        b2b_pipeline(),
        at=T0,
        name="elsewhere",
        customer_id=new_id(),
        owner_id="li",
        amount=Money("1", "USD"),
        expected_close=CLOSE,
    )
    deals = [*example(), other]
    assert funnel(deals, QUICK).opportunities == 5
    li = funnel(deals, QUICK, owner="li")
    assert (li.opportunities, li.won, li.lost_from) == (2, 1, {"quoted": 1})
    window = funnel(deals, QUICK, start=T0.add(minutes=2), end=T0.add(minutes=4))
    assert (window.opportunities, [s.reached for s in window.stages]) == (2, [2, 1, 0])
    assert funnel(deals, QUICK, start=T0.add(minutes=6)).opportunities == 0
    with pytest.raises(ValidationError) as caught:
        funnel(deals, QUICK, start="today")  # type: ignore[arg-type]
    assert caught.value.issues[0].path == "start"


def test_empty_funnel_has_no_rates_and_no_value_unless_a_currency_is_given() -> None:
    f = funnel([], QUICK)
    assert (f.opportunities, f.currency, f.overall, f.warnings) == (0, None, None, ())
    assert [(s.reached, s.value, s.conversion, s.average_seconds) for s in f.stages] == [
        (0, None, None, None)
    ] * 3
    assert [s.value for s in funnel([], QUICK, currency="USD").stages] == [Money(0, "USD")] * 3


def test_several_currencies_need_rates_and_a_currency() -> None:
    usd = deal(1, "100", currency="USD", close=dt.date(2026, 2, 14))
    cny = deal(2, "50")
    late = deal(3, "10", currency="USD", close=dt.date(2026, 3, 2))
    for kwargs in ({}, {"currency": "CNY"}, {"rates": ExchangeRates()}):
        with pytest.raises(ValidationError) as caught:
            funnel([usd, cny], QUICK, **kwargs)
        assert caught.value.issues[0].path == "currency"
    with pytest.raises(ValidationError) as caught:
        funnel([cny], QUICK, currency="USD")
    assert caught.value.issues[0].path == "currency"
    jan = ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.20")
    mar = ExchangeRate("USD", "CNY", dt.date(2026, 3, 1), "7.10")
    f = funnel([usd, cny, late], QUICK, rates=ExchangeRates([jan, mar]), currency="CNY")
    assert f.stages[0].value == Money("841.00", "CNY")  # 720 + 50 + 71
    assert f.stages[1].value == Money("0", "CNY")
    assert f.rates == (jan, mar)
    single = funnel([usd], QUICK, rates=ExchangeRates([jan]), currency="USD")
    assert (single.stages[0].value, single.rates) == (Money("100", "USD"), ())
    with pytest.raises(ValidationError) as caught:
        funnel([usd], QUICK, rates={"USD": 7})  # type: ignore[arg-type]
    assert caught.value.issues[0].path == "rates"


@st.composite
def journeys(draw: st.DrawFn) -> list[Opportunity]:
    deals = []
    for i in range(draw(st.integers(0, 8))):
        opportunity = deal(i, str(draw(st.integers(1, 999))), draw(st.sampled_from(["li", "wang"])))
        minutes = 10
        for step in draw(
            st.lists(st.sampled_from(["quoted", "qualified", "won", "lost"]), max_size=4)
        ):
            minutes += draw(st.integers(1, 3000))
            at = T0.add(minutes=minutes)
            try:
                if step == "won":
                    win(opportunity, QUICK, at=at)
                elif step == "lost":
                    lose(
                        opportunity,
                        QUICK,
                        at=at,
                        reason=draw(st.sampled_from("ab")),
                        competitor=draw(st.sampled_from([None, "acme"])),
                    )
                else:
                    move(opportunity, QUICK, step, at=at)
            except (StageGateError, ValidationError):
                pass
        deals.append(opportunity)
    return deals


@settings(max_examples=60, deadline=None)
@given(journeys(), st.sampled_from([None, "li"]))
def test_law_matches_a_naive_recomputation(deals: list[Opportunity], owner: str | None) -> None:
    f = funnel(deals, QUICK, owner=owner, threshold=Decimal("0.5"))
    mine = [o for o in deals if owner is None or o.owner_id == owner]
    keys = ["qualified", "quoted", "won"]
    assert f.opportunities == len(mine)
    for i, s in enumerate(f.stages):
        went = [o for o in mine if keys[i] in [e.stage for e in o.history]]
        assert s.reached == len(went)
        now = [o for o in mine if o.stage == keys[i]]
        assert s.current == len(now)
        if mine:
            assert s.value == Money(sum(o.amount.amount for o in now), "CNY")
        if i < 2 and went:
            on = [o for o in went if keys[i + 1] in [e.stage for e in o.history]]
            assert s.conversion == Decimal(len(on)) / Decimal(len(went))
        else:
            assert s.conversion is None
        stays = [
            (b.entered_at - a.entered_at).total_seconds()
            for o in mine
            for a, b in zip(o.history, o.history[1:], strict=False)
            if a.stage == keys[i]
        ]
        if stays:
            assert s.average_seconds is not None
            assert abs(float(s.average_seconds) - sum(stays) / len(stays)) < 1e-6
        else:
            assert s.average_seconds is None
    lost = [o for o in mine if o.stage == "lost"]
    assert sum(f.lost_from.values()) == sum(f.lost_reasons.values()) == len(lost)
    for o in lost:
        assert o.history[-2].stage in f.lost_from
    assert f.lost_to.get("acme", 0) == sum(1 for o in lost if o.winning_competitor == "acme")
    won = sum(1 for o in mine if o.stage == "won")
    assert f.won == won
    assert f.overall == (Decimal(won) / len(mine) if mine else None)
    expected = [s.conversion for s in f.stages if s.conversion is not None] + (
        [f.overall] if f.overall is not None else []
    )
    assert [w.rate for w in f.warnings] == [r for r in expected if r < Decimal("0.5")]
