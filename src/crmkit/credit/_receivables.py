"""The receivables figures of a period, from the ledger: invoiced, written off, owed at its end.

`period_receivables` is the reference the stores match: it reads the ledger's entries, sums
what was posted (invoiced) and what was written off during the period, and what the invoices
still owed at its end (the sum of every entry's effect on the unpaid invoices before the end),
and gives days sales outstanding and the bad-debt rate of those figures.

A period is a range of whole days in UTC, ``[start, end)``: from midnight UTC on `start` up to,
not including, midnight UTC on `end`. A quarter is ``start=2026-01-01, end=2026-04-01`` (90
days). In one currency every figure is an exact sum. In several, each currency's sum of each
figure is converted at the rate in force on the period's last day and rounded half up once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs
import pendulum

from crmkit._money import Money
from crmkit._rates import ExchangeRate, ExchangeRates
from crmkit.credit._ageing import (
    _EXACT,
    _as_of,
    _report_currency,
    bad_debt_rate,
    days_sales_outstanding,
)
from crmkit.credit._ledger import DocumentKind, EntryKind, LedgerEntry
from crmkit.errors import ValidationError

__all__ = ["MAX_PERIOD_DAYS", "PeriodReceivables", "period_receivables"]

MAX_PERIOD_DAYS = 36500
"""The longest period, in days (about a century): what days sales outstanding accepts."""

# The figures a period sums, by name.
INVOICED, WRITTEN_OFF, OUTSTANDING = "invoiced", "written_off", "outstanding"
FIGURES = (INVOICED, WRITTEN_OFF, OUTSTANDING)


@attrs.frozen
class PeriodReceivables:
    """What was invoiced and written off in a period, and what was owed at its end.

    Attributes:
        start: the period's first day (from midnight UTC).
        end: the day after its last (up to midnight UTC, not included).
        currency: the currency of the figures; ``None`` when every figure was zero and no
            currency was asked for.
        invoiced: what was invoiced (posted) during the period: the credit sales.
        written_off: what was written off as bad debt during the period.
        outstanding: the unpaid invoice balances at the period's end.
        rates: the exchange rates used, ordered by pair and date.
    """

    start: dt.date
    end: dt.date
    currency: str | None
    invoiced: Money | None
    written_off: Money | None
    outstanding: Money | None
    rates: tuple[ExchangeRate, ...] = ()

    @property
    def days(self) -> int:
        """The length of the period in days."""
        return (self.end - self.start).days

    @property
    def days_sales_outstanding(self) -> Decimal | None:
        """``outstanding / invoiced * days`` (see `days_sales_outstanding`); ``None`` if none.

        Raises:
            ValidationError: the outstanding balance is negative (named ``receivables``): only
                when entries were dated before the entries they settle.
        """
        if self.outstanding is None or self.invoiced is None:
            return None
        return days_sales_outstanding(self.outstanding, self.invoiced, days=self.days)

    @property
    def bad_debt_rate(self) -> Decimal | None:
        """``written_off / invoiced`` (see `bad_debt_rate`); ``None`` when nothing was invoiced."""
        if self.written_off is None or self.invoiced is None:
            return None
        return bad_debt_rate(self.written_off, self.invoiced)


def period_bounds(start: object, end: object) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    """Check a period's days; its bounds as instants (midnight UTC on `start` and `end`).

    Raises:
        ValidationError: `start` or `end` is not a date (named), or `end` is not 1 to
            `MAX_PERIOD_DAYS` days after `start` (named ``end``).
    """
    first, after = _as_of(start, "start"), _as_of(end, "end")
    days = (after - first).days
    if days < 1:
        raise ValidationError.of("end", f"{after} is not after start {first}")
    if days > MAX_PERIOD_DAYS:
        raise ValidationError.of(
            "end", f"is {days} days after start; a period is at most {MAX_PERIOD_DAYS} days"
        )
    return _midnight(first), _midnight(after)


def _midnight(day: dt.date) -> pendulum.DateTime:
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC")


def _entries(entries: object) -> Iterable[LedgerEntry]:
    if isinstance(entries, str | bytes | Mapping) or not isinstance(entries, Iterable):
        raise ValidationError.of(
            "entries", f"must be a collection of LedgerEntry, not {type(entries).__name__}"
        )
    for i, entry in enumerate(entries):
        if not isinstance(entry, LedgerEntry):
            raise ValidationError.of(
                f"entries[{i}]", f"must be a LedgerEntry, not {type(entry).__name__}"
            )
        yield entry


def period_receivables(
    entries: Iterable[LedgerEntry],
    start: dt.date,
    end: dt.date,
    *,
    rates: ExchangeRates | None = None,
    currency: str | None = None,
) -> PeriodReceivables:
    """The receivables figures of the period ``[start, end)`` from the ledger's `entries`.

    Invoiced: the amounts of the ``post`` entries written during the period. Written off: the
    amounts of the ``void`` entries of invoices written during it. Outstanding: the sum of
    every entry's effect on the unpaid invoices (`LedgerEntry.invoices`) written before `end`.

    Args:
        entries: the ledger entries (of any accounts).
        start: the period's first day (UTC).
        end: the day after its last (UTC).
        rates: exchange rates, for accounts in several currencies.
        currency: the currency to report in; needed (with `rates`) for several currencies.

    Examples:
        >>> import datetime as dt, pendulum
        >>> from crmkit import Money, new_id
        >>> from crmkit.credit import DocumentKind, EntryKind, LedgerEntry
        >>> account, invoice = new_id(), new_id()
        >>> def entry(n, kind, amount, invoices, day):
        ...     return LedgerEntry(
        ...         account_id=account, sequence=n, kind=kind, document=DocumentKind.INVOICE,
        ...         document_id=invoice, amount=Money(amount, "CNY"),
        ...         orders=Money(-amount if kind == "post" else 0, "CNY"),
        ...         invoices=Money(invoices, "CNY"), credit=Money(0, "CNY"),
        ...         at=pendulum.datetime(2026, *day), key=f"k{n}")
        >>> q1 = period_receivables([
        ...     entry(1, EntryKind.POST, 90000, 90000, (1, 10)),
        ...     entry(2, EntryKind.SETTLE, 40000, -40000, (2, 10)),
        ...     entry(3, EntryKind.VOID, 1000, -1000, (3, 31)),
        ...     entry(4, EntryKind.SETTLE, 9000, -9000, (4, 1)),
        ... ], dt.date(2026, 1, 1), dt.date(2026, 4, 1))
        >>> str(q1.invoiced), str(q1.written_off), str(q1.outstanding), q1.days
        ('90,000.00 CNY', '1,000.00 CNY', '49,000.00 CNY', 90)
        >>> q1.days_sales_outstanding, q1.bad_debt_rate
        (Decimal('49.00'), Decimal('0.0111'))

    Raises:
        ValidationError: a bad argument, named (``entries[2]``, ``end``); entries in several
            currencies without `rates` and `currency` (named ``currency``).
        MissingRate: a rate needed is missing.
    """
    since, until = period_bounds(start, end)
    sums: dict[tuple[str, str], Decimal] = {}

    def add(figure: str, money: Money) -> None:
        key = (figure, money.currency)
        sums[key] = _EXACT.add(sums.get(key, Decimal(0)), money.amount)

    for entry in _entries(entries):
        if entry.at >= until:
            continue
        add(OUTSTANDING, entry.invoices)
        if entry.at < since:
            continue
        if entry.kind is EntryKind.POST:
            add(INVOICED, entry.amount)
        elif entry.kind is EntryKind.VOID and entry.document is DocumentKind.INVOICE:
            add(WRITTEN_OFF, entry.amount)
    return assemble_period(
        [(figure, code, total) for (figure, code), total in sums.items()],
        since.date(),
        until.date(),
        rates=rates,
        currency=currency,
    )


def assemble_period(
    sums: Iterable[tuple[str, str, Decimal]],
    start: dt.date,
    end: dt.date,
    *,
    rates: ExchangeRates | None,
    currency: str | None,
) -> PeriodReceivables:
    """The `PeriodReceivables` of figure sums, however they were summed (here, or in SQL).

    Each of `sums` is (figure, currency, the exact sum of that figure's amounts in that
    currency). Zero sums are left out: the currencies of the figures are those of the others.
    Each figure's sums are converted into the report's currency at the rates in force on the
    period's last day and rounded once.
    """
    found = [(f, code, total) for f, code, total in sums if total]
    unit = _report_currency({code for _, code, _ in found}, rates, currency)
    if unit is None:
        return PeriodReceivables(
            start=start, end=end, currency=None, invoiced=None, written_off=None, outstanding=None
        )
    book = rates if rates is not None else ExchangeRates()
    last = end - dt.timedelta(days=1)
    used: dict[tuple[str, str, dt.date], ExchangeRate] = {}
    values: dict[str, Money] = {}
    for figure in FIGURES:
        parts = sorted((code, total) for f, code, total in found if f == figure)
        conversion = book.total([(Money(total, code), last) for code, total in parts], unit)
        values[figure] = conversion.total
        used.update({(r.base, r.quote, r.effective): r for r in conversion.rates})
    return PeriodReceivables(
        start=start,
        end=end,
        currency=unit,
        invoiced=values[INVOICED],
        written_off=values[WRITTEN_OFF],
        outstanding=values[OUTSTANDING],
        rates=tuple(used[k] for k in sorted(used)),
    )
