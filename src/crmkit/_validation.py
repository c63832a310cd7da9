"""How domain objects check themselves: every bad field is reported, not just the first.

A field declares its check in its metadata (``attrs.field(metadata=check(...))``). A check takes
the value and returns ``None`` when it is fine, a problem in words, or a list of `Issue` for parts
of the value (``[2]`` of a list). `Validated` runs every check after ``__init__`` and then the
object's cross-field ``_invariants``, and raises one `ValidationError` naming all of them.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from crmkit.errors import Issue, ValidationError

__all__ = [
    "INT64",
    "ON_SETATTR",
    "Check",
    "SimpleCheck",
    "Validated",
    "as_frozenset",
    "as_list",
    "as_tuple",
    "bounded_int",
    "check",
    "check_assignment",
    "each",
    "issues_of",
    "key_text",
    "optional",
    "recheck",
    "shown",
    "text",
]

Check = Callable[[Any], "str | Sequence[Issue] | None"]
"""A check: the problem with a value in words, issues for parts of it, or None when it is fine."""
SimpleCheck = Callable[[Any], "str | None"]
"""A check of a single value, whose problem is always one sentence."""

_CHECK = "crmkit.check"


def check(fn: Check) -> dict[str, Check]:
    """Metadata for `attrs.field` that attaches `fn` as the field's check."""
    return {_CHECK: fn}


def field_issues(cls: type, name: str, value: object) -> list[Issue]:
    """Run the check of field `name` of `cls` on `value`, returning the issues found."""
    fn = attrs.fields_dict(cls)[name].metadata.get(_CHECK)
    return _run(fn, name, value) if fn is not None else []


def _run(fn: Check, path: str, value: object) -> list[Issue]:
    outcome = fn(value)
    if outcome is None:
        return []
    if isinstance(outcome, str):
        return [Issue(path, outcome)]
    return [issue.under(path) for issue in outcome]


@functools.cache
def _plan(cls: Any) -> tuple[tuple[str, Check], ...]:  # noqa: ANN401
    """The checked fields of `cls`, in order: worked out once per class."""
    return tuple((a.name, a.metadata[_CHECK]) for a in attrs.fields(cls) if _CHECK in a.metadata)


def issues_of(obj: Any) -> list[Issue]:  # noqa: ANN401 (any attrs instance)
    """Every issue with `obj`: its field checks, then its invariants."""
    found: list[Issue] = []
    for name, fn in _plan(obj.__class__):
        value = getattr(obj, name)
        if fn(value):
            found.extend(_run(fn, name, value))
    return _with_invariants(obj, found)


def recheck(obj: Any) -> list[Issue]:  # noqa: ANN401 (any attrs instance)
    """The issues with what may have changed in `obj` since it was built.

    Assignments to fields of a `Validated` entity are checked as they happen (see
    `check_assignment`); what can change without an assignment is the content of list and dict
    fields, and, through several assignments, the rules that tie fields together. Those are
    checked here, which is what a repository does before it writes.
    """
    found: list[Issue] = []
    for name, fn in _mutable_plan(obj.__class__):
        value = getattr(obj, name)
        if fn(value):
            found.extend(_run(fn, name, value))
    return _with_invariants(obj, found)


@functools.cache
def _mutable_plan(cls: Any) -> tuple[tuple[str, Check], ...]:  # noqa: ANN401
    """The checked fields of `cls` that hold lists or dicts (their converters make sure)."""
    hints = typing.get_type_hints(cls)
    mutable = {
        name
        for name, hint in hints.items()
        if hint in (list, dict) or typing.get_origin(hint) in (list, dict)
    }
    return tuple((name, fn) for name, fn in _plan(cls) if name in mutable)


def _with_invariants(obj: Any, found: list[Issue]) -> list[Issue]:  # noqa: ANN401
    invariants = getattr(obj, "_invariants", None)
    if invariants is not None and not found:
        # Cross-field rules assume each field is valid on its own.
        found.extend(invariants())
    return found


def check_assignment(instance: object, attribute: attrs.Attribute[Any], value: Any) -> Any:  # noqa: ANN401, ARG001
    """An attrs ``on_setattr`` hook: refuse an assignment that breaks the field's check."""
    fn = attribute.metadata.get(_CHECK)
    if fn is not None and fn(value):
        raise ValidationError(_run(fn, attribute.name, value))
    return value


ON_SETATTR: list[Callable[[Any, attrs.Attribute[Any], Any], Any]] = [
    attrs.setters.convert,
    check_assignment,
]
"""``on_setattr`` for entities: convert the value as ``__init__`` would, then check it."""


class Validated:
    """Mixin for attrs classes: check every field (and the invariants) after ``__init__``."""

    __slots__ = ()

    def __attrs_post_init__(self) -> None:
        found = issues_of(self)
        if found:
            raise ValidationError(found)


# --- reusable checks -----------------------------------------------------------------------------

