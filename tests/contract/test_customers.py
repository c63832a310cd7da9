"""The customer and interaction repositories behave the same on every storage adapter."""

from __future__ import annotations

import threading
from decimal import Decimal

import pendulum
import pytest

import crmkit
from crmkit import EmailAddress, PhoneNumber
from crmkit.customers import (
    DEFAULT_TIERS,
    Anniversary,
    BuyingRole,
    Contact,
    Customer,
    CustomerRegistered,
    CustomField,
    CustomFieldSchema,
    DoNotContact,
    FieldType,
    Interaction,
    InteractionKind,
)
from crmkit.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFound,
    UnitOfWorkClosed,
    ValidationError,
)

from .conftest import Backend


def full_customer(code: str = "C-0001", owner: str = "wang.fang") -> Customer:
    boss = Contact(
        name="李明",
        title="总经理",
        roles=frozenset({BuyingRole.DECISION_MAKER}),
        phones=(PhoneNumber.parse("139 1234 5678", region="CN"),),
        emails=(EmailAddress.parse("li.ming@yunshan.example.cn"),),
        birthday=pendulum.date(1975, 5, 4),
    )
    buyer = Contact(
        name="Chen Jie 😀",
        roles=frozenset({BuyingRole.PURCHASER, BuyingRole.TECHNICAL_EVALUATOR}),
        reports_to=boss.id,
    )
    return Customer(
        name="上海云杉科技有限公司 𠀋",
        owner_id=owner,
        code=code,
        source="trade_show",
        tags=frozenset({"budget 100k+", "制造业"}),
        custom_fields={
            "segment": "SME",
            "employees": 120,
            "budget": Decimal("1234567890123456789.125"),
            "audited": True,
            "founded": pendulum.date(2009, 9, 9),
        },
        preferences=("prefers eco packaging",),
        anniversaries=(Anniversary(label="first contract", date=pendulum.date(2019, 3, 1)),),
        timezone="Asia/Shanghai",
        do_not_contact=(
            DoNotContact(
                start=crmkit.to_utc("2026-03-02T00:00:00.000001+08:00"),
                end=crmkit.to_utc("2026-03-09T00:00:00+08:00"),
                reason="no calls this week",
            ),
        ),
        tier=DEFAULT_TIERS["A"],
        contacts=[boss, buyer],
    )


def call(customer: Customer, at: str, summary: str = "called") -> Interaction:
    return Interaction(
        customer_id=customer.id,
        kind=InteractionKind.CALL,
        occurred_at=crmkit.to_utc(at),
        actor_id="wang.fang",
        summary=summary,
    )


def test_an_added_customer_reads_back_equal_with_version_1(crm: crmkit.CRM) -> None:
    customer = full_customer()
    with crm.unit_of_work(actor="wang.fang") as uow:
        uow.customers.add(customer)
    assert customer.version == 1
    with crm.unit_of_work(actor="wang.fang") as uow:
        loaded = uow.customers.get(customer.id)
    assert loaded == customer
    assert loaded is not customer


def test_reads_return_copies_that_change_nothing_until_updated(crm: crmkit.CRM) -> None:
    customer = full_customer()
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.customers.get(customer.id).name = "changed, never stored"
        assert uow.customers.get(customer.id).name == customer.name


