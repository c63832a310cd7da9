"""The import and export file formats: their columns, how a cell holds a value, and rows.

Two formats carry the same columns: CSV (a header row, then one customer or contact per row;
UTF-8 with or without a byte order mark) and JSON Lines (one JSON object per line, where
lists are lists, the address may be an object and custom fields a ``custom`` object).

A CSV cell holds text, so some values are written in a way that keeps them exact:

- lists (tags, preferences, phones, emails, roles, opt-outs) are separated by ``|``
  (``vip|budget 100k+``); a list whose items hold a ``|`` is written as a JSON array;
- anniversaries and do-not-contact windows are JSON (as `crmkit.to_dict` writes them);
- quiet hours are ``21:00-08:00``;
- a custom field's cell is JSON when it is a number, ``true``/``false`` or a tagged value
  (``{"date": "2026-01-31"}``, ``{"decimal": "42"}``), and text otherwise: ``42`` is the
  integer 42, ``12.50`` the Decimal 12.50, ``Acme`` the text "Acme" and ``"42"`` the text "42".
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import json
import os
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import IO, Any

from crmkit._validation import shown
from crmkit.customers._custom_fields import CustomField, FieldType
from crmkit.customers._custom_values import custom_in, custom_out
from crmkit.customers._model import CustomValue
from crmkit.errors import ValidationError

__all__ = [
    "CONTACT_COLUMNS",
    "CUSTOM",
    "CUSTOMER_COLUMNS",
    "FileFormat",
]

CUSTOM = "custom."
"""The prefix of a custom field's column: ``custom.segment`` holds the field ``segment``."""


class FileFormat(enum.StrEnum):
    """The formats customers and contacts are imported from and exported to."""

    CSV = "csv"
    JSONL = "jsonl"


def format_of(file: object, given: str | None) -> FileFormat:
    """The format `given`, or else the one `file`'s name says (``.jsonl``, ``.ndjson``), or CSV.

    Raises:
        ValidationError: `given` is not a format (named ``format``).
    """
    if given is not None:
        try:
            return FileFormat(str(given))
        except ValueError:
            raise ValidationError.of(
                "format", f"{shown(given)} is not one of 'csv', 'jsonl'"
            ) from None
    name = str(file) if isinstance(file, str | os.PathLike) else str(getattr(file, "name", ""))
    return FileFormat.JSONL if name.endswith((".jsonl", ".ndjson")) else FileFormat.CSV


class Cell(enum.Enum):
    """How a column's value is written in a CSV cell."""

    TEXT = "text"  # as it is; an empty cell is no value
    LIST = "list"  # items separated by "|", or a JSON array
    JSON = "json"  # a JSON value
    QUIET = "quiet"  # quiet hours, 21:00-08:00


CUSTOMER_COLUMNS: Mapping[str, Cell] = {
    "id": Cell.TEXT,
    "external_id": Cell.TEXT,
    "name": Cell.TEXT,
    "kind": Cell.TEXT,
    "code": Cell.TEXT,
    "owner_id": Cell.TEXT,
    "lifecycle": Cell.TEXT,
    "source": Cell.TEXT,
    "tags": Cell.LIST,
    "timezone": Cell.TEXT,
    "birthday": Cell.TEXT,
    "street": Cell.TEXT,
    "city": Cell.TEXT,
    "region": Cell.TEXT,
    "postcode": Cell.TEXT,
    "country": Cell.TEXT,
    "tier": Cell.TEXT,
    "tier_service_level": Cell.TEXT,
    "preferences": Cell.LIST,
    "anniversaries": Cell.JSON,
    "do_not_contact": Cell.JSON,
}
"""The columns of a customers file, in the order an export writes them; then ``custom.*``."""

CONTACT_COLUMNS: Mapping[str, Cell] = {
    "customer_external_id": Cell.TEXT,
    "customer_id": Cell.TEXT,
    "id": Cell.TEXT,
    "external_id": Cell.TEXT,
    "name": Cell.TEXT,
    "title": Cell.TEXT,
    "phones": Cell.LIST,
    "emails": Cell.LIST,
    "roles": Cell.LIST,
    "reports_to": Cell.TEXT,
    "birthday": Cell.TEXT,
    "timezone": Cell.TEXT,
    "opt_outs": Cell.LIST,
    "quiet_hours": Cell.QUIET,
    "do_not_contact": Cell.JSON,
}
"""The columns of a contacts file, in the order an export writes them."""

