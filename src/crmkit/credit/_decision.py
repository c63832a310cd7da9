"""The order check: may this customer take this order on credit? Pure: a decision, never a write.

`check_order` looks at the customer's `CreditPosition` (what it owes, what is overdue, whether it
is on credit hold), the credit limit and the order's amount, and returns a `CreditDecision`:
approve, warn or block, with every reason and the figures behind it. The rules, with the
`CreditPolicy` defaults:

- **credit hold** blocks, whatever the figures;
- an invoice **more than 30 days overdue** blocks; one overdue fewer days warns;
- exposure after the order **above the limit** blocks (the order exceeds the available credit);
- exposure after the order above **90% of the limit** warns;
- otherwise the order is within the limit.

Exposure is the parts of what the customer owes that the policy counts (unpaid invoices and
open orders by default); the order's amount is always added to it, as it will be owed once
invoiced. Every comparison is exact: no figure is rounded.

A block is overridden only through a `CreditOverride`, an approval recorded with who, when, why
and for how much: `override_problem` says why an override does not cover a decision, and an
override covers it only when it names that order and at least the order's amount.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._ids import new_id
from crmkit._money import Money
from crmkit._validation import (
    ON_SETATTR,
    Validated,
    bounded_int,
    check,
    instance_of,
    key_text,
    optional,
    text,
)
from crmkit.credit._policy import CreditLimit, CreditPolicy, ExposurePart, _as_utc
from crmkit.customers._model import _instant, _uuid, version_check
from crmkit.errors import Issue, ValidationError

__all__ = [
    "CreditDecision",
    "CreditOverride",
    "CreditPosition",
    "Outcome",
    "Reason",
    "ReasonCode",
    "check_order",
    "covers",
    "override_problem",
]

_key = key_text(max_length=64)
_reason = text(max_length=500)
_days = bounded_int(0, 3_650_000)


class Outcome(enum.StrEnum):
    """What the order check decided, from best to worst."""

    APPROVE = "approve"
    """The order fits: place it."""
    WARN = "warn"
    """The order may be placed, but someone should look (near the limit, overdue invoices)."""
    BLOCK = "block"
    """The order must not be placed on credit without a recorded override."""

    @property
    def severity(self) -> int:
        """0 for approve, 1 for warn, 2 for block: a worse outcome has a higher severity."""
        return _SEVERITY[self]


_SEVERITY = {Outcome.APPROVE: 0, Outcome.WARN: 1, Outcome.BLOCK: 2}


class ReasonCode(enum.StrEnum):
    """Why an order check came out as it did; each code always leads to the same outcome."""

    WITHIN_LIMIT = "within_limit"
    """Approve: the order fits the available credit, below the warn band."""
    NEAR_LIMIT = "near_limit"
    """Warn: the order fits, but takes exposure above the warn band (90% of the limit)."""
    LIMIT_EXCEEDED = "limit_exceeded"
    """Block: the order exceeds the available credit."""
    OVERDUE = "overdue"
    """Warn: an invoice is overdue, but not for more than the policy's days."""
    LONG_OVERDUE = "long_overdue"
    """Block: an invoice is overdue for more than the policy's days (30)."""
    CREDIT_HOLD = "credit_hold"
    """Block: the customer is on credit hold."""

    @property
    def outcome(self) -> Outcome:
        """The outcome this reason leads to."""
        return _OUTCOMES[self]


_OUTCOMES = {
    ReasonCode.WITHIN_LIMIT: Outcome.APPROVE,
    ReasonCode.NEAR_LIMIT: Outcome.WARN,
    ReasonCode.LIMIT_EXCEEDED: Outcome.BLOCK,
    ReasonCode.OVERDUE: Outcome.WARN,
    ReasonCode.LONG_OVERDUE: Outcome.BLOCK,
    ReasonCode.CREDIT_HOLD: Outcome.BLOCK,
}


def _money(value: object) -> str | None:
    if not isinstance(value, Money):
        return f"must be Money, not {type(value).__name__}"
    if value.amount < 0:
        return f"{value} is negative"
    return None


