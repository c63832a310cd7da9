"""Receivables ageing, overdue warnings, DSO and the bad-debt rate, in plain Python.

These are the references the SQL stores match: a store computes the same figures in the
database, and its contract tests compare them with these.

Ageing puts each open item (an invoice with an outstanding balance) in a bucket by how many days
it is past its due date on the ageing date: ``current`` (not yet due, or due that day), ``1-30``,
``31-60``, ``61-90`` and ``90+``. In one currency every figure is an exact sum. In several, each
amount is converted at the rate in force on the ageing date; amounts are summed exactly per
customer, owner and bucket (a *cell*), each cell's sum is converted exactly and rounded half up
once, and every other figure adds cells up, so rows and totals always add up to the cent.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from fractions import Fraction
from uuid import UUID

import attrs

from crmkit._money import Money
from crmkit._rates import ExchangeRate, ExchangeRates, _code
from crmkit._validation import Validated, bounded_int, check, key_text, shown
from crmkit.customers._model import _date, _uuid
from crmkit.errors import ValidationError

__all__ = [
    "BAD_DEBT_PLACES",
    "DSO_PLACES",
    "Ageing",
    "AgeingRow",
    "Bucket",
    "OpenItem",
    "OverdueWarning",
    "ageing",
    "bad_debt_rate",
    "days_sales_outstanding",
    "overdue_warnings",
]

DSO_PLACES = 2
"""Days sales outstanding is rounded half up to this many decimal places (``41.67`` days)."""
BAD_DEBT_PLACES = 4
"""The bad-debt rate is rounded half up to this many decimal places (``0.0125``, 1.25%)."""

_key = key_text(max_length=64)
_days = bounded_int(0, 36500)
# Sums of amounts: exact, however many (each of up to 38 digits).
_EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow])


class Bucket(enum.StrEnum):
    """An ageing bucket: how long an item is past its due date, in whole days."""

    CURRENT = "current"
    """Not yet due, or due on the ageing date."""
    DAYS_1_30 = "1-30"
    """1 to 30 days overdue."""
    DAYS_31_60 = "31-60"
    """31 to 60 days overdue."""
    DAYS_61_90 = "61-90"
    """61 to 90 days overdue."""
    OVER_90 = "90+"
    """More than 90 days overdue."""

    @classmethod
    def of(cls, days_overdue: int) -> Bucket:
        """The bucket of an item `days_overdue` days past due (0 or less: current).

        Examples:
            >>> [str(Bucket.of(days)) for days in (-5, 0, 1, 30, 31, 60, 61, 90, 91)]
            ['current', 'current', '1-30', '1-30', '31-60', '31-60', '61-90', '61-90', '90+']
        """
        for bucket, last in _LAST_DAY:
            if days_overdue <= last:
                return bucket
        return cls.OVER_90


_LAST_DAY = (
    (Bucket.CURRENT, 0),
    (Bucket.DAYS_1_30, 30),
    (Bucket.DAYS_31_60, 60),
    (Bucket.DAYS_61_90, 90),
)


def _positive(value: object) -> str | None:
    if not isinstance(value, Money):
        return f"must be Money, not {type(value).__name__}"
    if value.amount <= 0:
        return f"{value} is not positive; an open item owes something"
    return None


@attrs.frozen(kw_only=True)
class OpenItem(Validated):
    """An invoice with an outstanding balance, as ageing reads it.

    Attributes:
        invoice_id: the invoice.
        customer_id: the customer who owes it.
        owner_id: the salesperson it is counted for (the account's owner).
        due_date: the day it is due; it is overdue from the next day on.
        outstanding: what is still owed on it (positive).

    Examples:
        >>> import datetime as dt
        >>> from crmkit import Money, new_id
        >>> item = OpenItem(
        ...     invoice_id=new_id(), customer_id=new_id(), owner_id="li.na",
        ...     due_date=dt.date(2026, 3, 1), outstanding=Money("1200", "CNY"))
        >>> item.days_overdue(dt.date(2026, 3, 31)), item.bucket(dt.date(2026, 3, 31))
        (30, <Bucket.DAYS_1_30: '1-30'>)
    """

    invoice_id: UUID = attrs.field(metadata=check(_uuid))
    customer_id: UUID = attrs.field(metadata=check(_uuid))
    owner_id: str = attrs.field(metadata=check(_key))
    due_date: dt.date = attrs.field(metadata=check(_date))
    outstanding: Money = attrs.field(metadata=check(_positive))

    def days_overdue(self, as_of: dt.date) -> int:
        """Whole days past the due date on `as_of`; 0 when not yet overdue."""
        return max((_as_of(as_of) - self.due_date).days, 0)

    def bucket(self, as_of: dt.date) -> Bucket:
        """The ageing bucket of the item on `as_of`."""
        return Bucket.of(self.days_overdue(as_of))


@attrs.frozen
class AgeingRow:
    """Outstanding amounts by bucket for one customer, one owner or everyone.

    Attributes:
        buckets: the amount in each bucket, every bucket present, in bucket order.
        total: the sum of the buckets.
        items: how many open items were counted.
    """

    buckets: Mapping[Bucket, Money]
    total: Money
    items: int

    @property
    def overdue(self) -> Money:
        """The amount past due: every bucket but current."""
        return self.total - self.buckets[Bucket.CURRENT]


@attrs.frozen
class Ageing:
    """A receivables ageing on one date.

    Attributes:
        as_of: the ageing date.
        currency: the currency of every figure; ``None`` when there were no items and no
            currency was asked for.
        total: the row of everything; ``None`` exactly when `currency` is.
        by_customer: one row per customer with open items, by customer id (sorted).
        by_owner: one row per owner with open items (sorted).
        rates: the exchange rates used, ordered by pair and date.
    """

    as_of: dt.date
    currency: str | None
    total: AgeingRow | None
    by_customer: dict[UUID, AgeingRow]
    by_owner: dict[str, AgeingRow]
    rates: tuple[ExchangeRate, ...] = ()


def _as_of(value: object, name: str = "as_of") -> dt.date:
    problem = _date(value)
    if problem is not None:
        raise ValidationError.of(name, problem)
    assert isinstance(value, dt.date)  # noqa: S101 (the check says so)
    return value


def _items(items: object) -> list[OpenItem]:
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise ValidationError.of(
            "items", f"must be a collection of OpenItem, not {type(items).__name__}"
        )
    found: list[OpenItem] = []
    seen: set[UUID] = set()
    for i, item in enumerate(items):
        if not isinstance(item, OpenItem):
            raise ValidationError.of(f"items[{i}]", f"must be an OpenItem, not {shown(item)}")
        if item.invoice_id in seen:
            raise ValidationError.of(
                f"items[{i}].invoice_id", f"{item.invoice_id} appears twice (counted once only)"
            )
        seen.add(item.invoice_id)
        found.append(item)
    return found


def _report_currency(currencies: set[str], rates: object, currency: object) -> str | None:
    """The currency of the figures: the items' one currency, or `currency` (with `rates`)."""
    if rates is not None and not isinstance(rates, ExchangeRates):
        raise ValidationError.of("rates", f"must be ExchangeRates, not {type(rates).__name__}")
    if currency is not None:
        _code(currency, "currency")
    found = sorted(currencies | ({currency} if isinstance(currency, str) else set()))
    if len(found) <= 1:
        return found[0] if found else None
    if rates is None or currency is None:
        raise ValidationError.of(
            "currency",
            f"items are in several currencies ({', '.join(found)}): "
            "give rates and the currency to report in",
        )
    assert isinstance(currency, str)  # noqa: S101 (checked by _code)
    return currency


Cell = tuple[UUID, str, Bucket]
"""A cell of an ageing: (customer id, owner id, bucket)."""


def ageing(
    items: Iterable[OpenItem],
    as_of: dt.date,
    *,
    rates: ExchangeRates | None = None,
    currency: str | None = None,
) -> Ageing:
    """The receivables ageing of `items` on `as_of`: per customer, per owner and in total.

    Args:
        items: the open items (each invoice at most once).
        as_of: the ageing date.
        rates: exchange rates, for items in several currencies.
        currency: the currency to report in; needed (with `rates`) for several currencies.

    Examples:
        >>> import datetime as dt
        >>> from crmkit import Money, new_id
        >>> acme, zeta = new_id(), new_id()
        >>> def item(customer, owner, due, amount):
        ...     return OpenItem(invoice_id=new_id(), customer_id=customer, owner_id=owner,
        ...                     due_date=due, outstanding=Money(amount, "CNY"))
        >>> report = ageing([
        ...     item(acme, "li.na", dt.date(2026, 3, 20), "5000"),
        ...     item(acme, "li.na", dt.date(2026, 2, 1), "3000"),
        ...     item(zeta, "wang.fang", dt.date(2025, 12, 1), "800"),
        ... ], dt.date(2026, 3, 10))
        >>> for bucket, amount in report.total.buckets.items():
        ...     print(f"{bucket:>7} {amount}")
        current 5,000.00 CNY
           1-30 0.00 CNY
          31-60 3,000.00 CNY
          61-90 0.00 CNY
            90+ 800.00 CNY
        >>> report.by_owner["li.na"].overdue
        Money('3000.00', 'CNY')

    Raises:
        ValidationError: a bad argument, named (``items[2]``, ``as_of``); items in several
            currencies without `rates` and `currency` (named ``currency``).
        MissingRate: a rate needed is missing.
    """
    day = _as_of(as_of)
    found = _items(items)
    unit = _report_currency({i.outstanding.currency for i in found}, rates, currency)
    cells: dict[tuple[UUID, str, Bucket, str], tuple[Decimal, int]] = {}
    for item in found:
        money = item.outstanding
        key = (item.customer_id, item.owner_id, item.bucket(day), money.currency)
        total, count = cells.get(key, (Decimal(0), 0))
        cells[key] = (_EXACT.add(total, money.amount), count + 1)
    return assemble_ageing(
        [(*key, total, count) for key, (total, count) in cells.items()],
        day,
        unit=unit,
        rates=rates,
    )


def assemble_ageing(
    sums: Iterable[tuple[UUID, str, Bucket, str, Decimal, int]],
    as_of: dt.date,
    *,
    unit: str | None,
    rates: ExchangeRates | None,
) -> Ageing:
    """The `Ageing` of cell sums, however they were summed (in Python here, in SQL by stores).

    Each of `sums` is (customer id, owner id, bucket, currency, the exact sum of the outstanding
    amounts of that currency, their number). Each cell's sums are converted into `unit` at the
    rate in force on `as_of` and rounded once (exact when they are all in `unit`).
    """
    book = rates if rates is not None else ExchangeRates()
    amounts: dict[Cell, list[tuple[Money, dt.date]]] = {}
    counts: dict[Cell, int] = {}
    for customer, owner, bucket, code, total, count in sums:
        cell = (customer, owner, bucket)
        amounts.setdefault(cell, []).append((Money(total, code), as_of))
        counts[cell] = counts.get(cell, 0) + count
    if unit is None:
        return Ageing(as_of=as_of, currency=None, total=None, by_customer={}, by_owner={})
    used: dict[tuple[str, str, dt.date], ExchangeRate] = {}
    values: dict[Cell, Money] = {}
    for cell, parts in amounts.items():
        conversion = book.total(parts, unit)
        values[cell] = conversion.total
        used.update({(r.base, r.quote, r.effective): r for r in conversion.rates})
    customers: dict[UUID, list[Cell]] = {}
    owners: dict[str, list[Cell]] = {}
    for cell in values:
        customers.setdefault(cell[0], []).append(cell)
        owners.setdefault(cell[1], []).append(cell)

    def row(chosen: Iterable[Cell]) -> AgeingRow:
        buckets = dict.fromkeys(Bucket, Money.zero(unit))
        items = 0
        for cell in chosen:
            buckets[cell[2]] += values[cell]
            items += counts.get(cell, 0)
        return AgeingRow(
            buckets=buckets, total=sum(buckets.values(), Money.zero(unit)), items=items
        )

    return Ageing(
        as_of=as_of,
        currency=unit,
        total=row(values),
        by_customer={c: row(customers[c]) for c in sorted(customers)},
        by_owner={o: row(owners[o]) for o in sorted(owners)},
        rates=tuple(used[k] for k in sorted(used)),
    )


@attrs.frozen
class OverdueWarning:
    """An open item overdue for more than the warning's days.

    Attributes:
        invoice_id: the invoice.
        customer_id: the customer who owes it.
        owner_id: the salesperson it is counted for.
        due_date: when it was due.
        days_overdue: how many days past due it is on the date asked about.
        outstanding: what is still owed on it.
        message: the warning in words.
    """

    invoice_id: UUID
    customer_id: UUID
    owner_id: str
    due_date: dt.date
    days_overdue: int
    outstanding: Money
    message: str


def overdue_arguments(as_of: object, days: object) -> tuple[dt.date, int]:
    """Check `overdue_warnings`' date and days (as it does); them, typed."""
    day = _as_of(as_of)
    if (problem := _days(days)) is not None:
        raise ValidationError.of("days", problem)
    assert isinstance(days, int)  # noqa: S101 (the check says so)
    return day, days


def overdue_warnings(
    items: Iterable[OpenItem], as_of: dt.date, *, days: int = 30
) -> tuple[OverdueWarning, ...]:
    """The items more than `days` days overdue on `as_of`, the longest overdue first.

    Ties go by due date, then by invoice id, so the order is stable. ``days=0`` warns of every
    overdue item.

    Examples:
        >>> import datetime as dt
        >>> from crmkit import Money, new_id
        >>> item = OpenItem(
        ...     invoice_id=new_id(), customer_id=new_id(), owner_id="li.na",
        ...     due_date=dt.date(2026, 1, 31), outstanding=Money("1200", "CNY"))
        >>> [w.days_overdue for w in overdue_warnings([item], dt.date(2026, 3, 10))]
        [38]
        >>> overdue_warnings([item], dt.date(2026, 3, 2))
        ()

    Raises:
        ValidationError: a bad argument, named.
    """
    day, days = overdue_arguments(as_of, days)
    found = [
        OverdueWarning(
            invoice_id=item.invoice_id,
            customer_id=item.customer_id,
            owner_id=item.owner_id,
            due_date=item.due_date,
            days_overdue=late,
            outstanding=item.outstanding,
            message=(
                f"invoice {item.invoice_id}: {item.outstanding} due {item.due_date.isoformat()} "
                f"is {late} days overdue (more than {days})"
            ),
        )
        for item in _items(items)
        if (late := item.days_overdue(day)) > days
    ]
    found.sort(key=lambda w: (-w.days_overdue, w.due_date, w.invoice_id))
    return tuple(found)


def _pair(numerator: object, denominator: object, names: tuple[str, str]) -> tuple[Money, Money]:
    for value, name in zip((numerator, denominator), names, strict=True):
        if not isinstance(value, Money):
            raise ValidationError.of(name, f"must be Money, not {type(value).__name__}")
        if value.amount < 0:
            raise ValidationError.of(name, f"{value} is negative")
    assert isinstance(numerator, Money)  # noqa: S101 (checked above)
    assert isinstance(denominator, Money)  # noqa: S101
    if numerator.currency != denominator.currency:
        raise ValidationError.of(
            names[1], f"is in {denominator.currency}; {names[0]} is in {numerator.currency}"
        )
    return numerator, denominator


def _half_up(value: Fraction, places: int) -> Decimal:
    """`value` (not negative) rounded half up to `places` decimal places, exactly."""
    scaled = value * 10**places
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-places)