def test_unknown_ids_and_codes_are_not_found(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li") as uow:
        missing = crmkit.new_id()
        with pytest.raises(NotFound, match=str(missing)):
            uow.customers.get(missing)
        with pytest.raises(NotFound, match="C-404"):
            uow.customers.by_code("C-404")
        assert uow.customers.get_many([missing]) == []


def test_queries_by_owner_code_page_and_count(crm: crmkit.CRM) -> None:
    customers = [full_customer(f"C-{i}", owner="li" if i % 2 else "wang") for i in range(7)]
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many(customers)
    ids = [c.id for c in customers]
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 7
        assert [c.id for c in uow.customers.by_owner("li")] == sorted(ids[1::2])
        assert uow.customers.by_code("C-3").id == ids[3]
        assert [c.id for c in uow.customers.get_many(ids[::-1])] == ids[::-1]
        first = uow.customers.page(limit=4)
        rest = uow.customers.page(after=first[-1].id, limit=4)
        assert [c.id for c in first + rest] == sorted(ids)
        with pytest.raises(ValidationError, match="limit"):
            uow.customers.page(limit=0)
        # A salesperson's book, a page at a time.
        book, after = [], None
        while chunk := uow.customers.by_owner("wang", after=after, limit=2):
            book += chunk
            after = chunk[-1].id
        assert book == uow.customers.by_owner("wang")
        assert [c.id for c in book] == sorted(ids[0::2])
        assert uow.customers.by_owner("wang", limit=1) == book[:1]
        assert uow.customers.by_owner("wang", after=book[1].id) == book[2:]
        with pytest.raises(ValidationError, match="limit"):
            uow.customers.by_owner("wang", limit=-1)


def test_customers_are_found_by_a_contacts_phone_or_email(crm: crmkit.CRM) -> None:
    first, second, other = full_customer("C-1"), full_customer("C-2"), full_customer("C-3")
    # The same mobile at two customers (a purchaser who moved), cased differently in the email.
    second.contacts[1].phones = (PhoneNumber("+8613912345678"),)
    second.contacts[1].emails = (EmailAddress("Li.Ming@YunShan.example.cn"),)
    other.contacts = []
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([first, second, other])
    both = sorted([first.id, second.id])
    with crm.unit_of_work(actor="li") as uow:
        by_phone = uow.customers.by_phone(PhoneNumber.parse("139-1234-5678", region="CN"))
        assert [c.id for c in by_phone] == both
        assert by_phone[0] == (first if first.id < second.id else second)
        assert [c.id for c in uow.customers.by_phone("+8613912345678")] == both
        assert [c.id for c in uow.customers.by_email("LI.MING@yunshan.example.cn")] == both
        assert uow.customers.by_phone("+16502530000") == []
        assert uow.customers.by_email("nobody@example.com") == []
        # A change of the contacts changes what is found, in the same unit of work too.
        first.contacts[0].phones = (PhoneNumber("+16502530000"),)
        uow.customers.update(first)
        assert [c.id for c in uow.customers.by_phone("+16502530000")] == [first.id]
        assert [c.id for c in uow.customers.by_phone("+8613912345678")] == [second.id]
        uow.customers.remove(second)
        assert uow.customers.by_phone("+8613912345678") == []
    with crm.unit_of_work(actor="li") as uow:
        assert [c.id for c in uow.customers.by_email("li.ming@yunshan.example.cn")] == [first.id]
        assert uow.customers.by_phone("+8613912345678") == []
    with crm.unit_of_work(actor="li", tenant="globex") as uow:
        assert uow.customers.by_phone("+16502530000") == []


def test_update_bumps_the_version_and_a_stale_update_changes_nothing(crm: crmkit.CRM) -> None:
    customer = full_customer()
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    stale = full_customer()
    stale.id, stale.version = customer.id, 1
    with crm.unit_of_work(actor="li") as uow:
        fresh = uow.customers.get(customer.id)
        fresh.name = "新名字"
        fresh.contacts.pop()
        uow.customers.update(fresh)
    assert fresh.version == 2
    with crm.unit_of_work(actor="li") as uow:
        stale.name = "lost update"
        with pytest.raises(ConcurrencyError, match="version 1"):
            uow.customers.update(stale)
        with pytest.raises(UnitOfWorkClosed):
            uow.commit()
    assert stale.version == 1
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.get(customer.id) == fresh


def test_remove_takes_contacts_and_timeline_and_checks_the_version(crm: crmkit.CRM) -> None:
    keep, gone = full_customer("K"), full_customer("G")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([keep, gone])
        uow.interactions.add(call(keep, "2026-03-01T10:00:00+08:00"))
        doomed = call(gone, "2026-03-01T11:00:00+08:00")
        uow.interactions.add(doomed)
    with pytest.raises(ConcurrencyError), crm.unit_of_work(actor="li") as uow:
        outdated = uow.customers.get(gone.id)
        outdated.version = 0
        uow.customers.remove(outdated)
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.remove(gone)
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 1
        with pytest.raises(NotFound):
            uow.interactions.get(doomed.id)
        assert len(uow.interactions.for_customer(keep.id)) == 1
        # The removed customer's contacts are gone too: their ids can be used again.
        again = full_customer("G2")
        again.contacts = gone.contacts
        uow.customers.add(again)


def test_a_duplicate_id_or_code_fails_and_nothing_of_the_unit_of_work_is_written(
    crm: crmkit.CRM,
) -> None:
    first = full_customer("C-1")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(first)
    clash = full_customer("C-1")
    with pytest.raises(DuplicateError, match="code 'C-1'"), crm.unit_of_work(actor="li") as uow:
        uow.customers.add(full_customer("C-2"))
        uow.customers.add(clash)
    twin = full_customer("C-3")
    twin.id = first.id
    with pytest.raises(DuplicateError, match="id"), crm.unit_of_work(actor="li") as uow:
        uow.customers.add(twin)
    assert clash.version == 0
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 1


def test_a_batch_with_a_duplicate_inside_writes_none_of_it(crm: crmkit.CRM) -> None:
    batch = [full_customer("A"), full_customer("B"), full_customer("A")]
    with pytest.raises(DuplicateError), crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many(batch)
    assert [c.version for c in batch] == [0, 0, 0]
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 0


def test_invalid_input_is_refused_before_anything_is_written(crm: crmkit.CRM) -> None:
    customer = full_customer()
    with pytest.raises(ValidationError, match="name: must not be blank"):
        customer.name = ""  # assignments are checked as they happen
    # What changes without an assignment is checked when the customer is written.
    customer.custom_fields["ratio"] = 0.5  # type: ignore[assignment]
    customer.contacts[1].reports_to = crmkit.new_id()
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError) as caught:
            uow.customers.add(customer)
        assert [i.path for i in caught.value.issues] == ["custom_fields.ratio"]
        del customer.custom_fields["ratio"]
        with pytest.raises(ValidationError) as caught:
            uow.customers.add(customer)
        assert [i.path for i in caught.value.issues] == ["contacts[1].reports_to"]
        # A validation error does not spoil the unit of work.
        uow.customers.add(full_customer("OK"))
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 1


