"""Merging two records into one: the rules each capability registers for what it owns.

When customer B is merged into customer A, every record that names B must move to A, or the
merge loses it. The storage core does not know which records those are; each capability
registers, beside each aggregate, a `MergeRule` saying how its records follow a merge
(`crmkit.storage._registry.register_merge_rule`). The common case is declarative, `Repoint`:
the records whose field names B name A instead. A capability with more to do (the customers'
own fields, a credit account's balances) writes its own rule.

A rule works in two steps, so that a dry run and the merge agree: `MergeRule.plan` reads what
would happen and writes nothing; `MergeRule.apply` does what its plan says, in the caller's
unit of work. The moves are privileged writes (`Repository._repoint`), which move even records
whose field cannot change or whose aggregate is append-only, and which the change log records
as ``merge``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import attrs

from crmkit.errors import ConcurrencyError, ValidationError
from crmkit.storage._registry import merge_rule, registered

if TYPE_CHECKING:
    from crmkit.storage._aggregates import Aggregate
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = [
    "FieldConflict",
    "MergeRule",
    "MergeStep",
    "Merging",
    "Moves",
    "Planned",
    "Repoint",
    "carry_out",
    "planned",
]


@attrs.frozen
class Merging:
    """What is being merged: the record that survives, the one merged into it, and how.

    Attributes:
        table: the table of the two records (``"customers"``).
        survivor: the id of the record that stays (A).
        merged: the id of the record merged into it and then removed (B).
        policy: the caller's policy, for rules that settle conflicting values (for customers,
            a `crmkit.customers.MergePolicy`).
    """

    table: str
    survivor: UUID
    merged: UUID
    policy: Any = None

    def sources(self, **fields: str) -> dict[str, Any]:
        """The `Change.sources` of a merge's write: both ids, and where each field came from.

        Each of `fields` is ``"survivor"``, ``"merged"`` or ``"both"``.
        """
        return {"survivor": str(self.survivor), "merged": str(self.merged), "fields": fields}


@attrs.frozen
class Moves:
    """Records a merge moves (or would move) from the merged record to the survivor.

    Attributes:
        record: their record name (``"interaction"``).
        ids: their ids, in order.
        field: the field that changes to name the survivor (or the survivor's own record,
            such as its credit account).
    """

    record: str
    ids: tuple[UUID, ...]
    field: str


@attrs.frozen
class FieldConflict:
    """A field on which the two records disagree, and how the merge settles it.

    Attributes:
        record: the record name (``"customer"``, ``"credit_account"``).
        field: the field (``"name"``; ``"custom_fields.region"`` for one custom field).
        kept: the value kept.
        dropped: the value dropped (it stays in the change log's entries of the merge).
        rule: what decided (``"survivor"``, ``"merged"``, ``"newest"``, ``"chosen"``, or a
            rule of the capability's, explained in its docs).
    """

    record: str
    field: str
    kept: Any
    dropped: Any
    rule: str


@attrs.frozen
class MergeStep:
    """One rule's plan: what it moves, removes and settles; its `apply` does exactly this.

    Attributes:
        moves: the records moved to the survivor.
        removed: the records removed once emptied, as (record name, id) pairs.
        conflicts: the fields settled, with the value kept and the one dropped.
        data: what the rule's `apply` needs from its plan (its own business).
    """

    moves: tuple[Moves, ...] = ()
    removed: tuple[tuple[str, UUID], ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()
    data: Any = attrs.field(default=None, eq=False, repr=False)


class MergeRule(Protocol):
    """How the records of one aggregate follow a merge of two records of another table."""

    def plan(self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging) -> MergeStep:
        """What the merge would do to `aggregate`'s records; writes nothing.

        Raises:
            ValidationError: the merge cannot be done (say why); nothing is written.
        """
        ...

    def apply(
        self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging, step: MergeStep
    ) -> None:
        """Do what `step` (this rule's plan, made in the same unit of work) says."""
        ...


@attrs.frozen
class Repoint:
    """The records whose `field` names the merged record name the survivor instead.

    The one-line rule for an aggregate whose records simply follow their customer:
    ``register_merge_rule(INTERACTIONS, Repoint("customer_id"))``. The records keep their ids
    and everything else; the change log records each as a ``merge``.

    Attributes:
        field: the field naming the record merged (``"customer_id"``).
        shift: integer fields to move up by an offset the rule is given (none here; see
            `Repository._repoint`).
    """

    field: str = "customer_id"
    shift: Mapping[str, int] = attrs.field(factory=dict)

    def plan(self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging) -> MergeStep:
        """The records that name the merged record."""
        found = uow.repository(aggregate)._referring(self.field, merging.merged)
        if not found:
            return MergeStep()
        ids = tuple(r.id for r in found)
        return MergeStep(moves=(Moves(aggregate.record, ids, self.field),))

    def apply(
        self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging, step: MergeStep
    ) -> None:
        """Move them.

        Raises:
            ConcurrencyError: other records name the merged record now than when planned
                (the memory store, which never waits for a lock); run the merge again.
        """
        if not step.moves:
            return
        sources = merging.sources(**{self.field: "survivor"})
        moved = uow.repository(aggregate)._repoint(
            self.field, merging.merged, merging.survivor, shift=self.shift, sources=sources
        )
        if tuple(r.id for r in moved) != step.moves[0].ids:
            raise ConcurrencyError(aggregate.record, merging.merged, None)


@attrs.frozen
class Planned:
    """One registered rule's plan for one aggregate."""

    aggregate: Aggregate[Any]
    rule: MergeRule
    step: MergeStep


def planned(uow: UnitOfWork, merging: Merging) -> list[Planned]:
    """Every registered rule's plan for `merging`, in registration order (parents first).

    Raises:
        ValidationError: an aggregate that names records of the merged table has no merge
            rule (the merge would lose its records), or a rule refuses the merge.
    """
    found = []
    for aggregate in registered():
        rule = merge_rule(aggregate.table)
        if rule is None:
            if aggregate.table == merging.table or aggregate.references_to(merging.table):
                raise ValidationError.of(
                    "merged",
                    f"cannot be merged: {aggregate.record} records name {merging.table}, and "
                    f"no merge rule says how they follow a merge (see register_merge_rule)",
                )
            continue
        found.append(Planned(aggregate, rule, rule.plan(uow, aggregate, merging)))
    return found


def carry_out(uow: UnitOfWork, merging: Merging, steps: list[Planned]) -> None:
    """Apply each plan, children first: the merged record's own rule (it is removed) last.

    Whatever fails once the merge has begun writing spoils the unit of work (even a
    `ValidationError`, which a lone refused write would not): a part of a merge can only be
    rolled back, never committed.
    """
    with uow._writing(f"merging {merging.table}"):
        for p in reversed(steps):
            p.rule.apply(uow, p.aggregate, merging, p.step)
