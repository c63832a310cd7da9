"""When a lead goes back to the pool: the reclaim rule, pure (storage finds and moves the leads).

The rule: the reclaim clock starts at the lead's assignment and restarts at each follow-up made
since. Take the local date, in the owner's time zone, of the latest of those instants; the lead is
due back at the first instant of the local day that comes ``days + 1`` days after it. So the owner
always has the rest of the day the clock started plus `days` whole calendar days, whatever the
hour and however long those days are (23 or 25 hours across a DST change; where a change skips
midnight, the day starts at the first instant that exists).

Example, ``days=3``, owner in Asia/Shanghai: assigned Monday 15:00 (or 23:59), no follow-up ->
due Friday 00:00 Shanghai time; a call on Wednesday 09:00 moves it to Sunday 00:00.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._validation import bounded_int
from crmkit.customers._model import _timezone
from crmkit.errors import ValidationError
from crmkit.pipeline._leads import Lead, LeadStatus

__all__ = ["DEFAULT_RECLAIM_DAYS", "Reclaim", "due_for_reclaim", "reclaim_due_at"]

DEFAULT_RECLAIM_DAYS = 3
"""Whole local days an owner has to follow a lead up before it goes back to the pool."""

_days = bounded_int(1, 3650)


@attrs.frozen(kw_only=True)
class Reclaim:
    """A lead due back to the pool, and why.

    Attributes:
        lead_id: the lead.
        owner_id: the salesperson it is taken from.
        since: when the reclaim clock started (the assignment or the last follow-up, UTC).
        due_at: when the lead became due (UTC).
        reason: why, in words, with the owner's local times.
    """

    lead_id: UUID
    owner_id: str
    since: pendulum.DateTime
    due_at: pendulum.DateTime
    reason: str


def _zone(timezone: str) -> zoneinfo.ZoneInfo:
    problem = _timezone(timezone)
    if problem is not None:
        raise ValidationError.of("timezone", problem)
    return zoneinfo.ZoneInfo(timezone)


def _check_days(days: int) -> None:
    problem = _days(days)
    if problem is not None:
        raise ValidationError.of("days", problem)


def _since(lead: Lead) -> pendulum.DateTime | None:
    """When the reclaim clock of `lead` started: its assignment or a later follow-up."""
    if lead.status is not LeadStatus.OPEN or lead.assigned_at is None:
        return None
    later = [f.at for f in lead.follow_ups if f.at >= lead.assigned_at]
    return max([lead.assigned_at, *later])


def _due(since: pendulum.DateTime, zone: zoneinfo.ZoneInfo, days: int) -> pendulum.DateTime:
    day = since.astimezone(zone).date() + dt.timedelta(days=days + 1)
    # fold=0: a midnight that a DST change skips reads with the offset before the change,
    # which is the instant the day starts; a repeated midnight reads as its first occurrence.
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    return pendulum.instance(start.astimezone(dt.UTC)).in_timezone(pendulum.UTC)


def reclaim_due_at(
    lead: Lead, timezone: str, days: int = DEFAULT_RECLAIM_DAYS
) -> pendulum.DateTime | None:
    """When `lead` falls due back to the pool (UTC), or ``None`` if it is not open and owned.

    `timezone` is the owner's IANA zone. Storage keeps this instant with the lead, so that due
    leads are found through an index.

    Examples:
        >>> import pendulum
        >>> from crmkit.pipeline import Decision, Lead
        >>> lead = Lead(name="Zhao Lei", source="website")
        >>> lead.assign(Decision.manual("li.na", "met at the fair"),
        ...             at=pendulum.datetime(2026, 3, 2, 7, tz="Asia/Shanghai"))
        >>> reclaim_due_at(lead, "Asia/Shanghai").in_timezone("Asia/Shanghai").isoformat()
        '2026-03-06T00:00:00+08:00'

    Raises:
        ValidationError: `timezone` is not an IANA zone, or `days` is not from 1 to 3650.
    """
    zone = _zone(timezone)
    _check_days(days)
    since = _since(lead)
    return None if since is None else _due(since, zone, days)


def due_for_reclaim(
    leads: Iterable[Lead],
    now: dt.datetime,
    timezones: Mapping[str, str],
    *,
    days: int = DEFAULT_RECLAIM_DAYS,
    default_timezone: str = "UTC",
) -> list[Reclaim]:
    """The leads of `leads` due back to the pool at `now`, each with why; the rest are left out.

    A lead is due when it is open, has an owner, and `now` is at or after its due instant (see
    `reclaim_due_at`). Nothing is changed: the caller returns each to the pool.

    Args:
        leads: the leads to look at.
        now: the current instant.
        timezones: the IANA zone of each owner; owners not in it use `default_timezone`.
        days: whole local days an owner has to follow up.
        default_timezone: the zone of owners `timezones` does not name.

    Raises:
        ValidationError: `now` is not an aware datetime, a zone is not an IANA zone, or `days`
            is not from 1 to 3650.
    """
    instant = to_utc(now, "now")
    _check_days(days)
    default = _zone(default_timezone)
    zones = {who: _zone(name) for who, name in timezones.items()}
    found: list[Reclaim] = []
    for lead in leads:
        since = _since(lead)
        if since is None or lead.owner_id is None:
            continue
        zone = zones.get(lead.owner_id, default)
        due_at = _due(since, zone, days)
        if instant < due_at:
            continue
        started = "assignment" if since == lead.assigned_at else "last follow-up"
        local = "%Y-%m-%d %H:%M"
        found.append(
            Reclaim(
                lead_id=lead.id,
                owner_id=lead.owner_id,
                since=since,
                due_at=due_at,
                reason=(
                    f"no follow-up by {lead.owner_id} within {days} days of the {started} "
                    f"at {since.astimezone(zone).strftime(local)}; due "
                    f"{due_at.astimezone(zone).strftime(local)} ({zone.key})"
                ),
            )
        )
    return found
