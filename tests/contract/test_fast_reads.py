"""The SQL stores' lookups run on the driver's cursor, unless the host watches the SQL.

Both paths must load the same customers, a host that traces its engine must see every
statement, and a driver error on the fast path must still arrive as a crmkit error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID

import pytest
import sqlalchemy as sa

import crmkit
from crmkit.customers import Customer, register_customers
from crmkit.errors import DuplicateError, StorageError
from crmkit.storage.sql import SqlStore, build_tables

from .conftest import Backend
from .test_customers import call, full_customer


class Keys(NamedTuple):
    customer: UUID
    interaction: UUID


MARCH = crmkit.to_utc("2026-03-01T00:00:00+08:00")
APRIL = crmkit.to_utc("2026-04-01T00:00:00+08:00")
# Each finds the customer `full_customer("C-1")` (by its id, code, owner, phone or email), or
# its call on 2 March (by id, or in its timeline with every combination of since and until).
Lookup = Callable[[Any, Keys], object]
LOOKUPS: list[tuple[str, Lookup]] = [
    ("get", lambda uow, k: uow.customers.get(k.customer)),
    ("by_code", lambda uow, _: uow.customers.by_code("C-1")),
    ("by_owner", lambda uow, _: uow.customers.by_owner("wang.fang")),
    ("by_phone", lambda uow, _: uow.customers.by_phone("+8613912345678")),
    ("by_email", lambda uow, _: uow.customers.by_email("LI.MING@yunshan.example.cn")),
    ("interaction", lambda uow, k: uow.interactions.get(k.interaction)),
    ("timeline", lambda uow, k: uow.interactions.for_customer(k.customer)),
    ("since", lambda uow, k: uow.interactions.for_customer(k.customer, since=MARCH)),
    ("until", lambda uow, k: uow.interactions.for_customer(k.customer, until=APRIL)),
    (
        "between",
        lambda uow, k: uow.interactions.for_customer(k.customer, since=MARCH, until=APRIL),
    ),
]
# get, by_code and the interaction lookups run one query each; the others two: the customers,
# then their contacts.
SELECTS = 2 + 3 * 2 + 5


@pytest.fixture
def sql(backend: Backend) -> tuple[crmkit.CRM, sa.Engine]:
    if not backend.is_sql:
        pytest.skip("the memory store runs no SQL")
    crm = backend.fresh()
    store = crm.store
    assert isinstance(store, SqlStore)
    return crm, store.engine


def _store(crm: crmkit.CRM, *customers: Customer) -> Keys:
    """Store `customers` and a call to the first; the keys of both."""
    first_call = call(customers[0], "2026-03-02T10:00:00+08:00")
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many(customers)
        uow.interactions.add(first_call)
    return Keys(customers[0].id, first_call.id)


def _lookups(crm: crmkit.CRM, keys: Keys) -> list[Any]:
    with crm.unit_of_work(actor="li") as uow:
        return [crmkit.to_dict(lookup(uow, keys)) for _, lookup in LOOKUPS]


def test_a_host_tracing_its_engine_sees_every_lookup_and_gets_the_same_customers(
    sql: tuple[crmkit.CRM, sa.Engine],
) -> None:
    crm, engine = sql
    customer, other = full_customer("C-1"), full_customer("C-2", owner="li")
    keys = _store(crm, customer, other)
    fast = _lookups(crm, keys)

    seen: list[str] = []

    def trace(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", trace)
    try:
        traced = _lookups(crm, keys)
    finally:
        sa.event.remove(engine, "before_cursor_execute", trace)
    assert traced == fast
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == SELECTS
    assert fast[0] == crmkit.to_dict(customer)
    assert fast[2] == crmkit.to_dict([customer])  # by owner: "li" owns the other one
    # One call, found by id and in every slice of the timeline.
    assert fast[5] == fast[6][0]
    assert fast[6:] == [fast[6]] * 4


def test_sql_logging_turns_the_fast_path_off(
    sql: tuple[crmkit.CRM, sa.Engine], caplog: pytest.LogCaptureFixture
) -> None:
    crm, _ = sql
    keys = _store(crm, full_customer("C-1"))
    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
        _lookups(crm, keys)
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    assert sum("SELECT" in m for m in logged) == SELECTS


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
            lookup(uow, Keys(crmkit.new_id(), crmkit.new_id()))
        assert isinstance(caught.value.__cause__, sa.exc.DBAPIError), name


def _stored_rows(engine: sa.Engine, crm: crmkit.CRM) -> dict[str, list[Any]]:
    """Every row of crmkit's customer tables, change log and outbox, but generated values."""
    store = crm.store
    assert isinstance(store, SqlStore)
    tables = store.tables.metadata.tables
    prefix = store.tables.prefix
    found = {}
    with engine.connect() as connection:
        for name, skip in (
            ("customers", ()),
            ("contacts", ()),
            ("contact_keys", ()),
            ("changes", ("seq", "at")),
            ("outbox", ("id", "seq", "body", "due_at")),
        ):
            table = tables[f"{prefix}{name}"]
            columns = [c for c in table.columns if c.name not in skip]
            rows = connection.execute(sa.select(*columns)).all()
            found[name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
    return found


def test_a_bulk_insert_a_host_traces_writes_what_the_driver_path_writes(
    backend: Backend,
) -> None:
    if not backend.is_sql:
        pytest.skip("the memory store runs no SQL")
    batch = [full_customer(f"C-{i}") for i in range(3)]
    solo = Customer(name="Solo", owner_id="li")

    def register(crm: crmkit.CRM) -> None:
        for c in batch:
            c.version = 0
        with crm.unit_of_work(actor="li") as uow:
            register_customers(uow, batch)
        # Alone, without contacts: the contact tables get no rows (never an INSERT of defaults).
        solo.version = 0
        with crm.unit_of_work(actor="li") as uow:
            uow.customers.add(solo)

    fast = backend.fresh(relay_on_commit=False)
    register(fast)
    store = fast.store
    assert isinstance(store, SqlStore)
    engine = store.engine
    untraced = _stored_rows(engine, fast)

    traced_crm = backend.fresh(relay_on_commit=False)
    seen: list[str] = []

    def trace(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", trace)
    try:
        register(traced_crm)
    finally:
        sa.event.remove(engine, "before_cursor_execute", trace)
    assert _stored_rows(engine, traced_crm) == untraced
    inserts = {s.split("(")[0].split()[-1] for s in seen if s.lstrip().upper().startswith("INSERT")}
    prefix = store.tables.prefix
    wanted = {"customers", "contacts", "contact_keys", "changes", "outbox"}
    assert {f"{prefix}{t}" for t in wanted} <= {i.strip('"`') for i in inserts}


def test_a_duplicate_on_the_bulk_insert_driver_path_is_named(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li") as uow:
        uow.customers.add(full_customer("C-1"))
    with pytest.raises(DuplicateError, match="code") as caught, crm.unit_of_work(actor="li") as uow:
        uow.customers.add_many([full_customer("C-2"), full_customer("C-1")])
    if backend.is_sql:  # the driver's own error, as on SQLAlchemy's path
        kinds = type(caught.value.__cause__).__mro__
        assert "IntegrityError" in {k.__name__ for k in kinds}
