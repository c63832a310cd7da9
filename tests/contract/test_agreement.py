"""A state machine runs random operations on a SQL store and the memory store: they always agree.

Every rule is applied to both stores, each in its own unit of work; the outcomes (the data read,
or the kind of error raised) must be the same, and after every step both hold the same
customers and timelines in each of two tenants.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

import crmkit
from crmkit import EmailAddress, FixedClock, PhoneNumber
from crmkit.customers import (
    DEFAULT_TIERS,
    BuyingRole,
    Contact,
    Customer,
    Interaction,
    InteractionKind,
    LifecycleStage,
)
from crmkit.errors import CrmkitError
from crmkit.storage import MemoryStore

from .conftest import NOW, Backend

TENANTS = st.sampled_from(["acme", "globex"])
OWNERS = st.sampled_from(["li.na", "wang.fang", "陈杰"])
CODES = st.none() | st.sampled_from(["C-1", "C-2", "c-1", "C-1 x"])
NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
INSTANTS = st.integers(min_value=0, max_value=400 * 24 * 3600 * 10**6).map(
    lambda us: crmkit.to_utc("2025-03-30T00:59:59.999999+00:00").add(microseconds=us)
)
PHONES = st.sampled_from(["+8613800138000", "+8615912345678", "+16502530000"]).map(PhoneNumber)
EMAILS = st.sampled_from(["li@acme.cn", "Li@Acme.cn", "wang@globex.com"]).map(EmailAddress)

Outcome = tuple[str, Any]


def outcome(action: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", action())
    except CrmkitError as e:
        return ("error", type(e).__name__)


class StoresAgree(RuleBasedStateMachine):
    """Drives a SQL store and the memory store with the same operations."""

    backend: Backend

    customers = Bundle("customers")

    def __init__(self) -> None:
        super().__init__()
        clock = FixedClock(NOW)
        self.reference = crmkit.CRM(MemoryStore(), clock=clock)
        self.subject = self.backend.fresh()

    def both(self, tenant: str, action: Callable[[Any], Any]) -> Any:
        results = []
        for crm in (self.reference, self.subject):

            def run(crm: crmkit.CRM = crm) -> Any:
                with crm.unit_of_work(actor="machine", tenant=tenant) as uow:
                    return action(uow)

            results.append(outcome(run))
        expected, actual = results
        assert actual == expected, f"{self.backend.name} did {actual}, memory did {expected}"
        return expected

    @rule(
        target=customers,
        tenant=TENANTS,
        name=NAMES,
        owner=OWNERS,
        code=CODES,
        contacts=st.lists(
            st.tuples(NAMES, st.lists(PHONES, max_size=2), st.lists(EMAILS, max_size=2)),
            max_size=3,
        ),
        tier=st.sampled_from([None, "A", "C"]),
    )
    def add(
        self,
        tenant: str,
        name: str,
        owner: str,
        code: str | None,
        contacts: list[tuple[str, list[PhoneNumber], list[EmailAddress]]],
        tier: str | None,
    ) -> UUID:
        customer_id = crmkit.new_id()
        people = [
            Contact(name=n, phones=tuple(p), emails=tuple(e), id=crmkit.new_id())
            for n, p, e in contacts
        ]
        for below, above in zip(people[1:], people, strict=False):
            below.reports_to = above.id
        if people:
            people[0].roles = frozenset({BuyingRole.DECISION_MAKER})

        def add(uow: Any) -> None:
            uow.customers.add(
                Customer(
                    id=customer_id,
                    name=name,
                    owner_id=owner,
                    code=code,
                    tier=DEFAULT_TIERS[tier] if tier else None,
                    contacts=list(people),  # repositories copy; nothing here is mutated
                )
            )

        self.both(tenant, add)
        return customer_id

    @rule(
        customer=customers,
        tenant=TENANTS,
        name=NAMES,
        owner=OWNERS,
        code=CODES,
        stage=st.sampled_from(LifecycleStage),
        drop_contact=st.booleans(),
        new_phone=st.none() | PHONES,
        stale=st.booleans(),
    )
    def update(
        self,
        customer: UUID,
        tenant: str,
        name: str,
        owner: str,
        code: str | None,
        stage: LifecycleStage,
        drop_contact: bool,
        new_phone: PhoneNumber | None,
        stale: bool,
    ) -> None:
        def update(uow: Any) -> int:
            c = uow.customers.get(customer)
            c.name, c.owner_id, c.code, c.lifecycle = name, owner, code, stage
            if drop_contact and c.contacts:
                dropped = c.contacts.pop()
                for other in c.contacts:
                    if other.reports_to == dropped.id:
                        other.reports_to = None
            if new_phone is not None and c.contacts:
                c.contacts[0].phones = (new_phone,)
            if stale:
                c.version -= 1
            uow.customers.update(c)
            return int(c.version)

        self.both(tenant, update)

    @rule(customer=customers, tenant=TENANTS)
    def remove(self, customer: UUID, tenant: str) -> None:
        self.both(tenant, lambda uow: uow.customers.remove(uow.customers.get(customer)))

    @rule(
        customer=customers,
        tenant=TENANTS,
        kind=st.sampled_from(InteractionKind),
        at=INSTANTS,
        summary=NAMES,
    )
    def log(
        self,
        customer: UUID,
        tenant: str,
        kind: InteractionKind,
        at: Any,
        summary: str,
    ) -> None:
        interaction_id = crmkit.new_id()

        def log(uow: Any) -> None:
            uow.interactions.add(
                Interaction(
                    id=interaction_id,
                    customer_id=customer,
                    kind=kind,
                    occurred_at=at,
                    actor_id="machine",
                    summary=summary,
                )
            )

        self.both(tenant, log)

    @rule(tenant=TENANTS, owner=OWNERS)
    def by_owner(self, tenant: str, owner: str) -> None:
        self.both(tenant, lambda uow: crmkit.to_dict(uow.customers.by_owner(owner)))

    @rule(tenant=TENANTS, owner=OWNERS, limit=st.integers(1, 3), skip=st.integers(0, 3))
    def by_owner_page(self, tenant: str, owner: str, limit: int, skip: int) -> None:
        def page(uow: Any) -> Any:
            book = uow.customers.by_owner(owner)
            after = book[skip - 1].id if 0 < skip <= len(book) else None
            return crmkit.to_dict(uow.customers.by_owner(owner, after=after, limit=limit))

        self.both(tenant, page)

    @rule(tenant=TENANTS, code=st.sampled_from(["C-1", "c-1"]))
    def by_code(self, tenant: str, code: str) -> None:
        self.both(tenant, lambda uow: crmkit.to_dict(uow.customers.by_code(code)))

    @rule(tenant=TENANTS, phone=PHONES)
    def by_phone(self, tenant: str, phone: PhoneNumber) -> None:
        self.both(tenant, lambda uow: crmkit.to_dict(uow.customers.by_phone(phone)))

    @rule(tenant=TENANTS, email=EMAILS)
    def by_email(self, tenant: str, email: EmailAddress) -> None:
        self.both(tenant, lambda uow: crmkit.to_dict(uow.customers.by_email(email)))

    @invariant()
    def same_data_in_every_tenant(self) -> None:
        for tenant in ("acme", "globex"):

            def everything(uow: Any) -> Any:
                customers = uow.customers.page(limit=1000)
                assert uow.customers.count() == len(customers)
                return [
                    (crmkit.to_dict(c), crmkit.to_dict(uow.interactions.for_customer(c.id)))
                    for c in customers
                ]

            self.both(tenant, everything)


def test_a_sql_store_always_agrees_with_the_memory_store(backend: Backend) -> None:
    if not backend.is_sql:
        pytest.skip("the memory store is the reference the SQL stores are compared with")
    server = backend.name in ("postgres", "mysql")
    examples = int(os.environ.get("CRMKIT_AGREEMENT_EXAMPLES", "15" if server else "40"))
    machine = type(f"StoresAgree_{backend.name}", (StoresAgree,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