@attrs.frozen(kw_only=True)
class CreditPosition(Validated):
    """What a customer owes and how it pays, as the order check needs it (one currency).

    Attributes:
        unpaid_invoices: the unpaid balances of its invoices, in total.
        open_orders: its open orders not yet invoiced, in total.
        overdue_amount: the part of `unpaid_invoices` that is past due (zero when none is).
        oldest_overdue_days: how many days the oldest overdue invoice is past its due date
            (0 when none is overdue).
        on_hold: whether the customer is on credit hold.
        hold_reason: why; given exactly when `on_hold`.

    Examples:
        >>> from crmkit import Money
        >>> position = CreditPosition(
        ...     unpaid_invoices=Money("30000", "CNY"), open_orders=Money("5000", "CNY"))
        >>> position.currency, position.overdue
        ('CNY', False)
    """

    unpaid_invoices: Money = attrs.field(metadata=check(_money))
    open_orders: Money = attrs.field(metadata=check(_money))
    overdue_amount: Money | None = attrs.field(default=None, metadata=check(optional(_money)))
    oldest_overdue_days: int = attrs.field(default=0, metadata=check(_days))
    on_hold: bool = attrs.field(default=False, metadata=check(instance_of(bool)))
    hold_reason: str | None = attrs.field(default=None, metadata=check(optional(_reason)))

    def _invariants(self) -> list[Issue]:
        currency = self.unpaid_invoices.currency
        found = [
            Issue(name, f"is in {value.currency}; unpaid_invoices is in {currency}")
            for name, value in (
                ("open_orders", self.open_orders),
                ("overdue_amount", self.overdue_amount),
            )
            if isinstance(value, Money) and value.currency != currency
        ]
        if found:
            return found
        overdue = self.overdue_amount
        if overdue is not None and overdue > self.unpaid_invoices:
            found.append(Issue("overdue_amount", "is more than unpaid_invoices"))
        if self.oldest_overdue_days and not overdue:
            found.append(Issue("overdue_amount", "must be positive when an invoice is overdue"))
        if overdue and not self.oldest_overdue_days:
            found.append(Issue("oldest_overdue_days", "must be positive when overdue_amount is"))
        if self.on_hold and self.hold_reason is None:
            found.append(Issue("hold_reason", "must say why the customer is on credit hold"))
        if not self.on_hold and self.hold_reason is not None:
            found.append(Issue("hold_reason", "must be None when the customer is not on hold"))
        return found

    @property
    def currency(self) -> str:
        """The currency of the account."""
        return self.unpaid_invoices.currency

    @property
    def overdue(self) -> bool:
        """Whether any invoice is past its due date."""
        return self.oldest_overdue_days > 0

    def exposure(self, policy: CreditPolicy | None = None) -> Money:
        """The parts of what the customer owes that `policy` counts (both by default)."""
        parts = (policy or CreditPolicy()).exposure
        total = Money.zero(self.currency)
        if ExposurePart.INVOICES in parts:
            total += self.unpaid_invoices
        if ExposurePart.ORDERS in parts:
            total += self.open_orders
        return total


FigureValue = Money | Decimal | int
"""A figure of a `Reason`: an amount, a fraction or a count of days."""


@attrs.frozen
class Reason:
    """One reason of a `CreditDecision`.

    Attributes:
        code: what kind of reason (see `ReasonCode`).
        message: the reason in words, with its figures, for the salesperson and the approver.
        figures: the numbers behind it, by name (``{"available": Money('3000.00', 'CNY')}``).
    """

    code: ReasonCode
    message: str
    figures: Mapping[str, FigureValue] = attrs.field(factory=dict)

    @property
    def outcome(self) -> Outcome:
        """The outcome this reason leads to."""
        return self.code.outcome

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@attrs.frozen(kw_only=True)
class CreditDecision:
    """The order check's answer: the outcome, every reason and the figures.

    Attributes:
        outcome: the worst outcome among the reasons.
        reasons: every reason, blocks first, then warnings, then approvals.
        amount: the order's amount.
        limit: the credit limit it was checked against.
        exposure_before: exposure before the order (the parts the policy counts).
        exposure_after: exposure with the order.
        available: the credit available before the order: ``limit - exposure_before``
            (negative when exposure is already above the limit).
        at: when the check was made (UTC).
    """

    outcome: Outcome
    reasons: tuple[Reason, ...]
    amount: Money
    limit: Money
    exposure_before: Money
    exposure_after: Money
    available: Money
    at: pendulum.DateTime

    @property
    def approved(self) -> bool:
        """Whether the order may be placed without an override (approve or warn)."""
        return self.outcome is not Outcome.BLOCK

    @property
    def blocked(self) -> bool:
        """Whether the order needs an override to be placed."""
        return self.outcome is Outcome.BLOCK

    @property
    def available_after(self) -> Money:
        """The credit left once the order is placed: ``limit - exposure_after``."""
        return self.limit - self.exposure_after

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        """The codes of the reasons, in order."""
        return tuple(r.code for r in self.reasons)


