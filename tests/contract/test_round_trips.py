"""Law: whatever a repository stores, it reads back equal, on every adapter.

Edge values included: non-BMP text, microseconds, instants in daylight-saving folds, custom
field decimals with 30 digits, dates back to 1900.
"""

from __future__ import annotations

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit.customers import Customer, Interaction, InteractionKind
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
    assert interaction.kind in InteractionKind
