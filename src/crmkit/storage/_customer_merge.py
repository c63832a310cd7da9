"""The customers' own merge rule: the survivor's fields settled, the merged customer removed.

The rules of settling are the customers capability's (`crmkit.customers.MergePolicy`); this
module writes them: it is the customers' storage side of a merge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from crmkit.customers._merge import MergePolicy, Settling
from crmkit.storage._merge import MergeStep, Merging, Moves

if TYPE_CHECKING:
    from crmkit.storage._aggregates import Aggregate
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["CustomerMerge"]


@attrs.frozen
class CustomerMerge:
    """The customers' merge rule: the survivor's fields settled, the merged customer removed.

    Registered for the customers aggregate in the composition root; applied last, once every
    other rule has moved what names the merged customer, so removing it takes nothing with it.
    """

    def plan(self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging) -> MergeStep:
        """Settle the two customers' fields; the merged customer's contacts move."""
        customers = uow.repository(aggregate)
        a, b = customers.get(merging.survivor), customers.get(merging.merged)
        policy = merging.policy if merging.policy is not None else MergePolicy()
        settling = Settling(uow, a, b, policy)
        survivor = settling.customer()
        # The survivor is checked as its update will check it (custom fields too), so that a
        # merge refused for a bad value refuses before anything is written.
        customers._check(survivor)
        contacts = tuple(c.id for c in b.contacts)
        return MergeStep(
            moves=(Moves("contact", contacts, "customer_id"),) if contacts else (),
            removed=((aggregate.record, b.id),),
            conflicts=tuple(settling.conflicts),
            data=(survivor, b, settling.sources),
        )

    def apply(
        self, uow: UnitOfWork, aggregate: Aggregate[Any], merging: Merging, step: MergeStep
    ) -> None:
        """Remove the merged customer (freeing its code and contacts), then write the survivor."""
        survivor, merged, sources = step.data
        customers = uow.repository(aggregate)
        customers.remove(merged)
        customers._rewrite(survivor, merging.sources(**sources))
