"""Handing a departing salesperson's whole book to others in one transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

import attrs

from crmkit._validation import shown, text
from crmkit.customers._care_events import ComplaintReassigned, OwnershipTransferred
from crmkit.customers._complaints import Complaint
from crmkit.customers._events import OwnerChanged
from crmkit.customers._model import Customer, _key
from crmkit.customers._ownership import ByRegion, EvenSplit, OwnershipTransfer, ToOne, TransferRule
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit.pipeline import Lead, Opportunity, Pipeline
    from crmkit.storage import UnitOfWork

__all__ = ["transfer_ownership"]

T = TypeVar("T")
_PAGE = 1000


def _all(read: Callable[..., list[T]], owner: str) -> list[T]:
    """Every record `read` finds for `owner`, a page at a time."""
    found: list[T] = []
    after: UUID | None = None
    while page := read(owner, after=after, limit=_PAGE):
        found.extend(page)
        after = page[-1].id  # type: ignore[attr-defined]
    return found


def _pipelines(pipelines: object) -> dict[str, Pipeline]:
    from crmkit.pipeline import Pipeline, b2b_pipeline, transactional_pipeline

    # crmkit.pipeline imports crmkit.customers: imported here, when a transfer runs.
    if pipelines is None:
        pipelines = (b2b_pipeline(), transactional_pipeline())
    if isinstance(pipelines, Pipeline):
        pipelines = (pipelines,)
    if not isinstance(pipelines, Iterable):
        raise ValidationError.of("pipelines", f"must be pipelines, not {shown(pipelines)}")
    found: dict[str, Pipeline] = {}
    for i, p in enumerate(pipelines):
        if not isinstance(p, Pipeline):
            raise ValidationError.of(f"pipelines[{i}]", f"must be a Pipeline, not {shown(p)}")
        found[p.key] = p
    return found


def transfer_ownership(
    uow: UnitOfWork,
    *,
    from_owner: str,
    rule: TransferRule,
    reason: str,
    pipelines: Pipeline | Iterable[Pipeline] | None = None,
) -> OwnershipTransfer:
    """Hand every customer of `from_owner`, and what goes with them, to others by `rule`.

    In one unit of work:

    - each customer `from_owner` owns is locked and placed by `rule` (`OwnerChanged` each);
    - each open lead `from_owner` owns is placed by `rule` too (by its `territory` for
      `ByRegion`), with a manual `Decision` saying why (`LeadAssigned` each); its reclaim
      clock is left as it was;
    - each open opportunity `from_owner` owns goes to its customer's owner (the new one, for a
      customer handed over now);
    - each open complaint assigned to `from_owner` goes to its customer's owner
      (`ComplaintReassigned` each);
    - an `OwnershipTransfer` is kept with the counts, and `OwnershipTransferred` recorded.

    Everything is read and placed before anything is written: a rule that cannot place a
    customer or a lead (`ByRegion` without a default) refuses with `ValidationError` and
    nothing changes. Customers always have an owner, so none is ever left without one. The
    records are locked as they are read (``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB),
    so a change made to one of them meanwhile waits, or makes this run again under
    `crmkit.CRM.run`. A customer given to `from_owner` while this runs is not moved: run it
    again.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Customer, EvenSplit, transfer_ownership
        >>> crm = crmkit.open("memory://")
        >>> with crm.unit_of_work(actor="boss") as uow:
        ...     uow.customers.add_many(Customer(name=f"C{i}", owner_id="li") for i in range(5))
        >>> done = crm.run(lambda uow: transfer_ownership(
        ...     uow, from_owner="li", rule=EvenSplit(("wang", "zhao")), reason="li left"),
        ...     actor="boss")
        >>> sorted(done.customers.values()), done.rule
        ([2, 3], 'even_split')

    Args:
        uow: the unit of work.
        from_owner: the departing salesperson.
        rule: `ToOne`, `EvenSplit` or `ByRegion`; it may not name `from_owner`.
        reason: why, in words (kept with the record).
        pipelines: the pipelines of the opportunities (to tell open ones from closed ones);
            crmkit's B2B and transactional pipelines when ``None``.

    Returns:
        The record of the transfer, stored.

    Raises:
        ValidationError: an argument is bad, the rule names `from_owner`, cannot place a
            customer or a lead, or an opportunity of theirs is in a pipeline not given; nothing is
            written.
        ConcurrencyError: another unit of work changed a record first (run it again).
    """
    problem = _key(from_owner)
    if problem is not None:
        raise ValidationError.of("from_owner", problem)
    if not isinstance(rule, ToOne | EvenSplit | ByRegion):
        raise ValidationError.of(
            "rule", f"must be a ToOne, EvenSplit or ByRegion rule, not {shown(rule)}"
        )
    problem = text(max_length=500)(reason)
    if problem is not None:
        raise ValidationError.of("reason", problem)
    if from_owner in rule.owners:
        raise ValidationError.of("rule", f"hands customers to the departing {from_owner!r}")
    # Read, lock and place everything first; write nothing until every record is placed.
    book = _Book.read(uow, from_owner, rule, _pipelines(pipelines))
    return book.hand_over(uow, rule, reason)


@attrs.define
class _Book:
    """A departing salesperson's records, locked, and where each goes."""

    from_owner: str
    customers: list[Customer]
    placed: dict[UUID, str]
    leads: list[Lead]
    lead_owners: dict[UUID, str]
    deals: list[Opportunity]
    complaints: list[Complaint]
    owner_of: dict[UUID, str]

    @classmethod
    def read(
        cls, uow: UnitOfWork, from_owner: str, rule: TransferRule, pipelines: dict[str, Pipeline]
    ) -> _Book:
        from crmkit.pipeline import LeadStatus

        customers = [
            c
            for c in (uow.customers.lock(c.id) for c in _all(uow.customers.by_owner, from_owner))
            if c.owner_id == from_owner
        ]
        placed = rule.place(customers)
        leads = [
            lead
            for lead in (uow.leads.lock(x.id) for x in _all(uow.leads.by_owner, from_owner))
            if lead.owner_id == from_owner and lead.status is LeadStatus.OPEN
        ]
        lead_owners = rule.place_keys([(lead.id, lead.territory) for lead in leads])
        deals: list[Opportunity] = []
        for seen in _all(uow.opportunities.by_owner, from_owner):
            deal = uow.opportunities.lock(seen.id)
            pipeline = pipelines.get(deal.pipeline)
            if pipeline is None:
                raise ValidationError.of(
                    "pipelines", f"has no pipeline {deal.pipeline!r} (of opportunity {deal.id})"
                )
            if deal.owner_id == from_owner and not pipeline.stage(deal.stage).terminal:
                deals.append(deal)
        complaints = [
            c
            for c in (uow.complaints.lock(x.id) for x in uow.complaints.by_assignee(from_owner))
            if c.is_open and c.assignee_id == from_owner
        ]
        owner_of = dict(placed)
        others = {d.customer_id for d in deals} | {c.customer_id for c in complaints}
        others -= owner_of.keys()
        # Locked, as the rest: a plain read may be older on MariaDB (its snapshot).
        owner_of.update((k, uow.customers.lock(k).owner_id) for k in sorted(others))
        return cls(from_owner, customers, placed, leads, lead_owners, deals, complaints, owner_of)

    def hand_over(self, uow: UnitOfWork, rule: TransferRule, reason: str) -> OwnershipTransfer:
        from crmkit.pipeline import Decision, LeadAssigned

        at, was = uow.now(), self.from_owner
        for customer in self.customers:
            customer.owner_id = self.placed[customer.id]
            uow.customers.update(customer)
        uow.record_many(
            OwnerChanged,
            (
                {"customer_id": c.id, "previous_owner_id": was, "owner_id": c.owner_id}
                for c in self.customers
            ),
        )
        for lead in self.leads:
            who = self.lead_owners[lead.id]
            lead.assign(Decision.manual(who, f"handed over from {was}: {reason}"), at=at)
            uow.leads.update(lead)
        uow.record_many(
            LeadAssigned,
            (
                {
                    "lead_id": x.id,
                    "owner_id": x.owner_id,
                    "previous_owner_id": was,
                    "rule": "manual",
                }
                for x in self.leads
            ),
        )
        deals = [d for d in self.deals if self.owner_of.get(d.customer_id, was) != was]
        for deal in deals:
            deal.owner_id = self.owner_of[deal.customer_id]
            uow.opportunities.update(deal)
        complaints = [c for c in self.complaints if self.owner_of.get(c.customer_id, was) != was]
        for complaint in complaints:
            complaint.reassign(self.owner_of[complaint.customer_id])
            uow.complaints.update(complaint)
        uow.record_many(
            ComplaintReassigned,
            (
                {
                    "complaint_id": c.id,
                    "customer_id": c.customer_id,
                    "previous_assignee_id": was,
                    "assignee_id": c.assignee_id,
                }
                for c in complaints
            ),
        )
        transfer = OwnershipTransfer(
            from_owner=was,
            to_owners=rule.owners,
            rule=rule.kind,
            at=at,
            by=uow.actor_id,
            reason=reason,
            customers=dict(sorted(Counter(self.placed.values()).items())),
            leads=dict(sorted(Counter(self.lead_owners.values()).items())),
            opportunities=len(deals),
            complaints=len(complaints),
        )
        uow.ownership_transfers.add(transfer)
        uow.record(
            OwnershipTransferred,
            transfer_id=transfer.id,
            from_owner=was,
            to_owners=transfer.to_owners,
            customers=len(self.customers),
            leads=len(self.leads),
            opportunities=len(deals),
            complaints=len(complaints),
        )
        return transfer
