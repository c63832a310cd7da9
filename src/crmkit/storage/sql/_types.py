"""Column types that behave the same on SQLite, PostgreSQL and MariaDB/MySQL.

Each difference between backends is handled here once, so no repository repeats it:

- `Id`: a UUID, native ``uuid`` on PostgreSQL, 16 bytes elsewhere (key order = creation order
  for UUIDv7).
- `Instant`: a UTC instant. Naive datetimes are refused; PostgreSQL keeps ``timestamptz``,
  MariaDB/MySQL ``DATETIME(6)`` (microseconds kept) and SQLite text, both in UTC. It reaches
  the driver as a plain ``datetime``: psycopg converts pendulum's through floats, which moves
  instants far from 1970 by a microsecond.
- `Amount`: an exact amount of money, ``NUMERIC(38, 4)`` on the servers; on SQLite, which has
  no exact decimal type, an integer count of ten-thousandths (so that ``SUM`` is exact), or
  the count's digits as bytes when it outgrows 64 bits.
- `Document`: JSON, ``jsonb`` on PostgreSQL and compact JSON text elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any
from uuid import UUID

import pendulum
from sqlalchemy import BigInteger, DateTime, Dialect, LargeBinary, Numeric, Text, types
from sqlalchemy.dialects import mysql, postgresql

from crmkit._json import dumps_sorted

__all__ = ["AMOUNT_SCALE", "Amount", "Document", "Encoded", "Id", "Instant"]


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


AMOUNT_SCALE = 4
"""The decimal places an `Amount` column keeps: the most any currency has."""

_INT64 = 2**63
_WIDE = Context(prec=80)


class _Decimal(Numeric[Decimal]):
    """``NUMERIC`` whose values the drivers (psycopg, PyMySQL) take and return as `Decimal`.

    Used as it is, not adapted to the dialect's own numeric type, whose result processor
    depends on the column type a cursor reports (which a statement compiled ahead lacks).
    """

    def adapt(self, cls: Any, **kw: Any) -> Any:  # noqa: ANN401
        del cls, kw  # never the dialect's own numeric type: a copy of this one
        return _Decimal(self.precision, self.scale, asdecimal=True)

    def bind_processor(self, dialect: Dialect) -> None:
        del dialect  # the drivers take a Decimal as it is (never through a float)

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        del dialect, coltype


class Amount(types.TypeDecorator[Decimal]):
    """An exact amount of money (up to 34 digits before the point and 4 after).

    ``NUMERIC(38, 4)`` on PostgreSQL and MariaDB/MySQL. SQLite has no exact decimal type: there
    the column holds the amount in ten-thousandths as an integer, which ``SUM`` adds exactly
    (raising on overflow rather than rounding), and an amount whose count outgrows 64 bits as
    the count's digits in bytes, which SQLite stores as they are (a query summing amounts
    adds only ``typeof(amount) = 'integer'`` values in SQL and the rest exactly in Python).
    """

    impl = Numeric(38, AMOUNT_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return _Decimal(38, AMOUNT_SCALE, asdecimal=True)

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:  # noqa: ANN401
        if value is None or dialect.name != "sqlite":
            return value
        return to_units(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:  # noqa: ANN401
        if value is None or dialect.name != "sqlite":
            found: Decimal | None = value
            return found
        return from_units(value)


def to_units(amount: Decimal) -> int | bytes:
    """An amount as SQLite's `Amount` column holds it: ten-thousandths, or their digits."""
    scaled = amount.scaleb(AMOUNT_SCALE, _WIDE)
    if scaled != scaled.to_integral_value(context=_WIDE):
        msg = f"{amount} has more than {AMOUNT_SCALE} decimal places"
        raise ValueError(msg)
    units = int(scaled)
    return units if -_INT64 <= units < _INT64 else str(units).encode()


def from_units(value: int | bytes) -> Decimal:
    """The amount SQLite's `Amount` column holds as `value` (see `to_units`)."""
    units = int(value) if isinstance(value, int) else int(bytes(value).decode())
    return Decimal(units).scaleb(-AMOUNT_SCALE, _WIDE)


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
