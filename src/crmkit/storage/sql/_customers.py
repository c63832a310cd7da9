"""The SQL store's repositories: every statement scoped to the unit of work's tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby, islice
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import pendulum
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit.customers import Customer, Interaction
from crmkit.errors import (
    ConcurrencyError,
    CrmkitError,
    DuplicateError,
    NotFound,
    StorageError,
)
from crmkit.storage._arguments import (
    a_collection,
    a_key,
    a_limit,
    a_page,
    a_phone,
    a_span,
    an_email,
    an_id,
    ids,
)
from crmkit.storage.sql._records import SqlRecords
from crmkit.storage.sql._rows import (
    CONTACT_COLUMNS,
    contact_key_values,
    contact_values,
    customer_from_rows,
    customer_row,
    customer_values,
)

if TYPE_CHECKING:
    from crmkit.storage.sql._store import SqlUnitOfWork

__all__ = ["SqlCustomers", "SqlInteractions"]

T = TypeVar("T")

# Rows fetched per ``IN (...)`` query: well under every backend's limit on bound parameters.
_CHUNK = 500


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class _Repository:
    """What the repositories share: the connection, and the tenant scope of every statement."""

    def __init__(self, uow: SqlUnitOfWork, aggregate: object) -> None:
        del aggregate
        self._uow = uow
        self._t = uow._store.tables
        self._tenant = uow.tenant_id

    def _mine(self, table: sa.Table) -> sa.ColumnElement[bool]:
        # Every statement on crmkit's tables goes through here: no query leaves its tenant.
        return table.c.tenant_id == self._tenant

    def _run(self, doing: str, action: Callable[[Connection], T]) -> T:
        uow = self._uow
        try:
            with uow._translate(doing):
                return action(uow._connection)
        except CrmkitError:
            raise
        except Exception as e:
            # The driver's rather than the database's (text it cannot encode, a number it
            # cannot convert), or a bug: no raw exception reaches a caller. It spoils the unit
            # of work as any storage error does.
            error = StorageError(f"{doing} failed: {type(e).__name__}: {e}")
            uow._fail(error)
            raise error from e

    def _write(self, doing: str, action: Callable[[Connection], T]) -> T:
        """`_run` for the statements of a write: whatever escapes them spoils the unit of work.

        Refusals found before anything was written are returned by `action`, not raised, so
        that they leave the unit of work usable.
        """
        with self._uow._writing(doing):
            return self._run(doing, action)


class SqlCustomers(_Repository):
    """`CustomerRepository` on SQL tables."""

    def _load(self, connection: Connection, by: str, **params: Any) -> list[Customer]:  # noqa: ANN401
        customers_query, contacts_query = self._uow._store.customer_queries().many[by]
        params["tenant"] = self._tenant
        rows = customers_query(connection, params)
        if not rows:
            return []
        by_customer: dict[UUID, list[dict[str, Any]]] = {}
        people = contacts_query(connection, params)
        for key, group in groupby(people, key=lambda p: p["customer_id"]):
            by_customer[key] = list(group)
        name = self._t.customers.name
        return [customer_from_rows(name, r, by_customer.get(r["id"], ())) for r in rows]

    def _load_one(self, connection: Connection, by: str, **params: Any) -> Customer | None:  # noqa: ANN401
        # One customer: its row and its contacts' in one round trip (a LEFT JOIN), which saves
        # a query per lookup; lists of customers use _load's two queries instead, which do not
        # repeat the customer's columns on every contact's row.
        query = self._uow._store.customer_queries().one[by]
        params["tenant"] = self._tenant
        rows = query(connection, params)
        if not rows:
            return None
        people = [
            {column: row[f"contact_{column}"] for column in CONTACT_COLUMNS}
            for row in rows
            if row["contact_id"] is not None
        ]
        return customer_from_rows(self._t.customers.name, rows[0], people)

    def add(self, customer: Customer) -> None:
        self.add_many([customer])

    def add_many(self, customers: Iterable[Customer]) -> None:
        uow = self._uow
        uow._check_writable()
        batch: list[Customer] = a_collection(customers, "customers", "Customers")
        uow._check_new_customers(batch)
        if not batch:
            return
        tenant = self._tenant
        store = self._uow._store
        insert_customers = store.bulk_insert(self._t.customers)
        insert_contacts = store.bulk_insert(self._t.contacts)
        insert_keys = store.bulk_insert(self._t.contact_keys)
        grew = store._statistics.grew

        def insert(connection: Connection) -> None:
            # In chunks: the rows of a chunk (which hold UUIDs and dicts, tracked by the cyclic
            # garbage collector) die before the next is built, instead of 100,000 of them being
            # traversed by every collection while a large batch is converted. After each
            # insert, a table the load outgrew gets fresh planner statistics (PostgreSQL),
            # before the contacts' foreign-key checks look its customers up.
            try:
                for chunk in _chunks(batch):
                    insert_customers(connection, [customer_values(tenant, c, 1) for c in chunk])
                    grew(connection, self._t.customers, len(chunk))
                    people = [row for c in chunk for row in contact_values(tenant, c)]
                    if people:
                        insert_contacts(connection, people)
                        grew(connection, self._t.contacts, len(people))
                    keys = [row for c in chunk for row in contact_key_values(tenant, c)]
                    if keys:
                        insert_keys(connection, keys)
                        grew(connection, self._t.contact_keys, len(keys))
            except exc.IntegrityError as e:
                raise self._duplicate(e, batch) from e

        with uow._writing("adding customers"):
            self._run("adding customers", insert)
            for c in batch:
                uow._stamp(c, 1)

    def _duplicate(self, error: exc.IntegrityError, batch: Sequence[Customer]) -> DuplicateError:
        if "code" in str(error.orig):
            return DuplicateError("customer", "code", batch[0].code if len(batch) == 1 else None)
        if "contact" in str(error.orig):
            return DuplicateError("contact", "id", None)
        return DuplicateError("customer", "id", batch[0].id if len(batch) == 1 else None)

    def get(self, customer_id: UUID) -> Customer:
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        found = self._run("loading a customer", lambda c: self._load_one(c, "id", id=customer_id))
        if found is None:
            raise NotFound("customer", customer_id)
        return found

    def get_many(self, customer_ids: Iterable[UUID]) -> list[Customer]:
        self._uow._check_open()
        wanted = ids(customer_ids, "customer_ids")

        def load(connection: Connection) -> list[Customer]:
            found: dict[UUID, Customer] = {}
            for chunk in _chunks(wanted):
                for c in self._load(connection, "ids", ids=list(chunk)):
                    found[c.id] = c
            return [found[i] for i in wanted if i in found]

        return self._run("loading customers", load)

    def by_code(self, code: str) -> Customer:
        self._uow._check_open()
        a_key(code, "code")
        found = self._run("loading a customer", lambda c: self._load_one(c, "code", code=code))
        if found is None:
            raise NotFound("customer with code", code)
        return found

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Customer]:
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        if after is None and limit is None:
            return self._run("loading customers", lambda c: self._load(c, "owner", owner=owner_id))
        table = self._t.customers
        return self._page(table.c.owner_id == owner_id, after=after, limit=limit)

    def by_phone(self, phone: PhoneNumber | str) -> list[Customer]:
        self._uow._check_open()
        return self._by_contact_key("phone", a_phone(phone, "phone"))

    def by_email(self, email: EmailAddress | str) -> list[Customer]:
        self._uow._check_open()
        return self._by_contact_key("email", an_email(email, "email"))

    def _by_contact_key(self, kind: str, value: str) -> list[Customer]:
        return self._run(
            "loading customers", lambda c: self._load(c, "key", kind=kind, value=value)
        )

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Customer]:
        self._uow._check_open()
        a_limit(limit)
        return self._page(sa.true(), after=after, limit=limit)

    def _page(
        self, where: sa.ColumnElement[bool], *, after: UUID | None, limit: int | None
    ) -> list[Customer]:
        """The customers matching `where` with ids after `after`, at most `limit`, in id order."""
        a_page(after, limit)
        table = self._t.customers
        query = sa.select(table.c.id).where(self._mine(table), where).order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
        if limit is not None:
            query = query.limit(limit)

        def load(connection: Connection) -> list[Customer]:
            found: list[Customer] = []
            # In chunks of ids, each loaded in id order: a large page stays under every
            # backend's limit on bound parameters.
            for chunk in _chunks(connection.scalars(query).all()):
                found.extend(self._load(connection, "ids", ids=list(chunk)))
            return found

        return self._run("loading customers", load)

    def count(self) -> int:
        table = self._t.customers
        return self._run(
            "counting customers",
            lambda c: int(
                c.scalar(sa.select(sa.func.count()).select_from(table).where(self._mine(table)))
                or 0
            ),
        )

    def update(self, customer: Customer) -> None:
        uow = self._uow
        uow._check_writable()
        uow._check_customer(customer)
        table, contacts, keys = self._t.customers, self._t.contacts, self._t.contact_keys
        bulk_insert = self._uow._store.bulk_insert

        def update(connection: Connection) -> None:
            row = customer_row(self._tenant, customer, customer.version + 1)
            people = contact_values(self._tenant, customer)
            reach = contact_key_values(self._tenant, customer)
            try:
                done = connection.execute(
                    table.update()
                    .where(
                        self._mine(table),
                        table.c.id == customer.id,
                        table.c.version == customer.version,
                    )
                    .values({k: v for k, v in row.items() if k not in ("tenant_id", "id")})
                )
            except exc.IntegrityError as e:
                raise self._duplicate(e, [customer]) from e
            if done.rowcount != 1:
                raise ConcurrencyError("customer", customer.id, customer.version)
            # The contacts are replaced whole: the aggregate is the unit of change.
            for child in (keys, contacts):
                connection.execute(
                    child.delete().where(self._mine(child), child.c.customer_id == customer.id)
                )
            if people:
                try:
                    bulk_insert(contacts)(connection, people)
                except exc.IntegrityError as e:
                    raise DuplicateError("contact", "id", None) from e
            if reach:
                bulk_insert(keys)(connection, reach)

        with uow._writing("updating a customer"):
            self._run("updating a customer", update)
            uow._stamp(customer, customer.version + 1)

    def remove(self, customer: Customer) -> None:
        self._uow._check_writable()
        self._uow._check_removable(customer, Customer)
        t = self._t

        def remove(connection: Connection) -> None:
            done = connection.execute(
                t.customers.delete().where(
                    self._mine(t.customers),
                    t.customers.c.id == customer.id,
                    t.customers.c.version == customer.version,
                )
            )
            if done.rowcount != 1:
                raise ConcurrencyError("customer", customer.id, customer.version)
            # The foreign keys cascade, but a host's SQLite engine may not enforce them.
            for child in (t.contact_keys, t.contacts, t.interactions):
                connection.execute(
                    child.delete().where(self._mine(child), child.c.customer_id == customer.id)
                )

        self._write("removing a customer", remove)


class SqlInteractions(SqlRecords[Interaction]):
    """`InteractionRepository` on SQL tables: the core, and the timeline query."""

    def for_customer(
        self,
        customer_id: UUID,
        *,
        since: pendulum.DateTime | None = None,
        until: pendulum.DateTime | None = None,
    ) -> list[Interaction]:
        """See `InteractionRepository.for_customer`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        span = a_span(since, until)
        if span is None:
            return []
        since, until = span
        timelines = self._uow._store.interaction_queries().timeline
        query = timelines[since is not None, until is not None]
        params: dict[str, Any] = {"tenant": self._uow.tenant_id, "customer_id": customer_id}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        rows = self._run("loading a timeline", lambda c: query(c, params))
        return [self._from_row(r) for r in rows]
