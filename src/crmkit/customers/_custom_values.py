"""Custom field values in plain data: tagged, so that Decimal and date come back as they were.

``{"decimal": "1.50"}`` and ``{"date": "2026-01-31"}``; strings, integers and booleans as they
are. `configure_converter` adds these hooks to a converter; the composition root registers it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import cattrs

from crmkit._converter import _date_in, _fail, _key_path, _kind
from crmkit._money import _to_decimal
from crmkit.customers._model import CustomValue
from crmkit.errors import Issue, ValidationError

__all__ = ["configure_converter", "custom_in", "custom_out"]

_CUSTOM_VALUES = dict[str, CustomValue]


def custom_out(values: Mapping[str, CustomValue]) -> dict[str, object]:
    """`values` as plain data."""
    out: dict[str, object] = {}
    for name, value in values.items():
        if isinstance(value, Decimal):
            out[name] = {"decimal": str(value)}
        elif isinstance(value, dt.date):
            out[name] = {"date": value.isoformat()}
        else:
            out[name] = value
    return out


def custom_in(data: object, _: object) -> dict[str, CustomValue]:
    """Custom field values from plain data, every problem reported with its name."""
    if not isinstance(data, Mapping):
        _fail(f"must be an object, not {_kind(data)}")
    out: dict[str, CustomValue] = {}
    found: list[Issue] = []
    for name, value in data.items():
        try:
            out[name] = _custom_value(value)
        except ValidationError as e:
            found.extend(e.under(_key_path(name)).issues)
    if found:
        raise ValidationError(found)
    return out


def _custom_value(value: object) -> CustomValue:
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "decimal":
            return _to_decimal(raw, "decimal")
        if tag == "date":
            try:
                return _date_in(raw, None)
            except ValidationError as e:
                raise e.under("date") from None
    raise ValidationError.of(
        "",
        f"{_kind(value)} is not a custom field value "
        '(a string, an integer, a boolean, {"decimal": "1.50"} or {"date": "2026-01-31"})',
    )


def configure_converter(conv: cattrs.Converter) -> None:
    """Add the custom field values' hooks to `conv`."""
    conv.register_unstructure_hook_func(lambda t: t == _CUSTOM_VALUES, custom_out)
    conv.register_structure_hook_func(lambda t: t == _CUSTOM_VALUES, custom_in)
