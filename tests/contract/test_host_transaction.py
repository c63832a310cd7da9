"""A unit of work can join the host's own SQLAlchemy connection and transaction.

crmkit then works in a savepoint, never commits or rolls back the host's transaction, undoes
only its own part when it fails, and its events go out only once the host's commit has
succeeded: from the outbox, by the relay (a connection) or right after the commit (a Session).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import crmkit
from crmkit.customers import Customer, CustomerRegistered
from crmkit.errors import DuplicateError
from crmkit.storage.sql import SqlStore

from .conftest import RUN, Backend

host_metadata = sa.MetaData()
notes = sa.Table(
    f"host_notes_{RUN}",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text", sa.String(100)),
)


@pytest.fixture
def sql(backend: Backend) -> Iterator[tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]]]:
    if not backend.is_sql:
        pytest.skip("only SQL stores join a host's connection")
    crm = backend.fresh()
    assert isinstance(crm.store, SqlStore)
    engine = crm.store.engine
    with engine.begin() as connection:
        host_metadata.drop_all(connection)
        host_metadata.create_all(connection)
    published: list[CustomerRegistered] = []
    crm.subscribe(CustomerRegistered, published.append)
    yield crm, engine, published
    with engine.begin() as connection:
        host_metadata.drop_all(connection)


def register(uow: crmkit.storage.UnitOfWork, customer: Customer) -> None:
    uow.customers.add(customer)
    uow.record(CustomerRegistered, customer_id=customer.id, owner_id=customer.owner_id)


def count(crm: crmkit.CRM) -> int:
    with crm.unit_of_work(actor="check") as uow:
        return uow.customers.count()


def test_work_in_the_hosts_transaction_lands_and_is_published_when_the_host_commits(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    with engine.connect() as connection:
        connection.begin()
        connection.execute(notes.insert(), {"id": 1, "text": "host's own write"})
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow, Customer(name="Acme", owner_id="li"))
        assert connection.in_transaction()  # crmkit did not commit the host's transaction
        assert published == []
        connection.commit()
    assert published == []  # crmkit cannot see a connection's commit succeed: the relay can
    assert crm.relay().delivered == 1
    assert len(published) == 1
    assert count(crm) == 1


def test_nothing_lands_and_nothing_is_published_when_the_host_rolls_back(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    with engine.connect() as connection:
        connection.begin()
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow, Customer(name="Acme", owner_id="li"))
        connection.rollback()
        # A later transaction on the same connection publishes only its own events.
        connection.begin()
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow, Customer(name="Globex", owner_id="li"))
        connection.commit()
    crm.relay()
    assert [e.owner_id for e in published] == ["li"]
    assert count(crm) == 1


def test_a_failure_undoes_only_crmkits_part_and_the_host_carries_on(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    first = Customer(name="Acme", owner_id="li", code="C-1")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(first)
    with engine.connect() as connection:
        connection.begin()
        connection.execute(notes.insert(), {"id": 1, "text": "before"})
        with (
            pytest.raises(DuplicateError),
            crm.unit_of_work(actor="li", connection=connection) as uow,
        ):
            register(uow, Customer(name="Other", owner_id="li"))
            uow.customers.add(Customer(name="Clash", owner_id="li", code="C-1"))
        # On PostgreSQL an unguarded error would have aborted the whole transaction.
        connection.execute(notes.insert(), {"id": 2, "text": "after"})
        connection.commit()
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(notes)) == 2
    assert count(crm) == 1
    crm.relay()
    assert published == []


def test_a_connection_outside_a_transaction_gets_a_transaction_of_crmkits_own(
    sql: tuple[crmkit.CRM, sa.Engine, list[CustomerRegistered]],
) -> None:
    crm, engine, published = sql
    with engine.connect() as connection:
        with crm.unit_of_work(actor="li", connection=connection) as uow:
            register(uow, Customer(name="Acme", owner_id="li"))
        assert not connection.in_transaction()
        assert len(published) == 1
    assert count(crm) == 1
