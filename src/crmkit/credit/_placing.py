"""The credit check in a unit of work: the dry run, placing an order through it, overrides.

`check_credit` reads what the pure `check_order` needs from the store: the account's running
balances, its customer's tier, its temporary increases and, in one aggregate query on the
index (account, status, due), the overdue invoices' balance and oldest due date (never every
invoice). `place_order` runs the same check *after* locking the account, so that orders of one
customer placed at once queue on the lock and each sees the others' reservations: together
they cannot pass the limit.

A blocked order reserves nothing: `CreditBlocked` is recorded with the reasons and figures and
the id the order would have had, and the caller gets a `Placement` without an order. A blocked
attempt is **not** kept under its idempotency key: it changed nothing, so the same call (same
key) may be made again once the position changed (a payment arrived) or with an override, and
each blocked attempt records its own `CreditBlocked`. A placed order is kept under its key as
every ledger call is: a repeat returns a `Placement` of that order (``repeat`` true, its
outcome as stored on the order, no new decision).

A block is overridden only by an approval recorded with `approve_override` (who, when, why,
for how much, naming the order's id); `place_order(..., order_id=..., override_id=...)` then
places it if that override covers the decision, and records `CreditOverridden`. A role never
bypasses the check by itself.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from uuid import UUID

import attrs

from crmkit._clock import to_utc
from crmkit._ids import new_id
from crmkit._money import Money
from crmkit._rates import ExchangeRates
from crmkit._validation import shown
from crmkit.credit._decision import (
    CreditDecision,
    CreditOverride,
    CreditPosition,
    Outcome,
    check_order,
    override_problem,
)
from crmkit.credit._decision import (
    _key as _approver,
)
from crmkit.credit._ledger import (
    CreditAccount,
    DocumentKind,
    EntryKind,
    Order,
    _reason,
    _reference,
)
from crmkit.credit._ledger_events import CreditBlocked, CreditOverridden, CreditReserved
from crmkit.credit._ledger_services import (
    _a_date,
    _a_key,
    _begin,
    _digest,
    _in_currency,
    _optional_text,
    _positive,
)
from crmkit.credit._policy import CreditPolicy, PaymentHistory, TemporaryIncrease, credit_limit
from crmkit.customers._arguments import an_id as _an_id
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = ["Placement", "approve_override", "check_credit", "grant_increase", "place_order"]


@attrs.frozen(kw_only=True)
class Placement:
    """What `place_order` did: the order placed, or the block that stopped it.

    Attributes:
        order_id: the order's id; for a block, the id it would have had (an override names it).
        outcome: approve or warn (placed), or block (placed only through an override).
        order: the order placed; ``None`` when blocked.
        decision: the credit check's decision; ``None`` on a repeat, which returns the order
            the first call placed without checking again.
        override_id: the override the order was placed through, if any.
        repeat: whether this call repeated an earlier one (same key): nothing was written.
    """

    order_id: UUID
    outcome: Outcome
    order: Order | None
    decision: CreditDecision | None
    override_id: UUID | None = None
    repeat: bool = False

    @property
    def placed(self) -> bool:
        """Whether the order was placed (its amount reserved)."""
        return self.order is not None

    @property
    def blocked(self) -> bool:
        """Whether the check blocked the order and nothing was reserved."""
        return self.order is None


def _a_policy(policy: object) -> CreditPolicy:
    if policy is None:
        return CreditPolicy()
    if not isinstance(policy, CreditPolicy):
        raise ValidationError.of("policy", f"must be a CreditPolicy, not {shown(policy)}")
    return policy


def _a_history(history: object) -> PaymentHistory | None:
    if history is not None and not isinstance(history, PaymentHistory):
        raise ValidationError.of("history", f"must be a PaymentHistory, not {shown(history)}")
    return history


def _decide(
    uow: UnitOfWork,
    account: CreditAccount,
    amount: Money,
    *,
    policy: CreditPolicy,
    history: PaymentHistory | None,
    at: dt.datetime,
) -> CreditDecision:
    """The decision on an order of `amount` (in the account's currency) at `at`."""
    tier = uow.customers.get(account.customer_id).tier
    limit = credit_limit(
        account.base_limit,
        tier=tier,
        history=history,
        increases=account.increases,
        at=at,
        policy=policy,
    )
    day: dt.date = to_utc(at, "at").date()
    late = uow.invoices.overdue(account.id, day)
    currency = account.currency
    position = CreditPosition(
        unpaid_invoices=account.unpaid_invoices,
        open_orders=account.open_orders,
        overdue_amount=Money(late.amount, currency) if late.count else None,
        oldest_overdue_days=0 if late.oldest_due is None else (day - late.oldest_due).days,
        on_hold=account.on_hold,
        hold_reason=account.hold_reason,
    )
    return check_order(position, limit, amount, at=at, policy=policy)


def check_credit(
    uow: UnitOfWork,
    account_id: UUID,
    amount: Money,
    *,
    policy: CreditPolicy | None = None,
    history: PaymentHistory | None = None,
    at: dt.datetime | None = None,
) -> CreditDecision:
    """The dry run before placing: would an order of `amount` be approved, warned or blocked?

    Reads the account's running balances, its customer's tier, its temporary increases in
    force at `at` and the overdue invoices' figures (one aggregate query: the cost does not
    grow with past invoices); writes nothing and locks nothing, so the answer may be out of
    date by the time the order is placed: `place_order` checks again under the account's lock.

    Args:
        uow: the unit of work.
        account_id: the credit account.
        amount: the order's amount, in the account's currency.
        policy: the parameters; `CreditPolicy` defaults when ``None``.
        history: how the customer has paid, if known (adjusts the limit).
        at: the moment of the check; the unit of work's clock by default.

    Examples:
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.credit import check_credit, open_account
        >>> from crmkit.customers import Customer
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        ...     account = open_account(uow, acme.id, Money("10000", "CNY"), key="a")
        ...     decision = check_credit(uow, account.id, Money("9500", "CNY"))
        >>> decision.outcome, str(decision.available)
        (<Outcome.WARN: 'warn'>, '10,000.00 CNY')

    Raises:
        NotFound: no such account.
        ValidationError: an argument is bad, named (an amount in another currency too).
    """
    account = uow.credit_accounts.get(_an_id(account_id, "account_id"))
    given = _positive(amount, "amount")
    moment = uow.now() if at is None else to_utc(at, "at")
    return _decide(
        uow, account, given, policy=_a_policy(policy), history=_a_history(history), at=moment
    )


def place_order(
    uow: UnitOfWork,
    account_id: UUID,
    amount: Money,
    *,
    key: str,
    reference: str | None = None,
    rates: ExchangeRates | None = None,
    on: dt.date | None = None,
    policy: CreditPolicy | None = None,
    history: PaymentHistory | None = None,
    order_id: UUID | None = None,
    override_id: UUID | None = None,
) -> Placement:
    """Place an order on credit if the credit check allows it: reserve its amount.

    Locks the account, then checks the order as `check_credit` does. Approve or warn: the
    amount is reserved (open orders go up) and `CreditReserved` is recorded with the outcome.
    Block: nothing is reserved, `CreditBlocked` is recorded, and the `Placement` has no order;
    the key is not kept (see the module). With `override_id`, a blocked order is placed if that
    override (see `approve_override`) covers it, and `CreditOverridden` is recorded too; an
    order that the check approves now is placed without using it.

    An amount in another currency than the account's is converted with `rates` at the rate in
    force `on` (today by the unit of work's clock, by default); the entry records the original
    and the rate.

    Examples:
        >>> import crmkit
        >>> from crmkit import Money
        >>> from crmkit.credit import open_account, place_order
        >>> from crmkit.customers import Customer
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        ...     account = open_account(uow, acme.id, Money("50000", "CNY"), key="a")
        ...     placed = place_order(uow, account.id, Money("1200", "CNY"), key="PO-7")
        ...     blocked = place_order(uow, account.id, Money("60000", "CNY"), key="PO-8")
        ...     str(uow.credit_accounts.get(account.id).open_orders)
        '1,200.00 CNY'
        >>> placed.outcome, blocked.outcome, blocked.order
        (<Outcome.APPROVE: 'approve'>, <Outcome.BLOCK: 'block'>, None)

    Args:
        uow: the unit of work.
        account_id: the credit account (locked first).
        amount: the order's amount.
        key: the idempotency key.
        reference: the host's order number.
        rates: the rates to convert an amount in another currency at.
        on: the day of the rate; today by default.
        policy: the credit policy; `CreditPolicy` defaults when ``None``.
        history: how the customer has paid, if known.
        order_id: the order's id; a new one by default. Needed with `override_id`: the id the
            blocked attempt reported and the override names.
        override_id: a `CreditOverride` approving this order despite a block.

    Raises:
        NotFound: no such account, or no such override.
        ValidationError: an argument is bad, `order_id` names an order placed already, the
            override is another account's or does not cover the block (too little, another
            order), or `key` was used for another call; nothing is written.
        MissingRate: no rate to convert the amount at.
    """
    account_key = _an_id(account_id, "account_id")
    given = _positive(amount, "amount")
    key = _a_key(key)
    reference = _optional_text(reference, "reference", _reference)
    day = None if on is None else _a_date(on, "on")
    rules = _a_policy(policy)
    paid = _a_history(history)
    wanted = None if order_id is None else _an_id(order_id, "order_id")
    approval_id = None if override_id is None else _an_id(override_id, "override_id")
    if approval_id is not None and wanted is None:
        raise ValidationError.of("order_id", "must name the order the override approves")
    request = _digest(account_key, given, reference, day, wanted, approval_id)
    run, done = _begin(uow, account_key, key, "place_order", request)
    if done is not None:
        order = uow.orders.get(done.document_id)
        return Placement(
            order_id=order.id,
            outcome=order.outcome or Outcome.APPROVE,
            order=order,
            decision=None,
            override_id=order.override_id,
            repeat=True,
        )
    account = run.account
    converted, conversion = _in_currency(given, account, rates, day or run.at.date(), "amount")
    if wanted is not None and uow.orders.get_many([wanted]):
        raise ValidationError.of("order_id", "names an order placed already")
    the_id = wanted or new_id()
    decision = _decide(uow, account, converted, policy=rules, history=paid, at=run.at)
    override = None
    if approval_id is not None and decision.blocked:
        override = uow.credit_overrides.get(approval_id)
        if override.account_id != account.id:
            raise ValidationError.of("override_id", "is an override of another credit account")
        problem = override_problem(override, decision, order_id=the_id)
        if problem is not None:
            raise ValidationError.of("override_id", problem)
    codes = tuple(str(c) for c in decision.codes)
    if decision.blocked and override is None:
        uow.record(
            CreditBlocked,
            account_id=account.id,
            customer_id=account.customer_id,
            order_id=the_id,
            amount=converted,
            reasons=codes,
            messages=tuple(r.message for r in decision.reasons),
            limit=decision.limit,
            exposure_before=decision.exposure_before,
            exposure_after=decision.exposure_after,
            available=decision.available,
            overdue_amount=_overdue(decision, account.currency),
            oldest_overdue_days=_oldest(decision),
            on_hold=account.on_hold,
        )
        return Placement(order_id=the_id, outcome=Outcome.BLOCK, order=None, decision=decision)
    order = Order(
        id=the_id,
        account_id=account.id,
        amount=converted,
        placed_at=run.at,
        reference=reference,
        outcome=decision.outcome,
        override_id=None if override is None else override.id,
    )
    run.entry(
        EntryKind.RESERVE, DocumentKind.ORDER, order.id, converted, orders=1, conversion=conversion
    )
    uow.orders.add(order)
    run.finish(DocumentKind.ORDER, order.id)
    if override is not None:
        uow.record(
            CreditOverridden,
            account_id=account.id,
            customer_id=account.customer_id,
            order_id=order.id,
            override_id=override.id,
            amount=converted,
            approved=override.amount,
            approved_by=override.approved_by,
            reason=override.reason,
            reasons=codes,
        )
    uow.record(
        CreditReserved,
        account_id=account.id,
        customer_id=account.customer_id,
        order_id=order.id,
        amount=converted,
        open_orders=account.open_orders,
        unpaid_invoices=account.unpaid_invoices,
        outcome=decision.outcome,
        reasons=codes,
    )
    return Placement(
        order_id=order.id,
        outcome=decision.outcome,
        order=order,
        decision=decision,
        override_id=order.override_id,
    )


def _overdue(decision: CreditDecision, currency: str) -> Money:
    for reason in decision.reasons:
        figure = reason.figures.get("overdue_amount")
        if isinstance(figure, Money):
            return figure
    return Money.zero(currency)


def _oldest(decision: CreditDecision) -> int:
    for reason in decision.reasons:
        figure = reason.figures.get("oldest_overdue_days")
        if isinstance(figure, int):
            return figure
    return 0


def approve_override(
    uow: UnitOfWork,
    account_id: UUID,
    order_id: UUID,
    amount: Money,
    *,
    approved_by: str,
    reason: str,
    key: str,
) -> CreditOverride:
    """Record an approval of a blocked order: who, when (the clock), why, and for how much.

    `order_id` is the id the blocked `Placement` reported; `place_order` with that `order_id`
    and the override's id then places the order if the override covers the block.

    Raises:
        NotFound: no such account.
        ValidationError: an argument is bad, `amount` is in another currency than the
            account's, the order is placed already, or `key` was used for another call;
            nothing is written.
    """
    account_key = _an_id(account_id, "account_id")
    order_key = _an_id(order_id, "order_id")
    approved = _positive(amount, "amount")
    if (problem := _approver(approved_by)) is not None:
        raise ValidationError.of("approved_by", problem)
    if (problem := _reason(reason)) is not None:
        raise ValidationError.of("reason", problem)
    key = _a_key(key)
    request = _digest(account_key, order_key, approved, approved_by, reason)
    run, done = _begin(uow, account_key, key, "approve_override", request)
    if done is not None:
        return uow.credit_overrides.get(done.document_id)
    account = run.account
    if approved.currency != account.currency:
        raise ValidationError.of(
            "amount", f"is in {approved.currency}, not the account's {account.currency}"
        )
    if uow.orders.get_many([order_key]):
        raise ValidationError.of("order_id", "names an order placed already")
    override = CreditOverride(
        account_id=account.id,
        order_id=order_key,
        approved_by=approved_by,
        at=run.at,
        reason=reason,
        amount=approved,
    )
    uow.credit_overrides.add(override)
    run.finish(DocumentKind.OVERRIDE, override.id, account=False)
    return override


def grant_increase(
    uow: UnitOfWork, account_id: UUID, increase: TemporaryIncrease, *, key: str
) -> CreditAccount:
    """Grant the account a temporary increase: the check counts it from its start to its expiry.

    Raises:
        NotFound: no such account.
        ValidationError: `increase` is not a `TemporaryIncrease`, is in another currency than
            the account's or granted already, or `key` was used for another call; nothing is
            written.
    """
    account_key = _an_id(account_id, "account_id")
    if not isinstance(increase, TemporaryIncrease):
        raise ValidationError.of("increase", f"must be a TemporaryIncrease, not {shown(increase)}")
    key = _a_key(key)
    request = _digest(
        account_key,
        increase.id,
        increase.amount,
        increase.valid_from,
        increase.valid_until,
        increase.reason,
        increase.approved_by,
    )
    run, done = _begin(uow, account_key, key, "grant_increase", request)
    if done is not None:
        return run.account
    account = run.account
    if increase.amount.currency != account.currency:
        raise ValidationError.of(
            "increase.amount",
            f"is in {increase.amount.currency}, not the account's {account.currency}",
        )
    if any(x.id == increase.id for x in account.increases):
        raise ValidationError.of("increase", "is granted to the account already")
    account.increases = (*account.increases, increase)
    run.finish(DocumentKind.ACCOUNT, account.id)
    return account
