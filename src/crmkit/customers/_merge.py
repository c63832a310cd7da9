"""Merging a duplicate customer into another without losing anything.

`merge_customers` merges customer B into customer A in the caller's unit of work: A survives,
every record of every capability that names B moves to A (each capability registers how, with
`crmkit.storage._registry.register_merge_rule`), B's contacts, tags, custom field values,
preferences, anniversaries and do-not-contact windows join A's, the fields on which the two
disagree are settled by a stated, configurable rule (`MergePolicy`), and B is removed last.
`plan_merge` is the dry run: the same plan, nothing written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs

from crmkit._validation import shown
from crmkit.customers._events import CustomersMerged
from crmkit.customers._model import Address, Customer
from crmkit.errors import ValidationError
from crmkit.storage._merge import FieldConflict, Merging, Moves, Planned, carry_out, planned

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = [
    "ConflictRule",
    "MergePlan",
    "MergePolicy",
    "MergeResult",
    "Settling",
    "merge_customers",
    "plan_merge",
]

_TABLE = "customers"
# Collections that are united rather than settled: every value of both customers is kept.
_UNITED = ("tags", "custom_fields", "preferences", "anniversaries", "do_not_contact", "contacts")
_CUSTOM = "custom_fields"


class ConflictRule(enum.StrEnum):
    """Which customer's value a merge keeps when both have one and they differ.

    ``survivor``: the survivor's (A's). ``merged``: the merged customer's (B's). ``newest``:
    the value of whichever customer was changed last, by the change log (the survivor's on a
    tie, or when neither has a committed change).
    """

    SURVIVOR = "survivor"
    MERGED = "merged"
    NEWEST = "newest"


def _settled_fields() -> tuple[str, ...]:
    """The customer's fields that hold one value each: those a merge settles."""
    fields: tuple[attrs.Attribute[Any], ...] = attrs.fields(Customer)
    return tuple(f.name for f in fields if f.name not in (*_UNITED, "id", "version"))


def _a_rule_key(name: object) -> str | None:
    """The problem with `name` as a key of `MergePolicy.fields`, if any."""
    if not isinstance(name, str):
        return f"must be a field name, not {shown(name)}"
    if name in _settled_fields() or name == _CUSTOM or name.startswith(f"{_CUSTOM}."):
        return None
    return (
        f"{name!r} is not a field a merge settles (one of {', '.join(_settled_fields())}, "
        f"custom_fields, or custom_fields.<name>)"
    )


@attrs.frozen(kw_only=True)
class MergePolicy:
    """How a merge settles the fields on which the two customers disagree.

    A value only one of them has is always kept (an empty value, ``None``, ``""`` or a blank
    `Address`, is no value). Where both have one and they differ, `rule` decides, unless
    `fields` names another rule for that field or `chosen` gives the value. Collections are
    united, never settled: tags (both sets), preferences, anniversaries and do-not-contact
    windows (the survivor's in their order, then the merged customer's not already there),
    contacts (all of them, with their ids; two contacts with the same phone or email stay two
    records: a merge never merges people silently). Custom field values are united by name; on
    the same name `rule` decides as for a field (``fields["custom_fields"]`` for all of them,
    ``fields["custom_fields.region"]`` for one).

    The host's code and `external_id` are unique in a tenant: when the merged customer's
    value is kept, it is freed first (the merged customer is removed before the survivor is
    written); a dropped one stays in the change log (the merged customer's ``delete`` entry)
    and in the plan's conflicts.

    Examples:
        >>> from crmkit.customers import ConflictRule, MergePolicy
        >>> MergePolicy(fields={"name": ConflictRule.MERGED}).rule
        <ConflictRule.SURVIVOR: 'survivor'>

    Attributes:
        rule: the rule for every field not named in `fields` (the survivor's value by
            default).
        fields: a rule per field (``{"owner_id": ConflictRule.NEWEST}``).
        chosen: a value per field, chosen by the caller, kept whatever the customers hold.
    """

    rule: ConflictRule = ConflictRule.SURVIVOR
    fields: Mapping[str, ConflictRule] = attrs.field(factory=dict)
    chosen: Mapping[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.rule, ConflictRule):
            raise ValidationError.of("rule", f"must be a ConflictRule, not {shown(self.rule)}")
        for name, given in (("fields", self.fields), ("chosen", self.chosen)):
            if not isinstance(given, Mapping):
                raise ValidationError.of(name, f"must be a mapping, not {shown(given)}")
        for key, rule in self.fields.items():
            problem = _a_rule_key(key)
            value: object = rule  # the caller's, whatever the annotation says
            if problem is None and not isinstance(value, ConflictRule):
                problem = f"must be a ConflictRule, not {shown(rule)}"
            if problem is not None:
                raise ValidationError.of(f"fields[{key!r}]", problem)
        for key in self.chosen:
            if key not in _settled_fields():
                raise ValidationError.of(
                    f"chosen[{key!r}]", f"is not one field a merge settles: {shown(key)}"
                )

    def rule_for(self, field: str) -> ConflictRule:
        """The rule that settles `field` (``"custom_fields.region"`` for a custom value)."""
        if field in self.fields:
            return self.fields[field]
        if field.startswith(f"{_CUSTOM}.") and _CUSTOM in self.fields:
            return self.fields[_CUSTOM]
        return self.rule


