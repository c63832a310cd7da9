"""One cattrs converter between domain objects and plain data (dicts, lists, str, int, bool, None).

The plain form is JSON-ready and exact: Decimals and instants travel as strings, money as
``{"amount": "12.30", "currency": "CNY"}``. Structuring is strict, for data from outside: no float
becomes a Decimal, no ``"false"`` becomes a bool, unknown keys are refused, and every problem is
reported with its path in one `ValidationError`.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import itertools
import math
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import attrs
import cattrs
import pendulum

from crmkit._clock import to_utc
from crmkit._contact_points import EmailAddress, PhoneNumber, check_region
from crmkit._money import Money, _to_decimal
from crmkit._validation import field_issues, shown
from crmkit.errors import CrmkitError, Issue, ValidationError

__all__ = ["from_dict", "make_converter", "plain_data", "register_hooks", "to_dict"]

T = TypeVar("T")

# Hooks that capabilities register (`register_hooks`), applied to every converter made.
_CONFIGURE: list[Callable[[cattrs.Converter], None]] = []


def _fail(problem: str) -> typing.NoReturn:
    raise ValidationError.of("", problem)


def _key_path(key: object) -> str:
    """A key of an object from outside, as a path: text as it is, anything else shown."""
    return key if isinstance(key, str) else f"[{shown(key)}]"


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _float_out(value: float) -> float:
    # Plain data is JSON: NaN and the infinities have no JSON form (a JSON writer would make
    # them null, or text that is not JSON), so they are refused rather than lost.
    if not math.isfinite(value):
        _fail(f"must be a finite number, not {value}")
    return value


# The last instant written out and its text: a bulk write's records share one instant (the
# change log's time, its events' time), and an aware instant's isoformat costs microseconds.
# One tuple, read and replaced whole, so threads never mix a pair.
_last_instant: tuple[object, str] = (None, "")


def _instant_out(value: pendulum.DateTime) -> str:
    global _last_instant  # noqa: PLW0603 (a one-entry cache)
    seen, text = _last_instant
    if value is not seen:
        text = value.isoformat()
        _last_instant = (value, text)
    return text


# --- strict scalars -------------------------------------------------------------------------------


def _str_in(value: object, _: object) -> str:
    if not isinstance(value, str):
        _fail(f"must be a string, not {_kind(value)}")
    return value


def _int_in(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(f"must be an integer, not {_kind(value)}")
    return value


def _bool_in(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        _fail(f"must be true or false, not {_kind(value)}")
    return value


def _decimal_in(value: object, _: object) -> Decimal:
    return _to_decimal(value, "")


def _uuid_in(value: object, _: object) -> UUID:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        _fail(f"must be a UUID string, not {_kind(value)}")
    try:
        return UUID(value)
    except ValueError:
        _fail(f"{shown(value)} is not a UUID")


def _instant_in(value: object, _: object) -> pendulum.DateTime:
    return to_utc(value)


def _date_in(value: object, _: object) -> dt.date:
    if isinstance(value, dt.datetime):
        _fail("must be a date, not a date and time")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        _fail(f"must be an ISO 8601 date string, not {_kind(value)}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{shown(value)} is not an ISO 8601 date (YYYY-MM-DD)")


def _time_in(value: object, _: object) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if not isinstance(value, str):
        _fail(f"must be an ISO 8601 time string (HH:MM), not {_kind(value)}")
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        _fail(f"{shown(value)} is not an ISO 8601 time of day (HH:MM)")


def _money_in(value: object, _: object) -> Money:
    if not isinstance(value, Mapping):
        _fail(
            f'must be an object like {{"amount": "12.30", "currency": "CNY"}}, not {_kind(value)}'
        )
    extra = [k for k in value if k not in ("amount", "currency")]
    missing = [k for k in ("amount", "currency") if k not in value]
    if extra or missing:
        found = [Issue(k, "is required") for k in missing]
        found += [Issue(_key_path(k), "is not a field of Money") for k in extra]
        raise ValidationError(found)
    return Money(value["amount"], value["currency"])


@functools.cache
def _enum_in(kind: type[enum.Enum]) -> Callable[[object, object], enum.Enum]:
    allowed = ", ".join(repr(m.value) for m in kind)

    def structure(value: object, _: object) -> enum.Enum:
        try:
            return kind(value)
        except (ValueError, TypeError):
            _fail(f"{shown(value)} is not one of {allowed}")

    return structure


def _sorted(items: list[Any]) -> list[Any]:
    """`items` sorted, if they can be compared (a set of one kind); else as they are."""
    try:
        return sorted(items)
    except TypeError:
        return items


# --- containers -----------------------------------------------------------------------------------


def _is_optional(t: object) -> bool:
    args = typing.get_args(t)
    return typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in args


def _is_frozenset(t: object) -> bool:
    return t is frozenset or typing.get_origin(t) is frozenset


def _origin_is(origin: type) -> Callable[[object], bool]:
    return lambda t: typing.get_origin(t) is origin


def _sequence_of(
    origin: type,
) -> Callable[[Any, cattrs.Converter], Callable[[object, object], Any]]:
    def factory(t: Any, conv: cattrs.Converter) -> Callable[[object, object], Any]:  # noqa: ANN401
        args = typing.get_args(t)
        item_type = args[0] if args else Any

        def structure(value: object, _: object) -> Any:  # noqa: ANN401
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
                _fail(f"must be a list, not {_kind(value)}")
            items: list[Any] = []
            found: list[Issue] = []
            for i, item in enumerate(value):
                try:
                    items.append(conv.structure(item, item_type))
                except ValidationError as e:
                    found.extend(e.under(f"[{i}]").issues)
            if found:
                raise ValidationError(found)
            if origin is frozenset and len(set(items)) != len(items):
                _fail("has the same item twice")
            return origin(items)

        return structure

    return factory


def _is_mapping(t: object) -> bool:
    return typing.get_origin(t) in (dict, Mapping)


def _mapping_of(t: Any, conv: cattrs.Converter) -> Callable[[object, object], Any]:  # noqa: ANN401
    """A strict hook for ``dict[K, V]`` and ``Mapping[K, V]``: an object, each entry checked."""
    args = typing.get_args(t)
    key_type, value_type = args if len(args) == 2 else (Any, Any)  # noqa: PLR2004 (K and V)

    def structure(value: object, _: object) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            _fail(f"must be an object, not {_kind(value)}")
        items: dict[Any, Any] = {}
        found: list[Issue] = []
        for key, item in value.items():
            try:
                items[conv.structure(key, key_type)] = conv.structure(item, value_type)
            except ValidationError as e:
                found.extend(e.under(f"[{_key_path(key)}]").issues)
        if found:
            raise ValidationError(found)
        return items

    return structure


# --- attrs classes: every field structured and checked, every problem reported -------------------


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of `cls`.

    Raises:
        ValidationError: (on ``cls``) a type names something only a type checker imports, so
            crmkit cannot tell how to read or write the field (a callable's argument types).
    """
    try:
        return typing.get_type_hints(cls)
    except NameError as e:
        raise ValidationError.of(
            "cls", f"crmkit cannot convert a {cls.__name__}: its field types cannot be resolved"
        ) from e