# Control characters break exports and terminals, PostgreSQL refuses NUL in text, and unpaired
# surrogates cannot be encoded as UTF-8 at all.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_CONTROL_SINGLE_LINE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def text(*, max_length: int, blank: bool = False, multiline: bool = False) -> SimpleCheck:
    """A check for free text: a `str` of at most `max_length` characters, without control chars.

    Args:
        max_length: the most characters allowed (the SQL column's length).
        blank: allow the empty or all-whitespace string.
        multiline: allow line breaks and tabs (notes, summaries).
    """
    control = _CONTROL if multiline else _CONTROL_SINGLE_LINE

    def check_text(value: object) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, not {type(value).__name__}"
        if not blank and not value.strip():
            return "must not be blank"
        if len(value) > max_length:
            return f"is {len(value)} characters long; at most {max_length} are allowed"
        bad = control.search(value)
        if bad:
            what = "an unpaired surrogate" if bad.group() >= "\ud800" else "a control character"
            return f"contains {what}"
        return None

    return check_text


def key_text(*, max_length: int = 64) -> SimpleCheck:
    """A check for identifiers and codes: non-blank, no surrounding whitespace, no control chars.

    Keys are compared by the database; MariaDB ignores trailing spaces in comparisons, so keys
    that differ only there would collide on one backend and not on others.
    """
    base = text(max_length=max_length)

    def check_key(value: object) -> str | None:
        problem = base(value)
        if problem is None and isinstance(value, str) and value != value.strip():
            return "must not start or end with whitespace"
        return problem

    return check_key


def optional(inner: Check) -> Check:
    """A check that accepts ``None`` and otherwise applies `inner`."""

    def check_optional(value: object) -> str | Sequence[Issue] | None:
        return None if value is None else inner(value)

    return check_optional


def each(inner: Check) -> Check:
    """A check for a collection: apply `inner` to every item, reporting ``[i]`` paths.

    Sets are checked in sorted order so the reported indexes are stable.
    """

    def check_each(value: object) -> Sequence[Issue] | str | None:
        if isinstance(value, tuple | list):
            items: Iterable[Any] = value
        elif isinstance(value, set | frozenset):
            try:
                items = sorted(value)
            except TypeError:
                return "must hold items of one kind"
        else:
            return f"must be a collection, not {type(value).__name__}"
        found: list[Issue] | None = None
        for i, item in enumerate(items):
            if inner(item):
                found = found if found is not None else []
                found.extend(_run(inner, f"[{i}]", item))
        return found

    return check_each


INT64 = (-(2**63), 2**63 - 1)
"""The integers every store keeps exactly: 64-bit signed, as in ``BIGINT`` and JSON readers."""


def bounded_int(low: int, high: int) -> SimpleCheck:
    """A check for an `int` (never a bool) from `low` to `high`, both included."""

    def check_int(value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, not {type(value).__name__}"
        if not low <= value <= high:
            return f"{shown(value)} is out of range; it must be from {low} to {high}"
        return None

    return check_int


def shown(value: object, limit: int = 60) -> str:
    """`repr(value)` for a message: at most `limit` characters, and never an error.

    ``repr`` of an integer of more than 4,300 digits raises, and so may a hostile ``__repr__``;
    a message about a bad value must not fail because of it.
    """
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"an integer of about {digits} digits"
    try:
        written = repr(value)
    except Exception:  # noqa: BLE001 (whatever a foreign __repr__ raises)
        return f"a {type(value).__name__}"
    return written if len(written) <= limit else f"{written[: limit - 1]}…"


def instance_of(*types: type) -> SimpleCheck:
    """A check that the value is an instance of one of `types` (bool is never an int)."""
    names = " or ".join(t.__name__ for t in types)

    def check_instance(value: object) -> str | None:
        if isinstance(value, bool) and bool not in types:
            return f"must be {names}, not bool"
        if not isinstance(value, types):
            return f"must be {names}, not {type(value).__name__}"
        return None

    return check_instance


# --- lenient converters: turn any collection into the field's type, leave the rest to the check --


def _collection(value: object) -> bool:
    if isinstance(value, list | tuple | set | frozenset):
        return True
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def as_tuple(value: Any) -> Any:  # noqa: ANN401 (whatever the caller passed)
    """`value` as a tuple if it is a collection; anything else is left for the check to report."""
    if type(value) is tuple:
        return value
    return tuple(value) if _collection(value) else value


def as_list(value: Any) -> Any:  # noqa: ANN401
    """`value` as a list if it is a collection; anything else is left for the check to report."""
    if type(value) is list:
        return value
    return list(value) if _collection(value) else value


def as_frozenset(value: Any) -> Any:  # noqa: ANN401
    """`value` as a frozenset if it is a collection of hashable items; else left for the check."""
    if type(value) is frozenset or not _collection(value):
        return value
    try:
        return frozenset(value)
    except TypeError:
        return value
