"""The Customer 360 view on every store (issue 18, item 8): a customer with contacts, latest
interactions, leads, open deals and credit standing, read in a fixed number of queries; and the
repository queries it stands on (`recent`, leads `for_customer` and `open_by_company`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pendulum
import pytest
import sqlalchemy as sa

import crmkit
from crmkit import Money
from crmkit.credit import (
    CreditPolicy,
    credit_limit,
    invoice_order,
    open_account,
    place_order,
    put_on_hold,
)
from crmkit.customers import (
    BuyingRole,
    Channel,
    Contact,
    Customer,
    DoNotContact,
    Interaction,
    InteractionKind,
    LifecycleStage,
    QuietHours,
    Tier,
    check_contact,
)
from crmkit.errors import NotFound, ValidationError
from crmkit.pipeline import (
    Lead,
    LeadStatus,
    Opportunity,
    b2b_pipeline,
    lose,
    open_opportunity,
    transactional_pipeline,
    win,
)
from crmkit.storage import UnitOfWork
from crmkit.storage.sql import SqlStore
from crmkit.views import Customer360, customer_360

from .conftest import Backend

T0 = pendulum.datetime(2026, 1, 5, 9)
B2B, QUICK = b2b_pipeline(), transactional_pipeline()
NAME = "杭州青禾贸易有限公司"


@attrs.frozen
class Book:
    """What was stored for the customer under view, and for a neighbour who must not show."""

    customer: Customer
    interactions: list[Interaction]
    open_leads: list[Lead]
    converted: list[Lead]
    open_deals: list[Opportunity]
    invoices: list[Any]


def _deal(customer: Customer, name: str, *, pipeline: Any = B2B, at: Any = T0) -> Opportunity:
    deal, _ = open_opportunity(
        pipeline,
        at=at,
        name=name,
        customer_id=customer.id,
        owner_id="li",
        amount=Money("12000", "CNY"),
        expected_close=dt.date(2026, 4, 30),
        quote="Q-1",
    )
    return deal


def _converted(customer: Customer, name: str) -> Lead:
    return Lead(name=name, source="website", status=LeadStatus.CONVERTED, customer_id=customer.id)


def _store_book(crm: crmkit.CRM, *, interactions: int = 25, credit: bool = True) -> Book:
    boss = Contact(name="李明", roles=frozenset({BuyingRole.DECISION_MAKER}))
    customer = Customer(
        name=NAME,
        owner_id="li",
        tier=Tier(code="B", service_level="quarterly visit"),
        lifecycle=LifecycleStage.REPEAT_CUSTOMER,
        contacts=[boss, Contact(name="Chen Jie", reports_to=boss.id)],
    )
    other = Customer(name="Other", owner_id="wang")
    timeline = [
        Interaction(
            customer_id=customer.id,
            kind=InteractionKind.CALL,
            # Two at each instant: ties are broken by id, newest id first.
            occurred_at=T0.add(hours=i // 2),
            actor_id="li",
            summary=f"call {i}",
        )
        for i in range(interactions)
    ]
    noise = [
        Interaction(
            customer_id=other.id,
            kind=InteractionKind.NOTE,
            occurred_at=T0.add(days=60),
            actor_id="wang",
            summary="elsewhere",
        )
    ]
    enquiry = Lead(name="Zhao Lei", source="trade_show", company=NAME)
    again = Lead(name="Qian Yu", source="website", company=NAME)
    near_misses = [
        Lead(name="Sun Li", source="website", company=NAME + " "),  # trailing space: not equal
        Lead(name="Zhou Wu", source="website", company="Other"),
        Lead(
            name="Wu Zheng",
            source="website",
            company=NAME,
            status=LeadStatus.DISQUALIFIED,
            disqualified_reason="student",
        ),
    ]
    converted = [_converted(customer, "Feng Chen"), _converted(customer, "Chu Wei")]
    open_deal = _deal(customer, "200 seats")
    won = _deal(customer, "10 seats", pipeline=QUICK)
    win(won, QUICK, at=T0.add(days=1))
    lost = _deal(customer, "site licence")
    lose(lost, B2B, at=T0.add(days=2), reason="price")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.customers.add(other)
        for interaction in [*timeline, *noise]:
            uow.interactions.add(interaction)
        uow.leads.add_many([enquiry, again, *near_misses, *converted, _converted(other, "X")])
        uow.opportunities.add_many([open_deal, won, lost, _deal(other, "theirs")])
        invoices = []
        if credit:
            account = open_account(uow, customer.id, Money("50000", "CNY"), key="open")
            for n, (amount, due) in enumerate(
                [("3000", dt.date(2026, 1, 31)), ("4500", dt.date(2026, 2, 20))]
            ):
                order = place_order(uow, account.id, Money(amount, "CNY"), key=f"PO-{n}").order
                assert order is not None
                invoices.append(invoice_order(uow, account.id, order.id, key=f"INV-{n}", due=due))
            late = place_order(uow, account.id, Money("2000", "CNY"), key="PO-open").order
            assert late is not None
            invoices.append(
                invoice_order(uow, account.id, late.id, key="INV-later", due=dt.date(2026, 4, 1))
            )
            place_order(uow, account.id, Money("800", "CNY"), key="PO-uninvoiced")
            other_account = open_account(uow, other.id, Money("1000", "CNY"), key="other")
            order = place_order(uow, other_account.id, Money("900", "CNY"), key="O-1").order
            assert order is not None
            invoice_order(uow, other_account.id, order.id, key="O-INV", due=dt.date(2026, 1, 1))
    newest = sorted(timeline, key=lambda i: (i.occurred_at, i.id), reverse=True)
    return Book(
        customer=customer,
        interactions=newest,
        open_leads=sorted([enquiry, again], key=lambda lead: lead.id),
        converted=sorted(converted, key=lambda lead: lead.id),
        open_deals=[open_deal],
        invoices=invoices,
    )


def _view(crm: crmkit.CRM, customer_id: Any, **options: Any) -> Customer360:
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        return customer_360(uow, customer_id, **options)


def _same(found: tuple[Any, ...], expected: list[Any]) -> None:
    # Compared without versions: the stores bump them on write, the lists were built before.
    assert [attrs.evolve(x, version=0) for x in found] == [
        attrs.evolve(x, version=0) for x in expected
    ]


def test_the_view_gathers_everything_about_the_customer_and_its_credit(backend: Backend) -> None:
    crm = backend.fresh()
    book = _store_book(crm)
    view = _view(crm, book.customer.id)
    assert view.at == crm.clock.now()
    _same((view.customer,), [book.customer])
    assert [c.name for c in view.contacts] == ["李明", "Chen Jie"]
    _same(view.interactions, book.interactions[:20])
    assert view.interactions[0].summary == "call 24"
    _same(view.open_leads, book.open_leads)
    _same(view.converted_leads, book.converted)
    _same(view.open_opportunities, book.open_deals)
    assert view.pipeline_value == {"CNY": Money("12000", "CNY")}
    assert view.tier == Tier(code="B", service_level="quarterly visit")
    assert view.service_level == "quarterly visit"
    assert view.lifecycle is LifecycleStage.REPEAT_CUSTOMER
    credit = view.credit
    assert credit is not None
    # Now is 2026-03-02 (UTC): the invoice due on 2026-01-31 is 30 days late, the one due on
    # 2026-02-20 ten days, the one due in April not yet.
    assert credit.account.unpaid_invoices == Money("9500", "CNY")
    assert credit.account.open_orders == Money("800", "CNY")
    assert credit.overdue_invoices == 2
    assert credit.overdue_amount == Money("7500", "CNY")
    assert credit.oldest_overdue == dt.date(2026, 1, 31)
    assert credit.position.oldest_overdue_days == 30
    expected = credit_limit(Money("50000", "CNY"), tier="B", at=view.at)
    assert credit.limit == expected
    assert credit.exposure == Money("10300", "CNY")
    assert credit.available == expected.limit - Money("10300", "CNY")
    assert not credit.on_hold


def test_the_views_options_limit_the_timeline_set_the_moment_and_name_the_pipelines(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    book = _store_book(crm)
    # The latest three interactions, newest first: the timeline's order reversed.
    _same(_view(crm, book.customer.id, recent=3).interactions, book.interactions[:3])
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        everything = uow.interactions.recent(book.customer.id, limit=100)
        assert list(reversed(everything)) == uow.interactions.for_customer(book.customer.id)
    # On 2026-02-10 only the invoice due on 2026-01-31 was late.
    credit = _view(crm, book.customer.id, now=pendulum.datetime(2026, 2, 10)).credit
    assert credit is not None
    assert (credit.overdue_invoices, credit.oldest_overdue) == (1, dt.date(2026, 1, 31))
    # A deal of a pipeline not given cannot be told open or closed: refused, by name.
    with pytest.raises(ValidationError) as raised:
        _view(crm, book.customer.id, pipelines=B2B)
    assert [i.path for i in raised.value.issues] == ["pipelines"]
    assert "'transactional'" in str(raised.value)
    # Given both, the won deal of the quick pipeline is closed and left out.
    _same(_view(crm, book.customer.id, pipelines=[QUICK, B2B]).open_opportunities, book.open_deals)


def test_a_hold_shows_in_the_standing(backend: Backend) -> None:
    crm = backend.fresh()
    book = _store_book(crm, interactions=1)
    with crm.unit_of_work(actor="li") as uow:
        account = uow.credit_accounts.for_customer(book.customer.id)
        assert account is not None
        put_on_hold(uow, account.id, reason="disputed invoice", key="hold")
    credit = _view(crm, book.customer.id).credit
    assert credit is not None
    assert credit.on_hold
    assert credit.position.hold_reason == "disputed invoice"


BAD: list[tuple[dict[str, Any], str]] = [
    ({"recent": 0}, "recent"),
    ({"recent": True}, "recent"),
    ({"recent": 100_001}, "recent"),
    ({"now": dt.datetime(2026, 3, 2)}, "now"),
    ({"pipelines": "b2b"}, "pipelines"),
    ({"pipelines": [B2B, "quick"]}, "pipelines[1]"),
    ({"credit_policy": "strict"}, "credit_policy"),
    ({"payment_history": 0.9}, "payment_history"),
]


def test_an_empty_customer_has_an_empty_view_and_bad_arguments_are_refused_by_name(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(lone := Customer(name="Lone", owner_id="li"))
    view = _view(crm, lone.id)
    assert (view.interactions, view.open_leads, view.converted_leads) == ((), (), ())
    assert view.open_opportunities == ()
    assert view.credit is None
    assert (view.tier, view.service_level, view.pipeline_value) == (None, None, {})
    for options, field in BAD:
        with pytest.raises(ValidationError) as raised:
            _view(crm, lone.id, **options)
        assert [i.path for i in raised.value.issues] == [field], options
    with pytest.raises(ValidationError) as raised:
        _view(crm, "not an id")
    assert [i.path for i in raised.value.issues] == ["customer_id"]
    with pytest.raises(NotFound):
        _view(crm, Customer(name="Ghost", owner_id="li").id)


def test_a_customer_of_another_tenant_is_not_found(backend: Backend) -> None:
    crm = backend.fresh()
    book = _store_book(crm, interactions=1)
    with (
        crm.unit_of_work(actor="li", tenant="elsewhere", read_only=True) as uow,
        pytest.raises(NotFound),
    ):
        customer_360(uow, book.customer.id)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.leads.open_by_company(NAME) != []
    with crm.unit_of_work(actor="li", tenant="elsewhere", read_only=True) as uow:
        assert uow.leads.open_by_company(NAME) == []
        assert uow.leads.for_customer(book.customer.id) == []
        assert uow.interactions.recent(book.customer.id) == []


def test_lead_queries_refuse_bad_arguments_by_name(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        for bad in ("", 7, "x" * 201):
            with pytest.raises(ValidationError) as raised:
                uow.leads.open_by_company(bad)  # type: ignore[arg-type]
            assert [i.path for i in raised.value.issues] == ["company"]
        with pytest.raises(ValidationError) as raised:
            uow.leads.for_customer("x")  # type: ignore[arg-type]
        assert [i.path for i in raised.value.issues] == ["customer_id"]
        with pytest.raises(ValidationError) as raised:
            uow.interactions.recent(Customer(name="A", owner_id="li").id, limit=0)
        assert [i.path for i in raised.value.issues] == ["limit"]


@contextmanager
def _statements(crm: crmkit.CRM) -> Iterator[list[str]]:
    seen: list[str] = []
    if not isinstance(crm.store, SqlStore):
        yield seen
        return
    engine = crm.store.engine

    def note(_c: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def _count(crm: crmkit.CRM, customer_id: Any) -> int:
    with crm.unit_of_work(actor="li", read_only=True) as uow, _statements(crm) as seen:
        customer_360(uow, customer_id)
        return len(seen)


def test_the_number_of_queries_does_not_grow_with_the_customers_records(
    backend: Backend,
) -> None:
    if not backend.is_sql:
        pytest.skip("the memory store runs no SQL")
    crm = backend.fresh()
    small = _store_book(crm, interactions=1)
    with crm.unit_of_work(actor="li") as uow:
        more = [
            Interaction(
                customer_id=small.customer.id,
                kind=InteractionKind.EMAIL,
                occurred_at=T0.add(minutes=i),
                actor_id="li",
                summary=f"mail {i}",
            )
            for i in range(40)
        ]
        for interaction in more:
            uow.interactions.add(interaction)
    before = _count(crm, small.customer.id)
    _grow(crm, small.customer)
    assert _count(crm, small.customer.id) == before
    assert before <= 12


def _grow(crm: crmkit.CRM, customer: Customer) -> None:
    with crm.unit_of_work(actor="li") as uow:
        uow.leads.add_many(
            [Lead(name=f"L{i}", source="website", company=NAME) for i in range(30)]
            + [_converted(customer, f"C{i}") for i in range(30)]
        )
        uow.opportunities.add_many([_deal(customer, f"deal {i}") for i in range(30)])
        _more_invoices(uow, customer)


def _more_invoices(uow: UnitOfWork, customer: Customer) -> None:
    account = uow.credit_accounts.for_customer(customer.id)
    assert account is not None
    for n in range(10):
        # A lenient policy: the customer's invoices are long overdue already.
        lenient = CreditPolicy(overdue_days=1000)
        placed = place_order(uow, account.id, Money("10", "CNY"), key=f"more-{n}", policy=lenient)
        order = placed.order
        assert order is not None
        invoice_order(uow, account.id, order.id, key=f"more-inv-{n}", due=dt.date(2026, 1, 2))


def test_contact_rules_are_stored_and_asked_through_the_view_and_check_contact(
    backend: Backend,
) -> None:
    crm = backend.fresh()  # its clock: 2026-03-02T01:30Z, 09:30 in Shanghai, 02:30 in Berlin
    wang = Contact(
        name="王伟",
        timezone="Asia/Shanghai",
        opt_outs=frozenset({Channel.SMS}),
        quiet_hours=QuietHours(start=dt.time(21), end=dt.time(8)),
    )
    jan = Contact(name="Jan", quiet_hours=QuietHours(start=dt.time(22), end=dt.time(7)))
    week = DoNotContact(
        start=pendulum.datetime(2026, 3, 1),
        end=pendulum.datetime(2026, 3, 9),
        channels=frozenset({Channel.VISIT}),
        reason="office closed",
    )
    customer = Customer(
        name="Nordwind",
        owner_id="li",
        timezone="Europe/Berlin",
        contacts=[wang, jan],
        do_not_contact=(week,),
    )
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    view = _view(crm, customer.id)
    assert view.may_contact(Channel.CALL, contact_id=wang.id)
    assert view.may_contact(Channel.SMS, contact_id=wang.id).allowed_from is None
    night_in_berlin = view.may_contact(Channel.CALL, contact_id=jan.id)
    assert night_in_berlin.allowed_from == pendulum.datetime(2026, 3, 2, 6)  # 07:00 CET
    visit = view.may_contact(Channel.VISIT)
    assert [r.text for r in visit.reasons] == ["office closed (until 2026-03-09T00:00Z)"]
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert check_contact(uow, customer.id, Channel.CALL, contact_id=jan.id) == night_in_berlin
        later = pendulum.datetime(2026, 3, 2, 12)
        assert check_contact(uow, customer.id, Channel.CALL, contact_id=jan.id, at=later)
        with pytest.raises(NotFound):
            check_contact(uow, customer.id, Channel.CALL, contact_id=Contact(name="x").id)
        with pytest.raises(ValidationError) as raised:
            check_contact(uow, "x", Channel.CALL)  # type: ignore[arg-type]
        assert [i.path for i in raised.value.issues] == ["customer_id"]
