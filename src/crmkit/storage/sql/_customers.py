"""The customers capability on SQL tables: the core's hooks, and the special queries.

Customers are stored with their contacts and contact keys as child rows.

Customers keep their fast paths: lookups run statements compiled once per store (`Select`),
bulk inserts go to the driver's ``executemany`` (`BulkInsert`), and a load that outgrows a
table refreshes its planner statistics (`PlannerStatistics`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from itertools import groupby
from typing import Any
from uuid import UUID

import pendulum
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit.customers import Customer, Interaction
from crmkit.errors import NotFound
from crmkit.storage._arguments import (
    a_key,
    a_limit,
    a_page,
    a_phone,
    an_email,
    an_id,
    external_keys,
)
from crmkit.storage._customers import timeline_span
from crmkit.storage._repository import STALE
from crmkit.storage.sql._customer_queries import customer_queries, interaction_queries
from crmkit.storage.sql._customer_rows import (
    CONTACT_COLUMNS,
    contact_key_values,
    contact_values,
    customer_from_rows,
    customer_row,
    customer_values,
)
from crmkit.storage.sql._records import SqlRecords, chunks

__all__ = ["SqlCustomers", "SqlInteractions"]


class SqlCustomers(SqlRecords[Customer]):
    """`CustomerRepository` on SQL tables."""

    def _written(self) -> list[sa.Table]:
        t = self._t
        return [t.customers, t.contacts, t.contact_keys]

    def _names(self, table: sa.Table, columns: list[str]) -> tuple[str, str]:
        if table is self._t.customers:
            return "customer", columns[-1]
        if table is self._t.contacts and columns[-1] == "external_id":
            return "contact", "external_id"
        # A contact's id (its row's, or its phone numbers' and emails'), taken by another.
        return "contact", "id"

    def _from_rows(self, row: Any, contacts: Any) -> Customer:  # noqa: ANN401
        return customer_from_rows(self._t.customers.name, row, contacts)

    def _many(self, connection: Connection, by: str, **params: Any) -> list[Customer]:  # noqa: ANN401
        customers_query, contacts_query = self._uow._store.prepared(customer_queries).many[by]
        params["tenant"] = self._uow.tenant_id
        rows = customers_query(connection, params)
        if not rows:
            return []
        by_customer: dict[UUID, list[dict[str, Any]]] = {}
        people = contacts_query(connection, params)
        for key, group in groupby(people, key=lambda p: p["customer_id"]):
            by_customer[key] = list(group)
        return [self._from_rows(r, by_customer.get(r["id"], ())) for r in rows]

    def _one(self, connection: Connection, by: str, **params: Any) -> Customer | None:  # noqa: ANN401
        # One customer: its row and its contacts' in one round trip (a LEFT JOIN), which saves
        # a query per lookup; lists of customers use _many's two queries instead, which do not
        # repeat the customer's columns on every contact's row.
        query = self._uow._store.prepared(customer_queries).one[by]
        params["tenant"] = self._uow.tenant_id
        rows = query(connection, params)
        if not rows:
            return None
        people = [
            {column: row[f"contact_{column}"] for column in CONTACT_COLUMNS}
            for row in rows
            if row["contact_id"] is not None
        ]
        return self._from_rows(rows[0], people)

    # --- the core's hooks ----------------------------------------------------------------------

    def _insert(self, batch: list[Customer]) -> None:
        tenant, t = self._uow.tenant_id, self._t
        store = self._uow._store
        connection = self._connection
        grew = store._statistics.grew
        # In chunks: the rows of a chunk (which hold UUIDs and dicts, tracked by the cyclic
        # garbage collector) die before the next is built, instead of 100,000 of them being
        # traversed by every collection while a large batch is converted. After each insert,
        # a table the load outgrew gets fresh planner statistics (PostgreSQL), before the
        # contacts' foreign-key checks look its customers up.
        # Within a chunk the rows stream: each is made as the driver takes it, and dies at once.
        for chunk in chunks(batch):
            for table, rows in (
                (t.customers, (customer_values(tenant, c, 1) for c in chunk)),
                (t.contacts, (row for c in chunk for row in contact_values(tenant, c))),
                (t.contact_keys, (row for c in chunk for row in contact_key_values(tenant, c))),
            ):
                try:
                    written = store.bulk_insert(table)(connection, rows)
                except exc.IntegrityError as e:
                    raise self._duplicate(e, batch, table) from e
                grew(connection, table, written)

    def _load(self, keys: list[UUID]) -> list[Customer]:
        if len(keys) == 1:
            found = self._one(self._connection, "id", id=keys[0])
            return [] if found is None else [found]
        loaded: list[Customer] = []
        for chunk in chunks(keys):
            loaded.extend(self._many(self._connection, "ids", ids=list(chunk)))
        return loaded

    def _lock(self, key: UUID) -> Customer | None:
        table = self._t.customers
        query = sa.select(table.c.id).where(self._mine(table), table.c.id == key)
        if self._connection.dialect.name != "sqlite":  # SQLite: the one writer already
            query = query.with_for_update()
        if self._connection.scalar(query) is None:
            return None
        # With its contacts. On MariaDB a plain read after an earlier one in the transaction sees
        # that read's snapshot: a stale version then fails the update's version check.
        return self._one(self._connection, "id", id=key)

    def _page(self, after: UUID | None, limit: int | None) -> list[Customer]:
        return self._page_where(sa.true(), after=after, limit=limit)

    def _page_where(
        self, where: sa.ColumnElement[bool], *, after: UUID | None, limit: int | None
    ) -> list[Customer]:
        """The customers matching `where` with ids after `after`, at most `limit`, in id order."""
        table = self._t.customers
        query = sa.select(table.c.id).where(self._mine(table), where).order_by(table.c.id)
        if after is not None:
            query = query.where(table.c.id > after)
        if limit is not None:
            query = query.limit(limit)
        found: list[Customer] = []
        # In chunks of ids, each loaded in id order: a large page stays under every backend's
        # limit on bound parameters.
        for chunk in chunks(self._connection.scalars(query).all()):
            found.extend(self._many(self._connection, "ids", ids=list(chunk)))
        return found

    def _update_if(self, obj: Customer, version: int) -> str | None:
        tenant, t = self._uow.tenant_id, self._t
        table, connection = t.customers, self._connection
        row = customer_row(tenant, obj, version + 1)
        try:
            done = connection.execute(
                table.update()
                .where(self._mine(table), table.c.id == obj.id, table.c.version == version)
                .values({k: v for k, v in row.items() if k not in ("tenant_id", "id")})
            )
        except exc.IntegrityError as e:
            raise self._duplicate(e, [obj], table) from e
        if done.rowcount != 1:
            return STALE
        # The contacts are replaced whole: the aggregate is the unit of change.
        for child in (t.contact_keys, t.contacts):
            connection.execute(
                child.delete().where(self._mine(child), child.c.customer_id == obj.id)
            )
        for child, rows in (
            (t.contacts, contact_values(tenant, obj)),
            (t.contact_keys, contact_key_values(tenant, obj)),
        ):
            if rows:
                try:
                    self._uow._store.bulk_insert(child)(connection, rows)
                except exc.IntegrityError as e:
                    raise self._duplicate(e, [obj], child) from e
        return None

    def _delete_if(self, key: UUID, version: int) -> bool:
        t = self._t
        if not super()._delete_if(key, version):
            return False
        # The foreign keys cascade, but a host's SQLite engine may not enforce them.
        for child in (t.contact_keys, t.contacts):
            self._connection.execute(
                child.delete().where(self._mine(child), child.c.customer_id == key)
            )
        return True

    # --- special queries -----------------------------------------------------------------------

    def by_code(self, code: str) -> Customer:
        """See `CustomerRepository.by_code`."""
        self._uow._check_open()
        a_key(code, "code")
        found = self._run("loading a customer", lambda c: self._one(c, "code", code=code))
        if found is None:
            raise NotFound("customer with code", code)
        return found

    def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        """See `CustomerRepository.by_external_ids`."""
        self._uow._check_open()
        wanted = external_keys(external_ids, "external_ids")
        return {
            c.external_id: c
            for c in self._by_chunks("external", wanted)
            if c.external_id is not None
        }

    def by_contact_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        """See `CustomerRepository.by_contact_external_ids`."""
        self._uow._check_open()
        wanted = external_keys(external_ids, "external_ids")
        asked = set(wanted)
        return {
            p.external_id: c
            for c in self._by_chunks("contact_external", wanted)
            for p in c.contacts
            if p.external_id in asked
        }

    def _by_chunks(self, by: str, values: list[str]) -> list[Customer]:
        """The customers `_many` finds `by` `values`, asked a chunk at a time."""
        found: list[Customer] = []
        for chunk in chunks(values):
            params: dict[str, Any] = {"by": by, by: list(chunk)}
            found.extend(self._run("loading customers", functools.partial(self._many, **params)))
        return found

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Customer]:
        """See `CustomerRepository.by_owner`."""
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        a_page(after, limit)
        if after is None and limit is None:
            return self._run("loading customers", lambda c: self._many(c, "owner", owner=owner_id))
        where = self._t.customers.c.owner_id == owner_id
        return self._run(
            "loading customers", lambda _: self._page_where(where, after=after, limit=limit)
        )

    def by_phone(self, phone: PhoneNumber | str) -> list[Customer]:
        """See `CustomerRepository.by_phone`."""
        self._uow._check_open()
        return self._by_contact_key("phone", a_phone(phone, "phone"))

    def by_email(self, email: EmailAddress | str) -> list[Customer]:
        """See `CustomerRepository.by_email`."""
        self._uow._check_open()
        return self._by_contact_key("email", an_email(email, "email"))

    def _by_contact_key(self, kind: str, value: str) -> list[Customer]:
        return self._run(
            "loading customers", lambda c: self._many(c, "key", kind=kind, value=value)
        )


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
        span = timeline_span(self._uow, customer_id, since, until)
        if span is None:
            return []
        since, until = span
        timelines = self._uow._store.prepared(interaction_queries).timeline
        query = timelines[since is not None, until is not None]
        params: dict[str, Any] = {"tenant": self._uow.tenant_id, "customer_id": customer_id}
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        rows = self._run("loading a timeline", lambda c: query(c, params))
        return [self._from_row(r) for r in rows]

    def recent(self, customer_id: UUID, *, limit: int = 20) -> list[Interaction]:
        """See `InteractionRepository.recent`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        a_limit(limit)
        table = self._table
        query = (
            self._select(table.c.customer_id == customer_id)
            .order_by(table.c.occurred_at.desc(), table.c.id.desc())
            .limit(limit)
        )
        rows = self._run("loading a timeline", lambda c: c.execute(query).mappings().all())
        return [self._from_row(r) for r in rows]