ADDRESS = ("street", "city", "region", "postcode", "country")
"""The columns that make up a customer's address (an ``address`` object in JSON Lines)."""


# --- reading rows --------------------------------------------------------------------------------


def csv_rows(stream: IO[str]) -> Iterator[tuple[int, list[str] | dict[str, str]]]:
    """The header (row 1, a list) and then each row as a dict, numbered as a spreadsheet does.

    A row with more or fewer cells than the header raises `ValidationError` for that row only
    (the caller reports it and goes on); blank rows are skipped.
    """
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    header = [h.strip() for h in header]
    yield 1, header
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield number, {"": f"has {len(cells)} cells; the header has {len(header)}"}
            continue
        yield number, dict(zip(header, cells, strict=True))


def jsonl_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each line's object with its line number, or the problem with a line that is none."""
    for number, line in enumerate(stream, start=1):
        text = line.removeprefix("\ufeff") if number == 1 else line
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_float=Decimal)
        except ValueError as e:
            yield number, f"is not JSON ({e})"
            continue
        if not isinstance(value, dict):
            yield number, f"must be a JSON object, not {type(value).__name__}"
            continue
        yield number, value


# --- cells: text to the plain data `crmkit.from_dict` takes, and back ----------------------------


def list_in(value: object) -> object:
    """A list from a cell (``a|b``, or a JSON array); a list, or anything else, as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return [item.strip() for item in text.split("|") if item.strip()]


def list_out(items: list[str]) -> str:
    """A cell holding `items`: joined by ``|`` when that reads back the same, else JSON."""
    joined = "|".join(items)
    if list_in(joined) == items:
        return joined
    return json.dumps(items, ensure_ascii=False)


def json_in(value: object, empty: object) -> object:
    """A JSON cell's value (`empty` for an empty cell); values from JSON Lines as they are."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return empty
    try:
        return json.loads(value)
    except ValueError:
        raise ValidationError.of("", f"{shown(value)} is not JSON") from None


_QUIET = re.compile(r"\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*")


def quiet_hours_in(value: object) -> tuple[dt.time, dt.time] | None:
    """Quiet hours from ``21:00-08:00`` (``None`` for an empty cell)."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping) and set(value) == {"start", "end"}:
        value = f"{value['start']}-{value['end']}"
    found = _QUIET.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ValidationError.of("", f"{shown(value)} is not a span of hours such as '21:00-08:00'")
    try:
        start, end = (dt.time.fromisoformat(t.zfill(5)) for t in found.groups())
    except ValueError:
        raise ValidationError.of("", f"{shown(value)} holds a time of day that is none") from None
    return start, end


def quiet_hours_out(start: dt.time, end: dt.time) -> str:
    """Quiet hours as ``21:00-08:00``."""
    return f"{start:%H:%M}-{end:%H:%M}"


def custom_value_in(value: object, *, from_text: bool, declared: CustomField | None) -> CustomValue:
    """A custom field's value from a cell (`from_text`) or a JSON Lines value.

    A field the host declares (`declared`) takes text of its own type too: ``2026-01-31`` for a
    date field, ``12.50`` for a decimal field, and any text for a text or choice field.

    Raises:
        ValidationError: the value is none a custom field can hold.
    """
    raw = value
    if from_text and isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError:
            value = raw
        if value is None or isinstance(value, list | float):
            value = raw
    if declared is not None and isinstance(raw, str):
        value = _as_declared(raw, value, declared.type)
    if isinstance(value, Decimal | dt.date):
        return value
    return custom_in({"": value}, None)[""]


def _as_declared(raw: str, value: object, kind: FieldType) -> object:
    if kind in (FieldType.TEXT, FieldType.CHOICE):
        return raw if not isinstance(value, str) else value
    if isinstance(value, str):
        try:
            if kind is FieldType.DATE:
                return dt.date.fromisoformat(value.strip())
            if kind is FieldType.DECIMAL:
                return Decimal(value.strip())
        except (ValueError, ArithmeticError):
            pass
    return value


def custom_value_out(value: CustomValue) -> str:
    """A custom value's cell: plain when `custom_value_in` reads it back exactly, else JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | str):
        plain = str(value)
        back = custom_value_in(plain, from_text=True, declared=None)
        if plain and type(back) is type(value) and str(back) == plain:
            return plain
    return json.dumps(custom_out({"": value})[""], ensure_ascii=False)
