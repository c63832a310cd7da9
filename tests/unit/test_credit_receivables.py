"""A period's receivables figures from the ledger, the reference the stores match (issue 17,
item 6): what counts as invoiced, written off and outstanding, the period's bounds to the
microsecond, currencies, bad arguments, and the laws that tie the figures together."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import ExchangeRate, ExchangeRates, Money
from crmkit.credit import (
    DocumentKind,
    EntryKind,
    LedgerEntry,
    PeriodReceivables,
    bad_debt_rate,
    days_sales_outstanding,
    period_receivables,
)
from crmkit.errors import MissingRate, ValidationError

ACCOUNT = UUID(int=1)
JAN, APR = dt.date(2026, 1, 1), dt.date(2026, 4, 1)
MIDNIGHT = pendulum.datetime(2026, 1, 1)
US = dt.timedelta(microseconds=1)
RATES = ExchangeRates(
    [
        ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.2"),
        ExchangeRate("USD", "CNY", dt.date(2026, 3, 31), "7.1"),
    ]
)
# (kind, document, effects on open orders, unpaid invoices and unallocated credit)
MOVES = {
    "reserve": (EntryKind.RESERVE, DocumentKind.ORDER, (1, 0, 0)),
    "post": (EntryKind.POST, DocumentKind.INVOICE, (-1, 1, 0)),
    "pay": (EntryKind.SETTLE, DocumentKind.PAYMENT, (0, -1, 0)),
    "credit": (EntryKind.SETTLE, DocumentKind.CREDIT_NOTE, (0, 0, 1)),
    "allocate": (EntryKind.SETTLE, DocumentKind.INVOICE, (0, -1, -1)),
    "write_off": (EntryKind.VOID, DocumentKind.INVOICE, (0, -1, 0)),
    "cancel": (EntryKind.VOID, DocumentKind.ORDER, (-1, 0, 0)),
}


def entry(move: str, amount: str | int, at: dt.datetime, currency: str = "CNY") -> LedgerEntry:
    kind, document, effects = MOVES[move]
    money = Money(amount, currency)
    return LedgerEntry(
        account_id=ACCOUNT,
        sequence=1,
        kind=kind,
        document=document,
        document_id=UUID(int=2),
        amount=money,
        orders=money * effects[0],
        invoices=money * effects[1],
        credit=money * effects[2],
        at=pendulum.instance(at),
        key="k",
    )


def cny(amount: str | int) -> Money:
    return Money(amount, "CNY")


def unchecked(value: object) -> Any:
    """`value`, passed where the type checker would refuse it, on purpose."""
    return value


def test_what_counts_as_invoiced_written_off_and_outstanding() -> None:
    at = MIDNIGHT + dt.timedelta(days=3)
    figures = period_receivables(
        [
            entry("reserve", 5000, at),
            entry("post", 3000, at),
            entry("post", 1000, at),
            entry("pay", 800, at),
            entry("allocate", 200, at),
            entry("credit", 700, at),
            entry("write_off", 300, at),
            entry("cancel", 1000, at),
        ],
        JAN,
        APR,
    )
    assert figures.currency == "CNY"
    assert figures.invoiced == cny(4000)  # the posts
    assert figures.written_off == cny(300)  # the invoices' voids, not the orders'
    assert figures.outstanding == cny(2700)  # 4000 - 800 - 200 - 300
    assert figures.rates == ()
    assert figures.days == 90
    assert figures.days_sales_outstanding == days_sales_outstanding(cny(2700), cny(4000), days=90)
    assert figures.days_sales_outstanding == Decimal("60.75")
    assert figures.bad_debt_rate == bad_debt_rate(cny(300), cny(4000)) == Decimal("0.0750")


def test_the_period_runs_from_midnight_utc_on_start_to_midnight_on_end() -> None:
    end = pendulum.datetime(2026, 4, 1)
    figures = period_receivables(
        [
            entry("post", 1, MIDNIGHT - US),  # before: owed at the end, not invoiced in it
            entry("post", 10, MIDNIGHT),
            entry("post", 100, end - US),
            entry("write_off", 10, end - US),
            entry("post", 1000, end),  # after
            entry("pay", 100, end),
        ],
        JAN,
        APR,
    )
    assert (figures.invoiced, figures.written_off, figures.outstanding) == (
        cny(110),
        cny(10),
        cny(101),
    )
    # A day is one day long, and a period in another time zone is not a thing: dates only.
    one = period_receivables([entry("post", 10, MIDNIGHT)], JAN, JAN + dt.timedelta(days=1))
    assert (one.days, one.invoiced) == (1, cny(10))
    assert one.days_sales_outstanding == Decimal("1.00")


def test_nothing_counted_gives_no_figures_unless_a_currency_is_asked_for() -> None:
    empty = period_receivables([], JAN, APR)
    assert empty == PeriodReceivables(
        start=JAN, end=APR, currency=None, invoiced=None, written_off=None, outstanding=None
    )
    assert (empty.days_sales_outstanding, empty.bad_debt_rate) == (None, None)
    asked = period_receivables([], JAN, APR, currency="USD")
    assert (asked.invoiced, asked.written_off, asked.outstanding) == (Money(0, "USD"),) * 3
    assert (asked.days_sales_outstanding, asked.bad_debt_rate) == (None, None)
    # Entries after the period, or whose figures are all zero, count for nothing.
    later = period_receivables([entry("post", 5, MIDNIGHT + dt.timedelta(days=200))], JAN, APR)
    assert later.currency is None
    orders = period_receivables([entry("reserve", 5, MIDNIGHT, "USD")], JAN, APR)
    assert orders.currency is None


def test_several_currencies_convert_at_the_rate_of_the_periods_last_day() -> None:
    at = MIDNIGHT + dt.timedelta(days=1)
    mixed = [
        entry("post", "100.00", at),
        entry("post", "33.33", at, "USD"),
        entry("post", "0.01", at, "USD"),
        # Only orders in EUR: nothing to convert, no rate needed.
        entry("reserve", 5, at, "EUR"),
    ]
    with pytest.raises(ValidationError, match="^currency: items are in several currencies"):
        period_receivables(mixed, JAN, APR)
    figures = period_receivables(mixed, JAN, APR, rates=RATES, currency="CNY")
    # 33.34 x 7.1 (the rate on 31 March) = 236.714 -> 236.71, plus 100.00
    assert figures.invoiced == figures.outstanding == cny("336.71")
    assert figures.written_off == cny(0)
    assert [(r.effective, r.rate) for r in figures.rates] == [
        (dt.date(2026, 3, 31), Decimal("7.1"))
    ]
    march = period_receivables(mixed, JAN, dt.date(2026, 3, 31), rates=RATES, currency="CNY")
    assert march.invoiced == cny("340.05")  # 33.34 x 7.2 = 240.048 -> 240.05
    with pytest.raises(MissingRate):
        period_receivables(mixed, JAN, APR, rates=RATES, currency="GBP")


def test_bad_arguments_are_named() -> None:
    good = entry("post", 1, MIDNIGHT)
    cases: list[tuple[Any, str]] = [
        (lambda: period_receivables(unchecked(good), JAN, APR), "entries"),
        (lambda: period_receivables(unchecked("entries"), JAN, APR), "entries"),
        (lambda: period_receivables(unchecked([good, "post"]), JAN, APR), r"entries\[1\]"),
        (lambda: period_receivables([], unchecked(MIDNIGHT), APR), "start"),
        (lambda: period_receivables([], JAN, unchecked("2026-04-01")), "end"),
        (lambda: period_receivables([], dt.date(999, 1, 1), APR), "start"),
        (lambda: period_receivables([], APR, JAN), "end"),
        (lambda: period_receivables([], JAN, JAN), "end"),
        (lambda: period_receivables([], JAN, dt.date(2126, 1, 1)), "end"),
        (lambda: period_receivables([], JAN, APR, rates=unchecked({})), "rates"),
        (lambda: period_receivables([], JAN, APR, currency="XX"), "currency"),
    ]
    for call, name in cases:
        with pytest.raises(ValidationError, match=f"^{name}: "):
            call()
    # A century is the longest period.
    assert period_receivables([], JAN, JAN + dt.timedelta(days=36500)).days == 36500


def test_an_entry_of_thirty_digits_is_exact() -> None:
    # Unary minus rounds to the default context's 28 digits: a post entry's orders effect of
    # -9...9 must still match its amount exactly.
    huge = "9" * 30
    figures = period_receivables(
        [entry("post", huge, MIDNIGHT), entry("post", huge, MIDNIGHT)], JAN, APR
    )
    assert figures.invoiced == cny(huge) + cny(huge)


# --- laws --------------------------------------------------------------------------------------

MOMENTS = st.integers(-5 * 86400, 100 * 86400).map(lambda s: MIDNIGHT + dt.timedelta(seconds=s))
ENTRIES = st.lists(
    st.builds(
        entry,
        st.sampled_from(sorted(MOVES)),
        st.integers(1, 10**6).map(lambda n: Decimal(n).scaleb(-2)),
        MOMENTS,
    ),
    max_size=30,
)
DAYS = st.integers(-10, 110).map(lambda n: JAN + dt.timedelta(days=n))


@given(ENTRIES, st.lists(DAYS, min_size=3, max_size=3))
def test_periods_add_up(entries: list[LedgerEntry], days: list[dt.date]) -> None:
    a, b, c = sorted(days)
    b += dt.timedelta(days=1)
    c += dt.timedelta(days=2)
    whole = period_receivables(entries, a, c, currency="CNY")
    first = period_receivables(entries, a, b, currency="CNY")
    second = period_receivables(entries, b, c, currency="CNY")
    assert whole.invoiced == first.invoiced + second.invoiced  # type: ignore[operator]
    assert whole.written_off == first.written_off + second.written_off  # type: ignore[operator]
    assert whole.outstanding == second.outstanding
    assert whole.days == first.days + second.days
    # Outstanding at the end is every entry's effect on the unpaid invoices before it.
    before = [e.invoices for e in entries if e.at < pendulum.datetime(c.year, c.month, c.day)]
    assert whole.outstanding == Money.total(before, currency="CNY")
