"""The statements that load customers and interactions, compiled once per store (`Select`)."""

from __future__ import annotations

import attrs
import sqlalchemy as sa

from crmkit.storage.sql._statements import Select
from crmkit.storage.sql._tables import Tables

__all__ = ["CustomerQueries", "InteractionQueries", "customer_queries", "interaction_queries"]


@attrs.frozen
class CustomerQueries:
    """The statements that load customers, each scoped to the tenant.

    They are built and compiled once per store with bound parameters (``:tenant`` and the key),
    so a lookup neither builds nor compiles SQL.

    Attributes:
        many: by ``ids``, ``owner``, contact ``key`` (``kind`` and ``value``), ``external``
            ids or ``contact_external`` ids: the customers' rows, and their contacts' rows.
        one: by ``id`` or ``code``: one customer's row joined with its contacts' rows (one
            round trip; the contacts' columns are labelled ``contact_*``).
    """

    many: dict[str, tuple[Select, Select]]
    one: dict[str, Select]


def customer_queries(t: Tables, dialect: sa.Dialect) -> CustomerQueries:
    """Build the `CustomerQueries` of the tables `t` for `dialect`."""
    customers, contacts, keys = t.customers, t.contacts, t.contact_keys
    tenant: sa.BindParameter[str] = sa.bindparam("tenant")
    filters = {
        "key": customers.c.id.in_(
            sa.select(keys.c.customer_id).where(
                keys.c.tenant_id == tenant,
                keys.c.kind == sa.bindparam("kind"),
                keys.c.value == sa.bindparam("value"),
            )
        ),
        "id": customers.c.id == sa.bindparam("id"),
        "ids": customers.c.id.in_(sa.bindparam("ids", expanding=True)),
        "external": customers.c.external_id.in_(sa.bindparam("external", expanding=True)),
        "contact_external": customers.c.id.in_(
            sa.select(contacts.c.customer_id).where(
                contacts.c.tenant_id == tenant,
                contacts.c.external_id.in_(sa.bindparam("contact_external", expanding=True)),
            )
        ),
        "code": customers.c.code == sa.bindparam("code"),
        "owner": customers.c.owner_id == sa.bindparam("owner"),
    }
    many = {}
    for by in ("ids", "owner", "key", "external", "contact_external"):
        where = filters[by]
        rows = (
            sa.select(customers)
            .where(customers.c.tenant_id == tenant, where)
            .order_by(customers.c.id)
        )
        if by == "ids":
            whose = contacts.c.customer_id.in_(sa.bindparam("ids", expanding=True))
        else:
            whose = contacts.c.customer_id.in_(
                sa.select(customers.c.id).where(customers.c.tenant_id == tenant, where)
            )
        people = (
            sa.select(contacts)
            .where(contacts.c.tenant_id == tenant, whose)
            .order_by(contacts.c.customer_id, contacts.c.position)
        )
        many[by] = (Select(rows, dialect), Select(people, dialect))
    joined = customers.outerjoin(
        contacts,
        sa.and_(
            contacts.c.tenant_id == customers.c.tenant_id,
            contacts.c.customer_id == customers.c.id,
        ),
    )
    contact_columns = [c.label(f"contact_{c.name}") for c in contacts.columns]
    one = {
        by: Select(
            sa.select(customers, *contact_columns)
            .select_from(joined)
            .where(customers.c.tenant_id == tenant, filters[by])
            .order_by(contacts.c.position),
            dialect,
        )
        for by in ("id", "code")
    }
    return CustomerQueries(many=many, one=one)


@attrs.frozen
class InteractionQueries:
    """The statements that load interactions, each scoped to the tenant.

    Attributes:
        one: by ``id``.
        timeline: a customer's timeline (``customer_id``), oldest first, keyed by whether it
            starts at ``since`` and whether it ends before ``until``.
    """

    one: Select
    timeline: dict[tuple[bool, bool], Select]


def interaction_queries(t: Tables, dialect: sa.Dialect) -> InteractionQueries:
    """Build the `InteractionQueries` of the tables `t` for `dialect`."""
    table = t.interactions
    mine = table.c.tenant_id == sa.bindparam("tenant")
    one = Select(sa.select(table).where(mine, table.c.id == sa.bindparam("id")), dialect)
    timeline = {}
    for since in (False, True):
        for until in (False, True):
            query = sa.select(table).where(mine, table.c.customer_id == sa.bindparam("customer_id"))
            if since:
                query = query.where(table.c.occurred_at >= sa.bindparam("since"))
            if until:
                query = query.where(table.c.occurred_at < sa.bindparam("until"))
            query = query.order_by(table.c.occurred_at, table.c.id)
            timeline[since, until] = Select(query, dialect)
    return InteractionQueries(one=one, timeline=timeline)
