"""Moving customers through their lifecycle: by hand, and by the policy on a schedule.

Each move locks the customer, checks the move against `MOVES`, stores the customer's new stage,
adds a `LifecycleChange` record and records `LifecycleChanged`, all in the unit of work given
(never committed here). Bad input raises before anything is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

import pendulum

from crmkit._clock import to_utc
from crmkit._validation import shown, text
from crmkit.customers._arguments import an_id
from crmkit.customers._care_events import LifecycleChanged
from crmkit.customers._lifecycle import (
    POLICY_ACTOR,
    LifecycleChange,
    LifecyclePolicy,
    PurchaseSummary,
    check_move,
)
from crmkit.customers._model import Customer, LifecycleStage
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = ["apply_lifecycle_policy", "move_lifecycle"]

_reason = text(max_length=500)
_BATCH = 500


def _move(
    customer: Customer,
    stage: LifecycleStage,
    *,
    by: str,
    reason: str,
    at: pendulum.DateTime,
) -> LifecycleChange:
    change = LifecycleChange(
        customer_id=customer.id,
        previous=customer.lifecycle,
        stage=stage,
        at=at,
        by=by,
        reason=reason,
    )
    customer.lifecycle = stage
    return change


def _write(uow: UnitOfWork, customer: Customer, changes: list[LifecycleChange]) -> None:
    uow.customers.update(customer)
    uow.lifecycle_changes.add_many(changes)
    uow.record_many(
        LifecycleChanged,
        (
            {
                "customer_id": c.customer_id,
                "previous": c.previous,
                "stage": c.stage,
                "by": c.by,
                "reason": c.reason,
            }
            for c in changes
        ),
    )


def move_lifecycle(
    uow: UnitOfWork, customer_id: UUID, stage: LifecycleStage, *, reason: str
) -> LifecycleChange:
    """Move a customer to another lifecycle stage by hand, keeping the move in its history.

    The move must be one `MOVES` allows from the customer's stage. The customer is locked
    first, so that two moves at once take turns.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Customer, LifecycleStage, move_lifecycle
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li.na"))
        ...     change = move_lifecycle(uow, acme.id, LifecycleStage.PROSPECT,
        ...                             reason="asked for a quote")
        >>> str(change.previous), str(change.stage), change.by
        ('lead', 'prospect', 'li.na')

    Raises:
        NotFound: no such customer in the tenant.
        ValidationError: `reason` is blank or too long, `stage` is not a `LifecycleStage`, or
            the move is not allowed (the message names both stages); nothing is written.
    """
    key = an_id(customer_id, "customer_id")
    if not isinstance(stage, LifecycleStage):
        raise ValidationError.of("stage", f"must be a LifecycleStage, not {shown(stage)}")
    problem = _reason(reason)
    if problem is not None:
        raise ValidationError.of("reason", problem)
    customer = uow.customers.lock(key)
    check_move(customer.lifecycle, stage)
    change = _move(customer, stage, by=uow.actor_id, reason=reason, at=uow.now())
    _write(uow, customer, [change])
    return change


def _a_policy(policy: object) -> LifecyclePolicy:
    if not isinstance(policy, LifecyclePolicy):
        raise ValidationError.of("policy", f"must be a LifecyclePolicy, not {shown(policy)}")
    return policy


def _customer_ids(values: object) -> list[UUID] | None:
    if values is None:
        return None
    if isinstance(values, str | bytes | UUID) or not isinstance(values, Iterable):
        raise ValidationError.of(
            "customer_ids", f"must be an iterable of UUIDs, not {shown(values)}"
        )
    found = [an_id(v, f"customer_ids[{i}]") for i, v in enumerate(values)]
    return list(dict.fromkeys(found))


def apply_lifecycle_policy(
    uow: UnitOfWork,
    *,
    now: dt.datetime,
    policy: LifecyclePolicy | None = None,
    customer_ids: Iterable[UUID] | None = None,
) -> list[LifecycleChange]:
    """Move every customer (or those named) whose purchases call for it, as `policy` decides.

    A host runs it on a schedule (daily, say). Customers are read a page at a time; for each
    page, the stores compute each customer's purchases (count, first and last order placed)
    and when it entered its stage (its latest `LifecycleChange`) with one grouped query each,
    so no order history is loaded into Python. A customer whose stage must change is then
    locked, decided on again from what the lock read, moved, and its moves kept with
    ``by="policy"``. Running it again at the same `now` moves nothing more.

    Examples:
        >>> import crmkit, pendulum
        >>> from crmkit import Money
        >>> from crmkit.credit import open_account, place_order
        >>> from crmkit.customers import Customer, apply_lifecycle_policy
        >>> crm = crmkit.open("memory://", clock=crmkit.FixedClock("2026-03-02T09:00:00Z"))
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
        ...     account = open_account(uow, acme.id, Money("50000", "CNY"), key="a")
        ...     _ = place_order(uow, account.id, Money("1200", "CNY"), key="PO-1")
        >>> moved = crm.run(lambda uow: apply_lifecycle_policy(
        ...     uow, now=pendulum.datetime(2026, 3, 3)), actor="scheduler")
        >>> [(str(c.stage), c.by) for c in moved]
        [('customer', 'policy')]

    Args:
        uow: the unit of work.
        now: the moment the policy judges at (an aware datetime).
        policy: the parameters; `LifecyclePolicy` defaults when ``None``.
        customer_ids: only these customers (missing ones are skipped); every customer of the
            tenant when ``None``.

    Returns:
        The moves made, customer by customer, in order.

    Raises:
        ValidationError: an argument is bad; nothing is written.
        ConcurrencyError: another unit of work changed a customer first (run it again).
    """
    instant = to_utc(now, "now")
    rules = _a_policy(policy if policy is not None else LifecyclePolicy())
    wanted = _customer_ids(customer_ids)
    made: list[LifecycleChange] = []
    if wanted is not None:
        for start in range(0, len(wanted), _BATCH):
            page = uow.customers.get_many(wanted[start : start + _BATCH])
            made.extend(_apply(uow, page, rules, instant))
        return made
    after: UUID | None = None
    while page := uow.customers.page(after=after, limit=_BATCH):
        made.extend(_apply(uow, page, rules, instant))
        after = page[-1].id
    return made


def _apply(
    uow: UnitOfWork,
    page: list[Customer],
    policy: LifecyclePolicy,
    now: pendulum.DateTime,
) -> list[LifecycleChange]:
    keys = [c.id for c in page]
    purchases = uow.lifecycle_changes.purchases(keys)
    entered = uow.lifecycle_changes.entered(keys)
    none = PurchaseSummary()
    made: list[LifecycleChange] = []
    for seen in page:
        p = purchases.get(seen.id, none)
        if not policy.decide(seen.lifecycle, p, now=now, entered_at=entered.get(seen.id)).moves:
            continue
        customer = uow.customers.lock(seen.id)  # the stage as it is now, held
        since = uow.lifecycle_changes.entered([seen.id]).get(seen.id)
        decision = policy.decide(customer.lifecycle, p, now=now, entered_at=since)
        if not decision.moves:
            continue
        at = uow.now()
        changes = [
            _move(customer, m.stage, by=POLICY_ACTOR, reason=m.reason, at=at)
            for m in decision.moves
        ]
        _write(uow, customer, changes)
        made.extend(changes)
    return made
