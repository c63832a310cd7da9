"""Law: whatever a repository stores, it reads back equal, on every adapter.

Edge values included: non-BMP text, names at their longest, microseconds, instants in
daylight-saving folds and at both ends of the range every store holds (1000-01-01T00:00:00Z to
9999-12-30T23:59:59.999999Z), 64-bit custom integers, custom field decimals with 30 digits,
dates from year 1000 to 9999.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crmkit
from crmkit.customers import Customer, Interaction, InteractionKind
from crmkit.errors import ValidationError
from crmkit.storage.sql import SqlStore
from crmkit.testing import strategies as cs

from .conftest import Backend

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(customer=cs.customers())
def test_a_customer_reads_back_equal(backend: Backend, customer: Customer) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="law") as uow:
        uow.customers.add(customer)
    with crm.unit_of_work(actor="law") as uow:
        assert uow.customers.get(customer.id) == customer
        if customer.code is not None:
            assert uow.customers.by_code(customer.code) == customer
        assert uow.customers.get_many([customer.id]) == [customer]
        assert uow.customers.by_owner(customer.owner_id) == [customer]
        for contact in customer.contacts:
            for phone in contact.phones:
                assert uow.customers.by_phone(phone) == [customer]
            for email in contact.emails:
                assert uow.customers.by_email(email.address.upper()) == [customer]
    if isinstance(crm.store, SqlStore):
        # The same rows through SQLAlchemy's own path (taken when a host traces its SQL).
        engine = crm.store.engine
        sa.event.listen(engine, "before_cursor_execute", _trace)
        try:
            with crm.unit_of_work(actor="law") as uow:
                assert uow.customers.get(customer.id) == customer
        finally:
            sa.event.remove(engine, "before_cursor_execute", _trace)


def _trace(*_: object) -> None:
    """A host's tracing hook; its presence alone turns crmkit's fast lookups off."""


@SETTINGS
@given(customer=cs.customers(max_contacts=1), data=st.data())
def test_an_interaction_reads_back_equal(
    backend: Backend, customer: Customer, data: st.DataObject
) -> None:
    interaction: Interaction = data.draw(cs.interactions(customer.id))
    crm = backend.fresh()
    with crm.unit_of_work(actor="law") as uow:
        uow.customers.add(customer)
        uow.interactions.add(interaction)
    with crm.unit_of_work(actor="law") as uow:
        assert uow.interactions.get(interaction.id) == interaction
        assert uow.interactions.for_customer(customer.id) == [interaction]
        # Compared in the store to the microsecond: a window of one microsecond finds it.
        at = interaction.occurred_at
        one = dt.timedelta(microseconds=1)
        assert uow.interactions.for_customer(customer.id, since=at, until=at + one) == [interaction]
        assert uow.interactions.for_customer(customer.id, since=at + one) == []
        assert uow.interactions.for_customer(customer.id, until=at) == []
    assert interaction.kind in InteractionKind


@SETTINGS
@given(customer=cs.customers(max_contacts=2), changed=cs.customers(max_contacts=2))
def test_an_updated_customer_reads_back_equal(
    backend: Backend, customer: Customer, changed: Customer
) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="law") as uow:
        uow.customers.add(customer)
    changed.id, changed.version = customer.id, customer.version
    with crm.unit_of_work(actor="law") as uow:
        uow.customers.update(changed)
    with crm.unit_of_work(actor="law") as uow:
        assert uow.customers.get(customer.id) == changed
        assert uow.customers.page() == [changed]


@pytest.mark.parametrize(
    "at",
    [
        "1000-01-01T00:00:00+00:00",
        "1000-01-01T00:00:00.000001+00:00",
        "1969-12-31T23:59:59.999999+00:00",
        "2300-01-01T00:00:00.123457+00:00",
        "9999-12-30T23:59:59.999999+00:00",
    ],
)
def test_instants_at_the_edges_keep_their_microseconds(backend: Backend, at: str) -> None:
    customer = Customer(name="Edge", owner_id="li")
    entry = Interaction(
        customer_id=customer.id,
        kind=InteractionKind.NOTE,
        occurred_at=crmkit.to_utc(at),
        actor_id="li",
        summary="edge",
    )
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.interactions.add(entry)
    with crm.unit_of_work(actor="li") as uow:
        assert uow.interactions.get(entry.id).occurred_at.isoformat() == at


@pytest.mark.parametrize("at", ["0999-12-31T23:59:59.999999+00:00", "9999-12-31T00:00:00+00:00"])
def test_an_instant_no_store_can_hold_is_refused_before_writing(at: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Interaction(
            customer_id=crmkit.new_id(),
            kind=InteractionKind.NOTE,
            occurred_at=crmkit.to_utc(at),
            actor_id="li",
            summary="too far",
        )
    assert [i.path for i in caught.value.issues] == ["occurred_at"]
