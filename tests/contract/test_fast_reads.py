"""The SQL stores' lookups run on the driver's cursor, unless the host watches the SQL.

Both paths must load the same customers, a host that traces its engine must see every
statement, and a driver error on the fast path must still arrive as a crmkit error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

import crmkit
from crmkit.customers import Customer
from crmkit.errors import StorageError
from crmkit.storage.sql import SqlStore, build_tables

from .conftest import Backend
from .test_customers import full_customer

# Each finds the customer `full_customer("C-1")` (by its id, code, owner, phone or email).
Lookup = Callable[[Any, UUID], object]
LOOKUPS: list[tuple[str, Lookup]] = [
    ("get", lambda uow, key: uow.customers.get(key)),
    ("by_code", lambda uow, _: uow.customers.by_code("C-1")),
    ("by_owner", lambda uow, _: uow.customers.by_owner("wang.fang")),
    ("by_phone", lambda uow, _: uow.customers.by_phone("+8613912345678")),
    ("by_email", lambda uow, _: uow.customers.by_email("LI.MING@yunshan.example.cn")),
]


@pytest.fixture
def sql(backend: Backend) -> tuple[crmkit.CRM, sa.Engine]:
    if not backend.is_sql:
        pytest.skip("the memory store runs no SQL")
    crm = backend.fresh()
    store = crm.store
    assert isinstance(store, SqlStore)
    return crm, store.engine


def _lookups(crm: crmkit.CRM, wanted: Customer) -> list[object]:
    with crm.unit_of_work(actor="li") as uow:
        return [crmkit.to_dict(lookup(uow, wanted.id)) for _, lookup in LOOKUPS]


def test_a_host_tracing_its_engine_sees_every_lookup_and_gets_the_same_customers(
    sql: tuple[crmkit.CRM, sa.Engine],
) -> None:
    crm, engine = sql
    customer, other = full_customer("C-1"), full_customer("C-2", owner="li")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([customer, other])
    fast = _lookups(crm, customer)

    seen: list[str] = []

    def trace(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", trace)
    try:
        traced = _lookups(crm, customer)
    finally:
        sa.event.remove(engine, "before_cursor_execute", trace)
    assert traced == fast
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    # get and by_code: one joined query each; the others: customers, then their contacts.
    assert len(selects) == 2 * 1 + 3 * 2
    assert fast[0] == crmkit.to_dict(customer)
    assert fast[2] == crmkit.to_dict([customer])  # by owner: "li" owns the other one


def test_sql_logging_turns_the_fast_path_off(
    sql: tuple[crmkit.CRM, sa.Engine], caplog: pytest.LogCaptureFixture
) -> None:
    crm, _ = sql
    customer = full_customer("C-1")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(customer)
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
        _lookups(crm, customer)
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    assert sum("SELECT" in m for m in logged) == 8


def test_a_driver_error_on_the_fast_path_is_a_storage_error(
    sql: tuple[crmkit.CRM, sa.Engine],
) -> None:
    _, engine = sql
    nowhere = crmkit.CRM(SqlStore(engine, tables=build_tables(prefix="crmkit_nowhere_")))
    for name, lookup in LOOKUPS:
        with (
            pytest.raises(StorageError, match="failed") as caught,
            nowhere.unit_of_work(actor="li") as uow,
        ):
            lookup(uow, crmkit.new_id())
        assert isinstance(caught.value.__cause__, sa.exc.DBAPIError), name
