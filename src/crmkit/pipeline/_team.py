"""The sales team as the host describes it: who takes leads, in which zone, covering what.

The lead services take a `Team`: its members are the salespeople a policy chooses among (in the
team's order, which breaks ties), and each member's time zone sets when their leads fall due for
reclaim. A member's territories, industries and cap build the matching policies.
"""

from __future__ import annotations

import attrs

from crmkit._validation import Validated, as_tuple, bounded_int, check, each, instance_of, optional
from crmkit.customers._model import _key, _timezone
from crmkit.errors import Issue
from crmkit.pipeline._assignment import ByIndustry, ByTerritory, ByWorkload

__all__ = ["Salesperson", "Team"]

_cap = bounded_int(0, 2**31 - 1)


@attrs.frozen
class Salesperson(Validated):
    """One member of the sales team, as assignment and reclaim see them.

    Examples:
        >>> Salesperson("li.na", timezone="Asia/Shanghai", territories=("east",), cap=20).cap
        20

    Attributes:
        id: the salesperson's user id in the host (a lead's ``owner_id``).
        timezone: the IANA time zone whose days the reclaim rule counts (``"Asia/Shanghai"``).
        territories: the territories they cover (`Team.by_territory`).
        industries: the industries they cover (`Team.by_industry`).
        cap: the most open leads they may hold, or ``None`` for the team's cap
            (`Team.by_workload`).
    """

    id: str = attrs.field(metadata=check(_key))
    timezone: str = attrs.field(default="UTC", kw_only=True, metadata=check(_timezone))
    territories: tuple[str, ...] = attrs.field(
        default=(), kw_only=True, converter=as_tuple, metadata=check(each(_key))
    )
    industries: tuple[str, ...] = attrs.field(
        default=(), kw_only=True, converter=as_tuple, metadata=check(each(_key))
    )
    cap: int | None = attrs.field(default=None, kw_only=True, metadata=check(optional(_cap)))


def _members(value: object) -> str | list[Issue] | None:
    if not isinstance(value, tuple):
        return f"must be a tuple of Salesperson, not {type(value).__name__}"
    found: list[Issue] = []
    seen: set[str] = set()
    for i, member in enumerate(value):
        problem = instance_of(Salesperson)(member)
        if problem is not None:
            found.append(Issue(f"[{i}]", problem))
        elif member.id in seen:
            found.append(Issue(f"[{i}]", f"{member.id!r} appears twice"))
        else:
            seen.add(member.id)
    return found


@attrs.frozen(init=False)
class Team(Validated):
    """The salespeople who take leads, in the order that breaks ties.

    Examples:
        >>> team = Team(Salesperson("li.na", timezone="Asia/Shanghai", territories=("east",)),
        ...             Salesperson("wang.fang", cap=5))
        >>> team.ids, team.timezone_of("wang.fang")
        (('li.na', 'wang.fang'), 'UTC')
        >>> team.by_workload(cap=10).caps
        {'wang.fang': 5}

    Attributes:
        members: the salespeople, each id once.
        default_timezone: the zone of an owner who is not (or no longer) a member.
    """

    members: tuple[Salesperson, ...] = attrs.field(metadata=check(_members))
    default_timezone: str = attrs.field(default="UTC", metadata=check(_timezone))

    def __init__(self, *members: Salesperson, default_timezone: str = "UTC") -> None:
        self.__attrs_init__(members=members, default_timezone=default_timezone)

    @property
    def ids(self) -> tuple[str, ...]:
        """The members' ids, in the team's order."""
        return tuple(m.id for m in self.members)

    @property
    def timezones(self) -> dict[str, str]:
        """Each member's time zone, by id."""
        return {m.id: m.timezone for m in self.members}

    def timezone_of(self, salesperson_id: str) -> str:
        """The time zone of `salesperson_id`: theirs if a member, else `default_timezone`."""
        return self.timezones.get(salesperson_id, self.default_timezone)

    def by_territory(self) -> ByTerritory:
        """A `ByTerritory` rule: each territory to the members covering it, in the team's order."""
        return ByTerritory(self._covering("territories"))

    def by_industry(self) -> ByIndustry:
        """A `ByIndustry` rule: each industry to the members covering it, in the team's order."""
        return ByIndustry(self._covering("industries"))

    def by_workload(self, cap: int) -> ByWorkload:
        """A `ByWorkload` rule with `cap` for the members without a cap of their own.

        Raises:
            ValidationError: `cap` is not a whole number from 0 to 2**31 - 1.
        """
        return ByWorkload(cap, {m.id: m.cap for m in self.members if m.cap is not None})

    def _covering(self, field: str) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for member in self.members:
            for key in getattr(member, field):
                found.setdefault(key, []).append(member.id)
        return {key: tuple(people) for key, people in found.items()}
