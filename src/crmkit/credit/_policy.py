"""How much credit a customer gets: the credit-limit policy, pure (data in, a limit out).

The limit starts from the customer's base limit and goes through these steps, in this order:

1. the tier adjustment (A +50%, B unchanged, C -30% by default);
2. the on-time payment adjustment (+10% at an on-time rate of 95% or more, -20% below 70%);
3. the days-sales-outstanding adjustment (-10% when DSO is over 60 days);
4. each temporary increase in force at the moment asked about, added as it is.

An adjustment multiplies the limit reached so far by ``1 + adjustment``, and the product is
rounded down (towards zero) to the currency's minor units at each step, so every figure of the
explanation is an amount the currency can hold, the steps add up exactly, and rounding never
grants credit the rules do not give. An adjustment is never below -100%, so a limit is never
negative. Unknown facts (no tier, no payment history) leave the limit unchanged, and the step
says so.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, Decimal
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._ids import new_id
from crmkit._money import Money
from crmkit._validation import (
    SimpleCheck,
    Validated,
    as_frozenset,
    bounded_int,
    check,
    key_text,
    optional,
    shown,
    text,
)
from crmkit.customers import Tier
from crmkit.customers._model import _instant, _uuid
from crmkit.errors import Issue, ValidationError

__all__ = [
    "CreditLimit",
    "CreditPolicy",
    "ExposurePart",
    "LimitStep",
    "PaymentHistory",
    "TemporaryIncrease",
    "credit_limit",
]

_key = key_text(max_length=64)
_tier_code = key_text(max_length=16)
_reason = text(max_length=500)
# Fractions of the policy: at most 6 decimal places, which is finer than any credit rule needs.
_PLACES = 6


def decimal_between(low: Decimal, high: Decimal, *, places: int = _PLACES) -> SimpleCheck:
    """A check for a finite `Decimal` from `low` to `high` with at most `places` decimal places."""

    def check_decimal(value: object) -> str | None:
        if not isinstance(value, Decimal):
            return f"must be a Decimal, not {type(value).__name__}"
        if not value.is_finite():
            return f"{shown(value)} is not a finite number"
        if not low <= value <= high:
            return f"{value} is out of range; it must be from {low} to {high}"
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            return f"{value} has more than {places} decimal places"
        return None

    return check_decimal


def _as_utc(value: object) -> object:
    """An aware datetime as a UTC pendulum instant; anything else is left for the check."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        try:
            return to_utc(value)
        except ValidationError:
            return value
    return value


_adjustment = decimal_between(Decimal(-1), Decimal(100))
_rate = decimal_between(Decimal(0), Decimal(1))
_days = bounded_int(0, 36500)


def _tier_adjustments(value: object) -> str | list[Issue] | None:
    if not isinstance(value, Mapping):
        return f"must be a mapping of tier code to adjustment, not {type(value).__name__}"
    found: list[Issue] = []
    for code, adjustment in value.items():
        if (problem := _tier_code(code)) is not None:
            found.append(Issue(f"[{shown(code)}]", f"tier code {problem}"))
        elif (problem := _adjustment(adjustment)) is not None:
            found.append(Issue(f"[{code!r}]", problem))
    return found


def _default_tiers() -> dict[str, Decimal]:
    return {"A": Decimal("0.50"), "B": Decimal(0), "C": Decimal("-0.30")}


class ExposurePart(enum.StrEnum):
    """A part of what a customer owes that counts as credit exposure (see `CreditPolicy`)."""

    INVOICES = "invoices"
    """Unpaid balances of invoices."""
    ORDERS = "orders"
    """Open orders, placed but not yet invoiced."""


def _parts(value: object) -> str | None:
    if not isinstance(value, frozenset) or not all(isinstance(p, ExposurePart) for p in value):
        return "must be a frozenset of ExposurePart"
    if not value:
        return "must count at least one part (an exposure of nothing approves any order)"
    return None


