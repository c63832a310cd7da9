"""How the credit ledger follows a merge of two customers: the credit accounts' merge rule.

If only the merged customer (B) has an account, it moves to the survivor (A) whole. If both
have one, in one currency, B's account is folded into A's: its orders, invoices, payments,
credit notes, overrides and operations move to A's account; its ledger entries move too,
renumbered after A's last (their ids, order and amounts kept); A's running balances grow by
B's; a record whose document was B's account (the operation that opened it) names A's; and
B's emptied account is removed. So A's balances after are A's before plus B's
before, and each balance still equals the sum of its account's entries (the ledger's law).
Two accounts in different currencies are refused before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from crmkit.credit._ledger import CreditAccount
from crmkit.errors import ConcurrencyError, ValidationError
from crmkit.storage._credit import CREDIT_OPERATIONS, LEDGER_ENTRIES
from crmkit.storage._merge import FieldConflict, MergeStep, Merging, Moves, Repoint

if TYPE_CHECKING:
    from crmkit.storage._aggregates import Aggregate
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["CreditAccountMerge"]

# The numbers that count an account's entries: they move after the survivor's last entry.
_RENUMBERED = {LEDGER_ENTRIES.table: "sequence", CREDIT_OPERATIONS.table: "first"}
_BALANCES = ("open_orders", "unpaid_invoices", "unallocated")
# A record whose document is the account itself (the operation that opened it) names it here.
_DOCUMENT = "document_id"
_MOVE = Repoint("customer_id")


@attrs.frozen
class CreditAccountMerge:
    """The credit accounts' merge rule (see the module's docstring)."""

    def plan(self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging) -> MergeStep:
        """What moves: B's account, or everything of B's account to A's.

        Raises:
            ValidationError: both have accounts, in different currencies.
        """
        accounts = uow.credit_accounts
        theirs = accounts.for_customer(merging.merged)
        if theirs is None:
            return MergeStep()
        mine = accounts.for_customer(merging.survivor)
        if mine is None:
            return _MOVE.plan(uow, aggregate, merging)
        if mine.currency != theirs.currency:
            raise ValidationError.of(
                "merged",
                f"has a credit account in {theirs.currency} and the survivor one in "
                f"{mine.currency}: accounts in different currencies cannot be merged",
            )
        moves = _children(uow, aggregate, theirs)
        conflicts = []
        if mine.base_limit != theirs.base_limit:
            conflicts.append(
                FieldConflict(
                    aggregate.record, "base_limit", mine.base_limit, theirs.base_limit, "survivor"
                )
            )
        if theirs.on_hold and not mine.on_hold:
            conflicts.append(
                FieldConflict(
                    aggregate.record, "on_hold", kept=True, dropped=False, rule="a hold is kept"
                )
            )
        return MergeStep(
            moves=moves,
            removed=((aggregate.record, theirs.id),),
            conflicts=tuple(conflicts),
            data=(mine.id, theirs.id, moves),
        )

    def apply(
        self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging, step: MergeStep
    ) -> None:
        """Move B's account, or fold it into A's.

        Raises:
            ConcurrencyError: B's account's records changed since the plan; run it again.
        """
        if step.data is None:
            _MOVE.apply(uow, aggregate, merging, step)
            return
        mine_id, theirs_id, planned = step.data
        accounts = uow.credit_accounts
        # Account locks first, in id order, as the ledger's services take them.
        locked = {key: accounts.lock(key) for key in sorted((mine_id, theirs_id))}
        mine, theirs = locked[mine_id], locked[theirs_id]
        if _children(uow, aggregate, theirs) != planned:
            raise ConcurrencyError(aggregate.record, theirs.id, None)
        offset = mine.sequence
        for child in uow._children(aggregate.table):
            assert child.parent is not None  # noqa: S101 (children have a parent)
            number = _RENUMBERED.get(child.table)
            moved = {child.parent.field: "survivor"}
            if number is not None:
                moved[number] = "both"
            uow.repository(child)._repoint(
                child.parent.field,
                theirs.id,
                mine.id,
                shift={number: offset} if number is not None else None,
                sources=merging.sources(**moved),
            )
            if _DOCUMENT in attrs.fields_dict(child.cls):
                uow.repository(child)._repoint(
                    _DOCUMENT, theirs.id, mine.id, sources=merging.sources(document_id="survivor")
                )
        changes: dict[str, Any] = {n: getattr(mine, n) + getattr(theirs, n) for n in _BALANCES}
        changes["sequence"] = mine.sequence + theirs.sequence
        fields = dict.fromkeys(changes, "both")
        extra = tuple(i for i in theirs.increases if i not in mine.increases)
        if extra:
            changes["increases"] = (*mine.increases, *extra)
            fields["increases"] = "both"
        if theirs.on_hold and not mine.on_hold:
            changes["on_hold"], changes["hold_reason"] = True, theirs.hold_reason
            fields["on_hold"] = fields["hold_reason"] = "merged"
        folded = attrs.evolve(mine, **changes)
        uow.repository(aggregate)._rewrite(folded, merging.sources(**fields))
        accounts.remove(theirs)


def _children(
    uow: UnitOfWork, aggregate: Aggregate[Any], account: CreditAccount
) -> tuple[Moves, ...]:
    """The records of every kind that belong to `account`, as moves."""
    found = []
    for child in uow._children(aggregate.table):
        assert child.parent is not None  # noqa: S101 (children have a parent)
        records = uow.repository(child)._referring(child.parent.field, account.id)
        if records:
            found.append(Moves(child.record, tuple(r.id for r in records), child.parent.field))
    return tuple(found)
