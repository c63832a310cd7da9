"""Exchange rates: each amount at the rate in force on its date, every rate used named, no guess."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import ExchangeRate, ExchangeRates, Money
from crmkit.errors import MissingRate, ValidationError

JAN, MAR = dt.date(2026, 1, 1), dt.date(2026, 3, 1)
RATES = ExchangeRates(
    [
        ExchangeRate("USD", "CNY", JAN, "7.20"),
        ExchangeRate("USD", "CNY", MAR, "7.10"),
        ExchangeRate("CNY", "JPY", JAN, "20.5"),
    ]
)


def test_an_amount_is_converted_at_the_rate_in_force_on_its_date() -> None:
    assert RATES.rate("USD", "CNY", dt.date(2026, 2, 28)) == Decimal("7.20")
    assert RATES.rate("USD", "CNY", MAR) == Decimal("7.10")
    assert RATES.convert(Money("10.01", "USD"), "CNY", on=MAR) == Money("71.07", "CNY")
    assert RATES.convert(Money(3, "CNY"), "CNY", on=JAN) == Money(3, "CNY")


def test_the_opposite_pair_is_used_inverted() -> None:
    assert RATES.convert(Money("720", "CNY"), "USD", on=JAN) == Money(100, "USD")
    assert RATES.convert(Money(1000, "JPY"), "CNY", on=JAN) == Money("48.78", "CNY")


@pytest.mark.parametrize(
    ("base", "quote", "on"),
    [("USD", "CNY", dt.date(2025, 12, 31)), ("EUR", "CNY", MAR), ("USD", "JPY", MAR)],
)
def test_a_missing_rate_names_the_pair_and_the_date(base: str, quote: str, on: dt.date) -> None:
    with pytest.raises(MissingRate) as caught:
        RATES.convert(Money(1, base), quote, on=on)
    assert (caught.value.base, caught.value.quote, caught.value.on) == (base, quote, on)
    assert str(caught.value) == f"no exchange rate from {base} to {quote} is in force on {on}"


def test_a_total_says_which_rates_it_used() -> None:
    deals = [
        (Money(100, "USD"), dt.date(2026, 3, 2)),
        (Money(100, "USD"), dt.date(2026, 1, 9)),
        (Money("0.5", "CNY"), dt.date(2026, 1, 9)),
    ]
    found = RATES.total(deals, "CNY")
    assert found.total == Money("1430.50", "CNY")
    assert [(r.effective, r.rate) for r in found.rates] == [
        (JAN, Decimal("7.20")),
        (MAR, Decimal("7.10")),
    ]
    with pytest.raises(MissingRate, match="from EUR to CNY"):
        RATES.total([*deals, (Money(1, "EUR"), MAR)], "CNY")


def test_a_later_rate_of_the_same_pair_and_date_replaces_the_earlier() -> None:
    rates = ExchangeRates(
        [ExchangeRate("USD", "CNY", JAN, "7"), ExchangeRate("USD", "CNY", JAN, "8")]
    )
    assert rates.rate("USD", "CNY", MAR) == 8


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ExchangeRate("USD", "usd", JAN, "7"), "quote"),
        (lambda: ExchangeRate("XXQ", "CNY", JAN, "7"), "base"),
        (lambda: ExchangeRate("USD", "USD", JAN, "1"), "quote"),
        (lambda: ExchangeRate("USD", "CNY", JAN, 7.2), "rate"),
        (lambda: ExchangeRate("USD", "CNY", JAN, "0"), "rate"),
        (lambda: ExchangeRate("USD", "CNY", JAN, "NaN"), "rate"),
        (lambda: ExchangeRate("USD", "CNY", dt.datetime(2026, 1, 1), "7"), "effective"),
        (lambda: ExchangeRates("USD"), "rates"),  # type: ignore[arg-type]
        (lambda: ExchangeRates([("USD", "CNY")]), "rates[0]"),  # type: ignore[list-item]
        (lambda: RATES.rate(["USD"], "CNY", JAN), "base"),  # type: ignore[arg-type]
        (lambda: RATES.rate("USD", {}, JAN), "quote"),  # type: ignore[arg-type]
        (lambda: RATES.rate("USD", "CNY", "2026-01-01"), "on"),  # type: ignore[arg-type]
        (lambda: RATES.convert(Money(1, "USD"), "yuan", on=JAN), "to"),
        (lambda: RATES.convert(1, "CNY", on=JAN), "money"),  # type: ignore[arg-type]
        (lambda: RATES.total([(Money(1, "USD"), "2026-01-01")], "CNY"), "amounts[0]"),  # type: ignore[list-item]
        (lambda: RATES.total([Money(1, "USD")], "CNY"), "amounts[0]"),  # type: ignore[list-item]
    ],
)
def test_bad_input_is_refused_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.issues[0].path == field


amounts = st.decimals(min_value=0, max_value=10**9, places=2).map(lambda d: Money(d, "USD"))
days = st.dates(min_value=JAN, max_value=dt.date(2026, 12, 31))


@given(st.lists(st.tuples(amounts, days), max_size=20))
def test_a_total_is_the_exact_sum_of_each_amount_times_its_rate_rounded_once(
    deals: list[tuple[Money, dt.date]],
) -> None:
    found = RATES.total(deals, "CNY")
    exact = sum(
        (m.amount * (Decimal("7.20") if on < MAR else Decimal("7.10")) for m, on in deals),
        Decimal(0),
    )
    assert found.total == Money.rounded(exact, "CNY")
    assert {r.effective for r in found.rates} == {JAN if on < MAR else MAR for _, on in deals}