@attrs.frozen(kw_only=True)
class CreditPolicy(Validated):
    """The parameters of the credit rules, with documented defaults a host may change.

    Adjustments are fractions of the limit reached so far: ``Decimal("0.5")`` is +50%,
    ``Decimal("-0.3")`` is -30%; each is from -1 (the limit goes to zero) to 100.

    Attributes:
        tier_adjustments: the adjustment per tier code; a tier not listed (or no tier) leaves
            the limit unchanged. Default: A +50%, B unchanged, C -30%.
        good_on_time_rate: at this on-time payment rate or above, `good_payer_adjustment`
            applies (default 0.95).
        good_payer_adjustment: default +10%.
        poor_on_time_rate: below this on-time rate, `poor_payer_adjustment` applies
            (default 0.70; at most `good_on_time_rate`).
        poor_payer_adjustment: default -20%.
        dso_days: above this many days sales outstanding, `slow_payer_adjustment` applies
            (default 60).
        slow_payer_adjustment: default -10%.
        overdue_days: an order is blocked while an invoice is more than this many days
            overdue (default 30); an invoice overdue fewer days gives a warning.
        warn_at: an order that takes exposure above this fraction of the limit (but not
            above the limit) gives a warning (default 0.90; from 0 to 1).
        exposure: what counts as exposure: unpaid invoices and open orders (the default),
            or only one of them.

    Examples:
        >>> from decimal import Decimal
        >>> CreditPolicy().tier_adjustments
        {'A': Decimal('0.50'), 'B': Decimal('0'), 'C': Decimal('-0.30')}
        >>> strict = CreditPolicy(overdue_days=15, warn_at=Decimal("0.8"))
        >>> strict.overdue_days, strict.good_payer_adjustment
        (15, Decimal('0.10'))
    """

    tier_adjustments: Mapping[str, Decimal] = attrs.field(
        factory=_default_tiers, metadata=check(_tier_adjustments)
    )
    good_on_time_rate: Decimal = attrs.field(default=Decimal("0.95"), metadata=check(_rate))
    good_payer_adjustment: Decimal = attrs.field(
        default=Decimal("0.10"), metadata=check(_adjustment)
    )
    poor_on_time_rate: Decimal = attrs.field(default=Decimal("0.70"), metadata=check(_rate))
    poor_payer_adjustment: Decimal = attrs.field(
        default=Decimal("-0.20"), metadata=check(_adjustment)
    )
    dso_days: int = attrs.field(default=60, metadata=check(_days))
    slow_payer_adjustment: Decimal = attrs.field(
        default=Decimal("-0.10"), metadata=check(_adjustment)
    )
    overdue_days: int = attrs.field(default=30, metadata=check(_days))
    warn_at: Decimal = attrs.field(default=Decimal("0.90"), metadata=check(_rate))
    exposure: frozenset[ExposurePart] = attrs.field(
        default=frozenset(ExposurePart), converter=as_frozenset, metadata=check(_parts)
    )

    def _invariants(self) -> list[Issue]:
        if self.poor_on_time_rate > self.good_on_time_rate:
            return [
                Issue(
                    "poor_on_time_rate",
                    f"{self.poor_on_time_rate} is above good_on_time_rate "
                    f"({self.good_on_time_rate})",
                )
            ]
        return []

    def tier_adjustment(self, tier: str | None) -> Decimal | None:
        """The adjustment for the tier code `tier`, or ``None`` when the policy has none."""
        return None if tier is None else self.tier_adjustments.get(tier)