@attrs.frozen(kw_only=True)
class MergePlan:
    """What merging one customer into another does (or would do), before anything is written.

    Attributes:
        survivor_id: the customer that stays (A).
        merged_id: the customer merged into it and removed (B).
        customer: the survivor as the merge leaves it (not stored by a dry run).
        moves: per kind of record, the records that move to the survivor (its contacts as
            ``"contact"``), with their ids.
        removed: the records removed once emptied, as (record name, id): the merged customer,
            and its credit account when the survivor has one.
        conflicts: each field on which the two disagreed: the value kept, the value dropped,
            and the rule that decided.
        sources: per field of the survivor that changes, where its value comes from:
            ``"merged"``, ``"both"`` (a union) or ``"chosen"`` (the caller's).
    """

    survivor_id: UUID
    merged_id: UUID
    customer: Customer
    moves: tuple[Moves, ...]
    removed: tuple[tuple[str, UUID], ...]
    conflicts: tuple[FieldConflict, ...]
    sources: Mapping[str, str]

    @property
    def moved(self) -> dict[str, int]:
        """How many records of each kind move, by record name (sorted)."""
        counts: dict[str, int] = {}
        for m in self.moves:
            counts[m.record] = counts.get(m.record, 0) + len(m.ids)
        return dict(sorted(counts.items()))


@attrs.frozen(kw_only=True)
class MergeResult:
    """What a merge did.

    Attributes:
        plan: the plan it carried out (what `plan_merge` said it would do).
        customer: the survivor as now stored.
        event: the `CustomersMerged` event recorded.
    """

    plan: MergePlan
    customer: Customer
    event: CustomersMerged


# --- the customers' own rule ----------------------------------------------------------------------


def _empty(value: object) -> bool:
    return value is None or value == "" or value == Address()


def _last_change(uow: UnitOfWork, key: UUID) -> Any:  # noqa: ANN401 (an instant, or None)
    """When the customer `key` was last changed, by the change log; None if never."""
    last, after = None, 0
    while page := uow.changes.for_record("customer", key, after=after, limit=1000):
        last, after = page[-1].at, page[-1].seq
    return last


