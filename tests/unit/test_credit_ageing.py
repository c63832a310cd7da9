"""Receivables ageing, overdue warnings, DSO, bad-debt rate: references (issue 17, item 6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import ExchangeRate, ExchangeRates, Money, new_id
from crmkit.credit import (
    Bucket,
    OpenItem,
    ageing,
    bad_debt_rate,
    days_sales_outstanding,
    overdue_warnings,
)
from crmkit.errors import MissingRate, ValidationError

AS_OF = dt.date(2026, 3, 31)
ACME, ZETA = UUID(int=1), UUID(int=2)


def cny(amount: str | int | Decimal) -> Money:
    return Money(amount, "CNY")


def item(
    due: dt.date | int,
    amount: str | int,
    customer: UUID = ACME,
    owner: str = "li.na",
    currency: str = "CNY",
) -> OpenItem:
    return OpenItem(
        invoice_id=new_id(),
        customer_id=customer,
        owner_id=owner,
        due_date=due if isinstance(due, dt.date) else AS_OF - dt.timedelta(days=due),
        outstanding=Money(amount, currency),
    )


def unchecked(value: object) -> Any:
    """`value`, passed where the type checker would refuse it, on purpose."""
    return value


def paths(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [i.path for i in error.value.issues]


# --- strategies --------------------------------------------------------------------------------

OWNERS = st.sampled_from(["li.na", "wang.fang", "zhao.lei"])
CUSTOMERS = st.sampled_from([UUID(int=n) for n in range(1, 6)])


@st.composite
def items(draw: st.DrawFn, currencies: tuple[str, ...] = ("CNY",)) -> OpenItem:
    currency = draw(st.sampled_from(currencies))
    cents = draw(st.integers(1, 10**12))
    return OpenItem(
        invoice_id=new_id(),
        customer_id=draw(CUSTOMERS),
        owner_id=draw(OWNERS),
        due_date=AS_OF - dt.timedelta(days=draw(st.integers(-60, 400))),
        outstanding=Money(Decimal(cents).scaleb(-2), currency),
    )


RATES = ExchangeRates(
    [
        ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.1234"),
        ExchangeRate("EUR", "CNY", dt.date(2026, 1, 1), "7.7771"),
    ]
)

# --- the worked example -------------------------------------------------------------------------


def test_worked_example_per_customer_per_owner_and_in_total() -> None:
    report = ageing(
        [
            item(-3, "1000"),  # not yet due
            item(0, "200"),  # due today: current
            item(1, "300"),
            item(30, "400", ZETA),
            item(31, "500", ZETA, "wang.fang"),
            item(60, "600"),
            item(61, "700", owner="wang.fang"),
            item(90, "800", ZETA),
            item(91, "900"),
            item(400, "10", ZETA, "wang.fang"),
        ],
        AS_OF,
    )
    assert report.as_of == AS_OF
    assert report.currency == "CNY"
    assert report.rates == ()
    assert report.total is not None
    assert report.total.buckets == {
        Bucket.CURRENT: cny(1200),
        Bucket.DAYS_1_30: cny(700),
        Bucket.DAYS_31_60: cny(1100),
        Bucket.DAYS_61_90: cny(1500),
        Bucket.OVER_90: cny(910),
    }
    assert report.total.total == cny(5410)
    assert report.total.overdue == cny(4210)
    assert report.total.items == 10
    assert list(report.by_customer) == [ACME, ZETA]
    acme, zeta = report.by_customer[ACME], report.by_customer[ZETA]
    assert [acme.total, acme.items, zeta.total, zeta.items] == [cny(3700), 6, cny(1710), 4]
    assert zeta.buckets[Bucket.OVER_90] == cny(10)
    assert list(report.by_owner) == ["li.na", "wang.fang"]
    assert report.by_owner["wang.fang"].buckets == {
        Bucket.CURRENT: cny(0),
        Bucket.DAYS_1_30: cny(0),
        Bucket.DAYS_31_60: cny(500),
        Bucket.DAYS_61_90: cny(700),
        Bucket.OVER_90: cny(10),
    }


def test_no_items() -> None:
    empty = ageing([], AS_OF)
    assert (empty.currency, empty.total, empty.by_customer, empty.by_owner) == (None, None, {}, {})
    asked = ageing([], AS_OF, currency="CNY")
    assert asked.currency == "CNY"
    assert asked.total is not None
    assert asked.total.total == cny(0)
    assert asked.total.items == 0


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-1, Bucket.CURRENT),
        (0, Bucket.CURRENT),
        (1, Bucket.DAYS_1_30),
        (30, Bucket.DAYS_1_30),
        (31, Bucket.DAYS_31_60),
        (60, Bucket.DAYS_31_60),
        (61, Bucket.DAYS_61_90),
        (90, Bucket.DAYS_61_90),
        (91, Bucket.OVER_90),
        (5000, Bucket.OVER_90),
    ],
)
def test_bucket_boundaries(days: int, bucket: Bucket) -> None:
    assert Bucket.of(days) is bucket
    assert item(days, 1).bucket(AS_OF) is bucket
    assert item(days, 1).days_overdue(AS_OF) == max(days, 0)


def test_several_currencies_need_rates_and_a_currency() -> None:
    mixed = [item(10, "100.00"), item(40, "33.33", currency="USD"), item(40, "1", currency="EUR")]
    with pytest.raises(ValidationError) as error:
        ageing(mixed, AS_OF)
    assert paths(error) == ["currency"]
    with pytest.raises(ValidationError) as error:
        ageing(mixed, AS_OF, currency="CNY")
    assert paths(error) == ["currency"]
    report = ageing(mixed, AS_OF, rates=RATES, currency="CNY")
    assert report.total is not None
    # 33.33 x 7.1234 = 237.422922 -> 237.42; 1 x 7.7771 -> 7.78, in one cell: 245.200022 -> 245.20
    assert report.total.buckets[Bucket.DAYS_31_60] == cny("245.20")
    assert report.total.total == cny("345.20")
    assert [(r.base, r.quote) for r in report.rates] == [("EUR", "CNY"), ("USD", "CNY")]
    with pytest.raises(MissingRate):
        ageing([*mixed, item(1, 1, currency="GBP")], AS_OF, rates=RATES, currency="CNY")


# --- laws ---------------------------------------------------------------------------------------


@given(st.lists(items(), max_size=30))
def test_buckets_partition_the_items_and_every_total_adds_up(found: list[OpenItem]) -> None:
    report = ageing(found, AS_OF, currency="CNY")
    total = report.total
    assert total is not None
    assert total.items == len(found)
    assert total.total == Money.total([i.outstanding for i in found], currency="CNY")
    for bucket in Bucket:
        mine = [i.outstanding for i in found if i.bucket(AS_OF) is bucket]
        assert total.buckets[bucket] == Money.total(mine, currency="CNY")
    for rows in (report.by_customer, report.by_owner):
        assert sum(r.items for r in rows.values()) == len(found)
        assert Money.total([r.total for r in rows.values()], currency="CNY") == total.total
        for bucket in Bucket:
            in_rows = Money.total([r.buckets[bucket] for r in rows.values()], currency="CNY")
            assert in_rows == total.buckets[bucket]
    for customer, row in report.by_customer.items():
        mine = [i.outstanding for i in found if i.customer_id == customer]
        assert row.total == Money.total(mine, currency="CNY")
        assert row.total == Money.total(row.buckets.values(), currency="CNY")


@given(st.lists(items(("CNY", "USD", "EUR")), max_size=30))
def test_converted_rows_still_add_up_to_the_cent(found: list[OpenItem]) -> None:
    report = ageing(found, AS_OF, rates=RATES, currency="CNY")
    total = report.total
    assert total is not None
    assert total.items == len(found)
    for rows in (report.by_customer, report.by_owner):
        assert Money.total([r.total for r in rows.values()], currency="CNY") == total.total
        for bucket in Bucket:
            in_rows = Money.total([r.buckets[bucket] for r in rows.values()], currency="CNY")
            assert in_rows == total.buckets[bucket]
    # Each cell is rounded once: the total is within half a fen per cell of the exact value.
    exact = sum(
        (RATES.rate(i.outstanding.currency, "CNY", AS_OF) * i.outstanding.amount for i in found),
        Decimal(0),
    )
    cells = {(i.customer_id, i.owner_id, i.bucket(AS_OF)) for i in found}
    assert abs(total.total.amount - exact) <= Decimal("0.005") * len(cells)


# --- overdue warnings ---------------------------------------------------------------------------


def test_overdue_warnings_are_the_items_past_the_days_longest_first() -> None:
    a, b, c, d = item(45, 100), item(31, 200, ZETA), item(30, 300), item(120, 400, ZETA)
    warnings = overdue_warnings([a, b, c, d], AS_OF)
    assert [(w.invoice_id, w.days_overdue) for w in warnings] == [
        (d.invoice_id, 120),
        (a.invoice_id, 45),
        (b.invoice_id, 31),
    ]
    first = warnings[0]
    assert (first.customer_id, first.owner_id, first.outstanding) == (ZETA, "li.na", cny(400))
    assert first.due_date == AS_OF - dt.timedelta(days=120)
    assert first.message == (
        f"invoice {d.invoice_id}: 400.00 CNY due 2025-12-01 is 120 days overdue (more than 30)"
    )
    assert len(overdue_warnings([a, b, c, d, item(0, 1)], AS_OF, days=0)) == 4
    assert overdue_warnings([a, b, c, d], AS_OF, days=120) == ()


@given(st.lists(items(), max_size=20), st.integers(0, 200))
def test_a_warning_is_exactly_an_item_more_than_the_days_overdue(
    found: list[OpenItem], days: int
) -> None:
    warned = {w.invoice_id for w in overdue_warnings(found, AS_OF, days=days)}
    assert warned == {i.invoice_id for i in found if (AS_OF - i.due_date).days > days}


# --- DSO and bad debt ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("receivables", "sales", "days", "dso"),
    [
        ("50000", "120000", 90, Decimal("37.50")),
        ("50000", "90000", 30, Decimal("16.67")),  # 16.666...
        ("1", "3", 1, Decimal("0.33")),
        ("0.01", "0.08", 1, Decimal("0.13")),  # exactly 0.125: half up
        ("0", "1000", 365, Decimal("0.00")),
        ("1000", "0", 30, None),
    ],
)
def test_days_sales_outstanding(receivables: str, sales: str, days: int, dso: Decimal) -> None:
    assert days_sales_outstanding(cny(receivables), cny(sales), days=days) == dso


@given(
    st.integers(0, 10**14).map(lambda n: cny(Decimal(n).scaleb(-2))),
    st.integers(1, 10**14).map(lambda n: cny(Decimal(n).scaleb(-2))),
    st.integers(1, 3650),
)
def test_dso_is_the_formula_rounded_half_up_to_two_places(
    receivables: Money, sales: Money, days: int
) -> None:
    dso = days_sales_outstanding(receivables, sales, days=days)
    assert dso is not None
    exact = Fraction(receivables.amount) / Fraction(sales.amount) * days
    assert -Fraction(1, 200) < Fraction(dso) - exact <= Fraction(1, 200)
    assert dso.as_tuple().exponent == -2


def test_bad_debt_rate() -> None:
    assert bad_debt_rate(cny(1500), cny(120000)) == Decimal("0.0125")
    assert bad_debt_rate(cny(1), cny(3)) == Decimal("0.3333")
    assert bad_debt_rate(cny(2), cny(3)) == Decimal("0.6667")
    assert bad_debt_rate(cny(0), cny(3)) == Decimal("0.0000")
    assert bad_debt_rate(cny(5), cny(0)) is None
    assert bad_debt_rate(cny(6), cny(4)) == Decimal("1.5000")


# --- bad input ----------------------------------------------------------------------------------


def test_bad_ageing_arguments_name_the_field() -> None:
    one = item(3, 1)
    for call, path in (
        (lambda: ageing([one, unchecked("x")], AS_OF), "items[1]"),
        (lambda: ageing(unchecked(one), AS_OF), "items"),
        (lambda: ageing([one, one], AS_OF), "items[1].invoice_id"),
        (lambda: ageing([one], dt.datetime(2026, 3, 31)), "as_of"),
        (lambda: ageing([one], AS_OF, currency="RMB"), "currency"),
        (lambda: ageing([one], AS_OF, rates=unchecked({"USD": 7})), "rates"),
        (lambda: overdue_warnings([one], AS_OF, days=-1), "days"),
        (lambda: overdue_warnings([one], unchecked("2026-03-31")), "as_of"),
        (lambda: one.days_overdue(unchecked(None)), "as_of"),
    ):
        with pytest.raises(ValidationError) as error:
            call()
        assert paths(error) == [path]


def test_bad_items_name_every_bad_field() -> None:
    with pytest.raises(ValidationError) as error:
        OpenItem(
            invoice_id="INV-1",  # type: ignore[arg-type]
            customer_id=ACME,
            owner_id=" li",
            due_date=dt.datetime(2026, 3, 1),
            outstanding=cny(0),
        )
    assert paths(error) == ["invoice_id", "owner_id", "due_date", "outstanding"]


@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [
        ((cny(1), Money(1, "USD")), {"days": 30}, "credit_sales"),
        ((cny(-1), cny(1)), {"days": 30}, "receivables"),
        ((1, cny(1)), {"days": 30}, "receivables"),
        ((cny(1), cny(1)), {"days": 0}, "days"),
        ((cny(1), cny(-1)), {"days": 30}, "credit_sales"),
    ],
)
def test_bad_dso_arguments_name_the_field(
    args: tuple[object, ...], kwargs: dict[str, object], path: str
) -> None:
    with pytest.raises(ValidationError) as error:
        days_sales_outstanding(*args, **kwargs)  # type: ignore[arg-type]
    assert paths(error) == [path]


def test_bad_bad_debt_arguments_name_the_field() -> None:
    for args, path in (
        ((cny(1), Money(1, "EUR")), "invoiced"),
        ((cny(-1), cny(1)), "written_off"),
        ((cny(1), Decimal(1)), "invoiced"),
    ):
        with pytest.raises(ValidationError) as error:
            bad_debt_rate(*args)
        assert paths(error) == [path]
