"""Who gets a new lead: assignment policies and the decision they return.

A policy is pure: it looks at a lead and at a `Snapshot` of the sales team (who is in it, how many
open leads each holds, how many leads each was given so far) and returns a `Decision`, or ``None``
when its rule does not decide. Storage takes the snapshot and applies the decision in one unit of
work, so the same policy stays fair and within its caps when several workers assign at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from crmkit._validation import Validated, as_tuple, bounded_int, check, each, key_text, shown, text
from crmkit.errors import Issue

if TYPE_CHECKING:
    from crmkit.pipeline._leads import Lead

__all__ = [
    "AssignmentPolicy",
    "ByIndustry",
    "ByTerritory",
    "ByWorkload",
    "Chain",
    "Decision",
    "RoundRobin",
    "Snapshot",
]

_key = key_text(max_length=64)
_count = bounded_int(0, 2**31 - 1)


def _figures(value: object) -> str | list[Issue] | None:
    if not isinstance(value, dict):
        return f"must be a dict, not {type(value).__name__}"
    found: list[Issue] = []
    for name, number in value.items():
        problem = key_text(max_length=200)(name)
        if problem is not None:
            found.append(Issue(f"[{shown(name)}]", f"figure name {problem}"))
        elif (problem := _count(number)) is not None:
            found.append(Issue(f"[{name!r}]", problem))
    return found


def _counts(value: object) -> str | list[Issue] | None:
    if not isinstance(value, Mapping):
        return f"must be a mapping of salesperson to count, not {type(value).__name__}"
    found: list[Issue] = []
    for who, number in value.items():
        problem = _key(who)
        if problem is not None:
            found.append(Issue(f"[{shown(who)}]", f"salesperson id {problem}"))
        elif (problem := _count(number)) is not None:
            found.append(Issue(f"[{who!r}]", problem))
    return found


@attrs.frozen(kw_only=True)
class Decision(Validated):
    """Who gets a lead, by which rule and why: what a policy returns and the lead stores.

    Attributes:
        salesperson_id: the salesperson the lead goes to.
        rule: the name of the rule that decided (``"round_robin"``, ``"territory"``, ...).
        reason: why, in words, for the salesperson and their manager.
        figures: the numbers the rule looked at, by name (``{"open_leads:li.na": 3}``).

    Examples:
        >>> Decision.manual("li.na", "asked for by the customer").rule
        'manual'
    """

    salesperson_id: str = attrs.field(metadata=check(_key))
    rule: str = attrs.field(metadata=check(_key))
    reason: str = attrs.field(metadata=check(text(max_length=500)))
    figures: dict[str, int] = attrs.field(factory=dict, metadata=check(_figures))

    @classmethod
    def manual(cls, salesperson_id: str, reason: str) -> Decision:
        """A decision made by a person rather than a policy (rule ``"manual"``)."""
        return cls(salesperson_id=salesperson_id, rule="manual", reason=reason)


@attrs.frozen(kw_only=True)
class Snapshot(Validated):
    """The sales team as a policy sees it at one moment.

    Attributes:
        salespeople: who may receive leads, in a stable order that breaks ties.
        open_leads: how many open leads each holds now (missing means none).
        assignments: how many leads each was given so far (missing means none).

    Examples:
        >>> team = Snapshot(salespeople=("li.na", "wang.fang"), assignments={"li.na": 1})
        >>> team.after(Decision.manual("wang.fang", "asked for")).assignments
        {'li.na': 1, 'wang.fang': 1}
    """

    salespeople: tuple[str, ...] = attrs.field(converter=as_tuple, metadata=check(each(_key)))
    open_leads: Mapping[str, int] = attrs.field(factory=dict, metadata=check(_counts))
    assignments: Mapping[str, int] = attrs.field(factory=dict, metadata=check(_counts))

    def _invariants(self) -> list[Issue]:
        seen: set[str] = set()
        for i, who in enumerate(self.salespeople):
            if who in seen:
                return [Issue(f"salespeople[{i}]", f"{who!r} appears twice")]
            seen.add(who)
        return []

    def open_leads_of(self, salesperson_id: str) -> int:
        """How many open leads `salesperson_id` holds (0 when the snapshot does not say)."""
        return self.open_leads.get(salesperson_id, 0)

    def assignments_of(self, salesperson_id: str) -> int:
        """How many leads `salesperson_id` was given so far (0 when the snapshot does not say)."""
        return self.assignments.get(salesperson_id, 0)

    def after(self, decision: Decision) -> Snapshot:
        """The snapshot once `decision` is applied: its salesperson has one more of each count."""
        who = decision.salesperson_id
        return attrs.evolve(
            self,
            open_leads={**self.open_leads, who: self.open_leads_of(who) + 1},
            assignments={**self.assignments, who: self.assignments_of(who) + 1},
        )

    def fewest(self, candidates: Sequence[str], count: Mapping[str, int]) -> str:
        """The candidate with the lowest `count` (missing means 0), ties by the snapshot's order."""
        rank = {who: i for i, who in enumerate(self.salespeople)}
        return min(candidates, key=lambda who: (count.get(who, 0), rank.get(who, len(rank))))


