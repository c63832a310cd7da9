"""Exchange rates the host supplies, and totals of amounts in several currencies.

crmkit fetches no rates: the host knows which source its finance team uses. It hands crmkit
`ExchangeRate`s (a pair, the date from which the rate is in force, the rate) and crmkit converts
each amount at the rate in force on that amount's own date, says which rates it used, and
refuses to guess: a missing rate is an error naming the pair and the date.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Iterable
from decimal import Decimal

import attrs

from crmkit._money import _ROUNDING, Money, _to_decimal, minor_units
from crmkit.errors import MissingRate, ValidationError

__all__ = ["Conversion", "ExchangeRate", "ExchangeRates"]


def _code(value: object, name: str) -> str:
    """`value` if it is an ISO 4217 code; else a `ValidationError` naming `name`."""
    try:
        minor_units(value)  # type: ignore[arg-type]
    except ValidationError as e:
        raise ValidationError.of(name, e.issues[0].problem) from None
    return value  # type: ignore[return-value]


def _rate(value: object) -> Decimal:
    return _to_decimal(value, "rate")


@attrs.frozen
class ExchangeRate:
    """One unit of `base` is worth `rate` units of `quote`, from `effective` on.

    Examples:
        >>> import datetime as dt
        >>> ExchangeRate("USD", "CNY", dt.date(2026, 3, 1), "7.1850").rate
        Decimal('7.1850')

    Raises:
        ValidationError: a currency is not an ISO 4217 code, the two are the same, `effective`
            is not a date, or the rate is not a positive decimal (floats are refused).
    """

    base: str
    quote: str
    effective: dt.date
    rate: Decimal = attrs.field(converter=_rate)

    def __attrs_post_init__(self) -> None:
        _code(self.base, "base")
        _code(self.quote, "quote")
        if self.base == self.quote:
            raise ValidationError.of("quote", f"is the base currency too ({self.base})")
        if not isinstance(self.effective, dt.date) or isinstance(self.effective, dt.datetime):
            raise ValidationError.of(
                "effective", f"must be a date, not {type(self.effective).__name__}"
            )
        if self.rate <= 0:
            raise ValidationError.of("rate", f"must be more than 0, not {self.rate}")


@attrs.frozen
class Conversion:
    """A total in one currency, and the rates it took to get there.

    Attributes:
        total: the sum, each amount converted exactly and the sum rounded once to the
            currency's minor units (half up).
        rates: each rate used, once, ordered by pair and date.
    """

    total: Money
    rates: tuple[ExchangeRate, ...]


class ExchangeRates:
    """The rates a host supplies, looked up by pair and date.

    A rate is in force from its `effective` date until the next rate of the same pair. Where
    only the opposite pair is given (CNY to USD for USD to CNY), its inverse is used.

    Examples:
        >>> import datetime as dt
        >>> from crmkit import Money
        >>> rates = ExchangeRates([
        ...     ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.20"),
        ...     ExchangeRate("USD", "CNY", dt.date(2026, 3, 1), "7.10"),
        ... ])
        >>> rates.convert(Money(100, "USD"), "CNY", on=dt.date(2026, 2, 14))
        Money('720.00', 'CNY')
        >>> deals = [(Money(100, "USD"), dt.date(2026, 3, 2)),
        ...          (Money(50, "CNY"), dt.date(2026, 1, 5))]
        >>> rates.total(deals, "CNY").total
        Money('760.00', 'CNY')
    """

    def __init__(self, rates: Iterable[ExchangeRate] = ()) -> None:
        self._dates: dict[tuple[str, str], list[dt.date]] = {}
        self._rates: dict[tuple[str, str], list[ExchangeRate]] = {}
        for i, rate in enumerate(_rates(rates)):
            if not isinstance(rate, ExchangeRate):
                raise ValidationError.of(
                    f"rates[{i}]", f"must be an ExchangeRate, not {type(rate).__name__}"
                )
            self.add(rate)

    def add(self, rate: ExchangeRate) -> None:
        """Add `rate`; a rate of the same pair and date replaces the one given before."""
        if not isinstance(rate, ExchangeRate):
            raise ValidationError.of("rate", f"must be an ExchangeRate, not {type(rate).__name__}")
        pair = (rate.base, rate.quote)
        dates = self._dates.setdefault(pair, [])
        found = self._rates.setdefault(pair, [])
        at = bisect_right(dates, rate.effective)
        if at and dates[at - 1] == rate.effective:
            found[at - 1] = rate
        else:
            dates.insert(at, rate.effective)
            found.insert(at, rate)

    def rate(self, base: str, quote: str, on: dt.date) -> Decimal:
        """How many units of `quote` one unit of `base` is worth on `on` (1 for one currency).

        Raises:
            MissingRate: no rate of the pair (nor of the opposite pair) is in force on `on`.
            ValidationError: a currency is not an ISO 4217 code, or `on` is not a date.
        """
        return self._find(_code(base, "base"), _code(quote, "quote"), on)[0]

    def convert(self, money: Money, to: str, *, on: dt.date) -> Money:
        """`money` in the currency `to`, at the rate in force on `on`, rounded half up.

        Raises:
            MissingRate: as `rate`.
        """
        if not isinstance(money, Money):
            raise ValidationError.of("money", f"must be Money, not {type(money).__name__}")
        rate, _ = self._find(money.currency, _code(to, "to"), on)
        return Money.rounded(_ROUNDING.multiply(money.amount, rate), to)

    def total(self, amounts: Iterable[tuple[Money, dt.date]], to: str) -> Conversion:
        """The sum of `amounts` (each with its own date) in `to`, and the rates used.

        Each amount is converted exactly at the rate in force on its date; the sum is rounded
        once. Amounts already in `to` are added as they are.

        Raises:
            MissingRate: a rate needed is missing (naming the pair and the date).
            ValidationError: an item is not a (Money, date) pair, named by its position.
        """
        _code(to, "to")
        total = Decimal(0)
        used: dict[tuple[str, str, dt.date], ExchangeRate] = {}
        for i, item in enumerate(_rates(amounts, "amounts")):
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Money)):  # noqa: PLR2004 (a pair)
                raise ValidationError.of(f"amounts[{i}]", "must be a (Money, date) pair")
            money, on = item
            rate, source = self._find(money.currency, to, _date(on, f"amounts[{i}]"))
            total = _ROUNDING.add(total, _ROUNDING.multiply(money.amount, rate))
            if source is not None:
                used[(source.base, source.quote, source.effective)] = source
        return Conversion(
            total=Money.rounded(total, to),
            rates=tuple(used[k] for k in sorted(used)),
        )

    def _find(self, base: str, quote: str, on: dt.date) -> tuple[Decimal, ExchangeRate | None]:
        """The rate from `base` to `quote` on `on`, and the rate given that it comes from."""
        on = _date(on, "on")
        if base == quote:
            return Decimal(1), None
        given = self._in_force((base, quote), on)
        if given is not None:
            return given.rate, given
        opposite = self._in_force((quote, base), on)
        if opposite is not None:
            return _ROUNDING.divide(Decimal(1), opposite.rate), opposite
        raise MissingRate(base, quote, on)

    def _in_force(self, pair: tuple[str, str], on: dt.date) -> ExchangeRate | None:
        dates = self._dates.get(pair)
        if not dates:
            return None
        at = bisect_right(dates, on)
        return self._rates[pair][at - 1] if at else None


def _rates(values: object, name: str = "rates") -> Iterable[object]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError.of(name, f"must be a collection, not {type(values).__name__}")
    return values


def _date(value: object, name: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValidationError.of(name, f"must be a date, not {type(value).__name__}")
    return value