class Settling:
    """The field-by-field settlement of two customers under a policy (for the customers' rule).

    Attributes:
        conflicts: the fields settled so far, once `customer` has run.
        sources: per field of the survivor that changes, where its value comes from.
    """

    def __init__(self, uow: UnitOfWork, a: Customer, b: Customer, policy: MergePolicy) -> None:
        self._uow = uow
        self.a, self.b, self.policy = a, b, policy
        self.conflicts: list[FieldConflict] = []
        self.sources: dict[str, str] = {}
        self._newest: ConflictRule | None = None

    def newest(self) -> ConflictRule:
        """The customer changed last, as a rule (read from the change log once)."""
        if self._newest is None:
            a, b = _last_change(self._uow, self.a.id), _last_change(self._uow, self.b.id)
            later = b is not None and (a is None or b > a)
            self._newest = ConflictRule.MERGED if later else ConflictRule.SURVIVOR
        return self._newest

    def settle(self, field: str, mine: object, theirs: object) -> tuple[object, str | None]:
        """The value of `field` kept, and its source if it is not the survivor's."""
        if _empty(theirs) or mine == theirs:
            return mine, None
        if _empty(mine):
            return theirs, "merged"
        rule = self.policy.rule_for(field)
        decided = self.newest() if rule is ConflictRule.NEWEST else rule
        kept, dropped = (theirs, mine) if decided is ConflictRule.MERGED else (mine, theirs)
        self.conflicts.append(FieldConflict("customer", field, kept, dropped, rule.value))
        return kept, "merged" if decided is ConflictRule.MERGED else None

    def chosen(self, field: str, value: object) -> object:
        """The caller's value for `field`; a conflict with each customer's value it replaces."""
        others = [v for v in (getattr(self.a, field), getattr(self.b, field)) if v != value]
        if others:
            dropped = others[0] if len(others) == 1 else tuple(others)
            self.conflicts.append(FieldConflict("customer", field, value, dropped, "chosen"))
        return value

    def customer(self) -> Customer:
        """The survivor with everything of the merged customer's, settled and united."""
        a, b, policy = self.a, self.b, self.policy
        survivor = attrs.evolve(a, contacts=[*a.contacts, *b.contacts])
        if b.contacts:
            self.sources["contacts"] = "both"
        for field in _settled_fields():
            if field in policy.chosen:
                value: object = self.chosen(field, policy.chosen[field])
                source: str | None = "chosen" if value != getattr(a, field) else None
            else:
                value, source = self.settle(field, getattr(a, field), getattr(b, field))
            if source is not None:
                try:
                    setattr(survivor, field, value)  # checked on assignment
                except ValidationError as e:
                    raise e.under(f"chosen[{field!r}]") from None
                self.sources[field] = source
        united: dict[str, object] = {}
        if not b.tags <= a.tags:
            united["tags"] = a.tags | b.tags
        for field in ("preferences", "anniversaries", "do_not_contact"):
            mine, theirs = getattr(a, field), getattr(b, field)
            extra = tuple(dict.fromkeys(v for v in theirs if v not in mine))
            if extra:
                united[field] = (*mine, *extra)
        custom: dict[str, Any] = dict(a.custom_fields)
        for name, theirs in b.custom_fields.items():
            custom[name], _ = self.settle(f"{_CUSTOM}.{name}", custom.get(name), theirs)
        if custom != a.custom_fields:
            united[_CUSTOM] = custom
        for field, value in united.items():
            setattr(survivor, field, value)
            self.sources[field] = "both"
        return survivor


# --- the services ---------------------------------------------------------------------------------


def _arguments(into: object, merged: object, policy: object) -> MergePolicy:
    for name, value in (("into", into), ("merged", merged)):
        if not isinstance(value, UUID):
            raise ValidationError.of(name, f"must be a customer's id (a UUID), not {shown(value)}")
    if into == merged:
        raise ValidationError.of("merged", f"is the survivor itself ({into}): nothing to merge")
    if policy is None:
        return MergePolicy()
    if not isinstance(policy, MergePolicy):
        raise ValidationError.of("policy", f"must be a MergePolicy, not {shown(policy)}")
    return policy


