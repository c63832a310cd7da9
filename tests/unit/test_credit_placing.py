"""The records the credit check adds to the ledger: an order's outcome and override, an
account's temporary increases, and what a `Placement` says."""

from __future__ import annotations

import pendulum
import pytest

from crmkit import Money, new_id
from crmkit.credit import CreditAccount, Order, Outcome, Placement, TemporaryIncrease
from crmkit.errors import ValidationError

AT = pendulum.datetime(2026, 3, 2, 10)


def cny(amount: int) -> Money:
    return Money(amount, "CNY")


def increase(amount: Money) -> TemporaryIncrease:
    return TemporaryIncrease(
        amount=amount,
        valid_from=AT,
        valid_until=AT.add(days=30),
        reason="spring fair",
        approved_by="zhang.wei",
    )


def test_an_order_names_an_override_exactly_when_it_was_placed_despite_a_block() -> None:
    account = new_id()
    placed = Order(account_id=account, amount=cny(10), placed_at=AT, outcome=Outcome.WARN)
    overridden = Order(
        account_id=account,
        amount=cny(10),
        placed_at=AT,
        outcome=Outcome.BLOCK,
        override_id=new_id(),
    )
    assert (placed.override_id, overridden.outcome) == (None, Outcome.BLOCK)
    for outcome, override in ((Outcome.BLOCK, None), (Outcome.APPROVE, new_id()), (None, new_id())):
        with pytest.raises(ValidationError, match="override_id: is set exactly when"):
            Order(
                account_id=account,
                amount=cny(10),
                placed_at=AT,
                outcome=outcome,
                override_id=override,
            )
    with pytest.raises(ValidationError, match="outcome: "):
        Order(account_id=account, amount=cny(10), placed_at=AT, outcome="approve")  # type: ignore[arg-type]


def test_an_accounts_increases_are_in_its_currency_each_once() -> None:
    spring = increase(cny(5000))
    account = CreditAccount(
        customer_id=new_id(), base_limit=cny(10000), opened_at=AT, increases=[spring]
    )
    assert account.increases == (spring,)
    with pytest.raises(ValidationError) as caught:
        CreditAccount(
            customer_id=new_id(),
            base_limit=cny(10000),
            opened_at=AT,
            increases=[spring, spring, increase(Money(5, "USD"))],
        )
    assert [i.path for i in caught.value.issues] == ["increases[2].amount", "increases[1].id"]
    with pytest.raises(ValidationError, match=r"increases\[0\]: "):
        CreditAccount(
            customer_id=new_id(),
            base_limit=cny(1),
            opened_at=AT,
            increases=["5000"],
        )


def test_a_placement_says_whether_the_order_was_placed() -> None:
    order = Order(account_id=new_id(), amount=cny(10), placed_at=AT, outcome=Outcome.APPROVE)
    placed = Placement(order_id=order.id, outcome=Outcome.APPROVE, order=order, decision=None)
    blocked = Placement(order_id=new_id(), outcome=Outcome.BLOCK, order=None, decision=None)
    assert (placed.placed, placed.blocked, blocked.placed, blocked.blocked) == (
        True,
        False,
        False,
        True,
    )