def test_custom_fields_are_checked_against_the_hosts_schema(backend: Backend) -> None:
    schema = CustomFieldSchema(
        (
            CustomField(name="segment", type=FieldType.CHOICE, choices=("SME", "enterprise")),
            CustomField(name="employees", type=FieldType.INTEGER, required=True),
        )
    )
    crm = backend.fresh(custom_fields=schema)
    customer = Customer(name="Acme", owner_id="li", custom_fields={"segment": "startup"})
    with crm.unit_of_work(actor="li") as uow:
        with pytest.raises(ValidationError) as caught:
            uow.customers.add(customer)
        assert [str(i) for i in caught.value.issues] == [
            "custom_fields.segment: 'startup' is not one of 'SME', 'enterprise'",
            "custom_fields.employees: is required",
        ]
        customer.custom_fields = {"segment": "SME", "employees": 12}
        uow.customers.add(customer)


def test_rollback_undoes_writes_drops_events_and_restores_versions(crm: crmkit.CRM) -> None:
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    customer = full_customer()
    with pytest.raises(RuntimeError, match="boom"), crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.record(CustomerRegistered, customer_id=customer.id, owner_id=customer.owner_id)
        raise RuntimeError("boom")
    assert customer.version == 0
    assert published == []
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 0
        uow.customers.add(customer)
        uow.record(CustomerRegistered, customer_id=customer.id, owner_id=customer.owner_id)
        assert published == []
    assert [e.customer_id for e in published] == [customer.id]
    assert published[0].actor_id == "li"
    assert published[0].tenant_id == crmkit.DEFAULT_TENANT


def test_a_finished_unit_of_work_cannot_be_used(crm: crmkit.CRM) -> None:
    with crm.unit_of_work(actor="li") as uow:
        pass
    with pytest.raises(UnitOfWorkClosed):
        uow.customers.count()
    with pytest.raises(UnitOfWorkClosed):
        uow.commit()
    uow.rollback()  # harmless


