"""The repository core, on an aggregate declared only here: the whole contract on every store.

`Widget` (a unique code, a parent `Shelf` it cannot leave) costs its storage nothing but the two
declarations below; `crmkit.testing.contract` runs CRUD, versions, tenants, unique keys, the
cascade, paging and the agreement with the memory store on all four backends.
"""

from __future__ import annotations

from uuid import UUID

import attrs

import crmkit
from crmkit._validation import ON_SETATTR, Validated, check, instance_of, key_text, optional, text
from crmkit.customers import Contact, Customer, Interaction, InteractionKind
from crmkit.customers._model import _uuid
from crmkit.storage import Aggregate, MemoryStore, Parent, Store, UniqueKey, UnitOfWork
from crmkit.storage._customers import CUSTOMERS, INTERACTIONS
from crmkit.testing.contract import AggregateContract, SqlContract


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Shelf(Validated):
    name: str = attrs.field(metadata=check(text(max_length=100)))
    id: UUID = attrs.field(factory=crmkit.new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(instance_of(int)))


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Widget(Validated):
    shelf_id: UUID = attrs.field(metadata=check(_uuid))
    name: str = attrs.field(metadata=check(text(max_length=100)))
    code: str | None = attrs.field(default=None, metadata=check(optional(key_text(max_length=32))))
    note: str | None = attrs.field(default=None, metadata=check(optional(text(max_length=100))))
    id: UUID = attrs.field(factory=crmkit.new_id, metadata=check(_uuid))
    version: int = attrs.field(default=0, metadata=check(instance_of(int)))


# --- the storage of the two aggregates: their declarations, nothing else ----------------------

SHELVES: Aggregate[Shelf] = Aggregate(Shelf, "shelf", "shelves", columns={"name": 100})
WIDGETS: Aggregate[Widget] = Aggregate(
    Widget,
    "widget",
    "widgets",
    parent=Parent("shelf", "shelves", "shelf_id"),
    unique=(UniqueKey("code"),),
    immutable={"shelf_id": "a widget cannot move to another shelf"},
    indexes={"shelf": ("shelf_id", "id")},
    columns={"name": 100, "code": 32, "note": 100},
    sensitive=frozenset({"note"}),
)

# --- the contract, once per store --------------------------------------------------------------


class WidgetContract(AggregateContract[Widget]):
    aggregate = WIDGETS
    parent = SHELVES

    def new(self, uow: UnitOfWork) -> Widget:
        shelf = Shelf(name="top")
        uow.repository(SHELVES).add(shelf)
        code = f"W-{crmkit.new_id().hex[-12:]}"
        return Widget(shelf_id=shelf.id, name="bolt", code=code, note=f"secret {code}")

    def change(self, obj: Widget) -> None:
        obj.name = f"{obj.name[:90]}!"


class TestWidgetsInMemory(WidgetContract):
    def make_store(self) -> Store:
        return MemoryStore(aggregates=[SHELVES, WIDGETS])


class TestWidgetsOnSqlite(SqlContract, WidgetContract):
    url = "sqlite://"
    machine_examples = 15


class TestWidgetsOnPostgres(SqlContract, WidgetContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 8


class TestWidgetsOnMariaDB(SqlContract, WidgetContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 8


# --- customers and interactions keep the same contract ------------------------------------------


class CustomerContract(AggregateContract[Customer]):
    aggregate = CUSTOMERS

    def new(self, uow: UnitOfWork) -> Customer:
        return Customer(
            name="Acme",
            owner_id="li",
            code=f"C-{crmkit.new_id().hex[-12:]}",
            contacts=[Contact(name="Li Wei")],
        )

    def change(self, obj: Customer) -> None:
        obj.name = f"{obj.name[:90]}!"


class InteractionContract(AggregateContract[Interaction]):
    aggregate = INTERACTIONS
    parent = CUSTOMERS

    def new(self, uow: UnitOfWork) -> Interaction:
        customer = Customer(name="Acme", owner_id="li")
        uow.repository(CUSTOMERS).add(customer)
        return Interaction(
            customer_id=customer.id,
            kind=InteractionKind.CALL,
            occurred_at=crmkit.to_utc("2026-03-02T10:00:00+08:00"),
            actor_id="li",
            summary="asked for a quote",
        )

    def change(self, obj: Interaction) -> None:
        obj.summary = f"{obj.summary[:3900]} and more"


class TestCustomersInMemory(CustomerContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestCustomersOnSqlite(SqlContract, CustomerContract):
    url = "sqlite://"
    machine_examples = 10


class TestCustomersOnPostgres(SqlContract, CustomerContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 5


class TestCustomersOnMariaDB(SqlContract, CustomerContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 5


class TestInteractionsInMemory(InteractionContract):
    def make_store(self) -> Store:
        return MemoryStore()


class TestInteractionsOnSqlite(SqlContract, InteractionContract):
    url = "sqlite://"
    machine_examples = 10


class TestInteractionsOnPostgres(SqlContract, InteractionContract):
    url = "env:CRMKIT_TEST_POSTGRES_URL"
    machine_examples = 5


class TestInteractionsOnMariaDB(SqlContract, InteractionContract):
    url = "env:CRMKIT_TEST_MYSQL_URL"
    machine_examples = 5
