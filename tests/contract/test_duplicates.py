"""Duplicates are the same errors on every store, found by the constraint's name.

Drifts the repository core fixed: two customers sharing a contact id were accepted by the memory
store only; with the table prefix ``barcode_`` a duplicate id was reported as a duplicate code
(the driver's message was searched for "code"); the memory store's ``add_many`` was quadratic.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest

import crmkit
from crmkit import FixedClock
from crmkit.customers import Contact, Customer
from crmkit.errors import DuplicateError
from crmkit.storage import MemoryStore

from .conftest import NOW, RUN, Backend


def _refused(crm: crmkit.CRM, *customers: Customer, update: bool = False) -> DuplicateError:
    uow = crm.unit_of_work(actor="li")
    with pytest.raises(DuplicateError) as caught:
        if update:
            uow.customers.update(customers[0])
        else:
            uow.customers.add_many(customers)
    uow.rollback()
    return caught.value


def test_two_customers_sharing_a_contact_id_are_refused_alike(crm: crmkit.CRM) -> None:
    person = Contact(name="Li Wei")
    first = Customer(name="Acme", owner_id="li", contacts=[person])
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(first)

    later = Customer(name="Globex", owner_id="li", contacts=[Contact(name="Li", id=person.id)])
    error = _refused(crm, later)
    assert (error.kind, error.field) == ("contact", "id")

    twins = [
        Customer(name=f"Twin {i}", owner_id="li", contacts=[Contact(name="Wang", id=shared)])
        for i, shared in enumerate([crmkit.new_id()] * 2)
    ]
    error = _refused(crm, *twins)
    assert (error.kind, error.field) == ("contact", "id")

    other = Customer(name="Initech", owner_id="li")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(other)
    other.contacts.append(Contact(name="Li", id=person.id))
    error = _refused(crm, other, update=True)
    assert (error.kind, error.field) == ("contact", "id")
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.customers.count() == 2
        assert uow.customers.get(other.id).contacts == []


@pytest.fixture
def barcode(backend: Backend) -> Iterator[crmkit.CRM]:
    """A CRM whose tables are named ``barcode_..._customers``: "code" is in every name."""
    if not backend.is_sql:
        yield crmkit.CRM(MemoryStore(), clock=FixedClock(NOW))
        return
    from crmkit.storage.sql import SqlStore, build_tables

    engine = backend.stores[0].engine  # type: ignore[attr-defined]
    tables = build_tables(prefix=f"barcode_g{RUN}_")
    with engine.begin() as connection:
        tables.metadata.drop_all(connection)
        tables.metadata.create_all(connection)
    try:
        yield crmkit.CRM(SqlStore(engine, tables=tables), clock=FixedClock(NOW))
    finally:
        with engine.begin() as connection:
            tables.metadata.drop_all(connection)


def test_a_duplicate_is_named_by_its_constraint_whatever_the_table_prefix(
    barcode: crmkit.CRM,
) -> None:
    stored = Customer(name="Acme", owner_id="li", code="C-1", contacts=[Contact(name="Li")])
    with barcode.unit_of_work(actor="li") as uow:
        uow.customers.add(stored)

    same_id = Customer(name="Globex", owner_id="li", id=stored.id)
    error = _refused(barcode, same_id)
    assert (error.kind, error.field, error.value) == ("customer", "id", stored.id)

    same_code = Customer(name="Globex", owner_id="li", code="C-1")
    error = _refused(barcode, same_code)
    assert (error.kind, error.field, error.value) == ("customer", "code", "C-1")

    same_contact = Customer(
        name="Initech", owner_id="li", contacts=[Contact(name="Li", id=stored.contacts[0].id)]
    )
    error = _refused(barcode, same_contact)
    assert (error.kind, error.field, error.value) == ("contact", "id", None)

    # In a batch, no store can tell which record clashed.
    error = _refused(barcode, Customer(name="Initech", owner_id="li"), same_id)
    assert (error.kind, error.field, error.value) == ("customer", "id", None)


def _add_many_seconds(size: int) -> float:
    batch = [Customer(name=f"C{i}", owner_id="li", code=f"C-{i}") for i in range(size)]
    crm = crmkit.CRM(MemoryStore(), clock=FixedClock(NOW))
    gc.disable()  # a collection's pause, not the store, would decide the figure
    try:
        started = time.perf_counter()
        with crm.unit_of_work(actor="li") as uow:
            uow.customers.add_many(batch)
        return time.perf_counter() - started
    finally:
        gc.enable()


def test_the_memory_stores_add_many_takes_time_linear_in_the_batch() -> None:
    # Quadratic (as it was) makes 8 times the batch take 64 times as long; linear, 8 times.
    small = min(_add_many_seconds(1_000) for _ in range(3))
    large = min(_add_many_seconds(8_000) for _ in range(3))
    assert large < 24 * small, (small, large)


def test_a_duplicate_in_a_batch_says_which_field_without_a_value(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(Customer(name="Acme", owner_id="li", code="C-1"))
    error = _refused(
        crm,
        Customer(name="Globex", owner_id="li", code="C-2"),
        Customer(name="Initech", owner_id="li", code="C-1"),
    )
    assert (error.kind, error.field) == ("customer", "code")
    if error.value is None:  # SQL stores: the database does not say which record clashed
        assert str(error) == "a customer with the same code already exists"
    else:
        assert str(error) == "a customer with code 'C-1' already exists"