def _attrs_in(cls: type, conv: cattrs.Converter) -> Callable[[object, object], Any]:
    fields = attrs.fields(cls)
    hints = _hints(cls)
    names = {a.alias for a in fields}

    def structure(value: object, _: object) -> Any:  # noqa: ANN401
        if not isinstance(value, Mapping):
            _fail(f"must be an object, not {_kind(value)}")
        found = [
            Issue(_key_path(key), f"is not a field of {cls.__name__}")
            for key in value
            if key not in names
        ]
        kwargs: dict[str, Any] = {}
        for a in fields:
            if a.alias not in value:
                if a.default is attrs.NOTHING:
                    found.append(Issue(a.alias, "is required"))
                continue
            try:
                item = conv.structure(value[a.alias], hints[a.name])
            except ValidationError as e:
                found.extend(e.under(a.alias).issues)
                continue
            if a.converter is not None:
                item = a.converter(item)
            issues = field_issues(cls, a.name, item)
            if issues:
                found.extend(issues)
                continue
            kwargs[a.alias] = item
        if found:
            raise ValidationError(found)
        return cls(**kwargs)  # cross-field invariants are checked here

    return structure


def _attrs_out(cls: type, conv: cattrs.Converter) -> Callable[[Any], dict[str, Any]]:
    fields = attrs.fields(cls)
    hints = _hints(cls)
    plan = [(a.name, a.alias, hints[a.name]) for a in fields]
    made: list[Callable[[Any], dict[str, Any]]] = []

    def unstructure(obj: Any) -> dict[str, Any]:  # noqa: ANN401
        if not made:
            # Made at the first call rather than here, since a class may refer to itself.
            made.append(_generated_out(cls, plan, conv))
        return made[0](obj)

    return unstructure


