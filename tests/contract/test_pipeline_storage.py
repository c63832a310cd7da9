"""Leads and opportunities on the repository core: the contract, and their own queries, on
every store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from uuid import UUID

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import EmailAddress, Money, PhoneNumber
from crmkit._money import minor_units
from crmkit.customers import BuyingRole, Channel, Customer
from crmkit.errors import NotFound, ValidationError
from crmkit.pipeline import (
    DealContact,
    Decision,
    FollowUp,
    IntentGrade,
    Lead,
    Opportunity,
    b2b_pipeline,
    open_opportunity,
)
from crmkit.storage import MemoryStore, Store, UnitOfWork
from crmkit.storage._customers import CUSTOMERS
from crmkit.storage._pipeline import LEADS, OPPORTUNITIES
from crmkit.testing.contract import AggregateContract, SqlContract

from .conftest import Backend

T0 = pendulum.datetime(2026, 3, 2, 1, 30)
B2B = b2b_pipeline()


def a_lead(**changes: object) -> Lead:
    fields: dict[str, object] = {
        "name": "赵磊",
        "company": "杭州青禾贸易有限公司",
        "source": "trade_show",
        "intent": IntentGrade.HIGH,
        "probability": Decimal("0.35"),
        "industry": "retail",
        "size": "50-200",
        "territory": "east",
        "phones": [PhoneNumber("+8613800138000")],
        "emails": [EmailAddress("zhao.lei@example.cn")],
        "created_at": T0,
    }
    fields.update(changes)
    return Lead(**fields)  # type: ignore[arg-type]


def an_owned_lead(owner: str = "li.na", reclaim_at: pendulum.DateTime | None = None) -> Lead:
    lead = a_lead()
    decision = Decision(
        salesperson_id=owner, rule="round_robin", reason="next in turn", figures={"open": 3}
    )
    lead.assign(decision, at=T0)
    lead.follow_up(FollowUp(at=T0.add(hours=1), by=owner, channel=Channel.CALL, note="回电"))
    lead.reclaim_at = reclaim_at if reclaim_at is not None else T0.add(days=3)
    return lead


def a_deal(customer_id: UUID, amount: Money | None = None, owner: str = "li.na") -> Opportunity:
    deal, _ = open_opportunity(
        B2B,
        at=T0,
        name="200 licences",
        customer_id=customer_id,
        owner_id=owner,
        amount=amount or Money("90000.00", "CNY"),
        expected_close=dt.date(2026, 6, 30),
        competitors={"globex"},
        contacts=[DealContact(contact_id=crmkit.new_id(), roles={BuyingRole.DECISION_MAKER})],
        source="website",
    )
    return deal


# --- the contract -------------------------------------------------------------------------------


class LeadContract(AggregateContract[Lead]):
    aggregate = LEADS

    def new(self, uow: UnitOfWork) -> Lead:
        return an_owned_lead()

    def change(self, obj: Lead) -> None:
        obj.name = f"{obj.name[:150]}!"


class OpportunityContract(AggregateContract[Opportunity]):
    aggregate = OPPORTUNITIES
    parent = CUSTOMERS

    def new(self, uow: UnitOfWork) -> Opportunity:
        customer = Customer(name="Acme", owner_id="li")
        uow.repository(CUSTOMERS).add(customer)
        return a_deal(customer.id)

    def change(self, obj: Opportunity) -> None:
        obj.name = f"{obj.name[:150]}!"


class TestLeadsInMemory(LeadContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestLeadsOnSqlite(SqlContract, LeadContract):
    url = "sqlite://"
    machine_examples = 10


class TestLeadsOnPostgres(SqlContract, LeadContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 5


class TestLeadsOnMariaDB(SqlContract, LeadContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 5


class TestOpportunitiesInMemory(OpportunityContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestOpportunitiesOnSqlite(SqlContract, OpportunityContract):
    url = "sqlite://"
    machine_examples = 10


class TestOpportunitiesOnPostgres(SqlContract, OpportunityContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 5


class TestOpportunitiesOnMariaDB(SqlContract, OpportunityContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 5


# --- their own queries --------------------------------------------------------------------------


def test_leads_due_for_reclaim_are_found_earliest_first_and_only_open_owned_ones(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    early, late = an_owned_lead(reclaim_at=T0.add(days=1)), an_owned_lead(reclaim_at=T0.add(days=2))
    pooled, later = a_lead(), an_owned_lead("wang", reclaim_at=T0.add(days=9))
    closed = an_owned_lead(reclaim_at=T0.add(hours=1))
    closed.disqualify("no budget")
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.leads.add_many([late, pooled, later, early, closed])
    with crm.unit_of_work(actor="li", tenant="other") as uow:
        uow.leads.add(an_owned_lead(reclaim_at=T0))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.leads.due(T0) == []
        assert [x.id for x in uow.leads.due(T0.add(days=5))] == [early.id, late.id]
        assert [x.id for x in uow.leads.due(T0.add(days=5), limit=1)] == [early.id]
        assert [x.id for x in uow.leads.due(T0.add(days=2))] == [early.id, late.id]
        assert uow.leads.open_counts() == {"li.na": 2, "wang": 1}
        assert {x.id for x in uow.leads.by_owner("li.na")} == {early.id, late.id, closed.id}
        with pytest.raises(ValidationError, match="now: must be an aware datetime"):
            uow.leads.due(None)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="limit"):
            uow.leads.due(T0, limit=0)


def test_opportunities_are_found_by_customer_and_owner_and_need_their_customer(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    acme, globex = Customer(name="Acme", owner_id="li"), Customer(name="Globex", owner_id="li")
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add_many([acme, globex])
        deals = [a_deal(acme.id), a_deal(globex.id, owner="wang"), a_deal(acme.id, owner="wang")]
        uow.opportunities.add_many(deals)
        with pytest.raises(NotFound, match="customer"):
            uow.opportunities.add(a_deal(crmkit.new_id()))
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert [d.id for d in uow.opportunities.for_customer(acme.id)] == sorted(
            [deals[0].id, deals[2].id]
        )
        assert [d.id for d in uow.opportunities.by_owner("wang")] == sorted(
            [deals[1].id, deals[2].id]
        )
        assert uow.opportunities.by_owner("wang", limit=1) == [
            uow.opportunities.get(min(deals[1].id, deals[2].id))
        ]


_AMOUNTS = st.sampled_from(["CNY", "JPY", "BHD", "USD", "CLF"]).flatmap(
    lambda currency: st.builds(
        Money,
        st.decimals(
            min_value=-Decimal("9" * 33),
            max_value=Decimal("9" * 33),
            places=minor_units(currency),
            allow_nan=False,
            allow_infinity=False,
        ),
        st.just(currency),
    )
)


@settings(max_examples=30, deadline=None)
@given(amount=_AMOUNTS)
def test_any_amount_of_money_reads_back_equal(backend: Backend, amount: Money) -> None:
    crm = backend.fresh()
    customer = Customer(name="Acme", owner_id="li")
    deal = a_deal(customer.id, amount)
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add(customer)
        uow.opportunities.add(deal)
    with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
        assert uow.opportunities.get(deal.id) == deal


def test_leads_due_for_reclaim_are_found_through_the_reclaim_index(backend: Backend) -> None:
    """The query `due` sends is planned as a range scan of ``ix_<prefix>leads_reclaim``."""
    if not backend.is_sql:
        pytest.skip("the memory store has no query plans")
    import sqlalchemy as sa

    crm = backend.fresh()
    owned = [an_owned_lead(reclaim_at=T0.add(days=300 + i)) for i in range(3000)]
    due = [an_owned_lead(reclaim_at=T0.add(hours=i)) for i in range(5)]
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.leads.add_many(owned + due)
    store = crm.store
    engine: sa.Engine = store.engine  # type: ignore[attr-defined]
    table = store.tables.leads  # type: ignore[attr-defined]
    sent: list[tuple[str, object]] = []

    def keep(*args: object) -> None:
        statement, parameters = args[2], args[3]
        if "reclaim_at" in str(statement) and str(statement).lstrip().upper().startswith("SELECT"):
            sent.append((str(statement), parameters))

    with engine.connect() as connection:
        analyze = {
            "sqlite": "ANALYZE",
            "postgresql": f"ANALYZE {table.name}",
        }.get(engine.dialect.name, f"ANALYZE TABLE {table.name}")
        connection.exec_driver_sql(analyze)
        connection.commit()
    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            assert [x.id for x in uow.leads.due(T0.add(days=1))] == [x.id for x in due]
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    statement, parameters = sent[-1]
    explain = {"sqlite": "EXPLAIN QUERY PLAN "}.get(engine.dialect.name, "EXPLAIN ")
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(explain + statement, parameters).all()  # type: ignore[arg-type]
    assert f"ix_{table.name}_reclaim" in " ".join(str(part) for row in plan for part in row)
