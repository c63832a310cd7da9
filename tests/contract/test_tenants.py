"""Tenants: every key leads with the tenant, and no tenant ever sees or changes another's rows."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

import crmkit
from crmkit.customers import Customer, Interaction, InteractionKind
from crmkit.errors import ConcurrencyError, DuplicateError, NotFound
from crmkit.storage.sql import build_tables, metadata

from .conftest import NOW, Backend

TENANTS = ("acme", "globex")


@pytest.mark.parametrize(
    "tables", [metadata.sorted_tables, build_tables(prefix="x_").metadata.sorted_tables]
)
def test_tenant_id_leads_every_key_constraint_and_index(tables: list[sa.Table]) -> None:
    assert tables
    for table in tables:
        assert table.primary_key.columns.keys()[0] == "tenant_id", table.name
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint | sa.ForeignKeyConstraint):
                assert constraint.columns.keys()[0] == "tenant_id", constraint.name
            if isinstance(constraint, sa.ForeignKeyConstraint):
                assert constraint.elements[0].column.name == "tenant_id", constraint.name
        for index in table.indexes:
            assert next(iter(index.columns)).name == "tenant_id", index.name


class TenantsApart(RuleBasedStateMachine):
    """Random writes under two tenants, checked against a model kept per tenant."""

    backend: Backend
    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.crm = self.backend.fresh()
        # tenant -> customer id -> (name, version, number of interactions)
        self.model: dict[str, dict[UUID, tuple[str, int, int]]] = {t: {} for t in TENANTS}
        # tenant -> the customer codes taken there
        self.codes: dict[str, dict[UUID, str]] = {t: {} for t in TENANTS}

    def uow(self, tenant: str) -> Any:
        return self.crm.unit_of_work(actor="machine", tenant=tenant)

    @rule(target=ids, tenant=st.sampled_from(TENANTS), name=st.sampled_from(["Acme", "阿里"]))
    def add(self, tenant: str, name: str) -> UUID:
        customer = Customer(name=name, owner_id="li", code=name)
        expect_duplicate = name in self.codes[tenant].values()
        try:
            with self.uow(tenant) as uow:
                uow.customers.add(customer)
        except DuplicateError:
            assert expect_duplicate  # the same code is taken only inside one tenant
            return customer.id
        assert not expect_duplicate
        self.model[tenant][customer.id] = (name, 1, 0)
        self.codes[tenant][customer.id] = name
        return customer.id

    @rule(customer=ids, source=st.sampled_from(TENANTS), into=st.sampled_from(TENANTS))
    def copy_into(self, customer: UUID, source: str, into: str) -> None:
        """The same id may exist once in each tenant."""
        if customer not in self.model[source] or customer in self.model[into]:
            return
        name, _, _ = self.model[source][customer]
        copy = Customer(id=customer, name=name, owner_id="li")
        with self.uow(into) as uow:
            uow.customers.add(copy)
        self.model[into][customer] = (name, 1, 0)

    @rule(customer=ids, tenant=st.sampled_from(TENANTS), name=st.sampled_from(["Ace", "云杉 😀"]))
    def rename(self, customer: UUID, tenant: str, name: str) -> None:
        stored = self.model[tenant].get(customer)
        try:
            with self.uow(tenant) as uow:
                c = uow.customers.get(customer)
                c.name = name
                uow.customers.update(c)
        except NotFound:
            assert stored is None
            return
        assert stored is not None
        self.model[tenant][customer] = (name, stored[1] + 1, stored[2])

    @rule(customer=consumes(ids), tenant=st.sampled_from(TENANTS))
    def remove_with_a_version_from_the_other_tenant(self, customer: UUID, tenant: str) -> None:
        other = TENANTS[1 - TENANTS.index(tenant)]
        if customer not in self.model[other]:
            return
        _, version, _ = self.model[other][customer]
        ghost = Customer(id=customer, name="ghost", owner_id="li")
        ghost.version = version
        mine = self.model[tenant].get(customer)
        try:
            with self.uow(tenant) as uow:
                uow.customers.remove(ghost)
        except ConcurrencyError:
            assert mine is None or mine[1] != version
            return
        assert mine is not None
        assert mine[1] == version
        del self.model[tenant][customer]
        self.codes[tenant].pop(customer, None)

    @rule(customer=ids, tenant=st.sampled_from(TENANTS))
    def log(self, customer: UUID, tenant: str) -> None:
        stored = self.model[tenant].get(customer)
        call = Interaction(
            customer_id=customer,
            kind=InteractionKind.CALL,
            occurred_at=crmkit.to_utc(NOW),
            actor_id="machine",
            summary="called",
        )
        try:
            with self.uow(tenant) as uow:
                uow.interactions.add(call)
        except NotFound:
            assert stored is None
            return
        assert stored is not None
        self.model[tenant][customer] = (stored[0], stored[1], stored[2] + 1)

    @invariant()
    def each_tenant_sees_exactly_its_own(self) -> None:
        for tenant in TENANTS:
            with self.uow(tenant) as uow:
                seen = {
                    c.id: (c.name, c.version, len(uow.interactions.for_customer(c.id)))
                    for c in uow.customers.page(limit=1000)
                }
                assert uow.customers.count() == len(seen)
            assert seen == self.model[tenant]


def test_no_tenant_ever_sees_or_changes_another_tenants_rows(backend: Backend) -> None:
    server = backend.name in ("postgres", "mysql")
    machine = type(f"TenantsApart_{backend.name}", (TenantsApart,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=10 if server else 25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
