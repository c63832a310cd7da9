"""Column types that behave the same on SQLite, PostgreSQL and MariaDB/MySQL.

Each difference between backends is handled here once, so no repository repeats it:

- `Id`: a UUID, native ``uuid`` on PostgreSQL, 16 bytes elsewhere (key order = creation order
  for UUIDv7).
- `Instant`: a UTC instant. Naive datetimes are refused; PostgreSQL keeps ``timestamptz``,
  MariaDB/MySQL ``DATETIME(6)`` (microseconds kept) and SQLite text, both in UTC. It reaches
  the driver as a plain ``datetime``: psycopg converts pendulum's through floats, which moves
  instants far from 1970 by a microsecond.
- `Document`: JSON, ``jsonb`` on PostgreSQL and compact JSON text elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pendulum
from sqlalchemy import DateTime, Dialect, LargeBinary, Text, types
from sqlalchemy.dialects import mysql, postgresql

from crmkit._json import dumps_sorted

__all__ = ["Document", "Encoded", "Id", "Instant"]


class Id(types.TypeDecorator[UUID]):
    """A UUID: native on PostgreSQL, 16 raw bytes on SQLite and MariaDB/MySQL."""

    impl = LargeBinary(16)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.BINARY(16))
        return dialect.type_descriptor(LargeBinary(16))

    def process_bind_param(self, value: UUID | None, dialect: Dialect) -> Any:  # noqa: ANN401
        if value is None or dialect.name == "postgresql":
            return value
        return value.bytes

    def fast_bind(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The conversion for bulk loads: the same as `process_bind_param`, minus the layers."""
        if dialect.name == "postgresql":
            return None
        return lambda value: None if value is None else value.bytes

    def process_result_value(self, value: Any, dialect: Dialect) -> UUID | None:  # noqa: ANN401, ARG002
        if value is None or isinstance(value, UUID):
            return value
        return UUID(bytes=bytes(value))


_UTC = pendulum.UTC


class Instant(types.TypeDecorator[pendulum.DateTime]):
    """A time-zone-aware instant, stored in UTC; loads as a pendulum ``DateTime`` in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:  # noqa: ANN401
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} cannot be stored; give it a time zone"
            raise ValueError(msg)
        utc = value.astimezone(dt.UTC)
        # A plain datetime, never pendulum's: psycopg subtracts an epoch from what it is given,
        # and pendulum's difference goes through floats, a microsecond off far from 1970.
        return dt.datetime(
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
            tzinfo=dt.UTC if dialect.name == "postgresql" else None,
        )

    def fast_bind(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The conversion for bulk loads: `process_bind_param` and the driver type's own.

        Rows of one bulk write often share one instant (a change log's time, an outbox's due
        time): the last instant converted is remembered, by identity, and its value reused.
        """
        process = self.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            return None
        # One tuple, read and replaced whole: threads sharing the statement never mix a pair.
        last: list[tuple[Any, Any]] = [(None, None)]

        def convert(value: dt.datetime | None) -> Any:  # noqa: ANN401
            if value is None:
                return None
            seen, converted = last[0]
            if value is seen:
                return converted
            converted = process(value)
            last[0] = (value, converted)
            return converted

        return convert

    def process_result_value(self, value: Any, dialect: Dialect) -> pendulum.DateTime | None:  # noqa: ANN401, ARG002
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return pendulum.DateTime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=_UTC,
        )


_encode = dumps_sorted


class Encoded(str):
    """A document's JSON text, already encoded as `Document` would: stored as it is.

    Only where the database keeps documents as text; PostgreSQL's ``jsonb`` takes the data.
    """

    __slots__ = ()


class Document(types.TypeDecorator[Any]):
    """A JSON document: ``jsonb`` on PostgreSQL, compact JSON text elsewhere.

    crmkit encodes the text itself (compact, keys sorted, UTF-8 kept as is) rather than through
    SQLAlchemy's JSON type, which costs more per row than the database does on bulk loads.
    """

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:  # noqa: ANN401
        if value is None or dialect.name == "postgresql" or type(value) is Encoded:
            return value
        return _encode(value)

    def fast_bind(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The conversion for bulk loads: the same as `process_bind_param`, minus the layers."""
        if dialect.name == "postgresql":
            return self.dialect_impl(dialect).bind_processor(dialect)
        return lambda value: value if value is None or type(value) is Encoded else _encode(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:  # noqa: ANN401
        if value is None or dialect.name == "postgresql":
            return value
        return json.loads(value)
