"""The statements crmkit runs most, prepared once per dialect.

SQLAlchemy's execution path does a lot per statement (an execution context, result metadata,
row objects, per-value type processing): more, for a lookup by key or a bulk load, than the
database itself does. The two classes here prepare a statement once per dialect instead, and
convert parameters and rows with one generated function each (as attrs and cattrs generate
theirs), using the same type processors SQLAlchemy would apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from crmkit.storage.sql._tables import Tables

__all__ = [
    "BulkInsert",
    "CustomerQueries",
    "InteractionQueries",
    "Select",
    "customer_queries",
    "interaction_queries",
]

_SQL_LOG = logging.getLogger("sqlalchemy.engine.Engine")


def _generate(name: str, expression: str, namespace: dict[str, Any]) -> Callable[[Any], Any]:
    """A function of ``row`` returning `expression`, compiled from source."""
    source = f"def convert(row):\n    return {expression}\n"
    exec(compile(source, f"<crmkit {name}>", "exec"), namespace)  # noqa: S102 (source built from column positions and names only)
    convert: Callable[[Any], Any] = namespace["convert"]
    return convert


class BulkInsert:
    """An INSERT of many rows handed straight to the driver's ``executemany``.

    SQLAlchemy's own executemany path converts every row through several layers; for bulk
    loads that costs more than the database does. Here the statement is compiled once per
    dialect, rows come as tuples in table column order, and only the columns whose type needs
    it are converted (crmkit's types offer a direct `fast_bind`; others use their bind
    processor, the conversion SQLAlchemy itself would apply). The per-row conversion is one
    generated function, as attrs and cattrs generate theirs. Dialects with named parameters
    (psycopg) take the ordinary path.
    """

    def __init__(self, table: sa.Table, dialect: sa.Dialect) -> None:
        compiled = table.insert().compile(dialect=dialect)
        self.table = table
        self.sql = compiled.string
        columns = [c.name for c in table.columns]
        self.positional = bool(compiled.positional) and list(compiled.positiontup or ()) == columns
        self.columns = columns
        converters: dict[str, Callable[[Any], Any]] = {}
        values = []
        for i, column in enumerate(table.columns):
            fast = getattr(column.type, "fast_bind", None)
            convert = (
                fast(dialect)
                if fast is not None
                else column.type.dialect_impl(dialect).bind_processor(dialect)
            )
            if convert is None:
                values.append(f"row[{i}]")
            else:
                converters[f"convert_{i}"] = convert
                values.append(f"convert_{i}(row[{i}])")
        self.convert: Callable[[Sequence[Any]], tuple[Any, ...]] = _generate(
            f"bulk insert {table.name}", f"({', '.join(values)},)", converters
        )

    def __call__(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not self.positional:
            columns = self.columns
            connection.execute(
                self.table.insert(), [dict(zip(columns, row, strict=True)) for row in rows]
            )
            return
        convert = self.convert
        connection.exec_driver_sql(self.sql, [convert(row) for row in rows])


class Select:
    """A SELECT compiled once for a dialect, run on the driver's cursor when nobody listens.

    A lookup by key spends most of its time in SQLAlchemy's execution path, not in the
    database. This runs the compiled SQL with the driver's own ``cursor.execute``, on the same
    connection and in the same transaction, and converts the parameters and each row (to a
    dict by column name) with the type processors SQLAlchemy would apply. Driver errors become
    SQLAlchemy's ``DBAPIError``, as they would through ``Connection.execute``.

    Hosts that watch the SQL keep seeing every statement: when the engine echoes, SQLAlchemy's
    SQL log is on, or a ``before_cursor_execute`` / ``after_cursor_execute`` listener is
    registered (tracing, metrics), the query goes through ``Connection.execute`` as usual; so
    does a query whose parameters expand when run (``IN`` over a list).
    """

    def __init__(self, query: sa.Select[Any], dialect: sa.Dialect) -> None:
        self.query = query
        self.dialect = dialect
        compiled = query.compile(dialect=dialect)
        self.sql = compiled.string
        binds = compiled.binds
        self.compiled_ahead = not any(b.expanding for b in binds.values())
        converters: dict[str, Callable[[Any], Any]] = {}

        def value(name: str) -> str:
            process = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is None:
                return f"row[{name!r}]"
            converters[f"bind_{name}"] = process
            return f"bind_{name}(row[{name!r}])"

        if compiled.positional:
            names = list(compiled.positiontup or ())
            expression = f"({''.join(value(n) + ', ' for n in names)})"
        else:
            expression = "{" + ", ".join(f"{n!r}: {value(n)}" for n in binds) + "}"
        self.params = _generate("select parameters", expression, converters)

        columns = []
        for i, column in enumerate(query.selected_columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is None:
                columns.append(f"{column.key!r}: row[{i}]")
            else:
                converters[f"result_{i}"] = process
                columns.append(f"{column.key!r}: result_{i}(row[{i}])")
        self.row = _generate("select row", "{" + ", ".join(columns) + "}", converters)

    def _watched(self, connection: Connection) -> bool:
        dispatch = connection.dispatch
        return bool(
            connection.engine.echo
            or _SQL_LOG.isEnabledFor(logging.INFO)
            or dispatch.before_cursor_execute
            or dispatch.after_cursor_execute
        )

    def __call__(self, connection: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows the query finds with `params`, each a dict by column name."""
        if not self.compiled_ahead or self._watched(connection):
            return [dict(r) for r in connection.execute(self.query, params).mappings()]
        args = self.params(params)
        dbapi = self.dialect.loaded_dbapi
        try:
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(self.sql, args)
                found = cursor.fetchall()
            finally:
                cursor.close()
        except dbapi.Error as e:
            raise exc.DBAPIError.instance(
                self.sql, args, e, dbapi.Error, dialect=self.dialect
            ) from e
        convert = self.row
        return [convert(r) for r in found]


@attrs.frozen
class CustomerQueries:
    """The statements that load customers, each scoped to the tenant.

    They are built and compiled once per store with bound parameters (``:tenant`` and the key),
    so a lookup neither builds nor compiles SQL.

    Attributes:
        many: by ``ids``, ``owner`` or contact ``key`` (``kind`` and ``value``): the customers'
            rows, and their contacts' rows.
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
        "code": customers.c.code == sa.bindparam("code"),
        "owner": customers.c.owner_id == sa.bindparam("owner"),
    }
    many = {}
    for by in ("ids", "owner", "key"):
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
