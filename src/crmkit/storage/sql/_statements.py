"""The statements crmkit runs most, prepared once per dialect.

SQLAlchemy's execution path does a lot per statement (an execution context, result metadata,
row objects, per-value type processing): more, for a lookup by key or a bulk load, than the
database itself does. The two classes here prepare a statement once per dialect instead, and
convert parameters and rows with one generated function each (as attrs and cattrs generate
theirs), using the same type processors SQLAlchemy would apply.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

__all__ = ["BulkInsert", "Select"]

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
    (psycopg) take the ordinary path, and so does every insert while someone watches the SQL
    (an echoing engine, SQLAlchemy's SQL log, a cursor-execute listener), as with `Select`.
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

    def __call__(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> int:
        """Insert `rows` (tuples in table column order), converting each on its way in.

        On the driver's own path the rows stream: each is converted as the driver asks for
        it, so a bulk write never holds a second list of every row (nor leaves one for the
        garbage collector to walk).

        Returns:
            how many rows were inserted.
        """
        if not self.positional:
            columns = self.columns
            named = [dict(zip(columns, row, strict=True)) for row in rows]
            if named:  # no rows would be one INSERT of the defaults
                connection.execute(self.table.insert(), named)
            return len(named)
        convert = self.convert
        if _watched(connection):
            converted = [convert(row) for row in rows]
            if converted:
                connection.exec_driver_sql(self.sql, converted)
            return len(converted)
        stream = iter(rows)
        first = next(stream, None)
        if first is None:
            return 0
        taken = [0]

        def counted(row: Sequence[Any]) -> tuple[Any, ...]:
            taken[0] += 1
            return convert(row)

        dialect = connection.dialect
        dbapi = dialect.loaded_dbapi
        try:
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(self.sql, map(counted, itertools.chain((first,), stream)))
            finally:
                cursor.close()
        except dbapi.Error as e:
            raise exc.DBAPIError.instance(self.sql, None, e, dbapi.Error, dialect=dialect) from e
        return taken[0]


def _watched(connection: Connection) -> bool:
    """Whether someone watches the SQL: then statements take SQLAlchemy's own path."""
    dispatch = connection.dispatch
    return bool(
        connection.engine.echo
        or _SQL_LOG.isEnabledFor(logging.INFO)
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
    )


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

    def __call__(self, connection: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows the query finds with `params`, each a dict by column name."""
        if not self.compiled_ahead or _watched(connection):
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