@runtime_checkable
class AssignmentPolicy(Protocol):
    """A rule that picks a salesperson for a lead, or declines (returns ``None``)."""

    def decide(self, lead: Lead, team: Snapshot) -> Decision | None:
        """The decision for `lead` given `team`, or ``None`` when this rule does not decide."""
        ...


@attrs.frozen
class RoundRobin:
    """Fair turns: the salesperson given the fewest leads so far, ties by the team's order.

    Counting assignments (rather than remembering whose turn it is) keeps it fair when workers
    assign at once: each decides from the current counts, and nobody gets two more than another.

    Examples:
        >>> from crmkit.pipeline import Lead
        >>> team = Snapshot(salespeople=("li.na", "wang.fang"), assignments={"li.na": 2})
        >>> RoundRobin().decide(Lead(name="Zhao Lei", source="website"), team).salesperson_id
        'wang.fang'
    """

    rule = "round_robin"

    def decide(self, lead: Lead, team: Snapshot) -> Decision | None:  # noqa: ARG002
        """The salesperson with the fewest assignments, or ``None`` for an empty team."""
        if not team.salespeople:
            return None
        who = team.fewest(team.salespeople, team.assignments)
        return Decision(
            salesperson_id=who,
            rule=self.rule,
            reason=f"{who} has had the fewest leads so far ({team.assignments_of(who)})",
            figures={f"assignments:{p}": team.assignments_of(p) for p in team.salespeople},
        )


def _matches(value: object) -> str | list[Issue] | None:
    if not isinstance(value, Mapping):
        return f"must be a mapping of key to salespeople, not {type(value).__name__}"
    found: list[Issue] = []
    for key, people in value.items():
        problem = _key(key)
        if problem is not None:
            found.append(Issue(f"[{shown(key)}]", problem))
            continue
        if isinstance(people, str) or not isinstance(people, tuple):
            found.append(Issue(f"[{key!r}]", "must be a tuple of salesperson ids"))
            continue
        if not people:
            found.append(Issue(f"[{key!r}]", "must name at least one salesperson"))
        for i, who in enumerate(people):
            if (problem := _key(who)) is not None:
                found.append(Issue(f"[{key!r}][{i}]", problem))
    return found


def _as_matches(value: object) -> object:
    """Each value of a mapping as a tuple of ids: a single id stands for a tuple of one."""
    if not isinstance(value, Mapping):
        return value
    return {
        k: (v,) if isinstance(v, str) else tuple(v) if isinstance(v, list) else v
        for k, v in value.items()
    }


@attrs.frozen
class _ByMatch(Validated):
    """A rule that looks up one field of the lead in a mapping to the salespeople who cover it.

    Among the covering salespeople who are in the team, the one given the fewest leads so far
    gets it. A lead without the field, with a value nobody covers, or whose coverers are all
    absent from the team, is left to the next rule.
    """

    matches: Mapping[str, tuple[str, ...]] = attrs.field(
        converter=_as_matches, metadata=check(_matches)
    )
    rule = ""
    field = ""

    def decide(self, lead: Lead, team: Snapshot) -> Decision | None:
        """The covering salesperson with the fewest assignments, or ``None``."""
        value = getattr(lead, self.field)
        if value is None or value not in self.matches:
            return None
        present = [who for who in self.matches[value] if who in team.salespeople]
        if not present:
            return None
        who = team.fewest(present, team.assignments)
        also = f" (of {', '.join(present)}, the fewest leads so far)" if len(present) > 1 else ""
        return Decision(
            salesperson_id=who,
            rule=self.rule,
            reason=f"{self.field} {value!r} is covered by {who}{also}",
            figures={f"assignments:{p}": team.assignments_of(p) for p in present},
        )


