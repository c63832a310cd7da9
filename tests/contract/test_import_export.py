"""Import and export over every store: re-imports update, bad rows never land half-written, and
an export imported into an empty store gives the same customers (a law, over generated ones).
"""

from __future__ import annotations

import io
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit.customers import (
    Address,
    Customer,
    CustomerRegistered,
    CustomerUpdated,
    ImportReport,
    export_contacts,
    export_customers,
    import_contacts,
    import_customers,
)
from crmkit.events import DomainEvent
from crmkit.testing import strategies as cs

from .conftest import Backend

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def csv_file(*lines: str) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


def everyone(crm: crmkit.CRM) -> list[Customer]:
    with crm.unit_of_work(actor="t", read_only=True) as uow:
        return uow.customers.page(limit=1000)


def recorded(crm: crmkit.CRM) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    crm.subscribe(CustomerRegistered, seen.append)
    crm.subscribe(CustomerUpdated, seen.append)
    return seen


CUSTOMERS = (
    "external_id,name,owner_id,code,tags,city",
    "ERP-1,Acme,li.na,C-1,vip,深圳市",
    "ERP-2,Bolt,li.na,C-2,,",
    "ERP-3,Cid,wang.fang,,north|south,Hamburg",
)


def test_importing_a_file_again_updates_and_adds_without_duplicates(backend: Backend) -> None:
    crm = backend.fresh()
    first = import_customers(crm, csv_file(*CUSTOMERS), actor="li.na")
    assert first == ImportReport(read=3, added=3)
    again = import_customers(crm, csv_file(*CUSTOMERS), actor="li.na")
    assert again == ImportReport(read=3, unchanged=3)
    changed = import_customers(
        crm,
        csv_file(
            "external_id,name,owner_id,tags",
            "ERP-2,Bolt GmbH,li.na,",
            "ERP-3,Cid,zhou.min,north",
            "ERP-4,Dart,li.na,",
        ),
        actor="li.na",
        batch_size=2,
    )
    assert changed == ImportReport(read=3, added=1, updated=2)
    found = {c.external_id or "": c for c in everyone(crm)}
    assert sorted(found) == ["ERP-1", "ERP-2", "ERP-3", "ERP-4"]
    assert (found["ERP-2"].name, found["ERP-2"].code) == ("Bolt GmbH", "C-2")
    assert found["ERP-3"].owner_id == "zhou.min"
    assert found["ERP-3"].tags == {"north"}
    assert found["ERP-3"].address == Address(city="Hamburg")
    assert found["ERP-3"].version == 2


def test_good_rows_land_and_bad_rows_are_reported_whole(backend: Backend) -> None:
    crm = backend.fresh()
    import_customers(crm, csv_file(*CUSTOMERS), actor="li.na")
    seen = recorded(crm)
    report = import_customers(
        crm,
        csv_file(
            "external_id,name,owner_id,code,birthday",
            "ERP-5,Eel,li.na,C-5,",
            "ERP-6,Fox,li.na,C-1,",  # the code is Acme's: refused by the store at write
            "ERP-7,Gnu,li.na,C-7,2026-02-30",  # no such day
            "ERP-2,Bolt,li.na,C-5,",  # C-5 is taken by Eel, a row earlier in the same batch
            "ERP-8,Hen,li.na,C-8,",
        ),
        actor="li.na",
    )
    assert (report.read, report.added, report.failed) == (5, 2, 3)
    assert [(e.row, e.field) for e in report.errors] == [(3, "code"), (4, "birthday"), (5, "code")]
    assert "a customer with code 'C-1' already exists" in report.errors[0].message
    found = {c.external_id or "": c for c in everyone(crm)}
    assert sorted(found) == ["ERP-1", "ERP-2", "ERP-3", "ERP-5", "ERP-8"]
    assert found["ERP-2"].code == "C-2"  # the refused row changed nothing
    # Only the rows that landed recorded events, once each.
    assert sorted(e.customer_id for e in seen) == sorted(  # type: ignore[attr-defined]
        [found["ERP-5"].id, found["ERP-8"].id]
    )