def _generated_out(
    cls: type, plan: list[tuple[str, str, Any]], conv: cattrs.Converter
) -> Callable[[Any], dict[str, Any]]:
    """One function that unstructures `cls`, with each field's hook found once.

    As attrs and cattrs generate theirs: the dictionary in one expression, a field whose hook
    is the identity (text, a number) read as it is, and optional values, sequences and sets
    written out inline (`_inlined`) rather than through cattrs' hooks for them. The same result
    as `conv.unstructure` on every field, in a fraction of the time, which bulk writes and the
    change log feel.
    """
    scope: dict[str, Any] = {"_sorted": _sorted}
    names = itertools.count()
    items = [
        f"{alias!r}: {_inlined(hint, f'obj.{name}', conv, scope, names)}"
        for name, alias, hint in plan
    ]
    source = f"def unstructure(obj):\n    return {{{', '.join(items)}}}\n"
    exec(compile(source, f"<crmkit unstructure {cls.__qualname__}>", "exec"), scope)  # noqa: S102 (generated from field names)
    made: Callable[[Any], dict[str, Any]] = scope["unstructure"]
    return made


def _inlined(
    hint: Any,  # noqa: ANN401 (any type)
    value: str,
    conv: cattrs.Converter,
    scope: dict[str, Any],
    names: Iterator[int],
) -> str:
    """Source of an expression that unstructures `value` (source) of type `hint` as `conv` does.

    ``X | None``, ``tuple[X, ...]``, ``list[X]`` and ``frozenset[X]`` are written out (what
    cattrs' hooks for them do, and `_sorted` for sets); a string enum becomes its ``.value``;
    any other type calls its hook, which `scope` then holds.
    """
    hook = conv.get_unstructure_hook(hint)
    if hook is cattrs.fns.identity:
        return value
    if hook is _enum_value:
        return f"{value}.value"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    var = f"v{next(names)}"
    if origin in (typing.Union, types.UnionType) and len(args) == _PAIR and _NONE in args:
        inner = _inlined(args[0] if args[1] is _NONE else args[1], var, conv, scope, names)
        return value if inner == var else f"(None if ({var} := {value}) is None else {inner})"
    if origin is list or (origin is tuple and len(args) == _PAIR and args[1] is Ellipsis):
        item = _inlined(args[0], var, conv, scope, names)
        return f"list({value})" if item == var else f"[{item} for {var} in {value}]"
    if origin is frozenset and len(args) == 1:
        item = _inlined(args[0], var, conv, scope, names)
        return f"_sorted([{item} for {var} in {value}])"
    scope[f"h{var}"] = hook
    return f"h{var}({value})"


_NONE = type(None)
_PAIR = 2  # X | None; tuple[X, ...]


def _enum_value(member: enum.StrEnum) -> str:
    return member.value


@functools.cache
def make_converter(*, phone_region: str | None = None, trusted: bool = False) -> cattrs.Converter:
    """The converter that `to_dict` and `from_dict` use.

    Args:
        phone_region: ISO 3166 region for phone numbers written without ``+`` and a country code.
        trusted: the data comes from crmkit's own storage: phone numbers and email addresses are
            taken in their canonical form instead of being parsed and validated again.
    """
    conv = cattrs.Converter()

    conv.register_unstructure_hook(Decimal, str)
    conv.register_unstructure_hook(float, _float_out)
    conv.register_unstructure_hook(UUID, str)
    conv.register_unstructure_hook(pendulum.DateTime, _instant_out)
    conv.register_unstructure_hook(dt.date, lambda d: d.isoformat())
    conv.register_unstructure_hook(dt.time, lambda t: t.isoformat("minutes"))
    conv.register_unstructure_hook(
        Money, lambda m: {"amount": str(m.amount), "currency": m.currency}
    )
    conv.register_unstructure_hook(PhoneNumber, lambda p: p.e164)
    conv.register_unstructure_hook(EmailAddress, lambda e: e.address)
    conv.register_unstructure_hook_func(
        _is_frozenset, lambda s: _sorted([conv.unstructure(x) for x in s])
    )
    conv.register_unstructure_hook_factory(attrs.has, _attrs_out)
    # StrEnum members are str subclasses: without this they would pass through as members.
    conv.register_unstructure_hook(enum.StrEnum, _enum_value)

    conv.register_structure_hook(str, _str_in)
    conv.register_structure_hook(int, _int_in)
    conv.register_structure_hook(bool, _bool_in)
    conv.register_structure_hook(Decimal, _decimal_in)
    conv.register_structure_hook(UUID, _uuid_in)
    conv.register_structure_hook(pendulum.DateTime, _instant_in)
    conv.register_structure_hook(dt.date, _date_in)
    conv.register_structure_hook(dt.time, _time_in)
    conv.register_structure_hook(Money, _money_in)
    if trusted:
        conv.register_structure_hook(PhoneNumber, lambda v, _: PhoneNumber(_str_in(v, _)))
        conv.register_structure_hook(EmailAddress, lambda v, _: EmailAddress(_str_in(v, _)))
    else:
        conv.register_structure_hook(
            PhoneNumber, lambda v, _: PhoneNumber.parse(_str_in(v, _), region=phone_region)
        )
        conv.register_structure_hook(EmailAddress, lambda v, _: EmailAddress.parse(_str_in(v, _)))
    # Registered on the base classes (not as a predicate) so that StrEnum members, which are
    # also str, do not fall to the str hook above.
    for base in (enum.Enum, enum.StrEnum):
        conv.register_structure_hook(base, lambda v, t: _enum_in(t)(v, t))

    def optional_in(t: Any, c: cattrs.Converter) -> Callable[[object, object], Any]:  # noqa: ANN401
        (inner,) = [a for a in typing.get_args(t) if a is not type(None)]
        return lambda v, _: None if v is None else c.structure(v, inner)

    conv.register_structure_hook_factory(_is_optional, optional_in)
    for origin in (list, tuple, frozenset):
        conv.register_structure_hook_factory(_origin_is(origin), _sequence_of(origin))
    conv.register_structure_hook_factory(_is_mapping, _mapping_of)
    conv.register_structure_hook_factory(attrs.has, _attrs_in)
    for configure in _CONFIGURE:
        configure(conv)
    return conv


