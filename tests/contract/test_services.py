"""The customer services store their change and record their event, on every adapter."""

from __future__ import annotations

import pytest

import crmkit
from crmkit.customers import (
    Customer,
    CustomerRegistered,
    CustomerRemoved,
    CustomerUpdated,
    InteractionLogged,
    OwnerChanged,
    change_owner,
    log_interaction,
    register_customer,
    register_customers,
    remove_customer,
    update_customer,
)
from crmkit.errors import DuplicateError, NotFound, ValidationError
from crmkit.events import DomainEvent

from .conftest import NOW
from .test_customers import call, full_customer


@pytest.fixture
def published(crm: crmkit.CRM) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    for kind in (
        CustomerRegistered,
        CustomerUpdated,
        CustomerRemoved,
        OwnerChanged,
        InteractionLogged,
    ):
        crm.subscribe(kind, seen.append)
    return seen


def test_each_service_stores_and_records_its_event(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    customer = full_customer("C-1", owner="wang.fang")
    first_call = call(customer, "2026-03-02T10:00:00+08:00")
    with crm.unit_of_work(actor="li.na", tenant="acme") as uow:
        register_customer(uow, customer)
        log_interaction(uow, first_call)
        assert published == []  # nothing before the commit
    with crm.unit_of_work(actor="boss", tenant="acme") as uow:
        moved = change_owner(uow, customer.id, "chen.jie")
        moved.name = "上海云杉 (renamed)"
        update_customer(uow, moved)
    with crm.unit_of_work(actor="boss", tenant="acme") as uow:
        assert uow.customers.get(customer.id).owner_id == "chen.jie"
        assert uow.interactions.for_customer(customer.id) == [first_call]
        remove_customer(uow, uow.customers.get(customer.id))
        assert uow.customers.count() == 0

    assert [type(e) for e in published] == [
        CustomerRegistered,
        InteractionLogged,
        OwnerChanged,
        CustomerUpdated,
        CustomerRemoved,
    ]
    registered, logged, changed, updated, removed = published
    assert isinstance(registered, CustomerRegistered)
    assert (registered.customer_id, registered.owner_id) == (customer.id, "wang.fang")
    assert (registered.tenant_id, registered.actor_id) == ("acme", "li.na")
    assert registered.occurred_at == crmkit.to_utc(NOW)
    assert isinstance(logged, InteractionLogged)
    assert (logged.interaction_id, logged.kind) == (first_call.id, first_call.kind)
    assert isinstance(changed, OwnerChanged)
    assert (changed.previous_owner_id, changed.owner_id, changed.actor_id) == (
        "wang.fang",
        "chen.jie",
        "boss",
    )
    assert isinstance(updated, CustomerUpdated)
    assert updated.version == 3  # registered 1, owner changed 2, renamed 3
    assert isinstance(removed, CustomerRemoved)
    assert removed.customer_id == customer.id
    assert len({e.id for e in published}) == 5


def test_handing_a_customer_to_its_owner_changes_nothing(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    customer = full_customer(owner="li")
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, customer)
    published.clear()
    with crm.unit_of_work(actor="li") as uow:
        assert change_owner(uow, customer.id, "li").version == 1
    assert published == []


def test_a_failed_service_records_nothing_and_stores_nothing(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    customer = full_customer("C-1")
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, customer)
    published.clear()
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError) as caught:
            change_owner(uow, customer.id, " padded ")
        assert [i.path for i in caught.value.issues] == ["owner_id"]
        with pytest.raises(NotFound):
            change_owner(uow, crmkit.new_id(), "wang")
        with pytest.raises(ValidationError):
            register_customers(uow, [Customer(name="ok", owner_id="li"), full_customer("")])
        assert uow.events == ()
    with pytest.raises(DuplicateError), crm.unit_of_work(actor="li") as uow:
        register_customers(uow, [Customer(name="new", owner_id="li"), full_customer("C-1")])
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 1
        assert uow.customers.get(customer.id).owner_id == customer.owner_id
    assert published == []


def test_a_failing_subscriber_is_logged_and_stops_no_other(
    crm: crmkit.CRM, caplog: pytest.LogCaptureFixture
) -> None:
    everything: list[DomainEvent] = []
    registered: list[DomainEvent] = []

    def broken(event: CustomerRegistered) -> None:
        raise RuntimeError("the mail server is down")

    crm.subscribe(DomainEvent, everything.append)  # a base class receives every event
    crm.subscribe(CustomerRegistered, broken)
    crm.subscribe(CustomerRegistered, registered.append)
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, full_customer("C-1"))
    assert len(registered) == len(everything) == 1
    assert "the mail server is down" in caplog.text
    assert any(r.name == "crmkit.events" for r in caplog.records)

    crm.unsubscribe(CustomerRegistered, registered.append)
    crm.unsubscribe(CustomerRegistered, registered.append)  # twice: nothing happens
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, full_customer("C-2"))
    assert len(registered) == 1
    assert len(everything) == 2
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 2  # the failing subscriber undid nothing
