"""The fast paths of a write give exactly what the plain paths give.

`crmkit._json` writes JSON with orjson, falling back to the standard library; the bulk insert's
`fast_bind` conversions skip SQLAlchemy's layers. Both must be invisible: the same text, the
same bound values, on every dialect.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any
from uuid import UUID

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql, postgresql, sqlite

from crmkit import to_dict
from crmkit._json import dumps, dumps_sorted
from crmkit.errors import ValidationError
from crmkit.storage.sql._types import Document, Encoded, Id, Instant

# Text as crmkit accepts it: any Unicode but lone surrogates (refused before writing).
text = st.text(st.characters(exclude_categories=["Cs"]))
scalars = st.none() | st.booleans() | st.integers() | text
plain = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@given(plain)
def test_dumps_writes_what_the_standard_library_writes(data: Any) -> None:
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    assert dumps(data) == expected
    assert json.loads(dumps(data)) == data


@given(plain)
def test_dumps_sorted_writes_what_the_standard_library_writes_with_sorted_keys(data: Any) -> None:
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    assert dumps_sorted(data) == expected


@pytest.mark.parametrize("data", [2**64, -(2**63) - 1, 10**40, {"n": [2**100]}, {1: "a"}])
def test_what_orjson_refuses_the_standard_library_writes(data: Any) -> None:
    assert dumps(data) == json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("data", [{1, 2}, object(), {"a": {"b": b"bytes"}}])
def test_what_is_not_json_is_refused(data: Any) -> None:
    with pytest.raises(TypeError):
        dumps(data)
    with pytest.raises(TypeError):
        dumps_sorted(data)


@attrs.frozen
class _Reading:
    value: float


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_float_with_no_json_form_never_reaches_the_json_writer(value: float) -> None:
    # orjson would write it as null: the converter refuses it first, naming the field.
    with pytest.raises(
        ValidationError, match="value: a _Reading cannot be plain data: must be a finite number"
    ):
        to_dict(_Reading(value))
    assert to_dict(_Reading(0.5)) == {"value": 0.5}


DIALECTS = [sqlite.dialect(), postgresql.psycopg.dialect(), mysql.pymysql.dialect()]  # type: ignore[no-untyped-call]
instants = st.datetimes(
    min_value=dt.datetime(1000, 1, 1),
    max_value=dt.datetime(9999, 12, 30),
    timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=8)), pendulum.UTC]),
).map(lambda d: d.astimezone(dt.UTC))


def _plain_bind(column_type: Any, dialect: Any) -> Any:
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return (lambda v: v) if process is None else process


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@given(values=st.lists(st.none() | instants, max_size=6))
def test_an_instants_fast_bind_gives_the_plain_binds_value(dialect: Any, values: list[Any]) -> None:
    fast = Instant().fast_bind(dialect)
    plain_bind = _plain_bind(Instant(), dialect)
    assert fast is not None
    # Twice over, so the remembered last instant is reused as well as computed.
    for value in values + values:
        assert fast(value) == plain_bind(value)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@given(values=st.lists(st.none() | st.uuids(), max_size=4))
def test_an_ids_fast_bind_gives_the_plain_binds_value(dialect: Any, values: list[UUID]) -> None:
    fast = Id().fast_bind(dialect) or (lambda v: v)
    plain_bind = _plain_bind(Id(), dialect)
    for value in values:
        assert fast(value) == plain_bind(value)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@given(st.none() | st.dictionaries(text, plain, max_size=4))
def test_a_documents_fast_bind_gives_the_plain_binds_value(dialect: Any, value: Any) -> None:
    fast = Document().fast_bind(dialect) or (lambda v: v)
    plain_bind = _plain_bind(Document(), dialect)
    bound, expected = fast(value), plain_bind(value)
    if dialect.name == "postgresql":  # psycopg's Jsonb wrappers compare by identity
        bound, expected = bound.obj, expected.obj
    assert bound == expected
    if value is not None and dialect.name != "postgresql":
        assert fast(Encoded(dumps_sorted(value))) == bound
