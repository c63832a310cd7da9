"""The duplicate finder reads a tenant's customers from every store and finds the same pairs.

(``test_duplicates.py`` is about `DuplicateError`, the store refusing a taken key.)
"""

# ruff: noqa: RUF001 (full-width brackets are what is tested)

from __future__ import annotations

import datetime as dt

import pytest

import crmkit
from crmkit import EmailAddress, PhoneNumber
from crmkit.customers import (
    Address,
    Contact,
    Customer,
    CustomerKind,
    DuplicateRules,
    find_contact_duplicates,
    find_duplicate_contacts,
    find_duplicate_customers,
    find_duplicates,
    register_customers,
)
from crmkit.errors import ValidationError

PHONE = PhoneNumber("+8613800138000")
SHENZHEN = Address(street="科技园路1号", city="深圳市", postcode="518057", country="CN")


def a_handful() -> list[Customer]:
    return [
        Customer(
            name="深圳市云杉科技有限公司",
            owner_id="li",
            code="C-1",
            address=SHENZHEN,
            contacts=[Contact(name="李明", phones=[PHONE])],
        ),
        Customer(
            name="云杉科技（深圳）有限责任公司",
            owner_id="wang",
            address=SHENZHEN,
            contacts=[
                Contact(name="Li Ming", phones=[PHONE]),
                Contact(name="Chen Jie", emails=[EmailAddress("chen.jie@yunshan.example")]),
            ],
        ),
        Customer(
            name="Wang Wei",
            owner_id="li",
            kind=CustomerKind.PERSON,
            code="W-1",
            birthday=dt.date(1980, 5, 4),
            contacts=[Contact(name="Wang Wei", emails=[EmailAddress("Wang.Wei@Example.cn")])],
        ),
        Customer(
            name="WEI, Wang",
            owner_id="li",
            kind=CustomerKind.PERSON,
            birthday=dt.date(1980, 5, 4),
            external_id="w-1",
            contacts=[Contact(name="Wei Wang", emails=[EmailAddress("wang.wei@example.cn")])],
        ),
        Customer(
            name="Globex",
            owner_id="li",
            contacts=[Contact(name="CHEN Jie", emails=[EmailAddress("chen.jie@yunshan.example")])],
        ),
    ]


def test_the_store_side_finder_finds_the_pairs_with_their_reasons(crm: crmkit.CRM) -> None:
    customers = a_handful()
    with crm.unit_of_work(actor="li") as uow:
        register_customers(uow, customers)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        pairs = find_duplicate_customers(uow, page_size=2)
        stored = uow.customers.page(limit=100)
    yunshan, wang = {customers[0].id, customers[1].id}, {customers[2].id, customers[3].id}
    assert sorted(({p.a_id, p.b_id} for p in pairs), key=sorted) == sorted(
        [yunshan, wang], key=sorted
    )
    assert all(p.a_id < p.b_id for p in pairs)
    by_ids = {frozenset((p.a_id, p.b_id)): p.reasons for p in pairs}
    assert set(by_ids[frozenset(yunshan)]) >= {
        "same E.164 phone +8613800138000",
        "same name after normalising ('云杉科技')",
        "same place 深圳",
    }
    assert set(by_ids[frozenset(wang)]) >= {
        "same email wang.wei@example.cn",
        "same name after normalising ('wang wei')",
        "same birthday 1980-05-04",
    }
    # What the store finds is what the pure finder finds over the customers it holds.
    assert pairs == find_duplicates(stored)


def test_the_store_side_finder_finds_contacts_across_customers(crm: crmkit.CRM) -> None:
    customers = a_handful()
    with crm.unit_of_work(actor="li") as uow:
        register_customers(uow, customers)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        pairs = find_duplicate_contacts(uow, rules=DuplicateRules(threshold=0.9))
        # 李明 and Li Ming share a phone, but their names have no letter in common.
        loose = find_duplicate_contacts(uow, rules=DuplicateRules(threshold=0.1))
        stored = uow.customers.page(limit=100)
    chen = {customers[1].contacts[1].id, customers[4].contacts[0].id}
    li = {customers[0].contacts[0].id, customers[1].contacts[0].id}
    wang = {customers[2].contacts[0].id, customers[3].contacts[0].id}
    assert sorted(({p.a_id, p.b_id} for p in pairs), key=sorted) == sorted([chen, wang], key=sorted)
    assert li in [{p.a_id, p.b_id} for p in loose]
    by_contacts = {frozenset((p.a_id, p.b_id)): p for p in pairs}
    chen_pair = by_contacts[frozenset(chen)]
    assert {chen_pair.a_customer_id, chen_pair.b_customer_id} == {
        customers[1].id,
        customers[4].id,
    }
    assert chen_pair.reasons == (
        "same email chen.jie@yunshan.example",
        "same name after normalising ('chen jie')",
    )
    assert pairs == find_contact_duplicates(stored, rules=DuplicateRules(threshold=0.9))


def test_the_finder_sees_only_its_tenant_and_refuses_a_bad_page_size(
    crm: crmkit.CRM,
) -> None:
    with crm.unit_of_work(actor="li") as uow:
        register_customers(uow, a_handful()[:2])
    with crm.unit_of_work(actor="li", tenant="other") as uow:
        register_customers(uow, a_handful()[2:4])
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert len(find_duplicate_customers(uow)) == 1
        with pytest.raises(ValidationError, match="page_size"):
            find_duplicate_customers(uow, page_size=0)
    with crm.unit_of_work(actor="li", read_only=True, tenant="empty") as uow:
        assert find_duplicate_customers(uow) == []


def test_addresses_and_external_ids_count_in_the_store(crm: crmkit.CRM) -> None:
    customers = a_handful()
    with crm.unit_of_work(actor="li") as uow:
        register_customers(uow, customers)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        pairs = find_duplicate_customers(uow)
    yunshan, wang = {customers[0].id, customers[1].id}, {customers[2].id, customers[3].id}
    by_ids = {frozenset((p.a_id, p.b_id)): p.reasons for p in pairs}
    assert set(by_ids[frozenset(yunshan)]) == {
        "same E.164 phone +8613800138000",
        "same name after normalising ('云杉科技')",
        "same postcode 518057",
        "addresses 1.00 similar",
        "same place 深圳",
    }
    assert by_ids[frozenset(wang)] == (
        "same code or external id w-1",
        "same email wang.wei@example.cn",
        "same name after normalising ('wang wei')",
        "same birthday 1980-05-04",
    )
