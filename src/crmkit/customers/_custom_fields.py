"""Custom fields: the host app declares them, crmkit checks every value against the declaration."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal

import attrs

from crmkit._validation import (
    Validated,
    as_tuple,
    check,
    each,
    instance_of,
    key_text,
    shown,
    text,
)
from crmkit.customers._model import CustomValue, custom_value_problem
from crmkit.errors import Issue, ValidationError

__all__ = ["CustomField", "CustomFieldSchema", "FieldType"]


class FieldType(enum.StrEnum):
    """The type of a custom field's value."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    CHOICE = "choice"


_PYTHON_TYPES: Mapping[FieldType, tuple[type, ...]] = {
    FieldType.TEXT: (str,),
    FieldType.INTEGER: (int,),
    FieldType.DECIMAL: (Decimal, int),
    FieldType.BOOLEAN: (bool,),
    FieldType.DATE: (dt.date,),
    FieldType.CHOICE: (str,),
}


@attrs.frozen(kw_only=True)
class CustomField(Validated):
    """The declaration of one custom field.

    Attributes:
        name: the key the value is stored under (``"industry_segment"``).
        type: the type of its value.
        required: whether every customer must have a value.
        choices: for `FieldType.CHOICE`, the allowed values.
        label: how to show it to people (``"行业细分"``); defaults to the name.
    """

    name: str = attrs.field(metadata=check(key_text(max_length=64)))
    type: FieldType = attrs.field(metadata=check(instance_of(FieldType)))
    required: bool = attrs.field(default=False, metadata=check(instance_of(bool)))
    choices: tuple[str, ...] = attrs.field(
        default=(), converter=as_tuple, metadata=check(each(key_text(max_length=200)))
    )
    label: str = attrs.field(default="", metadata=check(text(max_length=200, blank=True)))

    def _invariants(self) -> list[Issue]:
        if self.type is FieldType.CHOICE and not self.choices:
            return [Issue("choices", "a choice field needs at least one choice")]
        if self.type is not FieldType.CHOICE and self.choices:
            return [Issue("choices", f"only choice fields have choices, not {self.type} fields")]
        return []

    def problem(self, value: CustomValue) -> str | None:
        """What is wrong with `value` for this field, or ``None`` if it is acceptable."""
        expected = _PYTHON_TYPES[self.type]
        if isinstance(value, bool) != (self.type is FieldType.BOOLEAN) or not isinstance(
            value, expected
        ):
            return f"must be a {self.type} value, not {type(value).__name__}"
        if self.type is FieldType.CHOICE and value not in self.choices:
            return f"{shown(value)} is not one of {', '.join(map(repr, self.choices))}"
        return custom_value_problem(value)


@attrs.frozen
class CustomFieldSchema:
    """The custom fields a host app declares for its customers.

    Examples:
        >>> schema = CustomFieldSchema([
        ...     CustomField(name="segment", type=FieldType.CHOICE, choices=("SME", "enterprise")),
        ...     CustomField(name="budget_100k_plus", type=FieldType.BOOLEAN, required=True),
        ... ])
        >>> [str(i) for i in schema.issues({"segment": "startup"})]
        ["segment: 'startup' is not one of 'SME', 'enterprise'", 'budget_100k_plus: is required']
    """

    fields: tuple[CustomField, ...] = attrs.field(converter=as_tuple)

    @fields.validator
    def _unique(self, _: object, fields: object) -> None:
        problem = each(instance_of(CustomField))(fields)
        if problem:
            raise ValidationError(
                [Issue("fields", problem)]
                if isinstance(problem, str)
                else [i.under("fields") for i in problem]
            )
        names = [f.name for f in fields]  # type: ignore[attr-defined]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError.of("fields", f"{dupes[0]!r} is declared twice")

    def issues(self, values: Mapping[str, CustomValue], *, path: str = "") -> list[Issue]:
        """Every problem with `values` under this schema (unknown, missing or mistyped fields)."""
        if not isinstance(path, str):
            raise ValidationError.of("path", f"must be a string, not {type(path).__name__}")
        if not isinstance(values, Mapping):
            raise ValidationError.of("values", f"must be a dict, not {type(values).__name__}")
        by_name = {f.name: f for f in self.fields}
        found: list[Issue] = []
        for name, value in values.items():
            declared = by_name.get(name)
            problem = (
                "is not a declared custom field" if declared is None else declared.problem(value)
            )
            if problem:
                found.append(Issue(name, problem).under(path))
        found.extend(
            Issue(f.name, "is required").under(path)
            for f in self.fields
            if f.required and f.name not in values
        )
        return found
