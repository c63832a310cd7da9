"""Read-only units of work: they read as usual, refuse every write, and hold up no writer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import crmkit
from crmkit.customers import Customer
from crmkit.errors import ReadOnlyError, TransientError
from crmkit.storage.sql import SQLITE_CACHE_KIB, SqlStore

from .conftest import Backend
from .test_customers import call, full_customer

WRITES: list[tuple[str, Callable[[Any, Customer, Any], object]]] = [
    ("add", lambda uow, _c, _i: uow.customers.add(full_customer("C-9"))),
    ("add_many", lambda uow, _c, _i: uow.customers.add_many([])),
    ("update", lambda uow, c, _i: uow.customers.update(c)),
    ("remove", lambda uow, c, _i: uow.customers.remove(c)),
    ("log", lambda uow, c, _i: uow.interactions.add(call(c, "2026-03-03T10:00:00+08:00"))),
    ("update interaction", lambda uow, _c, i: uow.interactions.update(i)),
    ("remove interaction", lambda uow, _c, i: uow.interactions.remove(i)),
]


def test_a_read_only_unit_of_work_reads_and_refuses_every_write(crm: crmkit.CRM) -> None:
    customer = full_customer("C-1")
    first_call = call(customer, "2026-03-02T10:00:00+08:00")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
        uow.interactions.add(first_call)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        assert uow.read_only
        stored = uow.customers.get(customer.id)
        timeline = uow.interactions.for_customer(customer.id)
        stored.name = "changed"
        for name, write in WRITES:
            with pytest.raises(ReadOnlyError, match="read-only"):
                write(uow, stored, timeline[0])
            assert uow.is_open, name  # a refused write spoils nothing
        assert uow.customers.by_code("C-1") == customer
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.get(customer.id) == customer
        assert uow.interactions.for_customer(customer.id) == [first_call]
        assert uow.customers.count() == 1


def _sqlite_store(backend: Backend) -> SqlStore:
    """Another store on the contract tests' SQLite file, whose writers wait at most 0.1 s."""
    shared = backend.make_store()
    assert isinstance(shared, SqlStore)
    made = SqlStore.from_url(shared.engine.url, connect_args={"timeout": 0.1})
    backend.stores.append(made)  # closed with the backend
    return SqlStore(made.engine, tables=shared.tables)


def test_on_sqlite_a_long_read_holds_up_no_writer(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("a SQLite locking test")
    backend.empty()
    reader = crmkit.CRM(_sqlite_store(backend))
    writer = crmkit.CRM(_sqlite_store(backend))
    with reader.unit_of_work(actor="report", read_only=True) as report:
        assert report.customers.count() == 0
        with writer.unit_of_work(actor="li") as uow:
            uow.customers.add(full_customer("C-1"))
        # The report goes on reading the snapshot it started with.
        assert report.customers.count() == 0
    with reader.unit_of_work(actor="report", read_only=True) as report:
        assert report.customers.count() == 1

    # A unit of work that may write takes the write lock at once, and the next writer waits
    # for it (here, 0.1 s, then a retryable error).
    with reader.unit_of_work(actor="li") as holding:
        holding.customers.count()
        with pytest.raises(TransientError), writer.unit_of_work(actor="li") as uow:
            uow.customers.add(full_customer("C-2"))


def test_on_a_server_the_transaction_itself_is_read_only(backend: Backend) -> None:
    if backend.name not in ("postgres", "mysql"):
        pytest.skip("SQLite has no read-only transactions; memory has no SQL")
    crm = backend.fresh()
    store = crm.store
    assert isinstance(store, SqlStore)
    with crm.unit_of_work(actor="li", read_only=True) as uow:
        connection = uow.connection  # type: ignore[attr-defined]
        with pytest.raises(sa.exc.DBAPIError, match="(?i)read.only"):
            connection.execute(store.tables.interactions.delete())
    # The next unit of work, on the same pooled connection, may write again.
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(full_customer("C-1"))


def test_a_sqlite_connection_of_crmkits_has_its_settings(backend: Backend) -> None:
    if backend.name != "sqlite":
        pytest.skip("SQLite's connection settings")
    store = _sqlite_store(backend)
    with store.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
