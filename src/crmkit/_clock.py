"""Time: an injectable `Clock`, and instants that are always time-zone aware and in UTC."""

from __future__ import annotations

import datetime as dt
import math
from typing import Protocol, runtime_checkable

import pendulum

from crmkit._validation import shown
from crmkit.errors import Issue, ValidationError

__all__ = ["Clock", "FixedClock", "SystemClock", "to_utc"]


# The instants every store holds and reads back: MariaDB's DATETIME starts in year 1000, and
# PostgreSQL hands a timestamptz to Python in the session's time zone, where an instant of the
# last day of 9999 may already be in year 10000, which Python cannot represent.
FIRST_INSTANT = dt.datetime(1000, 1, 1, tzinfo=dt.UTC)
LAST_INSTANT = dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC)


@runtime_checkable
class Clock(Protocol):
    """Tells the time. Everything in crmkit that needs "now" asks a clock it was given."""

    def now(self) -> pendulum.DateTime:
        """The current instant, in UTC."""
        ...


class SystemClock:
    """The real time, from the operating system."""

    def now(self) -> pendulum.DateTime:
        """The current instant, in UTC."""
        return pendulum.now(pendulum.UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that stands still until moved: for tests, demos and replays.

    Examples:
        >>> clock = FixedClock("2026-03-08T09:00:00+08:00")
        >>> clock.now()
        DateTime(2026, 3, 8, 1, 0, 0, tzinfo=Timezone('UTC'))
        >>> clock.advance(days=1).now().to_date_string()
        '2026-03-09'
    """

    def __init__(self, at: dt.datetime | str) -> None:
        self._now = to_utc(at, "at")

    def now(self) -> pendulum.DateTime:
        """The instant the clock is set to, in UTC."""
        return self._now

    def set(self, at: dt.datetime | str) -> FixedClock:
        """Move the clock to `at` (which must carry a time zone); returns the clock."""
        self._now = to_utc(at, "at")
        return self

    def advance(
        self,
        *,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: float = 0,
    ) -> FixedClock:
        """Move the clock forward by an exact duration; returns the clock.

        Raises:
            ValidationError: an argument is not a number (whole, but for `seconds`), or the
                clock would leave the years 1 to 9999.
        """
        steps = {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds}
        found = [
            Issue(name, problem)
            for name, value in steps.items()
            if (problem := _step_problem(value, fraction=name == "seconds"))
        ]
        if found:
            raise ValidationError(found)
        try:
            self._now = self._now + dt.timedelta(
                days=days, hours=hours, minutes=minutes, seconds=seconds
            )
        except OverflowError:
            moved = ", ".join(f"{k}={shown(v)}" for k, v in steps.items() if v)
            raise ValidationError.of(
                "", f"advancing {self._now.isoformat()} by {moved} leaves the years 1 to 9999"
            ) from None
        return self

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()!r})"


def _step_problem(value: object, *, fraction: bool) -> str | None:
    kinds = (int, float) if fraction else (int,)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"must be {'a number' if fraction else 'an integer'}, not {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value}"
    return None


def to_utc(value: object, path: str = "") -> pendulum.DateTime:
    """`value` (an aware datetime or an ISO 8601 string with an offset) as a UTC pendulum instant.

    Raises:
        ValidationError: `value` is naive, not a datetime, not an ISO 8601 instant, or falls
            outside the years 1 to 9999 once in UTC.
    """
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError.of(
                path, f"{shown(value)} is not an ISO 8601 date and time"
            ) from None
        value = parsed
    if not isinstance(value, dt.datetime):
        raise ValidationError.of(path, f"must be a datetime, not {type(value).__name__}")
    try:
        offset = value.utcoffset()
    except (ValueError, TypeError) as e:  # a tzinfo of the caller's that misbehaves
        raise ValidationError.of(path, f"has a time zone that fails: {e}") from None
    if offset is None:
        raise ValidationError.of(path, f"{value.isoformat()} has no time zone; give an offset")
    if isinstance(value, pendulum.DateTime) and value.tzinfo is pendulum.UTC:
        return value
    try:
        return pendulum.instance(value.astimezone(pendulum.UTC))
    except OverflowError:
        raise ValidationError.of(
            path, f"{value.isoformat()} is outside the years 1 to 9999 in UTC"
        ) from None
