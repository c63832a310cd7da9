"""Converting a lead into a customer, a contact and a deal, in one unit of work, on every adapter:
all of it or none of it, recorded, and refused a second time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit import EmailAddress, Money, PhoneNumber
from crmkit.customers import (
    BuyingRole,
    Channel,
    Contact,
    Customer,
    CustomerKind,
    CustomerRegistered,
    CustomerUpdated,
    InteractionKind,
    InteractionLogged,
    LifecycleStage,
    register_customer,
)
from crmkit.errors import DuplicateError, NotFound, ValidationError
from crmkit.events import DomainEvent
from crmkit.pipeline import (
    DECISION_MAKER_IDENTIFIED,
    DealContact,
    Decision,
    FollowUp,
    ForecastCategory,
    Gate,
    Lead,
    LeadConverted,
    LeadStatus,
    OpportunityCreated,
    Pipeline,
    Stage,
    StageGateError,
    b2b_pipeline,
    convert_lead,
    find_customer_matches,
)
from crmkit.storage import UnitOfWork

from .conftest import NOW, Backend

T0 = pendulum.datetime(2026, 3, 1, 2)
PHONE = PhoneNumber("+8613800138000")
EMAIL = EmailAddress("zhao.lei@example.cn")
B2B = b2b_pipeline()
DEAL = {
    "name": "50 licences",
    "amount": Money("30000.00", "CNY"),
    "expected_close": dt.date(2026, 9, 30),
}


@pytest.fixture
def published(crm: crmkit.CRM) -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    crm.subscribe(DomainEvent, seen.append)
    return seen


def a_lead(owner: str | None = "li.na", **changes: Any) -> Lead:
    fields: dict[str, Any] = {
        "name": "赵磊",
        "company": "杭州青禾贸易有限公司",
        "source": "trade_show",
        "phones": [PHONE],
        "emails": [EMAIL],
        "created_at": T0,
        **changes,
    }
    lead = Lead(**fields)
    if owner is not None:
        lead.assign(Decision.manual(owner, "met at the fair"), at=T0)
        lead.follow_up(FollowUp(at=T0.add(hours=2), by=owner, channel=Channel.CALL, note="回电"))
        lead.follow_up(FollowUp(at=T0.add(days=1), by=owner, channel=Channel.MESSAGE))
    return lead


def stored_lead(crm: crmkit.CRM, lead: Lead | None = None) -> Lead:
    lead = lead or a_lead()
    with crm.unit_of_work(actor="li.na") as uow:
        uow.leads.add(lead)
    return lead


def a_customer(uow: UnitOfWork, code: str, *contacts: Contact) -> Customer:
    customer = Customer(name=f"Customer {code}", owner_id="wang", code=code)
    for contact in contacts:
        customer.add_contact(contact)
    return register_customer(uow, customer)


def test_a_lead_becomes_a_customer_a_contact_and_a_deal_all_recorded(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    lead = stored_lead(crm)
    published.clear()
    with crm.unit_of_work(actor="li.na", tenant="default") as uow:
        done = convert_lead(uow, lead.id, opportunity=DEAL, pipeline=B2B)
        assert published == []
    customer, contact, deal = done.customer, done.contact, done.opportunity
    assert deal is not None
    assert done.new_customer
    assert (customer.name, customer.kind, customer.owner_id) == (
        "杭州青禾贸易有限公司",
        CustomerKind.COMPANY,
        "li.na",
    )
    assert (customer.source, customer.lifecycle) == ("trade_show", LifecycleStage.PROSPECT)
    assert (contact.name, contact.phones, contact.emails) == ("赵磊", (PHONE,), (EMAIL,))
    assert (deal.customer_id, deal.owner_id, deal.source, deal.lead_id) == (
        customer.id,
        "li.na",
        "trade_show",
        lead.id,
    )
    assert deal.contacts == (DealContact(contact_id=contact.id),)
    assert (deal.stage, deal.name, deal.amount) == ("first_contact", "50 licences", DEAL["amount"])
    assert deal.history[0].entered_at == crmkit.to_utc(NOW)

    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        stored = uow.leads.get(lead.id)
        assert stored == done.lead
        assert stored.status is LeadStatus.CONVERTED
        assert (stored.customer_id, stored.contact_id, stored.opportunity_id) == (
            customer.id,
            contact.id,
            deal.id,
        )
        # The lead keeps its channel and history, linked to what it became.
        assert stored.source == "trade_show"
        assert stored.follow_ups == lead.follow_ups
        assert uow.customers.get(customer.id) == customer
        assert uow.customers.get(customer.id).contacts == [contact]
        assert uow.opportunities.get(deal.id) == deal
        timeline = uow.interactions.for_customer(customer.id)
        assert timeline == list(done.interactions)
        assert [(i.kind, i.occurred_at, i.actor_id, i.contact_id) for i in timeline] == [
            (InteractionKind.CALL, T0.add(hours=2), "li.na", contact.id),
            (InteractionKind.NOTE, T0.add(days=1), "li.na", contact.id),
        ]
        assert [i.summary for i in timeline] == [
            "Lead follow-up (call): 回电",
            "Lead follow-up (message)",
        ]

    assert [type(e) for e in published] == [
        CustomerRegistered,
        InteractionLogged,
        InteractionLogged,
        OpportunityCreated,
        LeadConverted,
    ]
    converted = published[-1]
    assert isinstance(converted, LeadConverted)
    assert (converted.lead_id, converted.customer_id, converted.opportunity_id) == (
        lead.id,
        customer.id,
        deal.id,
    )
    assert {(e.tenant_id, e.actor_id) for e in published} == {("default", "li.na")}


def test_a_lead_of_a_person_from_the_pool_becomes_a_person_customer_of_the_named_owner(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    lead = stored_lead(crm, a_lead(owner=None, company=None))
    published.clear()
    with crm.unit_of_work(actor="chen") as uow:
        with pytest.raises(ValidationError) as caught:
            convert_lead(uow, lead.id)
        assert [i.path for i in caught.value.issues] == ["owner_id"]
        done = convert_lead(uow, lead.id, owner_id="chen")
    assert (done.customer.name, done.customer.kind, done.customer.owner_id) == (
        "赵磊",
        CustomerKind.PERSON,
        "chen",
    )
    assert (done.opportunity, done.interactions, done.lead.opportunity_id) == (None, (), None)
    assert [type(e) for e in published] == [CustomerRegistered, LeadConverted]


def test_customers_the_lead_may_be_are_found_by_code_phone_and_email_for_the_caller(
    crm: crmkit.CRM,
) -> None:
    lead = a_lead(emails=[EMAIL, EmailAddress("zl@qinghe.cn")])
    with crm.unit_of_work(actor="li.na") as uow:
        by_phone = a_customer(uow, "C-1", Contact(name="Zhao", phones=[PHONE]))
        both = a_customer(
            uow,
            "C-2",
            Contact(name="Zhao", emails=[EmailAddress("Zhao.Lei@Example.cn")]),
            Contact(name="Zhao Lei", phones=[PHONE]),
        )
        by_code = a_customer(uow, "C-3", Contact(name="Li", phones=[PhoneNumber("+8613900000000")]))
        a_customer(uow, "C-4", Contact(name="Someone else", emails=[EmailAddress("x@example.cn")]))
        uow.leads.add(lead)
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        matches = find_customer_matches(uow, lead.id, code="C-3")
        assert [(m.customer.id, m.reasons) for m in matches] == [
            (by_code.id, ("code C-3",)),
            (both.id, ("phone +8613800138000", "email zhao.lei@example.cn")),
            (by_phone.id, ("phone +8613800138000",)),
        ]
        assert matches[1].customer == both
        assert [m.customer.id for m in find_customer_matches(uow, lead, code="C-9")] == [
            both.id,
            by_phone.id,
        ]
        assert find_customer_matches(uow, a_lead(phones=[], emails=[])) == []
        with pytest.raises(ValidationError) as caught:
            find_customer_matches(uow, lead, code=" C-3")
        assert [i.path for i in caught.value.issues] == ["code"]
        with pytest.raises(ValidationError) as caught:
            find_customer_matches(uow, "lead")  # type: ignore[arg-type]
        assert [i.path for i in caught.value.issues] == ["lead"]
        with pytest.raises(NotFound, match="lead"):
            find_customer_matches(uow, crmkit.new_id())


def test_a_lead_converted_into_a_confirmed_customer_adds_its_person_or_links_a_contact(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    first, second = stored_lead(crm), stored_lead(crm, a_lead(owner="zhou"))
    known = Contact(name="Zhao Lei", phones=[PHONE], roles={BuyingRole.DECISION_MAKER})
    with crm.unit_of_work(actor="li.na") as uow:
        existing = a_customer(uow, "C-1", known)
    published.clear()
    with crm.unit_of_work(actor="li.na") as uow:
        (match,) = find_customer_matches(uow, first.id)
        done = convert_lead(uow, first.id, existing_customer_id=match.customer.id)
        assert not done.new_customer
        assert done.customer.version == 2
        assert [c.name for c in done.customer.contacts] == ["Zhao Lei", "赵磊"]
    with crm.unit_of_work(actor="li.na") as uow:
        linked = convert_lead(
            uow,
            second.id,
            existing_customer_id=existing.id,
            existing_contact_id=known.id,
            opportunity=DEAL,
            pipeline=B2B,
            log_follow_ups=False,
        )
    assert linked.contact == known
    assert linked.opportunity is not None
    # The contact takes part in the deal in their buying roles; the lead's owner owns it.
    assert linked.opportunity.contacts == (
        DealContact(contact_id=known.id, roles={BuyingRole.DECISION_MAKER}),
    )
    assert linked.opportunity.owner_id == "zhou"
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        assert uow.customers.count() == 1
        stored = uow.customers.get(existing.id)
        assert (stored.version, stored.owner_id, len(stored.contacts)) == (2, "wang", 2)
        assert uow.leads.get(second.id).contact_id == known.id
        assert len(uow.interactions.for_customer(existing.id)) == 2  # the first lead's only
    assert [type(e) for e in published] == [
        CustomerUpdated,
        InteractionLogged,
        InteractionLogged,
        LeadConverted,
        OpportunityCreated,
        LeadConverted,
    ]


def test_a_caller_built_customer_and_contact_are_used_as_given(crm: crmkit.CRM) -> None:
    lead = stored_lead(crm)
    customer = Customer(
        name="Qinghe Trading", owner_id="wang", code="C-77", timezone="Asia/Shanghai"
    )
    contact = Contact(name="Zhao Lei", title="采购经理", roles={BuyingRole.PURCHASER})
    # A first attempt fails after the conversion (as one crm.run retries); the second passes
    # the same objects again.
    with pytest.raises(RuntimeError), crm.unit_of_work(actor="li.na") as uow:
        convert_lead(uow, lead.id, customer=customer, contact=contact)
        raise RuntimeError("the connection dropped")
    with crm.unit_of_work(actor="li.na") as uow:
        done = convert_lead(uow, lead.id, customer=customer, contact=contact)
    assert (customer.version, customer.contacts) == (0, [])  # the caller's object is untouched
    assert done.customer.id == customer.id
    assert (done.customer.version, done.customer.contacts) == (1, [contact])
    assert done.customer.timezone == "Asia/Shanghai"
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        assert uow.customers.by_code("C-77") == done.customer
        assert uow.leads.get(lead.id).contact_id == contact.id


def test_converting_twice_is_refused_by_the_lead_and_writes_nothing(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    lead = stored_lead(crm)
    with crm.unit_of_work(actor="li.na") as uow:
        convert_lead(uow, lead.id)
    published.clear()
    with crm.unit_of_work(actor="li.na") as uow:
        with pytest.raises(ValidationError) as caught:
            convert_lead(uow, lead.id, opportunity=DEAL, pipeline=B2B)
        assert [(i.path, i.problem) for i in caught.value.issues] == [
            ("status", "the lead is converted; cannot convert it")
        ]
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        assert (uow.customers.count(), uow.opportunities.count()) == (1, 0)
        assert uow.leads.get(lead.id).version == 2
    assert published == []


def assert_nothing_written(crm: crmkit.CRM, lead: Lead, customers: int = 0) -> None:
    with crm.unit_of_work(actor="li.na", read_only=True) as uow:
        assert uow.leads.get(lead.id) == lead
        assert uow.customers.count() == customers
        assert uow.opportunities.count() == 0


def test_a_gate_the_deal_fails_leaves_no_customer_and_no_lead_change(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    budget = Gate.fact("budget_confirmed", "budget confirmed")
    strict = Pipeline(
        key="projects",
        name="Projects",
        stages=(
            Stage(
                key="qualified",
                name="Qualified",
                probability=Decimal("0.2"),
                forecast=ForecastCategory.PIPELINE,
                gates=(budget, DECISION_MAKER_IDENTIFIED),
            ),
            Stage(
                key="won",
                name="Won",
                probability=Decimal(1),
                forecast=ForecastCategory.CLOSED,
                won=True,
            ),
            Stage(
                key="lost",
                name="Lost",
                probability=Decimal(0),
                forecast=ForecastCategory.CLOSED,
                lost=True,
            ),
        ),
    )
    lead = stored_lead(crm)
    published.clear()
    with crm.unit_of_work(actor="li.na") as uow:
        with pytest.raises(StageGateError) as caught:
            convert_lead(uow, lead.id, opportunity=DEAL, pipeline=strict)
        # The caller caught it and the block commits: nothing of the conversion is in it.
        assert uow.events == ()
    assert [str(r) for r in caught.value.requirements] == [
        "qualified: budget confirmed",
        "qualified: decision maker identified",
    ]
    assert_nothing_written(crm, lead)
    with crm.unit_of_work(actor="li.na") as uow:
        done = convert_lead(
            uow,
            lead.id,
            opportunity={**DEAL, "facts": {"budget_confirmed"}},
            pipeline=strict,
            contact=Contact(name="赵磊", roles={BuyingRole.DECISION_MAKER}),
        )
    assert done.opportunity is not None
    assert done.opportunity.stage == "qualified"
    assert [type(e) for e in published][-2:] == [OpportunityCreated, LeadConverted]


def test_a_customer_that_does_not_exist_is_not_found_and_nothing_is_written(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    lead = stored_lead(crm)
    with crm.unit_of_work(actor="li.na") as uow:
        other = a_customer(uow, "C-1")
    published.clear()
    with crm.unit_of_work(actor="li.na") as uow:
        with pytest.raises(NotFound, match="customer"):
            convert_lead(uow, lead.id, existing_customer_id=crmkit.new_id())
        with pytest.raises(NotFound, match="contact"):
            convert_lead(
                uow, lead.id, existing_customer_id=other.id, existing_contact_id=crmkit.new_id()
            )
        with pytest.raises(NotFound, match="lead"):
            convert_lead(uow, crmkit.new_id())
        assert uow.events == ()
    assert_nothing_written(crm, lead, customers=1)
    assert published == []


def test_a_conflict_on_a_write_spoils_the_unit_of_work_so_nothing_is_committed(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    lead = stored_lead(crm)
    with crm.unit_of_work(actor="li.na") as uow:
        a_customer(uow, "C-1")
    published.clear()
    taken = Customer(name="Same code", owner_id="li.na", code="C-1")
    with pytest.raises(DuplicateError), crm.unit_of_work(actor="li.na") as uow:
        convert_lead(uow, lead.id, customer=taken, opportunity=DEAL, pipeline=B2B)
    assert_nothing_written(crm, lead, customers=1)
    assert published == []


def bad_conversions(lead_id: UUID) -> list[tuple[dict[str, Any], list[str]]]:
    customer = Customer(name="Acme", owner_id="li")
    return [
        ({"customer": customer, "existing_customer_id": crmkit.new_id()}, ["existing_customer_id"]),
        ({"customer": "Acme"}, ["customer"]),
        ({"customer": attrs.evolve(customer, version=1)}, ["customer"]),
        ({"existing_customer_id": "C-1"}, ["existing_customer_id"]),
        (
            {"contact": Contact(name="x"), "existing_contact_id": crmkit.new_id()},
            ["existing_contact_id"],
        ),
        ({"contact": {"name": "x"}}, ["contact"]),
        ({"existing_contact_id": crmkit.new_id()}, ["existing_contact_id"]),
        ({"owner_id": " li "}, ["owner_id"]),
        ({"log_follow_ups": "yes"}, ["log_follow_ups"]),
        ({"pipeline": B2B}, ["pipeline"]),
        ({"opportunity": DEAL}, ["pipeline"]),
        ({"opportunity": DEAL, "pipeline": "b2b"}, ["pipeline"]),
        ({"opportunity": ["50 licences"], "pipeline": B2B}, ["opportunity"]),
        (
            {
                "opportunity": {"amount": Money("1", "CNY"), "source": "x", "colour": 1},
                "pipeline": B2B,
            },
            [
                "opportunity.name",
                "opportunity.expected_close",
                "opportunity.colour",
                "opportunity.source",
            ],
        ),
        ({"opportunity": {**DEAL, "id": "x"}, "pipeline": B2B}, ["opportunity.id"]),
        ({"opportunity": {**DEAL, "amount": 30000.0}, "pipeline": B2B}, ["opportunity.amount"]),
        ({"opportunity": {**DEAL, "quote": " Q "}, "pipeline": B2B}, ["opportunity.quote"]),
        (
            {
                "customer": Customer(
                    name="Acme", owner_id="li", contacts=[Contact(name="x", id=lead_id)]
                ),
                "contact": Contact(name="y", id=lead_id),
            },
            ["contacts[1].id"],
        ),
    ]


def test_bad_input_gets_a_crmkit_error_naming_the_field_and_writes_nothing(
    crm: crmkit.CRM, published: list[DomainEvent]
) -> None:
    lead = stored_lead(crm)
    published.clear()
    with crm.unit_of_work(actor="li.na") as uow:
        for arguments, paths in bad_conversions(lead.id):
            with pytest.raises(ValidationError) as caught:
                convert_lead(uow, lead.id, **arguments)
            assert [i.path for i in caught.value.issues] == paths, arguments
        with pytest.raises(ValidationError) as caught:
            convert_lead(uow, "lead", opportunity=DEAL, pipeline=B2B)  # type: ignore[arg-type]
        assert [i.path for i in caught.value.issues] == ["lead_id"]
        assert uow.events == ()
    assert_nothing_written(crm, lead)
    assert published == []


# --- the law: the matches are exactly the customers sharing a phone, an email or the code --------

PHONES = [PhoneNumber(f"+86138001380{n:02d}") for n in range(4)]
MAILBOXES = [EmailAddress(a) for a in ("zhao@example.cn", "Zhao@example.cn", "li@example.cn")]
CODES = ["C-1", "C-2", "C-3"]
PEOPLE = st.lists(
    st.builds(
        Contact,
        name=st.just("x"),
        phones=st.lists(st.sampled_from(PHONES), max_size=2, unique=True),
        emails=st.lists(st.sampled_from(MAILBOXES), max_size=2, unique=True),
    ),
    max_size=2,
)


def expected_matches(
    customers: list[Customer], lead: Lead, code: str | None
) -> list[tuple[UUID, tuple[str, ...]]]:
    """The matches as a person would find them, one customer at a time."""
    found = []
    wanted_mail: dict[str, EmailAddress] = {}
    for e in lead.emails:
        wanted_mail.setdefault(str(e).lower(), e)
    for c in customers:
        phones = {p for person in c.contacts for p in person.phones}
        mail = {str(e).lower() for person in c.contacts for e in person.emails}
        reasons = [f"code {code}"] if code is not None and c.code == code else []
        reasons += [f"phone {p}" for p in dict.fromkeys(lead.phones) if p in phones]
        reasons += [f"email {e}" for key, e in wanted_mail.items() if key in mail]
        if reasons:
            found.append((c.id, tuple(reasons)))
    return sorted(found, key=lambda m: (f"code {code}" not in m[1], -len(m[1]), m[0]))


def test_the_matches_are_exactly_the_customers_sharing_a_phone_an_email_or_the_code(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    tenants = iter(range(1_000_000))
    examples = 30 if backend.name in ("memory", "sqlite") else 10

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        people=st.lists(PEOPLE, max_size=4),
        phones=st.lists(st.sampled_from(PHONES), max_size=3),
        emails=st.lists(st.sampled_from(MAILBOXES), max_size=3),
        code=st.none() | st.sampled_from(CODES),
    )
    def law(
        people: list[list[Contact]],
        phones: list[PhoneNumber],
        emails: list[EmailAddress],
        code: str | None,
    ) -> None:
        tenant = f"law-{next(tenants)}"  # a tenant of its own: nothing else to match
        customers = [
            Customer(name="x", owner_id="li", code=CODES[i] if i < len(CODES) else None, contacts=c)
            for i, c in enumerate(people)
        ]
        lead = a_lead(phones=phones, emails=emails)
        with crm.unit_of_work(actor="li", tenant=tenant) as uow:
            uow.customers.add_many(customers)
            found = find_customer_matches(uow, lead, code=code)
        assert [(m.customer.id, m.reasons) for m in found] == expected_matches(
            customers, lead, code
        )

    law()
