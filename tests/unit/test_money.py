"""Money: exact amounts in one currency."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import Money
from crmkit.errors import CurrencyMismatch, MoneyOperationError, ValidationError
from crmkit.testing import strategies as cs

WIDE = Context(prec=100)


@pytest.mark.parametrize(
    ("currency", "amount", "shown"),
    [
        ("CNY", "12.3", "12.30"),
        ("JPY", "1234", "1234"),
        ("BHD", "1.5", "1.500"),
        ("CLF", "1", "1.0000"),
    ],
)
def test_amounts_carry_exactly_the_currencys_minor_units(
    currency: str, amount: str, shown: str
) -> None:
    assert str(Money(amount, currency).amount) == shown


def test_more_decimal_places_than_the_currency_has_are_refused_not_rounded() -> None:
    with pytest.raises(
        ValidationError, match=r"amount: 1.234 has more decimal places than CNY allows \(2\)"
    ):
        Money("1.234", "CNY")
    with pytest.raises(ValidationError, match="JPY allows"):
        Money("10.5", "JPY")


def test_rounding_happens_only_on_purpose() -> None:
    assert Money.rounded("2.345", "CNY") == Money("2.35", "CNY")
    assert Money.rounded("2.345", "CNY", rounding=ROUND_HALF_EVEN) == Money("2.34", "CNY")
    assert Money.rounded("-2.345", "CNY") == Money("-2.35", "CNY")
    assert Money.rounded("1234.5", "JPY") == Money(1235, "JPY")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0.1, "is a float"),
        (True, "not bool"),
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("1,000.00", "not a decimal number"),
        ([1], "not list"),
        ("1e40", "too large"),
    ],
)
def test_bad_amounts_get_a_clear_error(value: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=f"amount: .*{problem}"):
        Money(value, "CNY")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["XXX", "cny", "", "RMB", 156])
def test_unknown_currencies_are_refused(currency: object) -> None:
    with pytest.raises(ValidationError, match="currency"):
        Money(1, currency)  # type: ignore[arg-type]


def test_currencies_never_mix_silently() -> None:
    cny, usd = Money(1, "CNY"), Money(1, "USD")
    with pytest.raises(CurrencyMismatch, match="cannot add CNY and USD"):
        _ = cny + usd
    with pytest.raises(CurrencyMismatch, match="subtract"):
        _ = cny - usd
    with pytest.raises(CurrencyMismatch, match="compare"):
        _ = cny < usd
    with pytest.raises(CurrencyMismatch):
        Money.total([cny, usd], currency="CNY")
    assert cny != usd  # equal amounts of different currencies are different money


def test_floats_are_refused_in_arithmetic_too() -> None:
    with pytest.raises(ValidationError, match="factor: 1.5 is a float"):
        _ = Money(1, "CNY") * 1.5  # type: ignore[operator]
    with pytest.raises(ValidationError, match="factor: .*float"):
        Money(1, "CNY").multiply(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (lambda m: m + 1, r"cannot add 10.00 CNY and the plain number 1; .*Money\('1', 'CNY'\)"),
        (lambda m: 1 + m, "cannot add"),
        (lambda m: m - Decimal("0.5"), "cannot subtract .* Decimal"),
        (lambda m: m < 3, "cannot compare"),
        (lambda m: m >= 2.5, "cannot compare .* 2.5"),
        (lambda m: m * m, "cannot multiply 10.00 CNY by an amount of money"),
        (lambda m: m / 3, r"cannot divide .*allocate\(\)"),
        (lambda m: m // 2, "cannot divide"),
    ],
)
def test_money_and_plain_numbers_do_not_mix(operation: Any, expected: str) -> None:
    with pytest.raises(MoneyOperationError, match=expected) as caught:
        operation(Money(10, "CNY"))
    assert isinstance(caught.value, TypeError)  # what Python itself would have raised
    assert sum([Money(10, "CNY")]) == Money(10, "CNY")  # sum()'s starting 0 still works


def test_builtin_sum_and_text() -> None:
    total = sum([Money("1.10", "CNY"), Money("2.20", "CNY")])
    assert total == Money("3.30", "CNY")
    assert str(Money("1234567.5", "CNY")) == "1,234,567.50 CNY"
    assert repr(Money("-0", "CNY")) == "Money('0.00', 'CNY')"
    assert not Money(0, "USD")
    assert -Money("1.50", "USD") == Money("-1.50", "USD")
    assert abs(Money("-1.50", "USD")) == Money("1.50", "USD")


@given(cs.money("CNY", max_integer_digits=33), cs.money("CNY", max_integer_digits=33))
def test_addition_is_exact_and_undone_by_subtraction(a: Money, b: Money) -> None:
    assert (a + b) - b == a
    assert a + b == b + a
    assert (a + b).amount == Decimal(a.amount).fma(1, b.amount, context=WIDE)


@given(st.lists(cs.money("BHD", max_integer_digits=30), max_size=50))
def test_totals_are_exact_however_many_amounts(amounts: list[Money]) -> None:
    total = Money.total(amounts, currency="BHD")
    exact = Decimal(0)
    for m in amounts:
        exact = WIDE.add(exact, m.amount)
    assert total.amount == exact
    assert total == sum(amounts, Money.zero("BHD"))


@given(cs.money(), st.lists(st.integers(0, 1000), min_size=1, max_size=12).filter(any))
def test_allocation_loses_and_creates_nothing(money: Money, ratios: list[int]) -> None:
    parts = money.allocate(ratios)
    assert Money.total(parts, currency=money.currency) == money
    assert len(parts) == len(ratios)
    assert all(p.currency == money.currency for p in parts)


@given(cs.money(), st.integers(1, 12))
def test_equal_shares_differ_by_at_most_one_minor_unit(money: Money, n: int) -> None:
    parts = money.allocate([1] * n)
    unit = Decimal(1).scaleb(-len(str(money.amount).partition(".")[2]))
    assert max(p.amount for p in parts) - min(p.amount for p in parts) <= unit


def test_allocation_needs_sensible_ratios() -> None:
    with pytest.raises(ValidationError, match="ratios: must not be empty"):
        Money(10, "CNY").allocate([])
    with pytest.raises(ValidationError, match="negative"):
        Money(10, "CNY").allocate([1, -1])
    with pytest.raises(ValidationError, match="all be zero"):
        Money(10, "CNY").allocate([0, 0])


@given(cs.money(), cs.money())
def test_ordering_follows_the_amounts(a: Money, b: Money) -> None:
    if a.currency == b.currency:
        assert (a < b) == (a.amount < b.amount)
        assert (a <= b) == (a.amount <= b.amount)
        assert (a > b) == (a.amount > b.amount)
        assert (a >= b) == (a.amount >= b.amount)


@given(
    cs.money(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000),
)
def test_multiplication_rounds_to_minor_units(money: Money, factor: Decimal) -> None:
    if abs(money.amount) > 10**28:
        return
    product = money.multiply(factor)
    assert product == Money.rounded(WIDE.multiply(money.amount, factor), money.currency)


def test_very_large_amounts_stay_exact() -> None:
    big = Money("9" * 34 + ".99", "CNY")
    assert (big - Money("0.01", "CNY")).amount == Decimal("9" * 34 + ".98")
    with pytest.raises(ValidationError, match="too large"):
        _ = big + Money("0.01", "CNY")
