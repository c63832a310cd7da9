"""The ledger's domain: documents keep their amounts and statuses consistent, entries move the
balances only as their kind allows, and an account applies its entries in sequence."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crmkit
from crmkit import Money
from crmkit.credit import (
    Allocation,
    CreditAccount,
    DocumentKind,
    EntryKind,
    Invoice,
    InvoiceStatus,
    LedgerEntry,
    Order,
    OrderStatus,
    Payment,
    account_position,
)
from crmkit.errors import ValidationError

T0 = pendulum.datetime(2026, 3, 2)


def cny(amount: str | int | Decimal) -> Money:
    return Money(amount, "CNY")


cents = st.integers(1, 10**7).map(lambda n: cny(Decimal(n).scaleb(-2)))


def an_entry(account: CreditAccount, **changes: Any) -> LedgerEntry:
    amount = changes.pop("amount", cny(10))
    fields: dict[str, Any] = {
        "account_id": account.id,
        "sequence": account.sequence + 1,
        "kind": EntryKind.RESERVE,
        "document": DocumentKind.ORDER,
        "document_id": crmkit.new_id(),
        "amount": amount,
        "orders": amount,
        "invoices": cny(0),
        "credit": cny(0),
        "at": T0,
        "key": "k",
        **changes,
    }
    return LedgerEntry(**fields)


def an_account(**changes: Any) -> CreditAccount:
    return CreditAccount(customer_id=crmkit.new_id(), base_limit=cny(1000), opened_at=T0, **changes)


@given(amount=cents, steps=st.lists(st.one_of(cents, st.just("cancel")), max_size=6))
def test_an_orders_invoiced_cancelled_and_open_parts_always_add_up(
    amount: Money, steps: list[Any]
) -> None:
    order = Order(account_id=crmkit.new_id(), amount=amount, placed_at=T0)
    for step in steps:
        before = (order.invoiced, order.cancelled, order.status)
        try:
            order.cancel() if step == "cancel" else order.invoice(step)
        except ValidationError:
            assert (order.invoiced, order.cancelled, order.status) == before
        assert order.invoiced + order.cancelled + order.open_amount == order.amount
        assert order.open_amount.amount >= 0
        assert (order.status in (OrderStatus.OPEN, OrderStatus.PARTLY_INVOICED)) == (
            order.open_amount.amount > 0
        )


@given(amount=cents, parts=st.lists(cents, max_size=5), write_off=st.booleans())
def test_an_invoices_balance_is_what_is_neither_settled_nor_written_off(
    amount: Money, parts: list[Money], write_off: bool
) -> None:
    invoice = Invoice(account_id=crmkit.new_id(), amount=amount, issued_at=T0, due=T0.date())
    for part in parts:
        if part <= invoice.balance:
            invoice.settle(part)
        else:
            with pytest.raises(ValidationError, match="more than the balance"):
                invoice.settle(part)
    if write_off and invoice.balance.amount > 0:
        assert invoice.write_off() == amount - invoice.settled
        assert invoice.status is InvoiceStatus.WRITTEN_OFF
    assert invoice.settled + invoice.written_off + invoice.balance == amount
    paid = invoice.balance.amount == 0 and not invoice.written_off
    assert (invoice.status is InvoiceStatus.PAID) == paid


def test_an_invoice_falls_due_once_and_stays_overdue_until_settled() -> None:
    invoice = Invoice(account_id=crmkit.new_id(), amount=cny(100), issued_at=T0, due=T0.date())
    seen = []
    invoice.mark_overdue()
    seen.append(invoice.status)
    with pytest.raises(ValidationError, match="cannot fall due"):
        invoice.mark_overdue()
    invoice.settle(cny(40))
    seen.append(invoice.status)
    invoice.settle(cny(60))
    seen.append(invoice.status)
    assert seen == [InvoiceStatus.OVERDUE, InvoiceStatus.OVERDUE, InvoiceStatus.PAID]


def test_a_documents_status_must_agree_with_its_amounts() -> None:
    with pytest.raises(ValidationError, match="status: is invoiced, but the amounts say open"):
        Order(account_id=crmkit.new_id(), amount=cny(5), placed_at=T0, status=OrderStatus.INVOICED)
    with pytest.raises(ValidationError, match="invoiced: and cancelled together exceed"):
        Order(account_id=crmkit.new_id(), amount=cny(5), placed_at=T0, invoiced=cny(6))
    with pytest.raises(ValidationError, match="cancelled: is in USD"):
        Order(account_id=crmkit.new_id(), amount=cny(5), placed_at=T0, cancelled=Money(1, "USD"))
    with pytest.raises(ValidationError, match="amount: 0.00 CNY must be more than zero"):
        Invoice(account_id=crmkit.new_id(), amount=cny(0), issued_at=T0, due=T0.date())
    with pytest.raises(ValidationError, match="due: must be a date, not DateTime"):
        Invoice(account_id=crmkit.new_id(), amount=cny(1), issued_at=T0, due=T0)


def test_a_payments_allocations_and_rest_add_up_to_it() -> None:
    invoice = crmkit.new_id()
    paid = Payment(
        account_id=crmkit.new_id(),
        amount=cny(100),
        received_at=T0,
        allocations=[Allocation(invoice_id=invoice, amount=cny(70))],
    )
    assert paid.unallocated == cny(30)
    with pytest.raises(ValidationError, match="do not add up to the amount 100.00 CNY"):
        Payment(account_id=crmkit.new_id(), amount=cny(100), received_at=T0, unallocated=cny(1))
    with pytest.raises(ValidationError, match=r"allocations\[1\].invoice_id: names an invoice"):
        Payment(
            account_id=crmkit.new_id(),
            amount=cny(100),
            received_at=T0,
            allocations=[Allocation(invoice_id=invoice, amount=cny(1))] * 2,
        )


@pytest.mark.parametrize(
    ("kind", "effects"),
    [
        (EntryKind.RESERVE, (-1, 0, 0)),
        (EntryKind.RESERVE, (1, 1, 0)),
        (EntryKind.POST, (-1, 0, 0)),
        (EntryKind.SETTLE, (0, 1, 0)),
        (EntryKind.SETTLE, (0, 0, -1)),
        (EntryKind.VOID, (0, 0, -1)),
        (EntryKind.VOID, (0, 0, 0)),
    ],
)
def test_an_entry_moves_the_balances_only_as_its_kind_allows(
    kind: EntryKind, effects: tuple[int, int, int]
) -> None:
    a = cny(10)
    orders, invoices, credit = (a * n for n in effects)
    with pytest.raises(ValidationError, match=f"kind: a {kind} entry cannot move"):
        an_entry(an_account(), kind=kind, orders=orders, invoices=invoices, credit=credit)


def test_an_entrys_conversion_is_recorded_whole_or_not_at_all() -> None:
    account = an_account()
    with pytest.raises(ValidationError, match="rate: original, rate and rate_date go together"):
        an_entry(account, original=Money(1, "USD"))
    with pytest.raises(ValidationError, match="original: is in the entry's own currency"):
        an_entry(account, original=cny(1), rate=Decimal(1), rate_date=dt.date(2026, 3, 1))
    made = an_entry(account, original=Money(1, "USD"), rate=Decimal("7.1"), rate_date=T0.date())
    assert made.rate == Decimal("7.1")


def test_an_account_applies_its_entries_in_sequence_and_never_below_zero() -> None:
    account = an_account()
    account.apply(an_entry(account, amount=cny(30)))
    account.apply(
        an_entry(account, kind=EntryKind.POST, orders=cny(-10), invoices=cny(10), amount=cny(10))
    )
    assert (account.open_orders, account.unpaid_invoices, account.sequence) == (
        cny(20),
        cny(10),
        2,
    )
    with pytest.raises(ValidationError, match="entry.sequence: is 7, not the next one"):
        account.apply(an_entry(account, sequence=7))
    with pytest.raises(ValidationError, match="unpaid_invoices: would fall below zero"):
        account.apply(
            an_entry(account, kind=EntryKind.VOID, orders=cny(0), invoices=cny(-11), amount=cny(11))
        )
    with pytest.raises(ValidationError, match="entry.account_id: is not this account"):
        account.apply(an_entry(an_account()))
    assert (account.open_orders, account.unpaid_invoices, account.sequence) == (
        cny(20),
        cny(10),
        2,
    )


def test_an_accounts_amounts_are_in_its_currency_and_a_hold_has_a_reason() -> None:
    with pytest.raises(ValidationError, match="open_orders: is in USD, not the account's CNY"):
        an_account(open_orders=Money(0, "USD"))
    with pytest.raises(ValidationError, match="hold_reason: must be set exactly when"):
        an_account(on_hold=True)
    with pytest.raises(ValidationError, match="currency: 'ZZZ' is not an ISO 4217"):
        an_account(currency="ZZZ")


def test_the_position_counts_unpaid_invoices_past_due_and_refuses_others() -> None:
    account = an_account()

    def due(day: int, paid: bool = False) -> Invoice:
        invoice = Invoice(
            account_id=account.id, amount=cny(5), issued_at=T0, due=dt.date(2026, 3, day)
        )
        if paid:
            invoice.settle(cny(5))
        return invoice

    position = account_position(
        account, [due(1), due(3, paid=True), due(2), due(20)], today=dt.date(2026, 3, 10)
    )
    assert (position.overdue_invoices, position.oldest_overdue, position.days_overdue) == (
        2,
        dt.date(2026, 3, 1),
        9,
    )
    with pytest.raises(ValidationError, match=r"open_invoices\[0\]: belongs to another account"):
        account_position(an_account(), [due(1)], today=dt.date(2026, 3, 10))
    with pytest.raises(ValidationError, match="today: must be a date"):
        account_position(account, [], today=T0)
