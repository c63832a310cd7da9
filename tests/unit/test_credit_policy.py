"""The credit-limit policy (issue 17, item 3): tiers, payment history, temporary increases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import Money
from crmkit.credit import (
    CreditPolicy,
    ExposurePart,
    PaymentHistory,
    TemporaryIncrease,
    credit_limit,
)
from crmkit.customers import DEFAULT_TIERS, Tier
from crmkit.errors import ValidationError

T0 = pendulum.datetime(2026, 3, 1)


def cny(amount: str | int) -> Money:
    return Money(amount, "CNY")


def increase(amount: str, start: int, end: int, currency: str = "CNY") -> TemporaryIncrease:
    return TemporaryIncrease(
        amount=Money(amount, currency),
        valid_from=T0.add(days=start),
        valid_until=T0.add(days=end),
        reason="trade fair",
        approved_by="zhang.wei",
    )


def field_of(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [issue.path for issue in error.value.issues]


# --- strategies --------------------------------------------------------------------------------

CURRENCIES = st.sampled_from(["CNY", "JPY", "BHD"])
RATES = st.none() | st.integers(0, 100).map(lambda n: Decimal(n) / 100)
DSOS = st.none() | st.integers(0, 2000).map(lambda n: Decimal(n) / 10)
HISTORIES = st.builds(PaymentHistory, on_time_rate=RATES, dso_days=DSOS)


@st.composite
def bases(draw: st.DrawFn, currency: str | None = None) -> Money:
    code = currency or draw(CURRENCIES)
    units = draw(st.integers(0, 10**14))
    places = {"CNY": 2, "JPY": 0, "BHD": 3}[code]
    return Money(Decimal(units).scaleb(-places), code)


@st.composite
def increases(draw: st.DrawFn, currency: str) -> TemporaryIncrease:
    start = draw(st.integers(-100, 100))
    length = draw(st.integers(1, 100))
    amount = draw(bases(currency).filter(lambda m: m.amount > 0))
    return TemporaryIncrease(
        amount=amount,
        valid_from=T0.add(days=start),
        valid_until=T0.add(days=start + length),
        reason="season",
        approved_by="zhang.wei",
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Money, PaymentHistory, list[TemporaryIncrease]]:
    base = draw(bases())
    granted = draw(st.lists(increases(base.currency), max_size=4))
    return base, draw(HISTORIES), granted


# --- the worked example and the defaults --------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    policy = CreditPolicy()
    assert policy.tier_adjustments == {
        "A": Decimal("0.5"),
        "B": Decimal(0),
        "C": Decimal("-0.3"),
    }
    assert (policy.good_on_time_rate, policy.good_payer_adjustment) == (
        Decimal("0.95"),
        Decimal("0.1"),
    )
    assert (policy.poor_on_time_rate, policy.poor_payer_adjustment) == (
        Decimal("0.7"),
        Decimal("-0.2"),
    )
    assert (policy.dso_days, policy.slow_payer_adjustment) == (60, Decimal("-0.1"))
    assert policy.overdue_days == 30
    assert policy.warn_at == Decimal("0.9")
    assert policy.exposure == {ExposurePart.INVOICES, ExposurePart.ORDERS}


def test_every_step_with_its_figures() -> None:
    result = credit_limit(
        cny(100000),
        tier=DEFAULT_TIERS["A"],
        history=PaymentHistory(on_time_rate=Decimal("0.96"), dso_days=Decimal("61")),
        increases=[increase("20000", -5, 10), increase("5000", -30, -1), increase("7000", 3, 9)],
        at=T0,
    )
    assert [(s.rule, s.adjustment, s.change, s.limit) for s in result.steps] == [
        ("tier", Decimal("0.50"), cny(50000), cny(150000)),
        ("on_time", Decimal("0.10"), cny(15000), cny(165000)),
        ("dso", Decimal("-0.10"), cny(-16500), cny(148500)),
        ("increase", None, cny(0), cny(148500)),  # expired the day before
        ("increase", None, cny(20000), cny(168500)),
        ("increase", None, cny(0), cny(168500)),  # not started
    ]
    assert result.limit == cny(168500)
    assert result.base == cny(100000)
    assert result.at == T0
    assert "expired" in result.steps[3].description
    assert "not started" in result.steps[5].description
    assert result.explain()[0] == "base limit 100,000.00 CNY"
    assert result.explain()[1] == "tier: tier A: +50% -> 150,000.00 CNY"


@pytest.mark.parametrize(
    ("tier", "limit"),
    [("A", "15000.00"), ("B", "10000.00"), ("C", "7000.00"), (None, "10000.00"), ("D", "10000.00")],
)
def test_tier_adjustments(tier: str | None, limit: str) -> None:
    assert credit_limit(cny(10000), tier=tier).limit == cny(limit)


def test_unknown_facts_leave_the_limit_unchanged_and_say_so() -> None:
    result = credit_limit(cny(10000), tier=Tier(code="Z"))
    assert result.limit == cny(10000)
    assert [s.description for s in result.steps] == [
        "tier 'Z' has no adjustment in the policy: unchanged",
        "on-time payment rate unknown: unchanged",
        "days sales outstanding unknown: unchanged",
    ]


def test_tier_adjustments_are_data_a_host_changes() -> None:
    policy = CreditPolicy(tier_adjustments={"A": Decimal("1"), "VIP": Decimal("2.5")})
    assert credit_limit(cny(1000), tier="VIP", policy=policy).limit == cny(3500)
    assert credit_limit(cny(1000), tier="A", policy=policy).limit == cny(2000)
    assert credit_limit(cny(1000), tier="C", policy=policy).limit == cny(1000)


@pytest.mark.parametrize(
    ("rate", "dso", "limit"),
    [
        ("0.95", "60", "1100.00"),  # at the good threshold, DSO at (not over) 60
        ("0.9499", "60.01", "900.00"),  # in between; DSO just over
        ("0.70", None, "1000.00"),  # at the poor threshold: not below it
        ("0.6999", None, "800.00"),
        (None, "400", "900.00"),
    ],
)
def test_payment_history_thresholds(rate: str | None, dso: str | None, limit: str) -> None:
    history = PaymentHistory(
        on_time_rate=None if rate is None else Decimal(rate),
        dso_days=None if dso is None else Decimal(dso),
    )
    assert credit_limit(cny(1000), history=history).limit == cny(limit)


def test_each_step_rounds_down_to_the_currency_minor_units() -> None:
    history = PaymentHistory(on_time_rate=Decimal("0.5"))  # -20%
    # 33 333 JPY x 0.7 = 23 333.1 -> 23 333; x 0.8 = 18 666.4 -> 18 666
    result = credit_limit(Money(33333, "JPY"), tier="C", history=history)
    assert [s.limit for s in result.steps[:2]] == [Money(23333, "JPY"), Money(18666, "JPY")]
    # 0.011 BHD x 1.5 = 0.0165 -> 0.016
    assert credit_limit(Money("0.011", "BHD"), tier="A").limit == Money("0.016", "BHD")


def test_an_increase_counts_from_its_start_and_not_at_its_end() -> None:
    spring = increase("500", 0, 10)
    at = {  # the instant: whether it counts
        T0.subtract(microseconds=1): False,
        T0: True,
        T0.add(days=10).subtract(microseconds=1): True,
        T0.add(days=10): False,
    }
    for moment, counts in at.items():
        limit = credit_limit(cny(1000), increases=[spring], at=moment).limit
        assert limit == (cny(1500) if counts else cny(1000)), moment
        assert spring.in_force(moment) is counts
    assert spring.expired(T0.add(days=10))
    assert not spring.expired(T0.add(days=9))


def test_an_increase_converts_an_aware_datetime_to_utc() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    spring = TemporaryIncrease(
        amount=cny(1),
        valid_from=dt.datetime(2026, 3, 1, 8, tzinfo=shanghai),
        valid_until=dt.datetime(2026, 3, 2, 8, tzinfo=shanghai),
        reason="fair",
        approved_by="li",
    )
    assert spring.valid_from == T0
    assert spring.valid_from.tzinfo == pendulum.UTC


# --- laws ---------------------------------------------------------------------------------------


@given(cases())
def test_a_tier_never_gets_less_than_the_one_below(
    case: tuple[Money, PaymentHistory, list[TemporaryIncrease]],
) -> None:
    base, history, granted = case
    a, b, c = (
        credit_limit(base, tier=tier, history=history, increases=granted, at=T0).limit
        for tier in "ABC"
    )
    assert a >= b >= c


@given(cases())
def test_the_limit_is_the_base_plus_the_steps_and_never_negative(
    case: tuple[Money, PaymentHistory, list[TemporaryIncrease]],
) -> None:
    base, history, granted = case
    result = credit_limit(base, tier="C", history=history, increases=granted, at=T0)
    assert result.limit.amount >= 0
    assert result.limit.currency == base.currency
    assert base + sum((s.change for s in result.steps), Money.zero(base.currency)) == result.limit
    previous = base
    for step in result.steps:
        assert previous + step.change == step.limit
        previous = step.limit
    # Money itself refuses amounts finer than the currency's minor units: every figure is one.
    assert all(isinstance(s.limit, Money) for s in result.steps)


@given(cases())
def test_expired_increases_never_count(
    case: tuple[Money, PaymentHistory, list[TemporaryIncrease]],
) -> None:
    base, history, granted = case
    in_force = [i for i in granted if i.in_force(T0)]
    with_all = credit_limit(base, history=history, increases=granted, at=T0).limit
    only_in_force = credit_limit(base, history=history, increases=in_force, at=T0).limit
    without = credit_limit(base, history=history).limit
    assert with_all == only_in_force
    assert with_all == without + sum((i.amount for i in in_force), Money.zero(base.currency))


@given(bases(), HISTORIES, HISTORIES)
def test_paying_better_never_lowers_the_limit(
    base: Money, one: PaymentHistory, other: PaymentHistory
) -> None:
    # "Better": a higher on-time rate and a lower DSO, where both are known.
    if None in (one.on_time_rate, other.on_time_rate, one.dso_days, other.dso_days):
        return
    assert one.on_time_rate is not None
    assert other.on_time_rate is not None
    assert one.dso_days is not None
    assert other.dso_days is not None
    better = PaymentHistory(
        on_time_rate=max(one.on_time_rate, other.on_time_rate),
        dso_days=min(one.dso_days, other.dso_days),
    )
    worse = PaymentHistory(
        on_time_rate=min(one.on_time_rate, other.on_time_rate),
        dso_days=max(one.dso_days, other.dso_days),
    )
    assert credit_limit(base, history=better).limit >= credit_limit(base, history=worse).limit


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"base": cny(-1)}, "base"),
        ({"base": "1000"}, "base"),
        ({"tier": 3}, "tier"),
        ({"tier": " A"}, "tier"),
        ({"history": {"on_time_rate": Decimal(1)}}, "history"),
        ({"policy": "strict"}, "policy"),
        ({"increases": increase("1", 0, 1)}, "increases"),
        ({"increases": [increase("1", 0, 1), "more"], "at": T0}, "increases[1]"),
        (
            {"increases": [increase("1", 0, 1), increase("1", 0, 1, "USD")], "at": T0},
            "increases[1].amount",
        ),
        ({"increases": [increase("1", 0, 1)]}, "at"),
        ({"at": dt.datetime(2026, 3, 1)}, "at"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], path: str) -> None:
    arguments: dict[str, object] = {"base": cny(1000), **kwargs}
    with pytest.raises(ValidationError) as error:
        credit_limit(**arguments)  # type: ignore[arg-type]
    assert field_of(error) == [path]


@pytest.mark.parametrize(
    ("kwargs", "paths"),
    [
        ({"tier_adjustments": {"A": Decimal("-1.5")}}, ["tier_adjustments['A']"]),
        ({"tier_adjustments": {"": Decimal(0)}}, ["tier_adjustments['']"]),
        ({"tier_adjustments": [("A", Decimal(0))]}, ["tier_adjustments"]),
        ({"good_payer_adjustment": 0.1}, ["good_payer_adjustment"]),
        ({"good_on_time_rate": Decimal("1.01")}, ["good_on_time_rate"]),
        ({"poor_on_time_rate": Decimal("0.96")}, ["poor_on_time_rate"]),
        ({"dso_days": -1, "overdue_days": True}, ["dso_days", "overdue_days"]),
        ({"warn_at": Decimal("0.1234567")}, ["warn_at"]),
        ({"warn_at": Decimal("NaN")}, ["warn_at"]),
        ({"exposure": []}, ["exposure"]),
        ({"exposure": ["orders"]}, ["exposure"]),
    ],
)
def test_a_bad_policy_names_every_bad_field(kwargs: dict[str, object], paths: list[str]) -> None:
    with pytest.raises(ValidationError) as error:
        CreditPolicy(**kwargs)  # type: ignore[arg-type]
    assert field_of(error) == paths


def test_bad_history_and_increases_name_the_field() -> None:
    with pytest.raises(ValidationError) as error:
        PaymentHistory(on_time_rate=Decimal("1.5"), dso_days=Decimal(-1))
    assert field_of(error) == ["on_time_rate", "dso_days"]
    with pytest.raises(ValidationError) as error:
        increase("100", 3, 3)
    assert field_of(error) == ["valid_until"]
    with pytest.raises(ValidationError) as error:
        TemporaryIncrease(
            amount=cny(0),
            valid_from=dt.datetime(2026, 3, 1),
            valid_until=T0,
            reason=" ",
            approved_by="",
        )
    assert field_of(error) == ["amount", "valid_from", "reason", "approved_by"]