def test_tenants_never_see_each_other(crm: crmkit.CRM) -> None:
    ours, theirs = full_customer("C-1"), full_customer("C-1")
    with crm.unit_of_work(actor="li", tenant="acme") as uow:
        uow.customers.add(ours)
    with crm.unit_of_work(actor="li", tenant="globex") as uow:
        uow.customers.add(theirs)  # the same code, in another tenant
        assert uow.customers.count() == 1
        with pytest.raises(NotFound):
            uow.customers.get(ours.id)
        assert uow.customers.by_code("C-1").id == theirs.id
    with pytest.raises(ConcurrencyError), crm.unit_of_work(actor="li", tenant="globex") as uow:
        uow.customers.remove(ours)


def test_interactions_form_an_ordered_timeline(crm: crmkit.CRM) -> None:
    customer = full_customer()
    late = call(customer, "2026-03-02T18:00:00+08:00", "late")
    early = call(customer, "2026-03-02T09:00:00.000001+08:00", "early")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.interactions.add(late)
        uow.interactions.add(early)
        with pytest.raises(NotFound):
            uow.interactions.add(call(full_customer(), "2026-03-02T09:00:00+08:00"))
    with crm.unit_of_work(actor="li") as uow:
        timeline = uow.interactions.for_customer(customer.id)
        assert [i.summary for i in timeline] == ["early", "late"]
        assert timeline[0] == early
        window = uow.interactions.for_customer(
            customer.id,
            since=crmkit.to_utc("2026-03-02T09:00:00.000001+08:00"),
            until=crmkit.to_utc("2026-03-02T18:00:00+08:00"),
        )
        assert [i.summary for i in window] == ["early"]
        early.summary = "early call, moved to notes"
        uow.interactions.update(early)
        assert early.version == 2
    with pytest.raises(ConcurrencyError), crm.unit_of_work(actor="li") as uow:
        stale = uow.interactions.get(late.id)
        stale.version = 7
        uow.interactions.remove(stale)
    with crm.unit_of_work(actor="li") as uow:
        uow.interactions.remove(uow.interactions.get(late.id))
        assert [i.summary for i in uow.interactions.for_customer(customer.id)] == [early.summary]


def test_an_interaction_update_checks_its_version_and_stays_with_its_customer(
    crm: crmkit.CRM,
) -> None:
    first, second = full_customer("C-1"), full_customer("C-2")
    entry = call(first, "2026-03-02T10:00:00+08:00", "first")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([first, second])
        uow.interactions.add(entry)
    cannot_move = "customer_id: an interaction cannot move"
    with pytest.raises(ValidationError, match=cannot_move), crm.unit_of_work(actor="li") as uow:
        moved = uow.interactions.get(entry.id)
        moved.customer_id = second.id
        uow.interactions.update(moved)
    with pytest.raises(ConcurrencyError), crm.unit_of_work(actor="li") as uow:
        stale = uow.interactions.get(entry.id)
        stale.version = 5
        stale.summary = "never stored"
        uow.interactions.update(stale)
    with crm.unit_of_work(actor="li") as uow:
        assert uow.interactions.get(entry.id) == entry
        assert uow.interactions.for_customer(second.id) == []


def test_two_concurrent_updates_of_one_customer_end_in_one_conflict_and_no_lost_update(
    crm: crmkit.CRM, backend: Backend
) -> None:
    customer = full_customer()
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    copies = []
    for _ in range(2):
        with crm.unit_of_work(actor="li") as uow:
            copies.append(uow.customers.get(customer.id))
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def update(n: int) -> None:
        other = backend.crm()
        copies[n].name = f"renamed by {n}"
        barrier.wait(timeout=10)
        try:
            with other.unit_of_work(actor=f"user{n}") as uow:
                uow.customers.update(copies[n])
            outcomes[n] = "ok"
        except ConcurrencyError:
            outcomes[n] = "conflict"

    threads = [threading.Thread(target=update, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "ok"]
    winner = next(n for n, outcome in outcomes.items() if outcome == "ok")
    with crm.unit_of_work(actor="li") as uow:
        stored = uow.customers.get(customer.id)
    assert stored.name == f"renamed by {winner}"
    assert stored.version == 2
