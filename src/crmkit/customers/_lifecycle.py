"""A customer's lifecycle: its stages, the moves allowed between them, the policy that moves it.

The stages (`LifecycleStage`) run lead -> prospect -> customer -> repeat customer -> at risk ->
churned -> won back. `MOVES` says which moves are allowed, by hand (`move_lifecycle`) and by
the policy alike; `LifecyclePolicy` decides from a customer's purchases which moves are due.
Every move is kept as a `LifecycleChange`, an append-only record, so the history of stages is
never lost.

A purchase is an order placed on credit and not cancelled (`crmkit.credit.Order`, any status
but ``cancelled``), at the moment it was placed: the order is when the customer decided to buy,
and invoices follow orders. Orders placed outside crmkit's ledger are not seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final
from uuid import UUID

import attrs
import pendulum

from crmkit._ids import new_id
from crmkit._validation import (
    ON_SETATTR,
    Validated,
    bounded_int,
    check,
    instance_of,
    optional,
    text,
)
from crmkit.customers._model import LifecycleStage, _instant, _key, _uuid, version_check
from crmkit.errors import Issue, ValidationError

__all__ = [
    "MOVES",
    "POLICY_ACTOR",
    "LifecycleChange",
    "LifecycleDecision",
    "LifecycleMove",
    "LifecyclePolicy",
    "PurchaseSummary",
    "check_move",
]

S = LifecycleStage

MOVES: Final[Mapping[LifecycleStage, frozenset[LifecycleStage]]] = MappingProxyType(
    {
        S.LEAD: frozenset({S.PROSPECT, S.CUSTOMER}),
        S.PROSPECT: frozenset({S.LEAD, S.CUSTOMER}),
        S.CUSTOMER: frozenset({S.REPEAT_CUSTOMER, S.AT_RISK, S.CHURNED}),
        S.REPEAT_CUSTOMER: frozenset({S.AT_RISK, S.CHURNED}),
        S.AT_RISK: frozenset({S.CUSTOMER, S.REPEAT_CUSTOMER, S.CHURNED}),
        S.CHURNED: frozenset({S.WON_BACK}),
        S.WON_BACK: frozenset({S.REPEAT_CUSTOMER, S.AT_RISK, S.CHURNED}),
    }
)
"""The stages each stage may move to, by hand or by the policy (see docs/lifecycle.md)."""

POLICY_ACTOR: Final = "policy"
"""What `LifecycleChange.by` says for a move the policy made."""

_reason = text(max_length=500)


def check_move(current: LifecycleStage, stage: LifecycleStage) -> None:
    """Raise `ValidationError` (field ``stage``) unless `current` may move to `stage`.

    Examples:
        >>> from crmkit.customers import LifecycleStage as S, check_move
        >>> check_move(S.CHURNED, S.WON_BACK)
        >>> try:
        ...     check_move(S.CHURNED, S.CUSTOMER)
        ... except ValueError as e:
        ...     print(e)
        stage: cannot move from churned to customer (from churned: won_back)
    """
    if not isinstance(stage, LifecycleStage):
        raise ValidationError.of("stage", f"must be a LifecycleStage, not {type(stage).__name__}")
    allowed = MOVES[current]
    if stage not in allowed:
        to = ", ".join(sorted(allowed))
        raise ValidationError.of(
            "stage", f"cannot move from {current} to {stage} (from {current}: {to})"
        )


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class LifecycleChange(Validated):
    """One move of a customer from one lifecycle stage to another: a record that is never changed.

    Attributes:
        customer_id: the customer.
        previous: the stage it left.
        stage: the stage it entered.
        at: when (UTC).
        by: who moved it: the actor of the unit of work, or `POLICY_ACTOR` for the policy.
        reason: why, in words.
        id: the record's identifier; a new UUIDv7 by default.
        version: how many times it was stored; 0 until it is first added.
    """

    customer_id: UUID = attrs.field(metadata=check(_uuid))
    previous: LifecycleStage = attrs.field(metadata=check(instance_of(LifecycleStage)))
    stage: LifecycleStage = attrs.field(metadata=check(instance_of(LifecycleStage)))
    at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    by: str = attrs.field(metadata=check(_key))
    reason: str = attrs.field(metadata=check(_reason))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        if isinstance(self.previous, LifecycleStage) and self.stage not in MOVES[self.previous]:
            return [Issue("stage", f"cannot move from {self.previous} to {self.stage}")]
        return []


@attrs.frozen(kw_only=True)
class PurchaseSummary(Validated):
    """A customer's purchases, as the policy reads them.

    Attributes:
        count: how many purchases (orders placed and not cancelled).
        first_at: when the first was placed; ``None`` without purchases.
        last_at: when the latest was placed; ``None`` without purchases.
    """

    count: int = attrs.field(default=0, metadata=check(bounded_int(0, 2**31 - 1)))
    first_at: pendulum.DateTime | None = attrs.field(
        default=None, metadata=check(optional(_instant))
    )
    last_at: pendulum.DateTime | None = attrs.field(
        default=None, metadata=check(optional(_instant))
    )

    def _invariants(self) -> list[Issue]:
        if (self.count > 0) != (self.last_at is not None) or (self.first_at is None) != (
            self.last_at is None
        ):
            return [Issue("last_at", "and first_at are set exactly when there are purchases")]
        if self.first_at is not None and self.last_at is not None and self.first_at > self.last_at:
            return [Issue("first_at", "is after last_at")]
        return []


@attrs.frozen
class LifecycleMove:
    """One move the policy decided: from a stage to the next, and why.

    Attributes:
        previous: the stage left.
        stage: the stage entered.
        reason: why, in words (``"no purchase for 95 days (at risk after 90)"``).
    """

    previous: LifecycleStage
    stage: LifecycleStage
    reason: str


@attrs.frozen
class LifecycleDecision:
    """What the policy decided for one customer: the moves, in order (none when it stays).

    Attributes:
        stage: the stage the customer is in now.
        moves: the moves to make, each allowed by `MOVES`; the last one's stage is where the
            customer ends up. More than one when several rules apply at once (a lead with two
            orders becomes a customer, then a repeat customer).
        purchases: the figures the decision read.
    """

    stage: LifecycleStage
    moves: tuple[LifecycleMove, ...]
    purchases: PurchaseSummary

    @property
    def target(self) -> LifecycleStage:
        """The stage the customer ends up in."""
        return self.moves[-1].stage if self.moves else self.stage


_days = bounded_int(1, 36_500)
_count = bounded_int(2, 1000)


def _day(instant: dt.datetime) -> str:
    return instant.date().isoformat()


@attrs.frozen(kw_only=True)
class LifecyclePolicy(Validated):
    """When customers move automatically, from their purchases (a purchase: an order placed).

    The rules, applied from the customer's stage until none applies:

    - a lead or prospect with a purchase becomes a customer;
    - a customer with `repeat_after` purchases or more becomes a repeat customer;
    - a customer, repeat customer or won-back customer whose last purchase is `at_risk_after`
      days old or more is at risk, and `churned_after` days or more, churned (an at-risk one
      too);
    - an at-risk customer who buys again (after it was marked at risk) is a customer again,
      or a repeat customer with `repeat_after` purchases;
    - a churned customer who buys again (after it was marked churned) is won back;
    - a won-back customer who buys again after it was won back is a repeat customer.

    Days are whole periods of 24 hours since the last purchase. A customer without purchases
    never moves by the policy. Where the stage was never changed (no `LifecycleChange`), "after
    it was marked" reads as "within `at_risk_after` days".

    Examples:
        >>> import pendulum
        >>> from crmkit.customers import LifecyclePolicy, LifecycleStage, PurchaseSummary
        >>> t = pendulum.datetime(2026, 1, 5)
        >>> two = PurchaseSummary(count=2, first_at=t, last_at=t.add(days=3))
        >>> d = LifecyclePolicy().decide(LifecycleStage.LEAD, two, now=t.add(days=10))
        >>> [str(m.stage) for m in d.moves]
        ['customer', 'repeat_customer']
        >>> LifecyclePolicy().decide(LifecycleStage.CUSTOMER, two, now=t.add(days=400)).target
        <LifecycleStage.CHURNED: 'churned'>

    Attributes:
        at_risk_after: days without a purchase after which a customer is at risk (90).
        churned_after: days without a purchase after which a customer is churned (180); more
            than `at_risk_after`.
        repeat_after: purchases that make a repeat customer (2).
    """

    at_risk_after: int = attrs.field(default=90, metadata=check(_days))
    churned_after: int = attrs.field(default=180, metadata=check(_days))
    repeat_after: int = attrs.field(default=2, metadata=check(_count))

    def _invariants(self) -> list[Issue]:
        if self.churned_after <= self.at_risk_after:
            return [
                Issue(
                    "churned_after",
                    f"{self.churned_after} must be more than at_risk_after ({self.at_risk_after})",
                )
            ]
        return []

    def decide(
        self,
        stage: LifecycleStage,
        purchases: PurchaseSummary,
        *,
        now: dt.datetime,
        entered_at: dt.datetime | None = None,
    ) -> LifecycleDecision:
        """The moves due for a customer in `stage` with `purchases`, at `now`.

        Args:
            stage: the customer's stage.
            purchases: the customer's purchases.
            now: the moment of the decision.
            entered_at: when the customer entered `stage` (its latest `LifecycleChange`), if
                known.

        Raises:
            ValidationError: an argument is of the wrong type.
        """
        if not isinstance(stage, LifecycleStage):
            raise ValidationError.of(
                "stage", f"must be a LifecycleStage, not {type(stage).__name__}"
            )
        if not isinstance(purchases, PurchaseSummary):
            raise ValidationError.of(
                "purchases", f"must be a PurchaseSummary, not {type(purchases).__name__}"
            )
        for name, value in (("now", now), ("entered_at", entered_at)):
            if value is not None and (
                not isinstance(value, dt.datetime) or value.utcoffset() is None
            ):
                raise ValidationError.of(name, "must be an aware datetime")
        moves: list[LifecycleMove] = []
        current, since = stage, entered_at
        while (found := self._next(current, purchases, now, since)) is not None:
            moves.append(found)
            current, since = found.stage, now
        return LifecycleDecision(stage, tuple(moves), purchases)

    def _next(
        self,
        stage: LifecycleStage,
        p: PurchaseSummary,
        now: dt.datetime,
        since: dt.datetime | None,
    ) -> LifecycleMove | None:
        if p.first_at is None or p.last_at is None:
            return None
        if stage in (S.LEAD, S.PROSPECT):
            return LifecycleMove(stage, S.CUSTOMER, f"first purchase on {_day(p.first_at)}")
        idle = int((now - p.last_at).total_seconds() // 86_400)
        if idle >= self.churned_after and stage is not S.CHURNED:
            why = f"no purchase for {idle} days (churned after {self.churned_after})"
            return LifecycleMove(stage, S.CHURNED, why)
        return self._bought(stage, p, idle, since) or self._idle(stage, idle)

    def _bought(
        self, stage: LifecycleStage, p: PurchaseSummary, idle: int, since: dt.datetime | None
    ) -> LifecycleMove | None:
        """The move a purchase calls for, if any."""
        assert p.last_at is not None  # noqa: S101 (only asked with purchases)
        bought = f"bought again on {_day(p.last_at)}"
        # Bought again since entering the stage (or recently, where that is not known).
        again = p.last_at > since if since is not None else idle < self.at_risk_after
        recent = idle < self.at_risk_after
        repeat = p.count >= self.repeat_after
        found: dict[LifecycleStage, LifecycleMove | None] = {
            S.CUSTOMER: LifecycleMove(stage, S.REPEAT_CUSTOMER, f"{p.count} purchases")
            if repeat
            else None,
            S.AT_RISK: LifecycleMove(stage, S.REPEAT_CUSTOMER if repeat else S.CUSTOMER, bought)
            if again and recent
            else None,
            S.CHURNED: LifecycleMove(stage, S.WON_BACK, bought) if again and recent else None,
            S.WON_BACK: LifecycleMove(stage, S.REPEAT_CUSTOMER, f"{bought} after the win-back")
            if since is not None and p.last_at > since
            else None,
        }
        return found.get(stage)

    def _idle(self, stage: LifecycleStage, idle: int) -> LifecycleMove | None:
        """The move a long time without purchases calls for, if any."""
        if stage in (S.CUSTOMER, S.REPEAT_CUSTOMER, S.WON_BACK) and idle >= self.at_risk_after:
            why = f"no purchase for {idle} days (at risk after {self.at_risk_after})"
            return LifecycleMove(stage, S.AT_RISK, why)
        return None
