"""`Money`: an exact amount in one ISO 4217 currency."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from typing import NoReturn, Self

import attrs

from crmkit._currencies import ALIASES, MINOR_UNITS
from crmkit._validation import shown
from crmkit.errors import CurrencyMismatch, MoneyOperationError, ValidationError

__all__ = ["MAX_INTEGER_DIGITS", "Money", "minor_units"]

MAX_INTEGER_DIGITS = 34
"""The largest amount has this many digits before the decimal point: as many as every storage
backend keeps exactly (``NUMERIC(38, 4)`` on servers, text on SQLite).
"""

# Arithmetic between amounts is exact: any rounding the context would do raises instead.
_EXACT = Context(prec=80, traps=[Inexact, InvalidOperation, Overflow])
# Rounding on purpose (Money.rounded, multiply): wide enough for every valid amount.
_ROUNDING = Context(prec=80, traps=[InvalidOperation, Overflow])
_EXPONENTS = {code: Decimal(1).scaleb(-digits) for code, digits in MINOR_UNITS.items()}
_LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS


def minor_units(currency: str) -> int:
    """The number of digits after the decimal point in `currency` (CNY 2, JPY 0, BHD 3).

    Raises:
        ValidationError: `currency` is not an ISO 4217 code.
    """
    try:
        return MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise ValidationError.of("currency", _currency_problem(currency)) from None


def _currency_problem(currency: object) -> str:
    if not isinstance(currency, str):
        return f"must be an ISO 4217 code such as 'CNY', not {type(currency).__name__}"
    code = currency.strip().upper()
    suggestion = ALIASES.get(code, code if code in MINOR_UNITS else None)
    if suggestion is not None:
        return f"{currency!r} is not an ISO 4217 currency code; write {suggestion!r}"
    return f"{currency!r} is not an ISO 4217 currency code"


def _to_decimal(value: object, path: str = "amount") -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValidationError.of(path, "must be a Decimal, an int or a string, not bool")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValidationError.of(path, f"{value!r} is not a decimal number") from None
    elif isinstance(value, float):
        raise ValidationError.of(
            path,
            f"{value!r} is a float, which cannot hold money exactly; "
            f"pass a Decimal, an int or a string such as '{value}'",
        )
    else:
        raise ValidationError.of(
            path, f"must be a Decimal, an int or a string, not {type(value).__name__}"
        )
    if not result.is_finite():
        raise ValidationError.of(path, f"{value!r} is not a finite number")
    return result


@attrs.frozen(init=False, repr=False, order=False)
class Money:
    """An exact amount of money in one currency.

    The amount is a `Decimal` with exactly the currency's minor units (CNY 2, JPY 0, BHD 3).
    Floats are refused, amounts with more decimal places than the currency has are refused (use
    `Money.rounded` to round on purpose), and arithmetic or ordering across currencies raises
    `CurrencyMismatch`. Sums are exact however many amounts are added.

    Examples:
        >>> from decimal import Decimal
        >>> Money("1999.90", "CNY") + Money(100, "CNY")
        Money('2099.90', 'CNY')
        >>> Money("10", "CNY").allocate([1, 1, 1])
        [Money('3.34', 'CNY'), Money('3.33', 'CNY'), Money('3.33', 'CNY')]
    """

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str) -> None:
        exponent = _EXPONENTS.get(currency) if isinstance(currency, str) else None
        if exponent is None:
            raise ValidationError.of("currency", _currency_problem(currency))
        value = _to_decimal(amount)
        try:
            exact = value.quantize(exponent, context=_EXACT)
        except DecimalException:
            exact = None
        if exact is None or exact != value:
            if value.copy_abs() >= _LIMIT:
                raise ValidationError.of("amount", _too_large(value))
            raise ValidationError.of(
                "amount",
                f"{value} has more decimal places than {currency} allows ({MINOR_UNITS[currency]})",
            )
        if exact.copy_abs() >= _LIMIT:
            raise ValidationError.of("amount", _too_large(value))
        object.__setattr__(self, "amount", exact if exact else exact.copy_abs())  # no -0
        object.__setattr__(self, "currency", currency)

    @classmethod
    def _trusted(cls, amount: Decimal, currency: str) -> Self:
        # For results of exact arithmetic on valid amounts: only the size can be out of range.
        if amount.copy_abs() >= _LIMIT:
            raise ValidationError.of("amount", _too_large(amount))
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount)
        object.__setattr__(money, "currency", currency)
        return money

    @classmethod
    def zero(cls, currency: str) -> Self:
        """Zero in `currency`."""
        return cls(0, currency)

    @classmethod
    def rounded(
        cls, amount: Decimal | int | str, currency: str, *, rounding: str = ROUND_HALF_UP
    ) -> Self:
        """Round `amount` to the minor units of `currency` and return it as money.

        `rounding` is one of the `decimal` module's modes; the default rounds half away from zero,
        the commercial rule.

        Examples:
            >>> Money.rounded("2.345", "CNY")
            Money('2.35', 'CNY')
            >>> Money.rounded("1234.5", "JPY")
            Money('1235', 'JPY')
        """
        exponent = minor_units(currency)
        _check_rounding(rounding)
        value = _to_decimal(amount)
        if value.copy_abs() >= _LIMIT:
            raise ValidationError.of("amount", _too_large(value))
        return cls(
            value.quantize(Decimal(1).scaleb(-exponent), rounding=rounding, context=_ROUNDING),
            currency,
        )

    @classmethod
    def total(cls, amounts: Iterable[Money], *, currency: str) -> Self:
        """The exact sum of `amounts`, all in `currency` (zero when there are none).

        Raises:
            CurrencyMismatch: one of the amounts is in another currency.
        """
        minor_units(currency)
        given: object = amounts  # checked at run time whatever the annotation says
        if isinstance(given, str | bytes) or not isinstance(given, Iterable):
            raise ValidationError.of(
                "amounts", f"must be a collection of Money, not {type(given).__name__}"
            )
        total = Decimal(0)
        for i, money in enumerate(amounts):
            if not isinstance(money, Money):
                raise ValidationError.of(
                    f"amounts[{i}]", f"must be Money, not {type(money).__name__}"
                )
            if money.currency != currency:
                raise CurrencyMismatch("add", currency, money.currency)
            total = _EXACT.add(total, money.amount)
        return cls._trusted(_EXACT.quantize(total, _EXPONENTS[currency]), currency)

    # --- arithmetic ------------------------------------------------------------------------------

    def _same(self, other: Money, operation: str) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(operation, self.currency, other.currency)

    def _check_money(self, other: object, operation: str) -> None:
        """Refuse `other` unless it is Money of this currency, saying what to do instead."""
        if isinstance(other, Money):
            self._same(other, operation)
            return
        raise self._refusal(other, operation)

    def _refusal(self, other: object, operation: str) -> MoneyOperationError:
        """The error for combining this amount with `other`, which is not Money.

        A `TypeError`, as Python's own refusal would be, but one that says what to do.
        """
        if isinstance(other, int | float | Decimal) and not isinstance(other, bool):
            huge = isinstance(other, int) and other.bit_length() > 200  # noqa: PLR2004
            written = shown(other) if huge else shown(str(other))
            return MoneyOperationError(
                f"cannot {operation} {self} and the plain number {shown(other)}; "
                f"make it Money first, e.g. Money({written}, {self.currency!r})"
            )
        return MoneyOperationError(f"cannot {operation} {self} and a {type(other).__name__}")

    def __add__(self, other: Money) -> Money:
        self._check_money(other, "add")
        return self._trusted(_EXACT.add(self.amount, other.amount), self.currency)

    def __radd__(self, other: int) -> Money:
        # Lets the builtin sum() start from its default 0.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        raise self._refusal(other, "add")

    def __sub__(self, other: Money) -> Money:
        self._check_money(other, "subtract")
        return self._trusted(_EXACT.subtract(self.amount, other.amount), self.currency)

    def __rsub__(self, other: object) -> NoReturn:
        # Only reached when the left operand is not Money.
        raise self._refusal(other, "subtract")

    def __neg__(self) -> Money:
        return self._trusted(
            self.amount.copy_negate() if self.amount else self.amount, self.currency
        )

    def __abs__(self) -> Money:
        return self._trusted(self.amount.copy_abs(), self.currency)

    def __bool__(self) -> bool:
        return bool(self.amount)

    def multiply(self, factor: Decimal | int | str, *, rounding: str = ROUND_HALF_UP) -> Money:
        """Multiply by `factor` and round the product to the currency's minor units.

        Examples:
            >>> Money("100.00", "CNY").multiply("0.125")
            Money('12.50', 'CNY')
        """
        by = _to_decimal(factor, "factor")
        _check_rounding(rounding)
        # Exact, however many digits the factor has; only absurd exponents are refused.
        digits = len(self.amount.as_tuple().digits) + len(by.as_tuple().digits)
        exact = Context(prec=digits, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=_EXACT.traps)
        try:
            product = exact.multiply(self.amount, by)
        except DecimalException:
            raise ValidationError.of("factor", f"{shown(by)} is out of range") from None
        if product.copy_abs() >= _LIMIT:
            raise ValidationError.of("amount", _too_large(product))
        rounded = product.quantize(_EXPONENTS[self.currency], rounding=rounding, context=_ROUNDING)
        return self._trusted(rounded if rounded else rounded.copy_abs(), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        value: object = factor  # checked at run time whatever the annotation says
        if isinstance(value, Money):
            raise MoneyOperationError(f"cannot multiply {self} by an amount of money ({value})")
        if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
            raise MoneyOperationError(
                f"cannot multiply {self} by a {type(value).__name__}; use a Decimal or an int"
            )
        return self.multiply(_to_decimal(value, "factor"))  # a float is refused, with the reason

    __rmul__ = __mul__

    def __truediv__(self, divisor: object) -> Money:
        raise MoneyOperationError(
            f"cannot divide {self} exactly; split it with allocate() (no cent lost) or "
            "multiply by a Decimal factor"
        )

    __floordiv__ = __truediv__

    def __rtruediv__(self, dividend: object) -> NoReturn:
        raise MoneyOperationError(f"cannot divide by an amount of money ({self})")

    __rfloordiv__ = __rtruediv__

    def allocate(self, ratios: Sequence[Decimal | int]) -> list[Money]:
        """Split into parts proportional to `ratios` that add up to exactly this amount.

        Minor units left over by rounding down go one each to the parts with the largest
        remainders (ties to the earlier part), so no cent is created or lost.

        Raises:
            ValidationError: no ratios, a negative ratio, or all ratios zero.
        """
        if isinstance(ratios, str | bytes) or not isinstance(ratios, Iterable):
            raise ValidationError.of(
                "ratios", f"must be a list of numbers, not {type(ratios).__name__}"
            )
        weights = [_ratio(r, f"ratios[{i}]") for i, r in enumerate(ratios)]
        if not weights:
            raise ValidationError.of("ratios", "must not be empty")
        if any(w < 0 for w in weights):
            raise ValidationError.of("ratios", "must not be negative")
        whole = sum(weights, Fraction(0))
        if not whole:
            raise ValidationError.of("ratios", "must not all be zero")
        digits = MINOR_UNITS[self.currency]
        units = int(_EXACT.scaleb(self.amount, digits))
        sign, units = (-1 if units < 0 else 1), abs(units)
        exact_shares = [units * w / whole for w in weights]  # Fractions: no rounding at all
        shares = [int(share) for share in exact_shares]
        leftover = units - sum(shares)
        by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - exact_shares[i])
        for i in by_remainder[:leftover]:
            shares[i] += 1
        return [
            self._trusted(_EXACT.scaleb(Decimal(sign * s), -digits), self.currency) for s in shares
        ]

    # --- comparison ------------------------------------------------------------------------------

    def __lt__(self, other: Money) -> bool:
        self._check_money(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._check_money(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._check_money(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._check_money(other, "compare")
        return self.amount >= other.amount

    # --- text ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"

    def __str__(self) -> str:
        return f"{self.amount:,} {self.currency}"


_ROUNDINGS = (
    "ROUND_CEILING",
    "ROUND_DOWN",
    "ROUND_FLOOR",
    "ROUND_HALF_DOWN",
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "ROUND_UP",
    "ROUND_05UP",
)


def _check_rounding(rounding: object) -> None:
    if not (isinstance(rounding, str) and rounding in _ROUNDINGS):
        raise ValidationError.of(
            "rounding", f"{shown(rounding)} is not a rounding mode of the decimal module"
        )


_RATIO_DIGITS = 100


def _ratio(value: object, path: str) -> Fraction:
    """A ratio of `Money.allocate`, exactly: up to 1E+100, with up to 100 decimal places."""
    ratio = _to_decimal(value, path)
    exponent = ratio.as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 (finite: _to_decimal refuses the rest)
    if ratio and (ratio.adjusted() > _RATIO_DIGITS or exponent < -_RATIO_DIGITS):
        raise ValidationError.of(
            path,
            f"{shown(ratio)} is out of range: ratios go up to 1E+100, "
            f"with up to {_RATIO_DIGITS} decimal places",
        )
    return Fraction(ratio)


def _too_large(value: Decimal) -> str:
    return (
        f"{value} is too large; amounts have at most {MAX_INTEGER_DIGITS} digits before the point"
    )
