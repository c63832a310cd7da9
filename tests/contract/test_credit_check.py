"""The credit check on every store: the dry run, `place_order` approving, warning and blocking
with reasons and figures, credit hold, temporary increases, the overdue query, overrides,
idempotent repeats, bad input named with nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import FixedClock, Money, new_id
from crmkit.credit import (
    CreditAccount,
    CreditBlocked,
    CreditOverridden,
    CreditOverride,
    CreditPolicy,
    CreditReserved,
    Invoice,
    InvoiceStatus,
    Outcome,
    PaymentHistory,
    Placement,
    ReasonCode,
    TemporaryIncrease,
    approve_override,
    check_credit,
    credit_position,
    grant_increase,
    invoice_order,
    open_account,
    place_order,
    put_on_hold,
    record_payment,
    release_hold,
)
from crmkit.customers import DEFAULT_TIERS, Customer
from crmkit.errors import NotFound, ValidationError
from crmkit.events import DomainEvent
from crmkit.storage import UnitOfWork

from .conftest import NOW, Backend

T0 = pendulum.parse(NOW).in_timezone("UTC")  # type: ignore[union-attr]
TODAY = T0.date()


def cny(amount: str | int) -> Money:
    return Money(amount, "CNY")


def events(crm: crmkit.CRM, kind: type[DomainEvent]) -> list[Any]:
    seen: list[Any] = []
    crm.subscribe(kind, seen.append)
    return seen


def opened(crm: crmkit.CRM, limit: str = "10000", tier: str | None = None) -> CreditAccount:
    with crm.unit_of_work(actor="li") as uow:
        customer = Customer(
            name="Acme", owner_id="li", tier=None if tier is None else DEFAULT_TIERS[tier]
        )
        uow.customers.add(customer)
        return open_account(uow, customer.id, cny(limit), key=f"open-{customer.id}")


def run(crm: crmkit.CRM, work: Any) -> Any:
    return crm.run(work, actor="li")


def place(crm: crmkit.CRM, account: CreditAccount, amount: int, key: str, **more: Any) -> Any:
    return run(crm, lambda uow: place_order(uow, account.id, cny(amount), key=key, **more))


def counts(crm: crmkit.CRM) -> tuple[int, int, int, int]:
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        return (
            uow.orders.count(),
            uow.ledger_entries.count(),
            uow.credit_operations.count(),
            uow.credit_overrides.count(),
        )


def open_orders(crm: crmkit.CRM, account: CreditAccount) -> Money:
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        return uow.credit_accounts.get(account.id).open_orders


# --- approve, warn, block -------------------------------------------------------------------------


def test_orders_are_approved_then_warned_then_blocked_with_reasons_and_figures(
    crm: crmkit.CRM,
) -> None:
    blocked, reserved = events(crm, CreditBlocked), events(crm, CreditReserved)
    account = opened(crm)
    dry = run(crm, lambda uow: check_credit(uow, account.id, cny(5000)))
    first = place(crm, account, 5000, "PO-1")
    assert isinstance(first, Placement)
    assert first.decision is not None
    assert (first.outcome, first.placed, first.decision.codes) == (
        Outcome.APPROVE,
        True,
        (ReasonCode.WITHIN_LIMIT,),
    )
    assert dry == first.decision
    second = place(crm, account, 4500, "PO-2")
    assert (second.outcome, second.decision.codes) == (Outcome.WARN, (ReasonCode.NEAR_LIMIT,))
    assert second.order.outcome is Outcome.WARN
    third = place(crm, account, 1000, "PO-3")
    assert (third.outcome, third.order, third.blocked) == (Outcome.BLOCK, None, True)
    [reason] = third.decision.reasons
    assert reason.code is ReasonCode.LIMIT_EXCEEDED
    assert reason.figures == {
        "limit": cny(10000),
        "exposure_before": cny(9500),
        "exposure_after": cny(10500),
        "available": cny(500),
        "amount": cny(1000),
    }
    assert open_orders(crm, account) == cny(9500)
    assert counts(crm)[:3] == (2, 2, 3)  # two orders and entries; open, PO-1, PO-2
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.orders.get_many([third.order_id]) == []
        assert uow.credit_operations.by_key("PO-3") is None
    assert [(e.order_id, e.outcome, e.reasons) for e in reserved] == [
        (first.order_id, Outcome.APPROVE, ("within_limit",)),
        (second.order_id, Outcome.WARN, ("near_limit",)),
    ]
    [event] = blocked
    assert (event.order_id, event.amount, event.reasons, event.limit, event.available) == (
        third.order_id,
        cny(1000),
        ("limit_exceeded",),
        cny(10000),
        cny(500),
    )
    assert (event.exposure_before, event.exposure_after, event.on_hold) == (
        cny(9500),
        cny(10500),
        False,
    )
    assert "exceeds the available credit of 500.00 CNY" in event.messages[0]


def test_the_limit_follows_the_customers_tier_the_history_and_the_policy(
    crm: crmkit.CRM,
) -> None:
    a, c = opened(crm, tier="A"), opened(crm, tier="C")
    assert run(crm, lambda uow: check_credit(uow, a.id, cny(15000))).limit == cny(15000)
    assert run(crm, lambda uow: check_credit(uow, c.id, cny(100))).limit == cny(7000)
    assert place(crm, c, 7001, "PO-C").blocked
    poor = PaymentHistory(on_time_rate=Decimal("0.5"))
    with_history = run(crm, lambda uow: check_credit(uow, a.id, cny(100), history=poor))
    assert with_history.limit < cny(15000)
    strict = CreditPolicy(warn_at=Decimal("0.5"))
    assert place(crm, a, 9000, "PO-A", policy=strict).outcome is Outcome.WARN


def test_credit_hold_blocks_any_order_until_released_and_a_blocked_key_stays_free(
    crm: crmkit.CRM,
) -> None:
    blocked = events(crm, CreditBlocked)
    account = opened(crm)
    run(crm, lambda uow: put_on_hold(uow, account.id, "cheque bounced", key="hold"))
    held = place(crm, account, 10, "PO-1")
    assert (held.outcome, held.decision.codes) == (
        Outcome.BLOCK,
        (ReasonCode.CREDIT_HOLD, ReasonCode.WITHIN_LIMIT),
    )
    assert "cheque bounced" in held.decision.reasons[0].message
    again = place(crm, account, 10, "PO-1")  # the same call: checked again, blocked again
    assert (again.blocked, again.repeat) == (True, False)
    assert [(e.reasons, e.on_hold) for e in blocked] == [
        (("credit_hold", "within_limit"), True)
    ] * 2
    run(crm, lambda uow: release_hold(uow, account.id, key="release"))
    placed = place(crm, account, 10, "PO-1")
    assert (placed.outcome, placed.placed) == (Outcome.APPROVE, True)
    repeat = place(crm, account, 10, "PO-1")
    assert (repeat.repeat, repeat.order_id, repeat.outcome) == (
        True,
        placed.order_id,
        Outcome.APPROVE,
    )
    assert open_orders(crm, account) == cny(10)


# --- temporary increases --------------------------------------------------------------------------


def spring(amount: int = 5000, *, days: int = 10, start: int = -1) -> TemporaryIncrease:
    return TemporaryIncrease(
        amount=cny(amount),
        valid_from=T0.add(days=start),
        valid_until=T0.add(days=start + days),
        reason="spring fair",
        approved_by="zhang.wei",
    )


def test_a_temporary_increase_counts_from_its_start_until_its_expiry(
    backend: Backend,
) -> None:
    clock = FixedClock(NOW)
    crm = backend.fresh(clock=clock)
    account = opened(crm)
    fair, later = spring(), spring(2000, start=20)
    granted = run(crm, lambda uow: grant_increase(uow, account.id, fair, key="fair"))
    again = run(crm, lambda uow: grant_increase(uow, account.id, fair, key="fair"))
    run(crm, lambda uow: grant_increase(uow, account.id, later, key="later"))
    assert granted.increases == again.increases == (fair,)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.credit_accounts.get(account.id).increases == (fair, later)
    first = place(crm, account, 12000, "PO-1")
    assert (first.outcome, first.decision.limit) == (Outcome.APPROVE, cny(15000))
    clock.set(T0.add(days=8, hours=23))
    assert run(crm, lambda uow: check_credit(uow, account.id, cny(1))).limit == cny(15000)
    clock.set(T0.add(days=9))  # the increase expires at T0 + 9 days
    decision = run(crm, lambda uow: check_credit(uow, account.id, cny(1)))
    assert (decision.limit, decision.outcome) == (cny(10000), Outcome.BLOCK)
    clock.set(T0.add(days=20))
    assert run(crm, lambda uow: check_credit(uow, account.id, cny(1))).limit == cny(12000)
    assert place(crm, account, 10, "PO-2").blocked
    with pytest.raises(ValidationError, match="increase: is granted to the account already"):
        run(crm, lambda uow: grant_increase(uow, account.id, fair, key="fair-2"))
    dollars = TemporaryIncrease(
        amount=Money(10, "USD"),
        valid_from=T0,
        valid_until=T0.add(days=1),
        reason="x",
        approved_by="li",
    )
    with pytest.raises(ValidationError, match="increase.amount: is in USD"):
        run(crm, lambda uow: grant_increase(uow, account.id, dollars, key="usd"))
    with pytest.raises(ValidationError, match="increase: must be a TemporaryIncrease"):
        run(crm, lambda uow: grant_increase(uow, account.id, "5000", key="bad"))  # type: ignore[arg-type]
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.credit_accounts.get(account.id).increases == (fair, later)
        assert uow.credit_operations.by_key("usd") is None


# --- overdue invoices -----------------------------------------------------------------------------


def invoiced(crm: crmkit.CRM, account: CreditAccount, amount: int, due: dt.date, key: str) -> Any:
    def work(uow: UnitOfWork) -> Any:
        order = place_order(uow, account.id, cny(amount), key=f"{key}-o").order
        assert order is not None
        return invoice_order(uow, account.id, order.id, key=key, due=due)

    return run(crm, work)


def test_overdue_invoices_warn_then_block_past_the_policys_days(crm: crmkit.CRM) -> None:
    account = opened(crm)
    invoiced(crm, account, 300, TODAY.subtract(days=10), "I-1")
    decision = place(crm, account, 100, "PO-1").decision
    assert decision.codes == (ReasonCode.OVERDUE, ReasonCode.WITHIN_LIMIT)
    assert decision.reasons[0].figures["oldest_overdue_days"] == 10
    assert decision.reasons[0].figures["overdue_amount"] == cny(300)
    old = invoiced(crm, account, 200, TODAY.subtract(days=31), "I-2")
    run(
        crm,
        lambda uow: record_payment(
            uow, account.id, cny(50), key="P", allocations={old.id: cny(50)}
        ),
    )
    blocked = place(crm, account, 100, "PO-2")
    assert blocked.decision.codes == (ReasonCode.LONG_OVERDUE, ReasonCode.WITHIN_LIMIT)
    assert blocked.decision.reasons[0].figures["oldest_overdue_days"] == 31
    assert blocked.decision.reasons[0].figures["overdue_amount"] == cny(450)
    position = run(crm, lambda uow: credit_position(uow, account.id))
    assert (position.overdue_invoices, position.oldest_overdue, position.days_overdue) == (
        2,
        TODAY.subtract(days=31),
        31,
    )
    lenient = CreditPolicy(overdue_days=60)
    assert place(crm, account, 100, "PO-3", policy=lenient).outcome is Outcome.WARN


DAYS = st.integers(-60, 60)
PARTS = st.sampled_from(["open", "partly_paid", "paid", "written_off", "overdue"])


def _invoice(account_id: UUID, cents: int, due: int, part: str) -> Invoice:
    invoice = Invoice(
        account_id=account_id,
        amount=Money(Decimal(cents).scaleb(-2), "CNY"),
        issued_at=T0,
        due=TODAY.add(days=due),
    )
    if part in ("partly_paid", "paid") or (part == "overdue" and cents > 1):
        invoice.settle(invoice.amount if part == "paid" else Money("0.01", "CNY"))
    if part == "written_off":
        invoice.write_off()
    if part == "overdue":
        invoice.mark_overdue()
    return invoice


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    invoices=st.lists(st.tuples(st.integers(1, 10**7), DAYS, PARTS), max_size=12),
    shift=st.integers(-30, 30),
)
def test_the_overdue_query_agrees_with_a_plain_computation(
    crm: crmkit.CRM, invoices: list[tuple[int, int, str]], shift: int
) -> None:
    mine, other = opened(crm), opened(crm)
    day = TODAY.add(days=shift)
    with crm.unit_of_work(actor="li") as uow:
        made = [_invoice(mine.id, c, d, p) for c, d, p in invoices]
        uow.invoices.add_many([*made, _invoice(other.id, 500, -50, "open")])
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        found = uow.invoices.overdue(mine.id, day)
        stored = [i for i in uow.invoices.page(limit=1000) if i.account_id == mine.id]
    late = [
        i
        for i in stored
        if i.status in (InvoiceStatus.OPEN, InvoiceStatus.PARTLY_PAID, InvoiceStatus.OVERDUE)
        and i.due < day
    ]
    assert found.count == len(late)
    assert found.amount == sum((i.balance.amount for i in late), Decimal(0))
    assert found.oldest_due == min((i.due for i in late), default=None)


# --- overrides ------------------------------------------------------------------------------------


def test_a_blocked_order_is_placed_only_through_an_override_that_covers_it(
    crm: crmkit.CRM,
) -> None:
    overridden, reserved = events(crm, CreditOverridden), events(crm, CreditReserved)
    account, other = opened(crm), opened(crm)
    place(crm, account, 9000, "PO-1")
    blocked = place(crm, account, 2000, "PO-2")
    assert blocked.blocked
    wanted = blocked.order_id

    def approve(amount: int, key: str, *, order: UUID = wanted, on: CreditAccount = account) -> Any:
        return run(
            crm,
            lambda uow: approve_override(
                uow,
                on.id,
                order,
                cny(amount),
                approved_by="zhang.wei",
                reason="pays by transfer tomorrow",
                key=key,
            ),
        )

    too_small = approve(1500, "A-1")
    assert (too_small.approved_by, too_small.at, too_small.amount, too_small.account_id) == (
        "zhang.wei",
        T0,
        cny(1500),
        account.id,
    )
    assert approve(1500, "A-1") == too_small  # a repeat returns the first
    elsewhere = approve(5000, "A-2", order=new_id())
    foreign = approve(5000, "A-3", on=other)
    with pytest.raises(ValidationError, match="override_id: the override approves 1,500.00 CNY"):
        place(crm, account, 2000, "PO-2", order_id=wanted, override_id=too_small.id)
    with pytest.raises(ValidationError, match="override_id: the override is for order"):
        place(crm, account, 2000, "PO-2", order_id=wanted, override_id=elsewhere.id)
    with pytest.raises(ValidationError, match="override_id: is an override of another"):
        place(crm, account, 2000, "PO-2", order_id=wanted, override_id=foreign.id)
    with pytest.raises(NotFound):
        place(crm, account, 2000, "PO-2", order_id=wanted, override_id=new_id())
    with pytest.raises(ValidationError, match="order_id: must name the order the override"):
        place(crm, account, 2000, "PO-2", override_id=too_small.id)
    assert (open_orders(crm, account), counts(crm)[0]) == (cny(9000), 1)
    assert overridden == []
    enough = approve(2000, "A-4")
    placed = place(crm, account, 2000, "PO-2", order_id=wanted, override_id=enough.id)
    assert (placed.order_id, placed.outcome, placed.override_id) == (
        wanted,
        Outcome.BLOCK,
        enough.id,
    )
    assert (placed.order.override_id, placed.order.outcome) == (enough.id, Outcome.BLOCK)
    assert open_orders(crm, account) == cny(11000)
    [event] = overridden
    assert (event.order_id, event.override_id, event.approved, event.approved_by) == (
        wanted,
        enough.id,
        cny(2000),
        "zhang.wei",
    )
    assert (event.reason, event.reasons) == ("pays by transfer tomorrow", ("limit_exceeded",))
    assert reserved[-1].outcome is Outcome.BLOCK
    repeat = place(crm, account, 2000, "PO-2", order_id=wanted, override_id=enough.id)
    assert (repeat.repeat, repeat.order_id, repeat.override_id) == (True, wanted, enough.id)
    with pytest.raises(ValidationError, match="order_id: names an order placed already"):
        place(crm, account, 1, "PO-3", order_id=wanted)
    with pytest.raises(ValidationError, match="order_id: names an order placed already"):
        approve(2000, "A-5")
    assert open_orders(crm, account) == cny(11000)


def test_an_override_is_not_used_when_the_check_approves(crm: crmkit.CRM) -> None:
    overridden = events(crm, CreditOverridden)
    account = opened(crm)
    wanted = new_id()
    approval = run(
        crm,
        lambda uow: approve_override(
            uow, account.id, wanted, cny(100), approved_by="zhang.wei", reason="r", key="A"
        ),
    )
    placed = place(crm, account, 100, "PO-1", order_id=wanted, override_id=approval.id)
    assert (placed.outcome, placed.override_id, placed.order.override_id) == (
        Outcome.APPROVE,
        None,
        None,
    )
    assert overridden == []


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"policy": "strict"}, "policy: must be a CreditPolicy"),
        ({"history": 0.9}, "history: must be a PaymentHistory"),
        ({"order_id": "PO-1"}, "order_id: must be a UUID"),
        ({"override_id": 7, "order_id": new_id()}, "override_id: must be a UUID"),
    ],
)
def test_bad_placements_are_refused_naming_the_field_and_nothing_is_written(
    crm: crmkit.CRM, arguments: dict[str, Any], problem: str
) -> None:
    account = opened(crm)
    with pytest.raises(ValidationError) as caught:
        place(crm, account, 10, "k", **arguments)
    assert problem in str(caught.value)
    assert counts(crm) == (0, 0, 1, 0)


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"amount": cny(0)}, "amount: 0.00 CNY must be more than zero"),
        ({"amount": Money(5, "USD")}, "amount: is in USD, not the account's CNY"),
        ({"approved_by": ""}, "approved_by: "),
        ({"reason": ""}, "reason: "),
        ({"order_id": "x"}, "order_id: must be a UUID"),
        ({"key": ""}, "key: "),
    ],
)
def test_bad_overrides_are_refused_naming_the_field_and_nothing_is_written(
    crm: crmkit.CRM, arguments: dict[str, Any], problem: str
) -> None:
    account = opened(crm)
    given: dict[str, Any] = {
        "account_id": account.id,
        "order_id": new_id(),
        "amount": cny(10),
        "approved_by": "zhang.wei",
        "reason": "r",
        "key": "k",
        **arguments,
    }
    with pytest.raises(ValidationError) as caught:
        run(crm, lambda uow: approve_override(uow, **given))
    assert problem in str(caught.value)
    assert counts(crm) == (0, 0, 1, 0)


def test_a_dry_run_names_bad_arguments(crm: crmkit.CRM) -> None:
    account = opened(crm)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amount": Money(5, "USD")}, "amount: is in USD; the account is in CNY"),
        ({"amount": 5}, "amount: must be Money"),
        ({"at": dt.datetime(2026, 3, 2)}, "at: "),
        ({"policy": {}}, "policy: must be a CreditPolicy"),
    ]
    for arguments, problem in cases:
        given = {"amount": cny(5), **arguments}
        with pytest.raises(ValidationError) as caught:
            run(crm, lambda uow, given=given: check_credit(uow, account.id, **given))
        assert problem in str(caught.value)
    with pytest.raises(NotFound):
        run(crm, lambda uow: check_credit(uow, new_id(), cny(5)))


def test_an_override_is_stored_only_under_its_account(crm: crmkit.CRM) -> None:
    account = opened(crm)
    loose = CreditOverride(
        order_id=new_id(), approved_by="zhang.wei", at=T0, reason="r", amount=cny(10)
    )
    refused = pytest.raises(ValidationError, match="account_id: must name the credit account")
    with refused, crm.unit_of_work(actor="li") as uow:
        uow.credit_overrides.add(loose)
    with pytest.raises(NotFound):
        run(
            crm,
            lambda uow: approve_override(
                uow, new_id(), new_id(), cny(10), approved_by="li", reason="r", key="k"
            ),
        )
    assert counts(crm) == (0, 0, 1, 0)
    assert account.id is not None


def test_the_overdue_query_is_planned_on_the_account_index(backend: Backend) -> None:
    """What `InvoiceRepository.overdue` sends reads an index led by the status after the tenant
    (``ix_<prefix>invoices_account``, or ``..._due`` where the planner finds few unpaid rows, as
    PostgreSQL does here), so the account's paid invoices (3,000 here) are never scanned."""
    if not backend.is_sql:
        pytest.skip("the memory store has no query plans")
    import sqlalchemy as sa

    crm = backend.fresh()
    account, other = opened(crm), opened(crm)
    paid = [_invoice(account.id, 100, -d % 90 - 1, "paid") for d in range(3000)]
    late = [_invoice(account.id, 100, -d - 1, "open") for d in range(3)]
    with crm.unit_of_work(actor="li") as uow:
        uow.invoices.add_many([*paid, *late, _invoice(other.id, 100, -5, "open")])
    store = crm.store
    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    table = store.tables.invoices  # type: ignore[attr-defined]
    sent: list[tuple[str, object]] = []

    def keep(*args: object) -> None:
        statement = str(args[2])
        if "count(" in statement.lower() and table.name in statement:
            sent.append((statement, args[3]))

    with engine.connect() as connection:
        analyze = {"sqlite": "ANALYZE", "postgresql": f"ANALYZE {table.name}"}.get(
            engine.dialect.name, f"ANALYZE TABLE {table.name}"
        )
        connection.exec_driver_sql(analyze)
        connection.commit()
    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        with crm.unit_of_work(actor="li", read_only=True) as uow:
            found = uow.invoices.overdue(account.id, TODAY)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    assert (found.count, found.amount, found.oldest_due) == (3, Decimal(3), TODAY.subtract(days=3))
    statement, parameters = sent[-1]
    explain = {"sqlite": "EXPLAIN QUERY PLAN "}.get(engine.dialect.name, "EXPLAIN ")
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(explain + statement, parameters).all()  # type: ignore[arg-type]
    shown = " ".join(str(part) for row in plan for part in row)
    assert f"ix_{table.name}_account" in shown or f"ix_{table.name}_due" in shown, shown