def days_sales_outstanding(receivables: Money, credit_sales: Money, *, days: int) -> Decimal | None:
    """Days sales outstanding: how many days of credit sales are still unpaid.

    ``DSO = receivables / credit_sales * days``, computed exactly and rounded half up to
    `DSO_PLACES` decimal places; ``None`` when there were no credit sales in the period.

    Args:
        receivables: what customers owe at the end of the period.
        credit_sales: what was invoiced on credit during the period (same currency).
        days: the length of the period in days (1 or more).

    Examples:
        >>> from crmkit import Money
        >>> days_sales_outstanding(Money("50000", "CNY"), Money("120000", "CNY"), days=90)
        Decimal('37.50')
        >>> days_sales_outstanding(Money("50000", "CNY"), Money("90000", "CNY"), days=30)
        Decimal('16.67')

    Raises:
        ValidationError: a bad argument, named: negative, not Money, `credit_sales` in
            another currency, `days` not from 1 to 36500.
    """
    owed, sold = _pair(receivables, credit_sales, ("receivables", "credit_sales"))
    if (problem := bounded_int(1, 36500)(days)) is not None:
        raise ValidationError.of("days", problem)
    if not sold:
        return None
    return _half_up(Fraction(owed.amount) / Fraction(sold.amount) * days, DSO_PLACES)


def bad_debt_rate(written_off: Money, invoiced: Money) -> Decimal | None:
    """The bad-debt rate of a period: ``written_off / invoiced``, exact, rounded half up.

    Rounded to `BAD_DEBT_PLACES` decimal places; ``None`` when nothing was invoiced. It may be
    above 1 when the period wrote off invoices of earlier periods.

    Args:
        written_off: what was written off as bad debt during the period.
        invoiced: what was invoiced during the period (same currency).

    Examples:
        >>> from crmkit import Money
        >>> bad_debt_rate(Money("1500", "CNY"), Money("120000", "CNY"))
        Decimal('0.0125')

    Raises:
        ValidationError: a bad argument, named: negative, not Money, `invoiced` in another
            currency.
    """
    lost, billed = _pair(written_off, invoiced, ("written_off", "invoiced"))
    if not billed:
        return None
    return _half_up(Fraction(lost.amount) / Fraction(billed.amount), BAD_DEBT_PLACES)