@attrs.frozen(kw_only=True)
class PaymentHistory(Validated):
    """How a customer has paid so far, as the policy reads it.

    Attributes:
        on_time_rate: the fraction of invoices paid by their due date, from 0 to 1; ``None``
            when unknown (a new customer).
        dso_days: days sales outstanding (see `crmkit.credit.days_sales_outstanding`);
            ``None`` when unknown.

    Examples:
        >>> from decimal import Decimal
        >>> PaymentHistory(on_time_rate=Decimal("0.97")).dso_days is None
        True
    """

    on_time_rate: Decimal | None = attrs.field(default=None, metadata=check(optional(_rate)))
    dso_days: Decimal | None = attrs.field(
        default=None,
        metadata=check(optional(decimal_between(Decimal(0), Decimal(36500)))),
    )


def _positive_money(value: object) -> str | None:
    if not isinstance(value, Money):
        return f"must be Money, not {type(value).__name__}"
    if value.amount <= 0:
        return f"{value} is not positive"
    return None


@attrs.frozen(kw_only=True)
class TemporaryIncrease(Validated):
    """Extra credit for a while: added to the limit from `valid_from` until `valid_until`.

    Attributes:
        amount: how much is added (positive, in the currency of the base limit).
        valid_from: when it starts to count (UTC; an aware datetime is converted).
        valid_until: when it expires: it no longer counts from this instant on.
        reason: why it was granted (a trade fair, a seasonal peak).
        approved_by: who approved it.
        id: the increase's identifier; a new UUIDv7 by default.

    Examples:
        >>> import pendulum
        >>> from crmkit import Money
        >>> spring = TemporaryIncrease(
        ...     amount=Money("20000", "CNY"), valid_from=pendulum.datetime(2026, 3, 1),
        ...     valid_until=pendulum.datetime(2026, 4, 1), reason="spring fair",
        ...     approved_by="zhang.wei")
        >>> spring.in_force(pendulum.datetime(2026, 3, 31, 23)), spring.expired(
        ...     pendulum.datetime(2026, 4, 1))
        (True, True)
    """

    amount: Money = attrs.field(metadata=check(_positive_money))
    valid_from: pendulum.DateTime = attrs.field(converter=_as_utc, metadata=check(_instant))
    valid_until: pendulum.DateTime = attrs.field(converter=_as_utc, metadata=check(_instant))
    reason: str = attrs.field(metadata=check(_reason))
    approved_by: str = attrs.field(metadata=check(_key))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))

    def _invariants(self) -> list[Issue]:
        if self.valid_until <= self.valid_from:
            return [Issue("valid_until", "must be after valid_from")]
        return []

    def in_force(self, at: dt.datetime) -> bool:
        """Whether the increase counts at `at`: from `valid_from` on, and before `valid_until`."""
        moment = to_utc(at, "at")
        return self.valid_from <= moment < self.valid_until

    def expired(self, at: dt.datetime) -> bool:
        """Whether the increase has expired at `at` (it is `valid_until` or later)."""
        return to_utc(at, "at") >= self.valid_until


@attrs.frozen
class LimitStep:
    """One step of a credit-limit calculation.

    Attributes:
        rule: which rule: ``"tier"``, ``"on_time"``, ``"dso"`` or ``"increase"``.
        description: what the rule saw and did, in words.
        adjustment: the fraction applied (``Decimal("0.5")`` for +50%); ``None`` for a
            temporary increase, which adds an amount.
        change: how much the step added (negative when it took credit away; zero when the
            rule did not apply).
        limit: the limit after the step.
    """

    rule: str
    description: str
    adjustment: Decimal | None
    change: Money
    limit: Money


@attrs.frozen
class CreditLimit:
    """A credit limit and how it was reached.

    Attributes:
        limit: the limit: never negative, in the currency of the base limit.
        base: the base limit it started from.
        steps: every step, in order (see `crmkit.credit.credit_limit`); the base plus the
            steps' changes is the limit.
        at: the moment temporary increases were judged at (UTC); ``None`` when not given.
    """

    limit: Money
    base: Money
    steps: tuple[LimitStep, ...]
    at: pendulum.DateTime | None = None

    def explain(self) -> list[str]:
        """The calculation in words, one line per step, starting from the base."""
        lines = [f"base limit {self.base}"]
        lines.extend(f"{s.rule}: {s.description} -> {s.limit}" for s in self.steps)
        return lines