def register_hooks(configure: Callable[[cattrs.Converter], None]) -> None:
    """Have `configure` add a capability's hooks to every converter made from now on.

    In the spirit of cattrs' ``configure_converter``: the converter names no capability; the
    composition root registers each capability's hooks once, at import.
    """
    _CONFIGURE.append(configure)
    make_converter.cache_clear()


def to_dict(obj: object) -> Any:  # noqa: ANN401 (plain data of whatever shape the object has)
    """`obj` as plain, JSON-ready data (dicts, lists, strings, numbers, booleans, None).

    Examples:
        >>> from crmkit import Money, to_dict
        >>> to_dict(Money("12.30", "CNY"))
        {'amount': '12.30', 'currency': 'CNY'}

    Raises:
        ValidationError: `obj` holds something plain data cannot, such as a dict keyed by objects.
    """
    return plain_data(obj, type(obj))


def plain_data(obj: object, cls: type) -> Any:  # noqa: ANN401 (plain data of any shape)
    """`to_dict` of `obj` as an instance of `cls` (faster when the class is known).

    Raises:
        ValidationError: as `to_dict`, naming the field that holds the value.
    """
    conv = make_converter()
    try:
        return conv.unstructure(obj, cls)
    except (TypeError, ValueError) as e:  # e.g. a dict whose keys become dicts, a NaN
        problem = e.issues[0].problem if isinstance(e, ValidationError) else str(e)
        where = _failing_field(conv, obj)
        raise ValidationError.of(
            where, f"a {type(obj).__name__} cannot be plain data: {problem}"
        ) from e


def _failing_field(conv: cattrs.Converter, obj: object) -> str:
    """The path of the field of `obj` that cannot be plain data ("" if not found).

    Only asked once unstructuring failed, so the fast path pays nothing for it.
    """
    cls = type(obj)
    if not attrs.has(cls):
        return ""
    hints = _hints(cls)
    for a in attrs.fields(cls):
        value = getattr(obj, a.name)
        try:
            conv.unstructure(value, hints[a.name])
        except (TypeError, ValueError):
            inner = _failing_field(conv, value)
            return f"{a.alias}.{inner}" if inner else a.alias
    return ""


def from_dict(data: object, cls: type[T], *, phone_region: str | None = None) -> T:
    """Build a `cls` from plain data, checking everything; the inverse of `to_dict`.

    Args:
        data: plain data, e.g. parsed JSON from outside.
        cls: the domain class to build.
        phone_region: ISO 3166 region (``"CN"``) for phone numbers written without ``+``.

    Raises:
        ValidationError: naming every bad field by its path, e.g.
            ``contacts[1].phones[0]: not a valid phone number for region CN``.
    """
    check_region(phone_region, "phone_region")
    given: object = cls  # checked at run time whatever the annotation says
    if not isinstance(given, type) and typing.get_origin(given) is None:
        raise ValidationError.of("cls", f"must be a class, not {type(given).__name__}")
    try:
        return make_converter(phone_region=phone_region).structure(data, cls)
    except CrmkitError:
        raise
    except cattrs.StructureHandlerNotFoundError as e:
        raise ValidationError.of("cls", f"crmkit cannot build a {shown(cls)} from data") from e
    except cattrs.BaseValidationError as e:  # a shape no hook above claims
        raise ValidationError.of("", f"cannot be read as {shown(cls)}: {e}") from e
