"""Checks of the arguments repositories take, shared by every adapter.

A bad argument gets a `ValidationError` naming it before any storage is touched, so it never
surfaces as a driver error from deep inside, and the unit of work stays usable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import pendulum

from crmkit._clock import FIRST_INSTANT, LAST_INSTANT, to_utc
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit._validation import key_text, shown
from crmkit.errors import ValidationError

__all__ = [
    "MAX_LIMIT",
    "a_collection",
    "a_count",
    "a_key",
    "a_limit",
    "a_lock_timeout",
    "a_page",
    "a_phone",
    "a_span",
    "an_email",
    "an_id",
    "an_instant",
    "email_key",
    "external_keys",
    "ids",
    "seconds",
]

_key = key_text(max_length=64)
_A_DAY = 86_400


def an_id(value: object, name: str) -> UUID:
    """`value` if it is a UUID."""
    if not isinstance(value, UUID):
        raise ValidationError.of(name, f"must be a UUID, not {type(value).__name__}")
    return value


def a_collection(values: object, name: str, of: str) -> list[Any]:
    """`values` as a list, if it is a collection (of `of`, as the message says).

    Text, bytes and mappings are refused: iterating over them gives characters or keys.
    """
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValidationError.of(name, f"must be a collection of {of}, not {type(values).__name__}")
    return list(values)


def ids(values: Iterable[object], name: str) -> list[UUID]:
    """`values` as a list, if every one is a UUID."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValidationError.of(
            name, f"must be a collection of UUIDs, not {type(values).__name__}"
        )
    found = list(values)
    for i, value in enumerate(found):
        an_id(value, f"{name}[{i}]")
    return found  # type: ignore[return-value]


_external = key_text(max_length=128)


def external_keys(values: object, name: str) -> list[str]:
    """`values` as a list without repeats, if each is an external id (at most `MAX_LIMIT`)."""
    found = list(dict.fromkeys(a_collection(values, name, "external ids")))
    if len(found) > MAX_LIMIT:
        raise ValidationError.of(name, f"has more than {MAX_LIMIT:,}; ask in batches")
    for i, value in enumerate(found):
        problem = _external(value)
        if problem is not None:
            raise ValidationError.of(f"{name}[{i}]", problem)
    return found


def a_key(value: object, name: str) -> str:
    """`value` if it is a key (a code, an owner id): non-blank text without surrounding spaces."""
    problem = _key(value)
    if problem is not None:
        raise ValidationError.of(name, problem)
    assert isinstance(value, str)  # noqa: S101 (narrowing for the type checker)
    return value


def an_instant(value: object, name: str) -> pendulum.DateTime | None:
    """`value` as a UTC instant (``None`` stays ``None``); naive datetimes are refused."""
    if value is None:
        return None
    try:
        return to_utc(value, name)
    except (OverflowError, ValueError) as e:
        if isinstance(e, ValidationError):
            raise
        # An offset that takes the instant out of the years Python can represent.
        seen = value.isoformat() if isinstance(value, dt.datetime) else shown(value)
        raise ValidationError.of(
            name, f"{seen} is out of the range of years 1 to 9999 in UTC"
        ) from None


def a_span(
    since: object, until: object
) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None] | None:
    """`since` and `until` as UTC instants, or ``None`` if no stored instant lies between.

    A bound beyond the instants a store can hold (`FIRST_INSTANT`, `LAST_INSTANT`) bounds
    nothing, and is dropped, so no backend is asked to compare with a date it cannot hold.
    """
    start, end = an_instant(since, "since"), an_instant(until, "until")
    if start is not None and start <= FIRST_INSTANT:
        start = None
    if end is not None and end > LAST_INSTANT:
        end = None
    if (start is not None and start > LAST_INSTANT) or (end is not None and end <= FIRST_INSTANT):
        return None
    return start, end


MAX_LIMIT = 100_000
"""The most customers one page may hold; larger sets are read page by page."""


def a_limit(value: object) -> int:
    """`value` if it is a positive integer of at most `MAX_LIMIT`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError.of("limit", f"must be a positive integer, not {shown(value)}")
    if value > MAX_LIMIT:
        raise ValidationError.of(
            "limit", f"{shown(value)} is more than {MAX_LIMIT:,}; read larger sets page by page"
        )
    return value


def a_page(after: object, limit: object) -> None:
    """Check keyset paging arguments: `after` a UUID or ``None``, `limit` positive or ``None``."""
    if after is not None:
        an_id(after, "after")
    if limit is not None:
        a_limit(limit)


def a_phone(value: object, name: str) -> str:
    """The E.164 text of `value`, a `PhoneNumber` or E.164 text (``"+8613800138000"``)."""
    if isinstance(value, PhoneNumber):
        return value.e164
    if not isinstance(value, str):
        raise ValidationError.of(
            name, f"must be a PhoneNumber or E.164 text, not {type(value).__name__}"
        )
    try:
        return PhoneNumber(value).e164
    except ValidationError:
        raise ValidationError.of(
            name,
            f"{shown(value)} is not E.164 text; parse what a person typed with "
            "PhoneNumber.parse(text, region=...)",
        ) from None


def an_email(value: object, name: str) -> str:
    """The lookup key (`email_key`) of `value`, an `EmailAddress` or an address as text."""
    if isinstance(value, EmailAddress):
        return email_key(value.address)
    if not isinstance(value, str):
        raise ValidationError.of(
            name, f"must be an EmailAddress or an address as text, not {type(value).__name__}"
        )
    try:
        return email_key(EmailAddress(value.strip()).address)
    except ValidationError:
        raise ValidationError.of(name, f"{shown(value)} is not an email address") from None


def email_key(address: str) -> str:
    """How an email address is looked up: in lower case.

    People write ``Li.Wei@`` and ``li.wei@`` for the same mailbox; the standard lets a mail
    server tell them apart, but none in common use does.
    """
    return address.lower()


def seconds(value: object, name: str, *, at_least: float = 0, at_most: float) -> float:
    """`value` as a float if it is a number of seconds from `at_least` to `at_most`.

    A `at_least` of 0 admits 0; any other bound is inclusive too. NaN and infinities fail.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError.of(name, f"must be a number of seconds, not {type(value).__name__}")
    if not at_least <= value <= at_most:  # NaN fails this too
        raise ValidationError.of(
            name, f"must be from {at_least:g} to {at_most:g} seconds, not {shown(value)}"
        )
    return float(value)


def a_count(value: object, name: str, *, at_most: int) -> int:
    """`value` if it is a whole number from 1 to `at_most`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= at_most:
        raise ValidationError.of(
            name, f"must be a whole number from 1 to {at_most:,}, not {shown(value)}"
        )
    return value


def a_lock_timeout(value: object) -> float:
    """`value` if it is a number of seconds a SQL store may wait for a lock (1 ms to 1 day)."""
    return seconds(value, "lock_timeout", at_least=0.001, at_most=_A_DAY)