def _limit_reasons(
    limit: Money, before: Money, after: Money, amount: Money, policy: CreditPolicy
) -> Reason:
    available = limit - before
    figures: dict[str, FigureValue] = {
        "limit": limit,
        "exposure_before": before,
        "exposure_after": after,
        "available": available,
        "amount": amount,
    }
    if after > limit:
        return Reason(
            ReasonCode.LIMIT_EXCEEDED,
            f"the order of {amount} exceeds the available credit of {available} "
            f"(limit {limit}, exposure {before})",
            figures,
        )
    if after.amount > limit.amount * policy.warn_at:  # exact: Decimal products are not rounded
        return Reason(
            ReasonCode.NEAR_LIMIT,
            f"the order of {amount} takes exposure to {after}, above "
            f"{(policy.warn_at * 100).normalize():f}% of the limit of {limit}",
            {**figures, "warn_at": policy.warn_at},
        )
    return Reason(
        ReasonCode.WITHIN_LIMIT,
        f"the order of {amount} fits the available credit of {available} (limit {limit})",
        figures,
    )


def _overdue_reason(position: CreditPosition, policy: CreditPolicy) -> Reason | None:
    if not position.overdue:
        return None
    days = position.oldest_overdue_days
    figures: dict[str, FigureValue] = {
        "oldest_overdue_days": days,
        "overdue_amount": position.overdue_amount or Money.zero(position.currency),
        "overdue_days": policy.overdue_days,
    }
    said = f"{position.overdue_amount} is overdue, the oldest invoice by {days} days"
    if days > policy.overdue_days:
        return Reason(
            ReasonCode.LONG_OVERDUE,
            f"{said}: more than the {policy.overdue_days} days allowed",
            figures,
        )
    return Reason(ReasonCode.OVERDUE, said, figures)


def _money_argument(value: object, name: str, currency: str) -> Money:
    if isinstance(value, CreditLimit) and name == "limit":
        value = value.limit
    if not isinstance(value, Money):
        raise ValidationError.of(name, f"must be Money, not {type(value).__name__}")
    if value.currency != currency:
        raise ValidationError.of(name, f"is in {value.currency}; the account is in {currency}")
    if value.amount < 0:
        raise ValidationError.of(name, f"{value} is negative")
    return value


def check_order(
    position: CreditPosition,
    limit: Money | CreditLimit,
    amount: Money,
    *,
    at: dt.datetime,
    policy: CreditPolicy | None = None,
) -> CreditDecision:
    """Decide whether the customer in `position` may take an order of `amount` on credit.

    Args:
        position: what the customer owes, what is overdue, whether it is on hold.
        limit: its credit limit (`Money`, or the `CreditLimit` of `credit_limit`).
        amount: the order's amount (not negative), in the account's currency.
        at: when the check is made.
        policy: the parameters; `CreditPolicy` defaults when ``None``.

    Examples:
        >>> import pendulum
        >>> from crmkit import Money
        >>> position = CreditPosition(
        ...     unpaid_invoices=Money("60000", "CNY"), open_orders=Money("20000", "CNY"),
        ...     overdue_amount=Money("8000", "CNY"), oldest_overdue_days=12)
        >>> decision = check_order(
        ...     position, Money("100000", "CNY"), Money("15000", "CNY"),
        ...     at=pendulum.datetime(2026, 3, 2))
        >>> decision.outcome, decision.available
        (<Outcome.WARN: 'warn'>, Money('20000.00', 'CNY'))
        >>> [str(r.code) for r in decision.reasons]
        ['near_limit', 'overdue']
        >>> print(decision.reasons[1].message)
        8,000.00 CNY is overdue, the oldest invoice by 12 days

    Raises:
        ValidationError: a bad argument, named: `limit` or `amount` in another currency than
            the account's, negative, or not Money; `at` naive.
    """
    if not isinstance(position, CreditPosition):
        raise ValidationError.of(
            "position", f"must be a CreditPosition, not {type(position).__name__}"
        )
    if policy is None:
        policy = CreditPolicy()
    elif not isinstance(policy, CreditPolicy):
        raise ValidationError.of("policy", f"must be a CreditPolicy, not {type(policy).__name__}")
    currency = position.currency
    ceiling = _money_argument(limit, "limit", currency)
    order = _money_argument(amount, "amount", currency)
    moment = to_utc(at, "at")
    before = position.exposure(policy)
    after = before + order
    reasons = [_limit_reasons(ceiling, before, after, order, policy)]
    overdue = _overdue_reason(position, policy)
    if overdue is not None:
        reasons.append(overdue)
    if position.on_hold:
        reasons.append(
            Reason(
                ReasonCode.CREDIT_HOLD, f"the customer is on credit hold: {position.hold_reason}"
            )
        )
    reasons.sort(key=lambda r: -r.outcome.severity)  # stable: blocks, warnings, approvals
    return CreditDecision(
        outcome=reasons[0].outcome,
        reasons=tuple(reasons),
        amount=order,
        limit=ceiling,
        exposure_before=before,
        exposure_after=after,
        available=ceiling - before,
        at=moment,
    )