def test_contacts_are_added_and_updated_by_external_id_and_bad_ones_refused(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    import_customers(crm, csv_file(*CUSTOMERS), actor="li.na")
    contacts = (
        "customer_external_id,external_id,name,phones,emails,roles,quiet_hours",
        "ERP-1,P-1,王伟,138 0013 8000,wang@example.cn,decision_maker,21:00-08:00",
        "ERP-1,P-2,Li Ming,,li@example,,",  # an address without a dot in its domain
        "ERP-2,P-3,Chen Jie,+49 1512 3456789,,purchaser|user,",
        "ERP-3,P-1,Copy,,,,",  # P-1 is Wang Wei's, at another customer
    )
    report = import_contacts(crm, csv_file(*contacts), actor="li.na", region="CN")
    assert (report.added, report.failed) == (2, 2)
    assert [(e.row, e.field) for e in report.errors] == [(3, "emails"), (5, "external_id")]
    assert report.errors[1].message == (
        "'P-1' is the external id of a contact of another customer (ERP-1); "
        "a contact does not move by import"
    )
    again = import_contacts(
        crm,
        csv_file("customer_external_id,external_id,title", "ERP-1,P-1,采购经理", "ERP-2,P-3,"),
        actor="li.na",
    )
    assert again == ImportReport(read=2, updated=1, unchanged=1)
    found = {c.external_id or "": c for c in everyone(crm)}
    (wang,) = found["ERP-1"].contacts
    assert (wang.name, wang.title, str(wang.phones[0])) == ("王伟", "采购经理", "+8613800138000")
    assert wang.quiet_hours is not None
    assert [c.name for c in found["ERP-2"].contacts] == ["Chen Jie"]
    assert found["ERP-3"].contacts == []


def _comparable(customer: Customer) -> Customer:
    """`customer` as a file carries it: no version, and an empty address is no address."""
    address = customer.address
    if address is not None and address == Address():
        address = None
    contacts = [attrs.evolve(c) for c in customer.contacts]
    return attrs.evolve(customer, version=0, address=address, contacts=contacts)


def _distinct(customers: list[Customer]) -> bool:
    """Whether the customers can be stored together (their unique keys differ)."""
    keys: list[tuple[str, object]] = []
    for c in customers:
        keys += [("id", c.id), ("code", c.code), ("x", c.external_id)]
        keys += [("contact", p.id) for p in c.contacts]
        keys += [("contact x", p.external_id) for p in c.contacts]
    keys = [k for k in keys if k[1] is not None]
    return len(keys) == len(set(keys))


@SETTINGS
@given(customers=st.lists(cs.customers(max_contacts=3), min_size=1, max_size=3), data=st.data())
def test_export_then_import_into_an_empty_store_gives_the_same_customers(
    backend: Backend, customers: list[Customer], data: st.DataObject
) -> None:
    assume(_distinct(customers))
    kind = data.draw(st.sampled_from(["csv", "jsonl"]), label="format")
    crm = backend.fresh()
    with crm.unit_of_work(actor="law") as uow:
        uow.customers.add_many(customers)
    people, companies = io.StringIO(), io.StringIO()
    assert export_customers(crm, companies, format=kind, page_size=2) == len(customers)
    exported = export_contacts(crm, people, format=kind, page_size=2)
    assert exported == sum(len(c.contacts) for c in customers)
    crm = backend.fresh()
    companies.seek(0)
    people.seek(0)
    report = import_customers(crm, companies, actor="law", format=kind, batch_size=2)
    assert report == ImportReport(read=len(customers), added=len(customers))
    report = import_contacts(crm, people, actor="law", format=kind)
    assert report.ok, report.errors
    back = {c.id: _comparable(c) for c in everyone(crm)}
    assert sorted(back) == sorted(c.id for c in customers)
    for customer in customers:
        assert _differences(back[customer.id], _comparable(customer)) == []


def _differences(got: Any, want: Any) -> list[str]:
    """The fields (and fields of contacts) in which `got` and `want` differ, with both values."""
    found = []
    for a in attrs.fields(type(want)):
        mine, theirs = getattr(got, a.name), getattr(want, a.name)
        if a.name == "contacts" and len(mine) == len(theirs):
            for i, (m, t) in enumerate(zip(mine, theirs, strict=True)):
                found += [f"contacts[{i}].{d}" for d in _differences(m, t)]
        elif mine != theirs:
            found.append(f"{a.name}: {mine!r} != {theirs!r}")
    return found


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_an_export_imported_into_the_same_store_changes_nothing(
    backend: Backend, kind: str
) -> None:
    crm = backend.fresh()
    import_customers(crm, csv_file(*CUSTOMERS), actor="li.na")
    out = io.StringIO()
    export_customers(crm, out, format=kind)
    out.seek(0)
    assert import_customers(crm, out, actor="li.na", format=kind) == ImportReport(
        read=3, unchanged=3
    )