def _planned(uow: UnitOfWork, merging: Merging) -> tuple[MergePlan, list[Planned]]:
    """Every registered rule's plan, and the plan they make together."""
    customers = uow.customers
    customers.get(merging.survivor)  # NotFound, named, before anything else is read
    customers.get(merging.merged)
    steps = planned(uow, merging)
    customer_step = next(p.step for p in steps if p.aggregate.table == _TABLE)
    survivor, _, sources = customer_step.data
    everything = [p.step for p in steps]
    plan = MergePlan(
        survivor_id=merging.survivor,
        merged_id=merging.merged,
        customer=survivor,
        moves=tuple(m for s in everything for m in s.moves),
        removed=tuple(r for s in reversed(everything) for r in s.removed),
        conflicts=tuple(c for s in everything for c in s.conflicts),
        sources=dict(sources),
    )
    return plan, steps


def plan_merge(
    uow: UnitOfWork, *, into: UUID, merged: UUID, policy: MergePolicy | None = None
) -> MergePlan:
    """The dry run of `merge_customers`: what it would move, remove and settle; writes nothing.

    Works in a read-only unit of work too.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Customer, plan_merge
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(a := Customer(name="Acme", owner_id="li", tags={"vip"}))
        ...     uow.customers.add(b := Customer(name="ACME Ltd", owner_id="li", tags={"cn"}))
        >>> with crm.unit_of_work(actor="li", read_only=True) as uow:
        ...     plan = plan_merge(uow, into=a.id, merged=b.id)
        >>> [(c.field, c.kept, c.dropped, c.rule) for c in plan.conflicts]
        [('name', 'Acme', 'ACME Ltd', 'survivor')]
        >>> sorted(plan.customer.tags), plan.sources["tags"]
        (['cn', 'vip'], 'both')

    Raises:
        ValidationError: an argument is bad (named), the two are the same customer, or the
            merge cannot be done (two credit accounts in different currencies, say).
        NotFound: either customer does not exist in the tenant.
    """
    chosen = _arguments(into, merged, policy)
    plan, _ = _planned(uow, Merging(_TABLE, into, merged, chosen))
    return plan


def merge_customers(
    uow: UnitOfWork, *, into: UUID, merged: UUID, policy: MergePolicy | None = None
) -> MergeResult:
    """Merge customer `merged` (B) into customer `into` (A), losing nothing; B is removed.

    In the caller's unit of work, as one transaction: both customers are locked first (in id
    order, so two merges cannot deadlock), every rule plans (as `plan_merge` does), then every
    rule moves what names B to A: contacts, timeline, leads converted into B, opportunities,
    the credit account and its ledger (see the docs page "Merging customers"). B is removed
    last, when nothing names it any more. The change log records each moved or changed
    record as a ``merge``, with where its values came from (`crmkit.storage.Change.sources`),
    and `CustomersMerged` is recorded.

    If anything fails once the merge has begun writing, the unit of work is spoilt: it can
    only roll back, so a part of a merge is never committed.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Contact, Customer, merge_customers
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="li") as uow:
        ...     uow.customers.add(a := Customer(name="Acme", owner_id="li"))
        ...     uow.customers.add(b := Customer(name="Acme", owner_id="li", code="C-7",
        ...                                     contacts=[Contact(name="Zhao Lei")]))
        ...     done = merge_customers(uow, into=a.id, merged=b.id)
        >>> done.customer.code, [c.name for c in done.customer.contacts], done.event.moved
        ('C-7', ['Zhao Lei'], {'contact': 1})

    Raises:
        ValidationError: as `plan_merge`; nothing is written.
        NotFound: either customer does not exist in the tenant.
        ConcurrencyError: what names B changed while the merge ran; run it again
            (`crmkit.CRM.run` does).
    """
    chosen = _arguments(into, merged, policy)
    merging = Merging(_TABLE, into, merged, chosen)
    for key in sorted((into, merged)):
        uow.customers.lock(key)
    plan, steps = _planned(uow, merging)
    carry_out(uow, merging, steps)
    event = uow.record(CustomersMerged, survivor_id=into, merged_id=merged, moved=plan.moved)
    return MergeResult(plan=plan, customer=uow.customers.get(into), event=event)