def _positive(value: object) -> str | None:
    if not isinstance(value, Money):
        return f"must be Money, not {type(value).__name__}"
    if value.amount <= 0:
        return f"{value} is not positive"
    return None


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class CreditOverride(Validated):
    """An explicit approval of an order the credit check blocked: who, when, why, how much.

    An override is never implied by a role: the approver records it, naming the order and the
    amount approved, and it covers a blocked decision only for that order and up to that
    amount (see `override_problem`).

    Attributes:
        order_id: the order approved.
        approved_by: who approved it (an authorised role's holder).
        at: when (UTC; an aware datetime is converted).
        reason: why, in words.
        amount: the most the approval covers: at least the blocked order's amount.
        id: the override's identifier; a new UUIDv7 by default.
        account_id: the credit account of the order; `approve_override` sets it, and a
            stored override always has one. ``None`` for an override judged, not stored.
        version: how many times it was stored; 0 until it is first added.

    Examples:
        >>> import pendulum
        >>> from crmkit import Money, new_id
        >>> override = CreditOverride(
        ...     order_id=new_id(), approved_by="zhang.wei", at=pendulum.datetime(2026, 3, 2, 10),
        ...     reason="paid by bank transfer tomorrow", amount=Money("15000", "CNY"))
        >>> override.amount
        Money('15000.00', 'CNY')
    """

    order_id: UUID = attrs.field(metadata=check(_uuid))
    approved_by: str = attrs.field(metadata=check(_key))
    at: pendulum.DateTime = attrs.field(converter=_as_utc, metadata=check(_instant))
    reason: str = attrs.field(metadata=check(_reason))
    amount: Money = attrs.field(metadata=check(_positive))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    account_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    version: int = attrs.field(default=0, metadata=check(version_check))


def override_problem(
    override: CreditOverride, decision: CreditDecision, *, order_id: UUID
) -> str | None:
    """Why `override` does not cover `decision` for the order `order_id`; ``None`` if it does.

    It covers it when the decision is a block, the override names that order, and approves at
    least the order's amount, in the same currency.

    Examples:
        >>> import pendulum
        >>> from crmkit import Money, new_id
        >>> position = CreditPosition(
        ...     unpaid_invoices=Money("90000", "CNY"), open_orders=Money("0", "CNY"))
        >>> at = pendulum.datetime(2026, 3, 2, 10)
        >>> blocked = check_order(position, Money("100000", "CNY"), Money("15000", "CNY"), at=at)
        >>> order = new_id()
        >>> too_little = CreditOverride(
        ...     order_id=order, approved_by="zhang.wei", at=at, reason="long-standing customer",
        ...     amount=Money("5000", "CNY"))
        >>> override_problem(too_little, blocked, order_id=order)
        'the override approves 5,000.00 CNY, less than the order of 15,000.00 CNY'

    Raises:
        ValidationError: an argument of the wrong type, named.
    """
    if not isinstance(override, CreditOverride):
        raise ValidationError.of(
            "override", f"must be a CreditOverride, not {type(override).__name__}"
        )
    if not isinstance(decision, CreditDecision):
        raise ValidationError.of(
            "decision", f"must be a CreditDecision, not {type(decision).__name__}"
        )
    if (problem := _uuid(order_id)) is not None:
        raise ValidationError.of("order_id", problem)
    if not decision.blocked:
        return f"the decision is {decision.outcome}, not a block: no override is needed"
    if override.order_id != order_id:
        return f"the override is for order {override.order_id}, not {order_id}"
    if override.amount.currency != decision.amount.currency:
        return (
            f"the override is in {override.amount.currency}; "
            f"the order is in {decision.amount.currency}"
        )
    if override.amount < decision.amount:
        return f"the override approves {override.amount}, less than the order of {decision.amount}"
    return None


def covers(override: CreditOverride, decision: CreditDecision, *, order_id: UUID) -> bool:
    """Whether `override` covers the blocked `decision` for `order_id` (see `override_problem`)."""
    return override_problem(override, decision, order_id=order_id) is None
