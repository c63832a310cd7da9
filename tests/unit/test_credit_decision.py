"""The order check and credit overrides (issue 17, item 4, the pure part)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmkit import Money, new_id
from crmkit.credit import (
    CreditDecision,
    CreditOverride,
    CreditPolicy,
    CreditPosition,
    ExposurePart,
    Outcome,
    PaymentHistory,
    ReasonCode,
    check_order,
    covers,
    credit_limit,
    override_problem,
)
from crmkit.errors import ValidationError

AT = pendulum.datetime(2026, 3, 2, 10)
LIMIT = Money("100000", "CNY")


def cny(amount: str | int | Decimal) -> Money:
    return Money(amount, "CNY")


def position(
    invoices: str | int = 0,
    orders: str | int = 0,
    *,
    overdue: str | int | None = None,
    days: int = 0,
    hold: str | None = None,
) -> CreditPosition:
    return CreditPosition(
        unpaid_invoices=cny(invoices),
        open_orders=cny(orders),
        overdue_amount=None if overdue is None else cny(overdue),
        oldest_overdue_days=days,
        on_hold=hold is not None,
        hold_reason=hold,
    )


def check(where: CreditPosition, amount: str | int, limit: Money = LIMIT) -> CreditDecision:
    return check_order(where, limit, cny(amount), at=AT)


def override(
    order: object, amount: str | int | Decimal = 50000, currency: str = "CNY"
) -> CreditOverride:
    return CreditOverride(
        order_id=order,  # type: ignore[arg-type]
        approved_by="zhang.wei",
        at=AT,
        reason="pays by transfer tomorrow",
        amount=Money(amount, currency),
    )


# --- strategies --------------------------------------------------------------------------------

CENTS = st.integers(0, 10**9).map(lambda n: cny(Decimal(n).scaleb(-2)))


@st.composite
def positions(draw: st.DrawFn) -> CreditPosition:
    invoices = draw(CENTS)
    days = draw(st.integers(0, 120)) if invoices else 0
    overdue = None
    if days:
        cents = draw(st.integers(1, int(invoices.amount * 100)))
        overdue = cny(Decimal(cents).scaleb(-2))
    hold = draw(st.none() | st.just("disputed invoices"))
    return CreditPosition(
        unpaid_invoices=invoices,
        open_orders=draw(CENTS),
        overdue_amount=overdue,
        oldest_overdue_days=days,
        on_hold=hold is not None,
        hold_reason=hold,
    )


# --- the rules, one by one ----------------------------------------------------------------------


def test_an_order_within_the_limit_is_approved_with_its_figures() -> None:
    decision = check(position(40000, 10000), 20000)
    assert decision.outcome is Outcome.APPROVE
    assert decision.approved
    assert not decision.blocked
    assert decision.codes == (ReasonCode.WITHIN_LIMIT,)
    assert (decision.limit, decision.exposure_before, decision.exposure_after) == (
        LIMIT,
        cny(50000),
        cny(70000),
    )
    assert (decision.available, decision.available_after) == (cny(50000), cny(30000))
    assert decision.amount == cny(20000)
    assert decision.at == AT
    reason = decision.reasons[0]
    assert reason.figures == {
        "limit": LIMIT,
        "exposure_before": cny(50000),
        "exposure_after": cny(70000),
        "available": cny(50000),
        "amount": cny(20000),
    }
    assert reason.message == (
        "the order of 20,000.00 CNY fits the available credit of 50,000.00 CNY "
        "(limit 100,000.00 CNY)"
    )


def test_the_warn_band_and_the_limit_are_exact_to_the_cent() -> None:
    assert check(position(80000), 10000).outcome is Outcome.APPROVE  # exactly 90%
    assert check(position(80000), "10000.01").codes == (ReasonCode.NEAR_LIMIT,)
    assert check(position(80000), 20000).outcome is Outcome.WARN  # exactly the limit
    blocked = check(position(80000), "20000.01")
    assert blocked.codes == (ReasonCode.LIMIT_EXCEEDED,)
    assert blocked.outcome is Outcome.BLOCK
    assert blocked.available_after == cny("-0.01")
    assert "exceeds the available credit of 20,000.00 CNY" in blocked.reasons[0].message


def test_overdue_invoices_warn_and_block_past_the_policy_days() -> None:
    warned = check(position(10000, overdue=3000, days=30), 100)
    assert warned.codes == (ReasonCode.OVERDUE, ReasonCode.WITHIN_LIMIT)
    assert warned.outcome is Outcome.WARN
    assert warned.reasons[0].figures == {
        "oldest_overdue_days": 30,
        "overdue_amount": cny(3000),
        "overdue_days": 30,
    }
    blocked = check(position(10000, overdue=3000, days=31), 100)
    assert blocked.codes == (ReasonCode.LONG_OVERDUE, ReasonCode.WITHIN_LIMIT)
    assert blocked.outcome is Outcome.BLOCK
    assert "more than the 30 days allowed" in blocked.reasons[0].message
    lenient = check_order(
        position(10000, overdue=3000, days=31),
        LIMIT,
        cny(100),
        at=AT,
        policy=CreditPolicy(overdue_days=60),
    )
    assert lenient.outcome is Outcome.WARN


def test_a_credit_hold_blocks_and_says_why() -> None:
    decision = check(position(), 1, limit=LIMIT)
    assert decision.outcome is Outcome.APPROVE
    held = check(position(hold="disputed invoice INV-7"), 1)
    assert held.codes == (ReasonCode.CREDIT_HOLD, ReasonCode.WITHIN_LIMIT)
    assert held.reasons[0].message == "the customer is on credit hold: disputed invoice INV-7"
    assert str(held.reasons[0]).startswith("credit_hold: ")


def test_every_reason_is_given_worst_first() -> None:
    decision = check(position(95000, overdue=5000, days=45, hold="bankrupt"), 10000)
    assert decision.codes == (
        ReasonCode.LIMIT_EXCEEDED,
        ReasonCode.LONG_OVERDUE,
        ReasonCode.CREDIT_HOLD,
    )
    near = check(position(85000, overdue=5000, days=5), 6000)
    assert near.codes == (ReasonCode.NEAR_LIMIT, ReasonCode.OVERDUE)


def test_which_parts_count_as_exposure_is_configuration() -> None:
    where = position(60000, 30000)
    both = check(where, 20000)
    invoices_only = check_order(
        where,
        LIMIT,
        cny(20000),
        at=AT,
        policy=CreditPolicy(exposure=[ExposurePart.INVOICES]),
    )
    assert both.exposure_before == cny(90000)
    assert both.outcome is Outcome.BLOCK
    assert invoices_only.exposure_before == cny(60000)
    assert invoices_only.exposure_after == cny(80000)
    assert invoices_only.outcome is Outcome.APPROVE
    assert where.exposure(CreditPolicy(exposure={ExposurePart.ORDERS})) == cny(30000)


def test_the_limit_may_be_the_result_of_the_policy() -> None:
    limit = credit_limit(cny(100000), tier="C")
    assert check_order(position(60000), limit, cny(5000), at=AT).limit == cny(70000)


# --- laws ---------------------------------------------------------------------------------------


@given(positions(), CENTS, CENTS)
def test_available_is_the_limit_less_exposure(
    where: CreditPosition, limit: Money, amount: Money
) -> None:
    decision = check_order(where, limit, amount, at=AT)
    assert decision.available == decision.limit - decision.exposure_before
    assert decision.exposure_before == where.unpaid_invoices + where.open_orders
    assert decision.exposure_after == decision.exposure_before + amount
    assert decision.available_after == decision.available - amount
    assert decision.outcome.severity == max(r.outcome.severity for r in decision.reasons)
    assert decision.blocked == (decision.outcome is Outcome.BLOCK)
    # Exactly one reason speaks of the limit.
    limit_codes = {ReasonCode.WITHIN_LIMIT, ReasonCode.NEAR_LIMIT, ReasonCode.LIMIT_EXCEEDED}
    assert sum(code in limit_codes for code in decision.codes) == 1
    assert (ReasonCode.LIMIT_EXCEEDED in decision.codes) == (decision.exposure_after > limit)


@given(positions(), CENTS, CENTS, CENTS)
def test_a_larger_order_never_gets_a_better_outcome(
    where: CreditPosition, limit: Money, one: Money, other: Money
) -> None:
    small, large = sorted([one, other])
    assert (
        check_order(where, limit, large, at=AT).outcome.severity
        >= check_order(where, limit, small, at=AT).outcome.severity
    )


@given(positions(), CENTS, CENTS, CENTS)
def test_a_higher_limit_never_gets_a_worse_outcome(
    where: CreditPosition, one: Money, other: Money, amount: Money
) -> None:
    low, high = sorted([one, other])
    assert (
        check_order(where, high, amount, at=AT).outcome.severity
        <= check_order(where, low, amount, at=AT).outcome.severity
    )


@given(positions(), CENTS, CENTS)
def test_a_hold_always_blocks(where: CreditPosition, limit: Money, amount: Money) -> None:
    held = CreditPosition(
        unpaid_invoices=where.unpaid_invoices,
        open_orders=where.open_orders,
        overdue_amount=where.overdue_amount,
        oldest_overdue_days=where.oldest_overdue_days,
        on_hold=True,
        hold_reason="legal dispute",
    )
    decision = check_order(held, limit, amount, at=AT)
    assert decision.outcome is Outcome.BLOCK
    assert ReasonCode.CREDIT_HOLD in decision.codes


@given(positions(), CENTS, CENTS)
def test_tier_a_never_gets_a_worse_outcome_than_b_nor_b_than_c(
    where: CreditPosition, base: Money, amount: Money
) -> None:
    history = PaymentHistory(on_time_rate=Decimal("0.8"))
    a, b, c = (
        check_order(where, credit_limit(base, tier=t, history=history), amount, at=AT)
        for t in "ABC"
    )
    assert a.outcome.severity <= b.outcome.severity <= c.outcome.severity


# --- overrides ----------------------------------------------------------------------------------


def test_an_override_covers_a_block_for_its_order_and_at_least_its_amount() -> None:
    blocked = check(position(90000), 15000)
    order = new_id()
    assert covers(override(order, 15000), blocked, order_id=order)
    assert covers(override(order, 20000), blocked, order_id=order)
    assert override_problem(override(order, "14999.99"), blocked, order_id=order) == (
        "the override approves 14,999.99 CNY, less than the order of 15,000.00 CNY"
    )
    other = new_id()
    assert override_problem(override(other), blocked, order_id=order) == (
        f"the override is for order {other}, not {order}"
    )
    assert override_problem(override(order, 50000, "USD"), blocked, order_id=order) == (
        "the override is in USD; the order is in CNY"
    )
    approved = check(position(0), 15000)
    assert override_problem(override(order), approved, order_id=order) == (
        "the decision is approve, not a block: no override is needed"
    )
    assert not covers(override(order), approved, order_id=order)


@given(positions(), CENTS, CENTS, st.integers(1, 10**9))
def test_an_override_covers_a_block_exactly_when_it_names_the_amount(
    where: CreditPosition, limit: Money, amount: Money, cents: int
) -> None:
    decision = check_order(where, limit, amount, at=AT)
    order = new_id()
    approval = override(order, Decimal(cents).scaleb(-2))
    assert covers(approval, decision, order_id=order) == (
        decision.blocked and approval.amount >= decision.amount
    )


def test_an_override_records_who_when_why_and_how_much() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    order = new_id()
    record = CreditOverride(
        order_id=order,
        approved_by="zhang.wei",
        at=dt.datetime(2026, 3, 2, 18, tzinfo=shanghai),
        reason="long-standing customer",
        amount=cny(15000),
    )
    assert (record.order_id, record.approved_by, record.at, record.amount) == (
        order,
        "zhang.wei",
        AT,
        cny(15000),
    )
    assert isinstance(record.id, UUID)
    assert record.id != override(order).id
    with pytest.raises(ValidationError) as error:
        CreditOverride(
            order_id="order-1",  # type: ignore[arg-type]
            approved_by="",
            at=dt.datetime(2026, 3, 2),
            reason="",
            amount=cny(0),
        )
    assert [i.path for i in error.value.issues] == [
        "order_id",
        "approved_by",
        "at",
        "reason",
        "amount",
    ]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "path"),
    [
        ((position(), LIMIT, Money(1, "USD")), "amount"),
        ((position(), Money(1, "USD"), cny(1)), "limit"),
        ((position(), LIMIT, cny(-1)), "amount"),
        ((position(), cny(-1), cny(1)), "limit"),
        ((position(), LIMIT, "100"), "amount"),
        (({"unpaid_invoices": cny(1)}, LIMIT, cny(1)), "position"),
    ],
)
def test_bad_arguments_name_the_field(arguments: tuple[object, ...], path: str) -> None:
    with pytest.raises(ValidationError) as error:
        check_order(*arguments, at=AT)  # type: ignore[arg-type]
    assert [i.path for i in error.value.issues] == [path]


def test_bad_time_policy_and_override_arguments_name_the_field() -> None:
    for kwargs, path in (
        ({"at": dt.datetime(2026, 3, 2)}, "at"),
        ({"at": AT, "policy": {"warn_at": Decimal("0.8")}}, "policy"),
    ):
        with pytest.raises(ValidationError) as error:
            check_order(position(), LIMIT, cny(1), **kwargs)
        assert [i.path for i in error.value.issues] == [path]
    blocked = check(position(99000), 15000)
    for args, path in (
        (("approval", blocked), "override"),
        ((override(new_id()), "decision"), "decision"),
    ):
        with pytest.raises(ValidationError) as error:
            override_problem(*args, order_id=new_id())
        assert [i.path for i in error.value.issues] == [path]
    with pytest.raises(ValidationError) as error:
        covers(override(new_id()), blocked, order_id="o-1")  # type: ignore[arg-type]
    assert [i.path for i in error.value.issues] == ["order_id"]


@pytest.mark.parametrize(
    ("kwargs", "paths"),
    [
        ({"open_orders": Money(1, "USD")}, ["open_orders"]),
        ({"overdue_amount": Money(1, "USD"), "oldest_overdue_days": 3}, ["overdue_amount"]),
        ({"overdue_amount": cny(200), "oldest_overdue_days": 3}, ["overdue_amount"]),
        ({"oldest_overdue_days": 3}, ["overdue_amount"]),
        ({"overdue_amount": cny(50)}, ["oldest_overdue_days"]),
        ({"on_hold": True}, ["hold_reason"]),
        ({"hold_reason": "late"}, ["hold_reason"]),
        ({"unpaid_invoices": cny(-1), "on_hold": 1}, ["unpaid_invoices", "on_hold"]),
        ({"oldest_overdue_days": -1}, ["oldest_overdue_days"]),
    ],
)
def test_a_bad_position_names_every_bad_field(kwargs: dict[str, object], paths: list[str]) -> None:
    values: dict[str, object] = {"unpaid_invoices": cny(100), "open_orders": cny(0), **kwargs}
    with pytest.raises(ValidationError) as error:
        CreditPosition(**values)  # type: ignore[arg-type]
    assert [i.path for i in error.value.issues] == paths
