"""The ledger services on every store: balances, statuses, entries and events; idempotent repeats;
bad input named with nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

import pendulum
import pytest

import crmkit
from crmkit import ExchangeRate, ExchangeRates, Money
from crmkit.credit import (
    Allocation,
    CreditAccount,
    CreditReserved,
    DocumentKind,
    EntryKind,
    InvoiceOverdue,
    InvoiceStatus,
    LedgerEntry,
    OrderStatus,
    Outcome,
    PaymentReceived,
    allocate,
    cancel_order,
    credit_position,
    invoice_order,
    issue_credit_note,
    mark_overdue,
    open_account,
    place_order,
    put_on_hold,
    record_payment,
    release_hold,
    write_off,
)
from crmkit.customers import Customer
from crmkit.errors import MissingRate, NotFound, ValidationError
from crmkit.events import DomainEvent
from crmkit.storage import UnitOfWork

from .conftest import NOW

T0 = pendulum.parse(NOW).in_timezone("UTC")  # type: ignore[union-attr]
TODAY = T0.date()
DUE = TODAY.add(days=30)


def cny(amount: str | int) -> Money:
    return Money(amount, "CNY")


def events(crm: crmkit.CRM, kind: type[DomainEvent]) -> list[Any]:
    seen: list[Any] = []
    crm.subscribe(kind, seen.append)
    return seen


def opened(crm: crmkit.CRM, limit: str = "10000") -> CreditAccount:
    with crm.unit_of_work(actor="li") as uow:
        customer = Customer(name="Acme", owner_id="li")
        uow.customers.add(customer)
        return open_account(uow, customer.id, cny(limit), key=f"open-{customer.id}")


def state(crm: crmkit.CRM, account_id: UUID) -> tuple[CreditAccount, list[LedgerEntry]]:
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        return uow.credit_accounts.get(account_id), uow.ledger_entries.of_account(account_id)


def balanced(crm: crmkit.CRM, account_id: UUID) -> CreditAccount:
    """The account, after checking its balances are the sums of its entries, numbered 1..n."""
    account, entries = state(crm, account_id)
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    assert account.sequence == len(entries)
    for name, column in (
        ("open_orders", "orders"),
        ("unpaid_invoices", "invoices"),
        ("unallocated", "credit"),
    ):
        total = Money.total([getattr(e, column) for e in entries], currency=account.currency)
        assert getattr(account, name) == total, name
    return account


def figures(account: CreditAccount) -> tuple[str, str, str]:
    return (
        str(account.open_orders.amount),
        str(account.unpaid_invoices.amount),
        str(account.unallocated.amount),
    )


def run(crm: crmkit.CRM, work: Any) -> Any:
    return crm.run(work, actor="li")


# --- accounts -------------------------------------------------------------------------------------


def test_an_account_is_opened_once_per_customer_and_a_repeat_returns_it(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
    first = run(crm, lambda uow: open_account(uow, acme.id, cny(5000), key="open"))
    again = run(crm, lambda uow: open_account(uow, acme.id, cny(5000), key="open"))
    assert again == first
    assert (first.currency, first.sequence, figures(first)) == ("CNY", 0, ("0.00", "0.00", "0.00"))
    with pytest.raises(ValidationError, match="customer_id: has a credit account already"):
        run(crm, lambda uow: open_account(uow, acme.id, cny(5000), key="open-2"))
    with pytest.raises(ValidationError, match="key: 'open' was used for another call"):
        run(crm, lambda uow: open_account(uow, acme.id, cny(6000), key="open"))
    with pytest.raises(NotFound):
        run(crm, lambda uow: open_account(uow, crmkit.new_id(), cny(1), key="x"))
    with pytest.raises(ValidationError, match="base_limit"):
        run(crm, lambda uow: open_account(uow, acme.id, 5000.0, key="y"))  # type: ignore[arg-type]
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.credit_accounts.count() == 1
        assert uow.credit_operations.by_key("open") is not None


def test_hold_is_put_on_and_taken_off_with_a_reason_and_repeats_are_kept_once(
    crm: crmkit.CRM,
) -> None:
    account = opened(crm)
    held = run(crm, lambda uow: put_on_hold(uow, account.id, "cheque bounced", key="h1"))
    assert (held.on_hold, held.hold_reason) == (True, "cheque bounced")
    assert run(crm, lambda uow: put_on_hold(uow, account.id, "cheque bounced", key="h1")) == held
    with pytest.raises(ValidationError, match="on credit hold already"):
        run(crm, lambda uow: put_on_hold(uow, account.id, "again", key="h2"))
    with pytest.raises(ValidationError, match="reason"):
        run(crm, lambda uow: put_on_hold(uow, account.id, "", key="h3"))
    released = run(crm, lambda uow: release_hold(uow, account.id, key="r1"))
    assert (released.on_hold, released.hold_reason) == (False, None)
    with pytest.raises(ValidationError, match="not on credit hold"):
        run(crm, lambda uow: release_hold(uow, account.id, key="r2"))
    assert balanced(crm, account.id).sequence == 0


# --- orders ---------------------------------------------------------------------------------------


def test_placing_an_order_reserves_it_once_per_key_and_records_credit_reserved(
    crm: crmkit.CRM,
) -> None:
    reserved = events(crm, CreditReserved)
    account = opened(crm)
    placed = run(crm, lambda uow: place_order(uow, account.id, cny(1200), key="PO-1"))
    again = run(crm, lambda uow: place_order(uow, account.id, cny(1200), key="PO-1"))
    order = placed.order
    assert (again.order, again.repeat, again.decision) == (order, True, None)
    assert (placed.outcome, placed.repeat) == (Outcome.APPROVE, False)
    assert again.outcome is Outcome.APPROVE
    assert (order.status, order.open_amount, order.placed_at) == (OrderStatus.OPEN, cny(1200), T0)
    after = balanced(crm, account.id)
    assert figures(after) == ("1200.00", "0.00", "0.00")
    [entry] = state(crm, account.id)[1]
    assert (entry.kind, entry.document, entry.document_id, entry.key) == (
        EntryKind.RESERVE,
        DocumentKind.ORDER,
        order.id,
        "PO-1",
    )
    assert [(e.order_id, e.amount, e.open_orders) for e in reserved] == [
        (order.id, cny(1200), cny(1200))
    ]
    with pytest.raises(ValidationError, match="key: 'PO-1' was used for another call"):
        run(crm, lambda uow: place_order(uow, account.id, cny(1300), key="PO-1"))


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"amount": 1200.0}, "amount: must be Money, not 1200.0"),
        ({"amount": Money(0, "CNY")}, "amount: 0.00 CNY must be more than zero"),
        ({"key": ""}, "key: "),
        ({"key": "x" * 129}, "key: "),
        ({"reference": "\x00"}, "reference: "),
        ({"amount": Money(10, "USD")}, "amount: is in USD, not the account's CNY"),
        ({"account_id": "acme"}, "account_id: must be a UUID"),
    ],
)
def test_bad_orders_are_refused_naming_the_field_and_nothing_is_written(
    crm: crmkit.CRM, arguments: dict[str, Any], problem: str
) -> None:
    account = opened(crm)
    given: dict[str, Any] = {"account_id": account.id, "amount": cny(10), "key": "k", **arguments}
    with pytest.raises(ValidationError) as caught:
        run(crm, lambda uow: place_order(uow, **given))
    assert problem in str(caught.value)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert (uow.orders.count(), uow.ledger_entries.count()) == (0, 0)
        assert uow.credit_operations.by_key("k") is None
    assert figures(balanced(crm, account.id)) == ("0.00", "0.00", "0.00")


def test_an_order_in_another_currency_is_converted_at_the_dated_rate_kept_on_the_entry(
    crm: crmkit.CRM,
) -> None:
    account = opened(crm)
    rates = ExchangeRates([ExchangeRate("USD", "CNY", dt.date(2026, 3, 1), Decimal("7.1"))])
    order = run(
        crm, lambda uow: place_order(uow, account.id, Money(100, "USD"), key="PO-$", rates=rates)
    ).order
    assert order.amount == cny(710)
    [entry] = state(crm, account.id)[1]
    assert (entry.amount, entry.original, entry.rate, entry.rate_date) == (
        cny(710),
        Money(100, "USD"),
        Decimal("7.1"),
        TODAY,
    )
    with pytest.raises(MissingRate):
        run(
            crm,
            lambda uow: place_order(
                uow, account.id, Money(1, "USD"), key="PO-old", rates=rates, on=dt.date(2026, 1, 1)
            ),
        )
    assert figures(balanced(crm, account.id)) == ("710.00", "0.00", "0.00")


def test_an_order_is_invoiced_in_parts_and_its_rest_cancelled(crm: crmkit.CRM) -> None:
    account = opened(crm)
    order = run(crm, lambda uow: place_order(uow, account.id, cny(1000), key="PO-1").order)
    first = run(
        crm,
        lambda uow: invoice_order(uow, account.id, order.id, key="I-1", due=DUE, amount=cny(300)),
    )
    assert (
        run(
            crm,
            lambda uow: invoice_order(
                uow, account.id, order.id, key="I-1", due=DUE, amount=cny(300)
            ),
        )
        == first
    )
    assert (first.amount, first.order_id, first.status, first.due) == (
        cny(300),
        order.id,
        InvoiceStatus.OPEN,
        DUE,
    )
    assert figures(balanced(crm, account.id)) == ("700.00", "300.00", "0.00")
    with pytest.raises(ValidationError, match="amount: 800.00 CNY is more than the 700.00 CNY"):
        run(
            crm,
            lambda uow: invoice_order(
                uow, account.id, order.id, key="I-2", due=DUE, amount=cny(800)
            ),
        )
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.orders.get(order.id).status is OrderStatus.PARTLY_INVOICED
        assert uow.invoices.count() == 1
    cancelled = run(crm, lambda uow: cancel_order(uow, account.id, order.id, key="C-1"))
    assert (cancelled.status, cancelled.cancelled, cancelled.open_amount) == (
        OrderStatus.INVOICED,
        cny(700),
        cny(0),
    )
    assert run(crm, lambda uow: cancel_order(uow, account.id, order.id, key="C-1")) == cancelled
    with pytest.raises(ValidationError, match="nothing to cancel"):
        run(crm, lambda uow: cancel_order(uow, account.id, order.id, key="C-2"))
    with pytest.raises(ValidationError, match="nothing to invoice"):
        run(crm, lambda uow: invoice_order(uow, account.id, order.id, key="I-3", due=DUE))
    assert figures(balanced(crm, account.id)) == ("0.00", "300.00", "0.00")
    kinds = [e.kind for e in state(crm, account.id)[1]]
    assert kinds == [EntryKind.RESERVE, EntryKind.POST, EntryKind.VOID]


def test_an_order_cancelled_before_any_invoice_is_cancelled(crm: crmkit.CRM) -> None:
    account = opened(crm)
    order = run(crm, lambda uow: place_order(uow, account.id, cny(50), key="PO-1").order)
    assert run(crm, lambda uow: cancel_order(uow, account.id, order.id, key="C")).status is (
        OrderStatus.CANCELLED
    )
    whole = run(crm, lambda uow: place_order(uow, account.id, cny(70), key="PO-2").order)
    invoice = run(crm, lambda uow: invoice_order(uow, account.id, whole.id, key="I", due=DUE))
    assert invoice.amount == cny(70)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.orders.get(whole.id).status is OrderStatus.INVOICED
    assert figures(balanced(crm, account.id)) == ("0.00", "70.00", "0.00")


# --- payments -------------------------------------------------------------------------------------


def invoiced(crm: crmkit.CRM, account: CreditAccount, *amounts: int) -> list[Any]:
    found = []
    for n, amount in enumerate(amounts):

        def work(uow: UnitOfWork, n: int = n, amount: int = amount) -> Any:
            order = place_order(uow, account.id, cny(amount), key=f"PO-{account.id}-{n}").order
            assert order is not None
            return invoice_order(uow, account.id, order.id, key=f"INV-{account.id}-{n}", due=DUE)

        found.append(run(crm, work))
    return found


def test_a_payment_settles_its_invoices_keeps_the_rest_and_records_payment_received(
    crm: crmkit.CRM,
) -> None:
    received = events(crm, PaymentReceived)
    account = opened(crm)
    a, b = invoiced(crm, account, 100, 300)
    allocations = {a.id: cny(100), b.id: cny(120)}
    payment = run(
        crm, lambda uow: record_payment(uow, account.id, cny(250), key="P", allocations=allocations)
    )
    repeat = run(
        crm, lambda uow: record_payment(uow, account.id, cny(250), key="P", allocations=allocations)
    )
    assert repeat == payment
    assert payment.allocations == (
        Allocation(invoice_id=a.id, amount=cny(100)),
        Allocation(invoice_id=b.id, amount=cny(120)),
    )
    assert payment.unallocated == cny(30)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.invoices.get(a.id).status is InvoiceStatus.PAID
        assert (uow.invoices.get(b.id).status, uow.invoices.get(b.id).balance) == (
            InvoiceStatus.PARTLY_PAID,
            cny(180),
        )
    assert figures(balanced(crm, account.id)) == ("0.00", "180.00", "30.00")
    assert [(e.payment_id, e.allocated, e.unallocated) for e in received] == [
        (payment.id, cny(220), cny(30))
    ]
    settled = [e for e in state(crm, account.id)[1] if e.kind is EntryKind.SETTLE]
    assert [(e.invoice_id, e.invoices, e.credit) for e in settled] == [
        (a.id, cny(-100), cny(0)),
        (b.id, cny(-120), cny(0)),
        (None, cny(0), cny(30)),
    ]


def _parts(*items: tuple[str, str]) -> Any:
    return lambda ids: [Allocation(invoice_id=ids[k], amount=cny(m)) for k, m in items]


@pytest.mark.parametrize(
    ("allocations", "problem"),
    [
        (_parts(("a", "200")), "allocations[0].amount: 200.00 CNY is more than the balance 100"),
        (_parts(("a", "100"), ("b", "200")), "unallocated: "),
        (_parts(("a", "50"), ("a", "50")), "allocations[1].invoice_id: names an invoice twice"),
        (_parts(("other", "10")), "allocations[0].invoice_id: belongs to another credit account"),
        (lambda ids: {ids["a"]: cny(-5)}, "must be more than zero"),
        (lambda ids: {ids["a"]: 5}, "must be Money, not 5"),
        (lambda ids: [{"invoice_id": ids["a"]}], "allocations[0]: must be an Allocation"),
        (lambda ids: "a", "allocations: must be Allocations or a mapping"),
        (_parts(("missing", "5")), "invoice"),
    ],
)
def test_bad_payments_are_refused_naming_the_problem_and_nothing_is_written(
    crm: crmkit.CRM, allocations: Any, problem: str
) -> None:
    account, other = opened(crm), opened(crm)
    a, b = invoiced(crm, account, 100, 300)
    [elsewhere] = invoiced(crm, other, 40)
    ids = {"a": a.id, "b": b.id, "other": elsewhere.id, "missing": crmkit.new_id()}
    before = state(crm, account.id)
    given = allocations(ids)
    with pytest.raises((ValidationError, NotFound)) as caught:
        run(crm, lambda uow: record_payment(uow, account.id, cny(200), key="P", allocations=given))
    assert problem in str(caught.value)
    assert state(crm, account.id) == before
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.payments.count() == 0
        assert uow.invoices.get(a.id).balance == cny(100)
        assert uow.credit_operations.by_key("P") is None


def test_unallocated_credit_is_allocated_to_an_invoice_up_to_what_is_there(
    crm: crmkit.CRM,
) -> None:
    account = opened(crm)
    [a] = invoiced(crm, account, 100)
    run(crm, lambda uow: record_payment(uow, account.id, cny(60), key="P"))
    assert figures(balanced(crm, account.id)) == ("0.00", "100.00", "60.00")
    with pytest.raises(ValidationError, match="amount: 70.00 CNY is more than the unallocated"):
        run(crm, lambda uow: allocate(uow, account.id, a.id, cny(70), key="A"))
    invoice = run(crm, lambda uow: allocate(uow, account.id, a.id, cny(60), key="A"))
    assert run(crm, lambda uow: allocate(uow, account.id, a.id, cny(60), key="A")) == invoice
    assert (invoice.status, invoice.balance) == (InvoiceStatus.PARTLY_PAID, cny(40))
    assert figures(balanced(crm, account.id)) == ("0.00", "40.00", "0.00")
    last = state(crm, account.id)[1][-1]
    assert (last.kind, last.document, last.invoices, last.credit) == (
        EntryKind.SETTLE,
        DocumentKind.INVOICE,
        cny(-60),
        cny(-60),
    )


def test_credit_notes_reduce_an_invoice_or_become_credit(crm: crmkit.CRM) -> None:
    account = opened(crm)
    [a] = invoiced(crm, account, 100)
    note = run(
        crm,
        lambda uow: issue_credit_note(
            uow, account.id, cny(30), key="CN-1", reason="damaged", invoice_id=a.id
        ),
    )
    assert (note.invoice_id, note.amount) == (a.id, cny(30))
    loose = run(
        crm, lambda uow: issue_credit_note(uow, account.id, cny(5), key="CN-2", reason="goodwill")
    )
    assert (
        run(
            crm,
            lambda uow: issue_credit_note(uow, account.id, cny(5), key="CN-2", reason="goodwill"),
        )
        == loose
    )
    with pytest.raises(ValidationError, match="more than the balance 70.00 CNY"):
        run(
            crm,
            lambda uow: issue_credit_note(
                uow, account.id, cny(71), key="CN-3", reason="x", invoice_id=a.id
            ),
        )
    assert figures(balanced(crm, account.id)) == ("0.00", "70.00", "5.00")


def test_writing_off_voids_an_invoices_rest_once(crm: crmkit.CRM) -> None:
    account = opened(crm)
    [a] = invoiced(crm, account, 100)
    run(
        crm,
        lambda uow: record_payment(uow, account.id, cny(25), key="P", allocations={a.id: cny(25)}),
    )
    gone = run(crm, lambda uow: write_off(uow, account.id, a.id, key="W"))
    assert run(crm, lambda uow: write_off(uow, account.id, a.id, key="W")) == gone
    assert (gone.status, gone.written_off, gone.balance) == (
        InvoiceStatus.WRITTEN_OFF,
        cny(75),
        cny(0),
    )
    with pytest.raises(ValidationError, match="nothing to write off"):
        run(crm, lambda uow: write_off(uow, account.id, a.id, key="W2"))
    assert figures(balanced(crm, account.id)) == ("0.00", "0.00", "0.00")


def test_invoices_past_due_become_overdue_once_and_show_in_the_position(
    crm: crmkit.CRM,
) -> None:
    late = events(crm, InvoiceOverdue)
    account = opened(crm)
    a, b, c = invoiced(crm, account, 100, 200, 300)
    run(
        crm,
        lambda uow: record_payment(
            uow, account.id, cny(300), key="P", allocations={c.id: cny(300)}
        ),
    )
    later = T0.add(days=45)
    marked = run(crm, lambda uow: mark_overdue(uow, later))
    assert sorted(i.id for i in marked) == sorted([a.id, b.id])
    assert all(i.status is InvoiceStatus.OVERDUE for i in marked)
    assert run(crm, lambda uow: mark_overdue(uow, later)) == []
    assert sorted(e.invoice_id for e in late) == sorted([a.id, b.id])
    assert {e.balance for e in late} == {cny(100), cny(200)}
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        position = credit_position(uow, account.id, today=later.date())
        now = credit_position(uow, account.id)
    assert (position.overdue_invoices, position.oldest_overdue, position.days_overdue) == (
        2,
        DUE,
        15,
    )
    assert (position.unpaid_invoices, position.open_orders, now.overdue_invoices) == (
        cny(300),
        cny(0),
        0,
    )
    paid = run(
        crm,
        lambda uow: record_payment(
            uow, account.id, cny(100), key="P2", allocations={a.id: cny(100)}
        ),
    )
    assert paid.unallocated == cny(0)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.invoices.get(a.id).status is InvoiceStatus.PAID
        assert [i.id for i in uow.invoices.unpaid(account.id)] == [b.id]
    with pytest.raises(ValidationError, match="now"):
        run(crm, lambda uow: mark_overdue(uow, dt.datetime(2026, 5, 1)))


def test_a_key_is_one_call_whichever_service_repeats_it(crm: crmkit.CRM) -> None:
    account = opened(crm)
    order = run(crm, lambda uow: place_order(uow, account.id, cny(10), key="same").order)
    with pytest.raises(ValidationError, match="'same' was used for another call \\(place_order"):
        run(crm, lambda uow: cancel_order(uow, account.id, order.id, key="same"))
    with pytest.raises(ValidationError, match="'same' was used for another call"):
        run(crm, lambda uow: record_payment(uow, account.id, cny(10), key="same"))
    assert figures(balanced(crm, account.id)) == ("10.00", "0.00", "0.00")
