"""Receivables figures on every store (issue 17, item 6): the ageing, the overdue warnings and a
period's figures that a store computes (inside the database, on SQL) are the references' answers
over the same records, whatever the ledger; and the edges: the bucket boundaries, an empty
ledger, partly paid and written-off invoices, owners that change, bad arguments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import ExchangeRate, ExchangeRates, FixedClock, Money
from crmkit._money import minor_units
from crmkit.credit import (
    Bucket,
    CreditAccount,
    CreditPolicy,
    DocumentKind,
    EntryKind,
    Invoice,
    LedgerEntry,
    OpenItem,
    PeriodReceivables,
    ageing,
    invoice_order,
    open_account,
    overdue_warnings,
    period_receivables,
    place_order,
    record_payment,
    write_off,
)
from crmkit.credit._ledger import UNPAID
from crmkit.customers import Customer
from crmkit.errors import MissingRate, ValidationError
from crmkit.storage import UnitOfWork
from crmkit.storage.sql import SqlStore

from .conftest import Backend

AS_OF = dt.date(2026, 3, 31)
T0 = pendulum.datetime(2026, 1, 1)
OWNERS = ("li", "wang", "zhao")
CURRENCIES = ("CNY", "CNY", "USD", "JPY")
MARCH = ExchangeRate("USD", "CNY", dt.date(2026, 3, 1), "7.1")
RATES = ExchangeRates(
    [
        ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.185"),
        MARCH,
        ExchangeRate("JPY", "CNY", dt.date(2026, 1, 1), "0.048"),
        ExchangeRate("JPY", "USD", dt.date(2026, 1, 1), "0.0067"),
    ]
)
Books = list[tuple[Customer, CreditAccount]]

# These tests build ledgers to age, invoices long overdue and large sums included: the credit
# check must not stop the orders behind them.
LENIENT = CreditPolicy(overdue_days=36500)
BIG_LIMIT = 10**30


def cny(amount: str | int) -> Money:
    return Money(amount, "CNY")


def outcome(compute: Callable[[], Any]) -> Any:
    """The answer, or the kind of error (the pair a `MissingRate` names may differ)."""
    try:
        return compute()
    except (ValidationError, MissingRate) as e:
        return type(e)


def unchecked(value: object) -> Any:
    """`value`, passed where the type checker would refuse it, on purpose."""
    return value


# --- random books: customers and accounts, invoices, ledgers -----------------------------------


def amounts(currency: str) -> st.SearchStrategy[Money]:
    places = minor_units(currency)
    return st.integers(1, 10**9 * 10**places).map(
        lambda n: Money(Decimal(n).scaleb(-places), currency)
    )


@st.composite
def books(draw: st.DrawFn) -> Books:
    """A few customers of a few owners, each with an account in its currency."""
    found = []
    for i in range(draw(st.integers(1, 4))):
        customer = Customer(name=f"Customer {i}", owner_id=draw(st.sampled_from(OWNERS)))
        code = draw(st.sampled_from(CURRENCIES))
        account = CreditAccount(
            customer_id=customer.id, base_limit=Money(BIG_LIMIT, code), opened_at=T0
        )
        found.append((customer, account))
    return found


# Days overdue on AS_OF on and either side of the buckets' bounds.
EDGES = st.sampled_from([-1, 0, 1, 30, 31, 60, 61, 90, 91])


@st.composite
def invoices(draw: st.DrawFn, account: CreditAccount) -> Invoice:
    """An invoice of `account`: open, partly paid, paid, marked overdue or written off."""
    invoice = Invoice(
        account_id=account.id,
        amount=draw(amounts(account.currency)),
        issued_at=T0,
        due=AS_OF - dt.timedelta(days=draw(EDGES | st.integers(-40, 130))),
    )
    cent = Money(Decimal(1).scaleb(-minor_units(account.currency)), account.currency)
    part = invoice.amount.multiply("0.37", rounding="ROUND_DOWN")
    paid = draw(st.sampled_from([None, None, part, invoice.amount, invoice.amount - cent]))
    if paid is not None and paid.amount > 0:
        invoice.settle(paid)
    if invoice.balance.amount and draw(st.booleans()):
        invoice.mark_overdue()
    if invoice.balance.amount and draw(st.integers(0, 4)) == 0:
        invoice.write_off()
    return invoice


# Entry times: whole days from T0, on the stroke of midnight, a microsecond either side, or any
# time of day, so that period bounds fall on and between entries.
MOMENTS = st.tuples(
    st.integers(-3, 120),
    st.sampled_from([0, 0, 1, -1]) | st.integers(0, 86_399_999_999),
).map(lambda d: T0 + dt.timedelta(days=d[0], microseconds=d[1]))
# (kind, document, effects on open orders, unpaid invoices and unallocated credit)
MOVES = {
    "reserve": (EntryKind.RESERVE, DocumentKind.ORDER, (1, 0, 0)),
    "post": (EntryKind.POST, DocumentKind.INVOICE, (-1, 1, 0)),
    "pay": (EntryKind.SETTLE, DocumentKind.PAYMENT, (0, -1, 0)),
    "credit": (EntryKind.SETTLE, DocumentKind.PAYMENT, (0, 0, 1)),
    "allocate": (EntryKind.SETTLE, DocumentKind.INVOICE, (0, -1, -1)),
    "write_off": (EntryKind.VOID, DocumentKind.INVOICE, (0, -1, 0)),
    "cancel": (EntryKind.VOID, DocumentKind.ORDER, (-1, 0, 0)),
}


@st.composite
def ledgers(draw: st.DrawFn, account: CreditAccount) -> list[LedgerEntry]:
    """Random moves on `account`, each an entry it applies (so its balances are their sums)."""
    found: list[LedgerEntry] = []
    code = account.currency
    moves = st.tuples(st.sampled_from(sorted(MOVES)), st.integers(1, 100), MOMENTS)
    for move, percent, at in draw(st.lists(moves, max_size=14)):
        kind, document, effects = MOVES[move]
        if move in ("reserve", "credit"):
            amount = draw(amounts(code))
        else:
            room = [
                balance
                for balance, effect in zip(
                    (account.open_orders, account.unpaid_invoices, account.unallocated),
                    effects,
                    strict=True,
                )
                if effect < 0
            ]
            amount = min(room).multiply(Decimal(percent) / 100, rounding="ROUND_DOWN")
        if not amount.amount:
            continue
        entry = LedgerEntry(
            account_id=account.id,
            sequence=account.sequence + 1,
            kind=kind,
            document=document,
            document_id=crmkit.new_id(),
            amount=amount,
            orders=amount * effects[0],
            invoices=amount * effects[1],
            credit=amount * effects[2],
            at=pendulum.instance(at),
            key=f"{account.id}-{account.sequence + 1}",
        )
        account.apply(entry)
        found.append(entry)
    return found


def open_items(bills: list[Invoice], found: Books) -> list[OpenItem]:
    """The reference's items: an `OpenItem` per unpaid invoice, with its customer's owner."""
    owner = {a.id: (c.id, c.owner_id) for c, a in found}
    return [
        OpenItem(
            invoice_id=i.id,
            customer_id=owner[i.account_id][0],
            owner_id=owner[i.account_id][1],
            due_date=i.due,
            outstanding=i.balance,
        )
        for i in bills
        if i.status in UNPAID
    ]


def store(
    crm: crmkit.CRM,
    found: Books,
    bills: list[Invoice] | None = None,
    entries: list[LedgerEntry] | None = None,
) -> None:
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add_many([c for c, _ in found])
        for _, account in found:
            uow.credit_accounts.add(account)
        uow.invoices.add_many(bills or [])
        uow.ledger_entries.add_many(entries or [])


def decoy(crm: crmkit.CRM) -> None:
    """Another tenant owing in every bucket, in CNY and EUR, with a write-off: never counted."""
    with crm.unit_of_work(actor="li", tenant="other") as uow:
        for i, code in enumerate(("CNY", "EUR")):
            uow.customers.add(customer := Customer(name="Other", owner_id="li"))
            account = open_account(uow, customer.id, Money(BIG_LIMIT, code), key=f"open{i}")
            for days in (-5, 15, 45, 75, 105):
                placed = place_order(
                    uow, account.id, Money(7, code), key=f"o{i}{days}", policy=LENIENT
                )
                assert placed.order is not None, placed.decision
                bill = invoice_order(
                    uow,
                    account.id,
                    placed.order.id,
                    key=f"i{i}{days}",
                    due=AS_OF - dt.timedelta(days),
                )
            write_off(uow, account.id, bill.id, key=f"w{i}")


FILTERS = st.fixed_dictionaries(
    {
        "rates": st.sampled_from([None, RATES, RATES]),
        "currency": st.sampled_from([None, "CNY", "CNY", "USD"]),
    }
)


# --- the laws ----------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_ageing_and_warnings_of_any_invoices_are_the_reference_answers(
    backend: Backend, data: Any
) -> None:
    crm = backend.fresh()
    found = data.draw(books())
    chosen = st.sampled_from([a for _, a in found]).flatmap(invoices)
    bills = data.draw(st.lists(chosen, max_size=25))
    store(crm, found, bills)
    decoy(crm)
    items = open_items(bills, found)
    for filters in data.draw(st.lists(FILTERS, min_size=1, max_size=3)):
        # Before the rates start, a second currency has no rate.
        as_of = AS_OF + dt.timedelta(
            days=data.draw(st.sampled_from([0, 0, 1, -1, 30]) | st.integers(-100, 100))
        )
        days = data.draw(st.sampled_from([0, 30, 90]))
        limit = data.draw(st.sampled_from([None, None, 1, 3]))
        expected = outcome(partial(ageing, items, as_of, **filters))
        warned = overdue_warnings(items, as_of, days=days)[:limit]
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            assert outcome(partial(uow.invoices.ageing, as_of, **filters)) == expected
            assert uow.invoices.overdue_warnings(as_of, days=days, limit=limit) == warned


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_figures_of_any_period_are_the_reference_answers(backend: Backend, data: Any) -> None:
    crm = backend.fresh()
    found = data.draw(books())
    entries = [e for _, account in found for e in data.draw(ledgers(account))]
    store(crm, found, entries=entries)
    decoy(crm)
    for filters in data.draw(st.lists(FILTERS, min_size=1, max_size=3)):
        # From before the first entry (and the rates) to after the last.
        start = T0.date() + dt.timedelta(days=data.draw(st.integers(-40, 110)))
        end = start + dt.timedelta(days=data.draw(st.integers(1, 60)))
        expected = outcome(partial(period_receivables, entries, start, end, **filters))
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            figures = uow.invoices
            assert outcome(partial(figures.period_receivables, start, end, **filters)) == expected
            if isinstance(expected, PeriodReceivables):
                dso = partial(figures.days_sales_outstanding, start, end, **filters)
                assert outcome(dso) == outcome(partial(getattr, expected, "days_sales_outstanding"))
                rate = partial(figures.bad_debt_rate, start, end, **filters)
                assert outcome(rate) == outcome(partial(getattr, expected, "bad_debt_rate"))


# --- the edges ---------------------------------------------------------------------------------


def one_account(uow: UnitOfWork, owner: str = "li", code: str = "CNY") -> CreditAccount:
    uow.customers.add(customer := Customer(name="Acme", owner_id=owner))
    return open_account(uow, customer.id, Money(BIG_LIMIT, code), key=f"open-{customer.id}")


def billed(
    uow: UnitOfWork, account: CreditAccount, amount: Money, due: dt.date, key: str
) -> Invoice:
    placed = place_order(uow, account.id, amount, key=f"order-{key}", policy=LENIENT)
    assert placed.order is not None, placed.decision
    return invoice_order(uow, account.id, placed.order.id, key=f"invoice-{key}", due=due)


OVERDUE = (-1, 0, 1, 30, 31, 60, 61, 90, 91)


def test_the_bucket_boundaries_and_the_warnings_past_them(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account = one_account(uow)
        bills = {
            days: billed(uow, account, cny(10**i), AS_OF - dt.timedelta(days), str(days))
            for i, days in enumerate(OVERDUE)
        }
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        report = uow.invoices.ageing(AS_OF)
        assert report.total is not None
        assert report.total.buckets == {
            Bucket.CURRENT: cny(11),  # not yet due, due today
            Bucket.DAYS_1_30: cny(1100),  # 1 and 30 days overdue
            Bucket.DAYS_31_60: cny(110_000),
            Bucket.DAYS_61_90: cny(11_000_000),
            Bucket.OVER_90: cny(100_000_000),
        }
        assert report.total.items == len(OVERDUE)
        assert report.by_owner["li"] == report.total
        warnings = uow.invoices.overdue_warnings(AS_OF)
        assert [w.days_overdue for w in warnings] == [91, 90, 61, 60, 31]
        assert [w.invoice_id for w in warnings] == [bills[d].id for d in (91, 90, 61, 60, 31)]
        assert warnings[0].outstanding == cny(100_000_000)
        assert warnings[-1].message.endswith("is 31 days overdue (more than 30)")
        assert uow.invoices.overdue_warnings(AS_OF, limit=2) == warnings[:2]
        assert [w.days_overdue for w in uow.invoices.overdue_warnings(AS_OF, days=0)] == [
            91, 90, 61, 60, 31, 30, 1,
        ]  # fmt: skip
        assert [w.days_overdue for w in uow.invoices.overdue_warnings(AS_OF, days=90)] == [91]
        assert uow.invoices.overdue_warnings(AS_OF, days=91) == ()


def test_balances_left_by_payments_and_write_offs_and_a_quarters_figures(
    backend: Backend,
) -> None:
    clock = FixedClock("2026-01-05T10:00:00+08:00")
    crm = backend.fresh(clock=clock)
    with crm.unit_of_work(actor="li") as uow:
        account = one_account(uow)
        a = billed(uow, account, cny(1000), dt.date(2026, 2, 4), "a")
        b = billed(uow, account, cny(500), dt.date(2026, 2, 4), "b")
        c = billed(uow, account, cny(300), dt.date(2026, 3, 6), "c")
    clock.set("2026-02-10T10:00:00+08:00")
    with crm.unit_of_work(actor="li") as uow:
        allocations = {a.id: cny(400), c.id: cny(300)}
        record_payment(uow, account.id, cny(700), key="bank-1", allocations=allocations)
    # Written off on the quarter's last day; paid on the first of the next (in UTC).
    clock.set("2026-03-31T23:59:59.999999+00:00")
    crm.run(lambda uow: write_off(uow, account.id, b.id, key="bad"), actor="li")
    clock.set("2026-04-01T00:00:00+00:00")
    crm.run(
        lambda uow: record_payment(
            uow, account.id, cny(100), key="bank-2", allocations={a.id: cny(100)}
        ),
        actor="li",
    )
    q1 = (dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        report = uow.invoices.ageing(AS_OF)
        assert report.total is not None
        # a: 1000 - 400 - 100, 55 days overdue; b written off, c paid.
        assert report.total.buckets[Bucket.DAYS_31_60] == cny(500)
        assert (report.total.total, report.total.items) == (cny(500), 1)
        figures = uow.invoices.period_receivables(*q1)
        assert (figures.invoiced, figures.written_off, figures.outstanding) == (
            cny(1800),
            cny(500),
            cny(600),
        )
        assert figures.days == 90
        assert uow.invoices.days_sales_outstanding(*q1) == Decimal("30.00")
        assert uow.invoices.bad_debt_rate(*q1) == Decimal("0.2778")
        february = uow.invoices.period_receivables(dt.date(2026, 2, 1), dt.date(2026, 3, 1))
        assert (february.invoiced, february.outstanding) == (cny(0), cny(1100))
        assert uow.invoices.days_sales_outstanding(dt.date(2026, 2, 1), dt.date(2026, 3, 1)) is None
        april = uow.invoices.period_receivables(dt.date(2026, 4, 1), dt.date(2026, 4, 2))
        assert (april.written_off, april.outstanding) == (cny(0), cny(500))
        entries = uow.ledger_entries.of_account(account.id)
        for start, end in (q1, (dt.date(2026, 3, 31), dt.date(2026, 4, 2))):
            assert uow.invoices.period_receivables(start, end) == period_receivables(
                entries, start, end
            )


def test_an_empty_ledger(backend: Backend) -> None:
    crm = backend.fresh()
    q1 = (dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        report = uow.invoices.ageing(AS_OF)
        assert (report.currency, report.total, report.by_customer, report.by_owner) == (
            None,
            None,
            {},
            {},
        )
        asked = uow.invoices.ageing(AS_OF, currency="USD")
        assert asked.total is not None
        assert (asked.total.total, asked.total.items) == (Money(0, "USD"), 0)
        assert uow.invoices.overdue_warnings(AS_OF, days=0) == ()
        figures = uow.invoices.period_receivables(*q1)
        assert (figures.currency, figures.invoiced, figures.outstanding) == (None, None, None)
        assert uow.invoices.days_sales_outstanding(*q1) is None
        assert uow.invoices.bad_debt_rate(*q1) is None
        zero = uow.invoices.period_receivables(*q1, currency="CNY")
        assert (zero.invoiced, zero.written_off, zero.outstanding) == (cny(0), cny(0), cny(0))
        assert zero.days_sales_outstanding is None
        assert uow.invoices.ageing(AS_OF) == ageing([], AS_OF)
        assert uow.invoices.period_receivables(*q1) == period_receivables([], *q1)


def test_owners_are_the_customers_now_and_other_currencies_need_rates(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account = one_account(uow, owner="li")
        billed(uow, account, cny(100), AS_OF, "cny")
        dollars = one_account(uow, owner="wang", code="USD")
        billed(uow, dollars, Money(10, "USD"), AS_OF - dt.timedelta(40), "usd")
    with crm.unit_of_work(actor="li") as uow:
        customer = uow.customers.get(account.customer_id)
        customer.owner_id = "zhao"
        uow.customers.update(customer)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        with pytest.raises(ValidationError, match="^currency: items are in several currencies"):
            uow.invoices.ageing(AS_OF)
        with pytest.raises(ValidationError, match="^currency: "):
            uow.invoices.period_receivables(dt.date(2026, 3, 1), dt.date(2026, 4, 1))
        report = uow.invoices.ageing(AS_OF, rates=RATES, currency="CNY")
        assert list(report.by_owner) == ["wang", "zhao"]
        assert report.by_owner["wang"].buckets[Bucket.DAYS_31_60] == cny(71)  # 10 x 7.1
        assert report.by_customer[account.customer_id].total == cny(100)
        assert report.rates == (MARCH,)
        figures = uow.invoices.period_receivables(
            dt.date(2026, 3, 1), dt.date(2026, 4, 1), rates=RATES, currency="USD"
        )
        assert figures.invoiced == Money("24.08", "USD")  # 10 + 100 / 7.1 = 24.0845...
        with pytest.raises(MissingRate):
            uow.invoices.ageing(dt.date(2025, 12, 31), rates=RATES, currency="CNY")


def test_bad_arguments_are_refused_naming_them(backend: Backend) -> None:
    crm = backend.fresh()
    day = dt.date(2026, 1, 1)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        bad: list[tuple[Callable[[], Any], str]] = [
            (lambda: uow.invoices.ageing(unchecked(pendulum.datetime(2026, 3, 1))), "as_of"),
            (lambda: uow.invoices.ageing(unchecked("2026-03-01")), "as_of"),
            (lambda: uow.invoices.ageing(dt.date(999, 1, 1)), "as_of"),
            (lambda: uow.invoices.ageing(AS_OF, rates=unchecked({})), "rates"),
            (lambda: uow.invoices.ageing(AS_OF, currency="XX"), "currency"),
            (lambda: uow.invoices.overdue_warnings(unchecked(None)), "as_of"),
            (lambda: uow.invoices.overdue_warnings(AS_OF, days=-1), "days"),
            (lambda: uow.invoices.overdue_warnings(AS_OF, days=unchecked(True)), "days"),
            (lambda: uow.invoices.overdue_warnings(AS_OF, days=36501), "days"),
            (lambda: uow.invoices.overdue_warnings(AS_OF, limit=0), "limit"),
            (lambda: uow.invoices.period_receivables(unchecked(T0), day), "start"),
            (lambda: uow.invoices.period_receivables(day, unchecked("2026-04-01")), "end"),
            (lambda: uow.invoices.period_receivables(day, day), "end"),
            (lambda: uow.invoices.period_receivables(day, dt.date(2025, 1, 1)), "end"),
            (lambda: uow.invoices.days_sales_outstanding(day, dt.date(2126, 1, 2)), "end"),
            (lambda: uow.invoices.bad_debt_rate(day, AS_OF, currency=unchecked(1)), "currency"),
        ]
        for call, name in bad:
            with pytest.raises(ValidationError, match=f"^{name}: "):
                call()
        # The unit of work is still usable.
        assert uow.invoices.ageing(AS_OF).total is None


def test_sums_past_64_bits_are_exact(backend: Backend) -> None:
    crm = backend.fresh()
    customer = Customer(name="Acme", owner_id="li")
    account = CreditAccount(customer_id=customer.id, base_limit=cny(1), opened_at=T0)
    # Amounts whose ten-thousandths fill 63 bits (their sum does not), and far beyond.
    sizes = [cny("900000000000000")] * 3 + [cny("9" * 30), cny("1.25")]
    bills = [
        Invoice(account_id=account.id, amount=m, issued_at=T0, due=AS_OF - dt.timedelta(40))
        for m in sizes
    ]
    bills[3].settle(cny("1" * 25))
    entries = []
    for n, money in enumerate(sizes):
        for kind, effects in ((EntryKind.RESERVE, (1, 0, 0)), (EntryKind.POST, (-1, 1, 0))):
            entry = LedgerEntry(
                account_id=account.id,
                sequence=account.sequence + 1,
                kind=kind,
                document=DocumentKind.INVOICE,
                document_id=bills[n].id,
                amount=money,
                orders=money * effects[0],
                invoices=money * effects[1],
                credit=cny(0),
                at=T0 + dt.timedelta(days=n * 10),
                key=f"k{account.sequence}",
            )
            account.apply(entry)
            entries.append(entry)
    store(crm, [(customer, account)], bills, entries)
    items = open_items(bills, [(customer, account)])
    q1 = (dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        report = uow.invoices.ageing(AS_OF)
        assert report == ageing(items, AS_OF)
        assert report.total is not None
        assert report.total.total == cny("2700000000000001.25") + cny("9" * 30) - cny("1" * 25)
        # The period starts after the first two entries: they count only at its end.
        later = (dt.date(2026, 1, 15), dt.date(2026, 4, 1))
        for start, end in (q1, later):
            figures = uow.invoices.period_receivables(start, end)
            assert figures == period_receivables(entries, start, end)
        assert figures.outstanding == cny("2700000000000001.25") + cny("9" * 30)
        assert figures.invoiced == cny("900000000000001.25") + cny("9" * 30)


# --- inside the database -------------------------------------------------------------------------


@contextmanager
def statements(crm: crmkit.CRM) -> Iterator[list[str]]:
    """The SQL statements run while the block runs."""
    store_ = crm.store
    assert isinstance(store_, SqlStore)
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(store_.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(store_.engine, "before_cursor_execute", note)


def test_sql_stores_group_in_the_database_in_one_statement_each(backend: Backend) -> None:
    if not backend.is_sql:
        pytest.skip("the memory store runs no SQL")
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        account = one_account(uow)
        for n in range(60):
            billed(uow, account, cny(n + 1), AS_OF - dt.timedelta(n), str(n))
    q1 = (dt.date(2026, 1, 1), dt.date(2026, 4, 1))
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        uow.invoices.count()  # begins the transaction
        with statements(crm) as seen:
            report = uow.invoices.ageing(AS_OF)
            figures = uow.invoices.period_receivables(*q1)
            warnings = uow.invoices.overdue_warnings(AS_OF, days=50, limit=5)
    assert len(seen) == 3, seen
    assert all("GROUP BY" in s for s in seen[:2])
    assert report.total is not None
    assert report.total.total == figures.invoiced == figures.outstanding == cny(1830)
    assert [w.days_overdue for w in warnings] == [59, 58, 57, 56, 55]