def _percent(adjustment: Decimal) -> str:
    shown_ = (adjustment * 100).normalize()
    return f"{'+' if adjustment > 0 else ''}{shown_:f}%"


def _adjusted(limit: Money, adjustment: Decimal) -> Money:
    """`limit` * (1 + `adjustment`), rounded down to the currency's minor units."""
    return limit.multiply(1 + adjustment, rounding=ROUND_DOWN)


def _step(rule: str, description: str, limit: Money, adjustment: Decimal | None) -> LimitStep:
    after = limit if adjustment is None or not adjustment else _adjusted(limit, adjustment)
    return LimitStep(rule, description, adjustment, after - limit, after)


def _tier_code_of(tier: object) -> str | None:
    if tier is None or isinstance(tier, Tier):
        return None if tier is None else tier.code
    if isinstance(tier, str) and _tier_code(tier) is None:
        return tier
    raise ValidationError.of("tier", f"must be a Tier, a tier code or None, not {shown(tier)}")


def _tier_step(policy: CreditPolicy, code: str | None, limit: Money) -> LimitStep:
    adjustment = policy.tier_adjustment(code)
    if code is None:
        return _step("tier", "no tier: unchanged", limit, None)
    if adjustment is None:
        return _step(
            "tier", f"tier {code!r} has no adjustment in the policy: unchanged", limit, None
        )
    said = "unchanged" if not adjustment else _percent(adjustment)
    return _step("tier", f"tier {code}: {said}", limit, adjustment)


def _on_time_step(policy: CreditPolicy, history: PaymentHistory, limit: Money) -> LimitStep:
    rate = history.on_time_rate
    if rate is None:
        return _step("on_time", "on-time payment rate unknown: unchanged", limit, None)
    if rate >= policy.good_on_time_rate:
        adjustment = policy.good_payer_adjustment
        seen = f"on-time payment rate {rate} is at least {policy.good_on_time_rate}"
    elif rate < policy.poor_on_time_rate:
        adjustment = policy.poor_payer_adjustment
        seen = f"on-time payment rate {rate} is below {policy.poor_on_time_rate}"
    else:
        return _step("on_time", f"on-time payment rate {rate}: unchanged", limit, None)
    return _step("on_time", f"{seen}: {_percent(adjustment)}", limit, adjustment)


def _dso_step(policy: CreditPolicy, history: PaymentHistory, limit: Money) -> LimitStep:
    dso = history.dso_days
    if dso is None:
        return _step("dso", "days sales outstanding unknown: unchanged", limit, None)
    if dso > policy.dso_days:
        adjustment = policy.slow_payer_adjustment
        said = f"days sales outstanding {dso} is over {policy.dso_days}: {_percent(adjustment)}"
        return _step("dso", said, limit, adjustment)
    return _step("dso", f"days sales outstanding {dso}: unchanged", limit, None)


def _increase_step(increase: TemporaryIncrease, at: pendulum.DateTime, limit: Money) -> LimitStep:
    window = f"{increase.valid_from.isoformat()} to {increase.valid_until.isoformat()}"
    what = f"temporary increase of {increase.amount} ({increase.reason}; {window})"
    if increase.valid_until <= at:
        return LimitStep("increase", f"{what}: expired", None, Money.zero(limit.currency), limit)
    if at < increase.valid_from:
        return LimitStep(
            "increase", f"{what}: not started", None, Money.zero(limit.currency), limit
        )
    return LimitStep(
        "increase", f"{what}: in force", None, increase.amount, limit + increase.amount
    )


