"""Exact sums of `Amount` columns per group, on every backend: one place for the SQLite case.

On the servers ``SUM`` of ``NUMERIC`` is exact. SQLite has no exact decimal: an `Amount` there is
an integer of ten-thousandths, or the digits of a larger one as bytes (see
`crmkit.storage.sql._types.Amount`). SQL sums the integers (SQLite raises rather than round on
overflow) and Python the rest; on overflow every row is read and summed in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from crmkit.storage.sql._types import from_units

__all__ = ["Term", "exact_sums", "is_overflow"]

_EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, Overflow])

Term = tuple[int, sa.ColumnElement[Any]]
"""A signed column of a row's value: ``(1, amount)``, ``(-1, settled)``."""


def _signed(terms: Sequence[Term]) -> sa.ColumnElement[Any]:
    (first_sign, value), *rest = terms
    if first_sign < 0:
        value = -value
    for sign, column in rest:
        value = value + column if sign > 0 else value - column
    return value


def is_overflow(error: exc.OperationalError) -> bool:
    """Whether SQLite refused a SUM of integers that outgrew 64 bits."""
    return "integer overflow" in str(error.orig)


def exact_sums(
    c: sa.Connection,
    terms: Sequence[Term],
    groups: Sequence[sa.ColumnElement[Any]],
    source: sa.FromClause,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> dict[tuple[Any, ...], tuple[int, Decimal]]:
    """Per group of the rows of `source` matching `where`: how many, and their terms' sum.

    Each row's value is the sum of its signed `terms` (``amount - settled - written_off``, say).

    On the servers ``SUM`` of the ``NUMERIC`` columns is exact. On SQLite, SQL sums the rows
    whose terms all hold integers (SQLite raises rather than round on overflow, and a term of
    one row never overflows: a balance is less than its amount), Python the rows with a term
    held as bytes; on overflow every row is read and summed in Python.
    """
    if c.dialect.name != "sqlite":
        query = (
            sa.select(*groups, sa.func.count(), sa.func.sum(_signed(terms)))
            .select_from(source)
            .where(*where)
            .group_by(*groups)
        )
        return {
            tuple(r[:-2]): (int(r[-2]), Decimal(0) if r[-1] is None else Decimal(r[-1]))
            for r in c.execute(query)
        }
    narrow = sa.and_(*(sa.func.typeof(column) == "integer" for _, column in terms))
    units = _signed([(sign, sa.type_coerce(column, sa.BigInteger)) for sign, column in terms])
    query = (
        sa.select(
            *groups,
            sa.func.count(),
            sa.type_coerce(sa.func.sum(sa.case((narrow, units))), sa.BigInteger),
            sa.func.sum(sa.case((narrow, 0), else_=1)),
        )
        .select_from(source)
        .where(*where)
        .group_by(*groups)
    )
    try:
        rows = c.execute(query).all()
    except exc.OperationalError as e:
        if not is_overflow(e):
            raise
        return _summed_in_python(c, terms, groups, source, where)
    found = {
        tuple(r[:-3]): (int(r[-3]), Decimal(0) if r[-2] is None else from_units(r[-2]))
        for r in rows
    }
    if any(r[-1] for r in rows):
        wide = _summed_in_python(c, terms, groups, source, [*where, sa.not_(narrow)])
        for key, (_, total) in wide.items():
            n, before = found[key]
            found[key] = (n, _EXACT.add(before, total))
    return found


def _summed_in_python(
    c: sa.Connection,
    terms: Sequence[Term],
    groups: Sequence[sa.ColumnElement[Any]],
    source: sa.FromClause,
    where: Sequence[sa.ColumnElement[bool]],
) -> dict[tuple[Any, ...], tuple[int, Decimal]]:
    found: dict[tuple[Any, ...], tuple[int, Decimal]] = {}
    width = len(groups)
    query = sa.select(*groups, *(column for _, column in terms)).select_from(source).where(*where)
    for row in c.execute(query):
        key = tuple(row[:width])
        n, total = found.get(key, (0, Decimal(0)))
        for (sign, _), value in zip(terms, row[width:], strict=True):
            total = _EXACT.add(total, value) if sign > 0 else _EXACT.subtract(total, value)
        found[key] = (n + 1, total)
    return found