@attrs.frozen
class ByTerritory(_ByMatch):
    """The salesperson covering the lead's territory (``{"east": ("li.na", "wang.fang")}``).

    Examples:
        >>> from crmkit.pipeline import Lead
        >>> rule = ByTerritory({"east": "li.na"})
        >>> lead = Lead(name="Zhao Lei", source="website", territory="east")
        >>> rule.decide(lead, Snapshot(salespeople=("li.na", "wang.fang"))).reason
        "territory 'east' is covered by li.na"
    """

    rule = "territory"
    field = "territory"


@attrs.frozen
class ByIndustry(_ByMatch):
    """The salesperson covering the lead's industry (``{"retail": "wang.fang"}``)."""

    rule = "industry"
    field = "industry"


def _caps(value: object) -> str | list[Issue] | None:
    if not isinstance(value, Mapping):
        return f"must be a mapping of salesperson to cap, not {type(value).__name__}"
    return _counts(value)


@attrs.frozen
class ByWorkload(Validated):
    """The salesperson holding the fewest open leads, among those under their cap.

    Ties go to the one given the fewest leads so far, then to the team's order. When everyone is
    at their cap, the rule does not decide (and a `Chain` may leave the lead in the pool).

    Attributes:
        cap: the most open leads a salesperson may hold.
        caps: individual caps that replace `cap` for some salespeople.

    Examples:
        >>> from crmkit.pipeline import Lead
        >>> team = Snapshot(salespeople=("li.na", "wang.fang"), open_leads={"li.na": 2})
        >>> ByWorkload(cap=2).decide(Lead(name="Zhao Lei", source="website"), team).figures
        {'open_leads:li.na': 2, 'open_leads:wang.fang': 0, 'cap:wang.fang': 2}
    """

    cap: int = attrs.field(metadata=check(_count))
    caps: Mapping[str, int] = attrs.field(factory=dict, metadata=check(_caps))
    rule = "workload"

    def cap_of(self, salesperson_id: str) -> int:
        """The most open leads `salesperson_id` may hold."""
        return self.caps.get(salesperson_id, self.cap)

    def decide(self, lead: Lead, team: Snapshot) -> Decision | None:  # noqa: ARG002
        """The least loaded salesperson under their cap, or ``None`` when all are full."""
        under = [p for p in team.salespeople if team.open_leads_of(p) < self.cap_of(p)]
        if not under:
            return None
        rank = {who: i for i, who in enumerate(team.salespeople)}
        who = min(under, key=lambda p: (team.open_leads_of(p), team.assignments_of(p), rank[p]))
        held, cap = team.open_leads_of(who), self.cap_of(who)
        return Decision(
            salesperson_id=who,
            rule=self.rule,
            reason=f"{who} holds the fewest open leads ({held}, cap {cap})",
            figures={f"open_leads:{p}": team.open_leads_of(p) for p in team.salespeople}
            | {f"cap:{who}": cap},
        )


def _policies(value: object) -> str | None:
    if not isinstance(value, tuple) or not value:
        return "must name at least one policy"
    for i, policy in enumerate(value):
        if not isinstance(policy, AssignmentPolicy):
            return f"[{i}] {shown(policy)} is not a policy (it has no decide method)"
    return None


@attrs.frozen(init=False)
class Chain(Validated):
    """Rules tried in order: the first that decides wins; ``None`` when none does.

    Examples:
        >>> from crmkit.pipeline import Lead
        >>> policy = Chain(ByTerritory({"east": "li.na"}), RoundRobin())
        >>> lead = Lead(name="Zhao Lei", source="website", territory="west")
        >>> policy.decide(lead, Snapshot(salespeople=("li.na", "wang.fang"))).rule
        'round_robin'
    """

    policies: tuple[AssignmentPolicy, ...] = attrs.field(metadata=check(_policies))

    def __init__(self, *policies: AssignmentPolicy) -> None:
        self.__attrs_init__(policies=policies)

    def decide(self, lead: Lead, team: Snapshot) -> Decision | None:
        """The decision of the first rule that decides, or ``None``."""
        for policy in self.policies:
            decision = policy.decide(lead, team)
            if decision is not None:
                return decision
        return None