def _increases(increases: Iterable[TemporaryIncrease], currency: str) -> list[TemporaryIncrease]:
    given: object = increases
    if isinstance(given, str | bytes | Mapping) or not isinstance(given, Iterable):
        raise ValidationError.of(
            "increases", f"must be a collection of TemporaryIncrease, not {type(given).__name__}"
        )
    found: list[TemporaryIncrease] = []
    for i, increase in enumerate(given):
        if not isinstance(increase, TemporaryIncrease):
            raise ValidationError.of(
                f"increases[{i}]", f"must be a TemporaryIncrease, not {type(increase).__name__}"
            )
        if increase.amount.currency != currency:
            raise ValidationError.of(
                f"increases[{i}].amount",
                f"is in {increase.amount.currency}; the base limit is in {currency}",
            )
        found.append(increase)
    return found


def credit_limit(
    base: Money,
    *,
    tier: Tier | str | None = None,
    history: PaymentHistory | None = None,
    increases: Iterable[TemporaryIncrease] = (),
    at: dt.datetime | None = None,
    policy: CreditPolicy | None = None,
) -> CreditLimit:
    """A customer's credit limit, with every step of how it was reached.

    The steps are those of the module: tier, on-time rate, DSO (each multiplying the limit so
    far by ``1 + adjustment``, rounded down to the currency's minor units), then each temporary
    increase in force at `at`, added as it is (expired ones and those not started are listed
    with a change of zero).

    Args:
        base: the customer's base limit (not negative).
        tier: the customer's tier (``customer.tier``) or its code; ``None`` when it has none.
        history: how the customer has paid; ``None`` when unknown.
        increases: temporary increases granted to the customer, in any order.
        at: the moment the increases are judged at; needed when there are increases.
        policy: the parameters; `CreditPolicy` defaults when ``None``.

    Examples:
        >>> from decimal import Decimal
        >>> import pendulum
        >>> from crmkit import Money
        >>> result = credit_limit(
        ...     Money("100000", "CNY"), tier="A",
        ...     history=PaymentHistory(on_time_rate=Decimal("0.6"), dso_days=Decimal("75")))
        >>> result.limit
        Money('108000.00', 'CNY')
        >>> for line in result.explain():
        ...     print(line)
        base limit 100,000.00 CNY
        tier: tier A: +50% -> 150,000.00 CNY
        on_time: on-time payment rate 0.6 is below 0.70: -20% -> 120,000.00 CNY
        dso: days sales outstanding 75 is over 60: -10% -> 108,000.00 CNY

    Raises:
        ValidationError: a bad argument, named: `base` negative or not Money, an increase in
            another currency (``increases[1].amount``), increases without `at`.
    """
    if not isinstance(base, Money):
        raise ValidationError.of("base", f"must be Money, not {type(base).__name__}")
    if base.amount < 0:
        raise ValidationError.of("base", f"{base} is negative")
    code = _tier_code_of(tier)
    if history is None:
        history = PaymentHistory()
    elif not isinstance(history, PaymentHistory):
        raise ValidationError.of(
            "history", f"must be a PaymentHistory or None, not {type(history).__name__}"
        )
    if policy is None:
        policy = CreditPolicy()
    elif not isinstance(policy, CreditPolicy):
        raise ValidationError.of("policy", f"must be a CreditPolicy, not {type(policy).__name__}")
    granted = _increases(increases, base.currency)
    moment = None if at is None else to_utc(at, "at")
    if granted and moment is None:
        raise ValidationError.of("at", "is needed to tell which temporary increases are in force")
    steps = [_tier_step(policy, code, base)]
    steps.append(_on_time_step(policy, history, steps[-1].limit))
    steps.append(_dso_step(policy, history, steps[-1].limit))
    if moment is not None:
        for increase in sorted(granted, key=lambda i: (i.valid_from, i.valid_until, i.id)):
            steps.append(_increase_step(increase, moment, steps[-1].limit))
    return CreditLimit(limit=steps[-1].limit, base=base, steps=tuple(steps), at=moment)
