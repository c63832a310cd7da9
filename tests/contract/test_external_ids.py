"""External ids, addresses and contact permissions are stored and found alike on every store."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

import crmkit
from crmkit.customers import (
    Address,
    Channel,
    Contact,
    Customer,
    DoNotContact,
    QuietHours,
    merge_customers,
    plan_merge,
)
from crmkit.errors import DuplicateError, ValidationError


def _customer(external_id: str | None, *people: Contact, name: str = "云杉") -> Customer:
    return Customer(name=name, owner_id="li", external_id=external_id, contacts=list(people))


def test_the_new_fields_read_back_equal(crm: crmkit.CRM) -> None:
    person = Contact(
        name="李明",
        external_id="P-7",
        timezone="Asia/Shanghai",
        opt_outs=frozenset({Channel.SMS, Channel.CALL}),
        quiet_hours=QuietHours(start=dt.time(21, 30), end=dt.time(8)),
        do_not_contact=(
            DoNotContact(
                start=pendulum.datetime(2026, 3, 2),
                end=pendulum.datetime(2026, 3, 9),
                reason="trip",
            ),
        ),
    )
    acme = _customer("ERP-0001", person)
    acme.address = Address(
        street="科技园路1号", city="深圳市", region="广东省", postcode="518057", country="CN"
    )
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(acme)
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.get(acme.id) == acme
        assert uow.customers.by_external_ids(["ERP-0001", "nobody"]) == {"ERP-0001": acme}
        assert uow.customers.by_contact_external_ids(["P-7", "P-8"]) == {"P-7": acme}


def test_external_ids_are_found_in_one_call_for_many(crm: crmkit.CRM) -> None:
    batch = [
        _customer(f"X-{i}", Contact(name=f"p{i}", external_id=f"P-{i}"), name=f"c{i}")
        for i in range(30)
    ]
    batch.append(_customer(None, Contact(name="nobody")))
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many(batch)
    with crm.unit_of_work(actor="li") as uow:
        found = uow.customers.by_external_ids(f"X-{i}" for i in range(0, 40, 2))
        assert sorted(found) == sorted(f"X-{i}" for i in range(0, 30, 2))
        assert all(found[f"X-{i}"].name == f"c{i}" for i in range(0, 30, 2))
        people = uow.customers.by_contact_external_ids([f"P-{i}" for i in range(5)])
        assert {k: c.name for k, c in people.items()} == {f"P-{i}": f"c{i}" for i in range(5)}


def test_an_external_id_is_unique_in_a_tenant(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(_customer("X-1", Contact(name="a", external_id="P-1")))
    with (
        pytest.raises(DuplicateError) as taken,
        crm.unit_of_work(actor="li") as uow,
    ):
        uow.customers.add(_customer("X-1"))
    assert (taken.value.kind, taken.value.field) == ("customer", "external_id")
    with (
        pytest.raises(DuplicateError) as taken,
        crm.unit_of_work(actor="li") as uow,
    ):
        uow.customers.add(_customer("X-2", Contact(name="b", external_id="P-1")))
    assert (taken.value.kind, taken.value.field) == ("contact", "external_id")
    # Another tenant may use the same ids; customers without one never clash.
    with crm.unit_of_work(actor="li", tenant="other") as uow:
        uow.customers.add(_customer("X-1", Contact(name="a", external_id="P-1")))
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([_customer(None), _customer(None)])
        assert uow.customers.count() == 3


@pytest.mark.parametrize(
    ("asked", "field"),
    [
        ("X-1", "external_ids"),
        ([" X"], "external_ids[0]"),
        (["x" * 129], "external_ids[0]"),
        ([1], "external_ids[0]"),
    ],
)
def test_bad_external_ids_are_refused(crm: crmkit.CRM, asked: object, field: str) -> None:
    with crm.unit_of_work(actor="li") as uow, pytest.raises(ValidationError) as refused:
        uow.customers.by_external_ids(asked)  # type: ignore[arg-type]
    assert refused.value.issues[0].path == field


def test_a_merge_keeps_the_external_ids_and_the_address_where_the_survivor_has_none(
    crm: crmkit.CRM,
) -> None:
    a = _customer(None, Contact(name="a", external_id="P-A"), name="云杉")
    b = _customer("ERP-9", Contact(name="b", external_id="P-B"), name="云杉科技")
    b.address = Address(city="深圳市", postcode="518057", country="CN")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([a, b])
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        plan = plan_merge(uow, into=a.id, merged=b.id)
    assert plan.customer.external_id == "ERP-9"
    assert plan.customer.address == b.address
    with crm.unit_of_work(actor="li") as uow:
        merge_customers(uow, into=a.id, merged=b.id)
    with crm.unit_of_work(actor="li") as uow:
        survivor = uow.customers.get(a.id)
        assert survivor.external_id == "ERP-9"
        assert survivor.address == b.address
        assert {p.external_id for p in survivor.contacts} == {"P-A", "P-B"}
        assert uow.customers.by_external_ids(["ERP-9"]) == {"ERP-9": survivor}
        assert set(uow.customers.by_contact_external_ids(["P-A", "P-B"])) == {"P-A", "P-B"}
        assert uow.customers.count() == 1
