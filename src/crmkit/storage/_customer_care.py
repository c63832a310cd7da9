"""Customer care on the repository core: lifecycle changes, complaints and ownership transfers.

The memory store's special queries are here (the reference every store must agree with); the
SQL store's are in `crmkit.storage.sql._customer_care`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Protocol
from uuid import UUID

import pendulum

from crmkit.credit import OrderStatus
from crmkit.customers import (
    CauseCount,
    Complaint,
    ComplaintStatus,
    LifecycleChange,
    OwnershipTransfer,
    PurchaseSummary,
)
from crmkit.errors import ValidationError
from crmkit.storage._aggregates import Aggregate, Parent
from crmkit.storage._arguments import a_key, a_limit, an_id, an_instant, ids
from crmkit.storage._credit import CREDIT_ACCOUNTS, ORDERS
from crmkit.storage._pipeline import a_moment
from crmkit.storage._unit_of_work import UnitOfWork
from crmkit.storage.memory import MemoryRecords

__all__ = [
    "COMPLAINTS",
    "LIFECYCLE_CHANGES",
    "OWNERSHIP_TRANSFERS",
    "ComplaintRepository",
    "LifecycleChangeRepository",
    "MemoryComplaints",
    "MemoryLifecycleChanges",
    "a_period",
    "ranked",
    "top_causes",
]

_CUSTOMER = Parent("customer", "customers", "customer_id")
_OPEN = (ComplaintStatus.OPEN.value, ComplaintStatus.IN_PROGRESS.value)


class LifecycleChangeRepository(Protocol):
    """The customers' lifecycle moves, as one unit of work sees them: only ever added.

    Besides the core's `add`, `add_many`, `get`, `get_many`, `page` and `count` (`update` and
    `remove` refuse: a move is history), it reads a customer's history, when customers entered
    their stages, and the purchases the lifecycle policy decides from.
    """

    def add(self, change: LifecycleChange) -> None:
        """Store a new move (version 0).

        Raises:
            ValidationError: it is invalid, or already stored.
            NotFound: its customer does not exist in this tenant.
        """
        ...

    def add_many(self, changes: Iterable[LifecycleChange]) -> None:
        """Store many new moves at once; all or none."""
        ...

    def get(self, change_id: UUID) -> LifecycleChange:
        """The move with `change_id`.

        Raises:
            NotFound: no such move in this tenant.
        """
        ...

    def count(self) -> int:
        """How many moves the tenant has."""
        ...

    def for_customer(self, customer_id: UUID) -> list[LifecycleChange]:
        """The customer's moves, oldest first (by time, then id)."""
        ...

    def entered(self, customer_ids: Iterable[UUID]) -> dict[UUID, pendulum.DateTime]:
        """When each of the customers entered its stage: the time of its latest move.

        Customers never moved are left out. One grouped query per 500 customers on SQL
        stores, through the index on ``(customer_id, at)``.
        """
        ...

    def purchases(self, customer_ids: Iterable[UUID]) -> dict[UUID, PurchaseSummary]:
        """Each customer's purchases: orders placed on credit and not cancelled.

        Customers without any are left out. SQL stores count them in the database (orders
        joined to their accounts, grouped by customer), so no order is loaded.
        """
        ...


class ComplaintRepository(Protocol):
    """The complaints and feedback of one tenant, as one unit of work sees them.

    Each belongs to a customer: removing the customer removes its complaints.
    """

    def add(self, complaint: Complaint) -> None:
        """Store a new complaint (version 0).

        Raises:
            ValidationError: it is invalid, or already stored.
            NotFound: its customer does not exist in this tenant.
            DuplicateError: its id is taken in this tenant.
        """
        ...

    def add_many(self, complaints: Iterable[Complaint]) -> None:
        """Store many new complaints at once; all or none."""
        ...

    def get(self, complaint_id: UUID) -> Complaint:
        """The complaint with `complaint_id`.

        Raises:
            NotFound: no such complaint in this tenant.
        """
        ...

    def get_many(self, complaint_ids: Iterable[UUID]) -> list[Complaint]:
        """The complaints with these ids that exist, in the order the ids were given."""
        ...

    def lock(self, complaint_id: UUID) -> Complaint:
        """The complaint, locked against other writers till the unit of work ends.

        Raises:
            NotFound: no such complaint in this tenant.
        """
        ...

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Complaint]:
        """Up to `limit` complaints with ids after `after`, in id order (keyset paging)."""
        ...

    def count(self) -> int:
        """How many complaints the tenant has."""
        ...

    def update(self, complaint: Complaint) -> None:
        """Store the changed complaint, if nobody changed it since it was read.

        Raises:
            ValidationError: it is invalid.
            ConcurrencyError: the stored version is not ``complaint.version``, or it is gone.
        """
        ...

    def remove(self, complaint: Complaint) -> None:
        """Delete the complaint, if unchanged since it was read.

        Raises:
            ConcurrencyError: the stored version is not ``complaint.version``, or it is gone.
        """
        ...

    def open_for(self, customer_id: UUID) -> list[Complaint]:
        """The customer's open complaints (open or in progress), oldest first."""
        ...

    def by_assignee(self, assignee_id: str) -> list[Complaint]:
        """The open complaints assigned to `assignee_id`, in id order."""
        ...

    def overdue(self, now: dt.datetime, *, limit: int = 100) -> list[Complaint]:
        """Up to `limit` open complaints whose due time is before `now`, earliest due first.

        Found through the index on ``(status, due)``.
        """
        ...

    def top_causes(
        self, start: dt.datetime, end: dt.datetime, *, limit: int = 10
    ) -> list[CauseCount]:
        """The most frequent causes of the complaints and feedback opened in ``[start, end)``.

        Those without a cause are not counted. Most frequent first, ties by cause; at most
        `limit` (1 to 100,000). SQL stores count in the database (``GROUP BY cause``).

        Examples:
            >>> import crmkit, pendulum
            >>> from crmkit.customers import Complaint, Customer
            >>> crm, t = crmkit.open("memory://"), pendulum.datetime(2026, 3, 2)
            >>> with crm.unit_of_work(actor="li") as uow:
            ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li"))
            ...     uow.complaints.add_many(
            ...         Complaint(customer_id=acme.id, subject="x", cause=cause, opened_at=t)
            ...         for cause in ("late_delivery", "wrong_item", "late_delivery"))
            ...     uow.complaints.top_causes(t, t.add(days=1))
            [CauseCount(cause='late_delivery', count=2), CauseCount(cause='wrong_item', count=1)]

        Raises:
            ValidationError: a bound is not an aware datetime, or `limit` is out of range.
        """
        ...


LIFECYCLE_CHANGES: Aggregate[LifecycleChange] = Aggregate(
    LifecycleChange,
    "lifecycle_change",
    "lifecycle_changes",
    parent=_CUSTOMER,
    indexes={"customer": ("customer_id", "at")},
    columns={"previous": 32, "stage": 32, "by": 64, "reason": 500},
    order=("id", "version", "customer_id"),
    append_only=True,
)
"""The customers' lifecycle moves, by customer and time; never changed."""

COMPLAINTS: Aggregate[Complaint] = Aggregate(
    Complaint,
    "complaint",
    "complaints",
    parent=_CUSTOMER,
    indexes={
        "customer": ("customer_id", "status"),
        "due": ("status", "due"),
        "opened": ("opened_at", "cause"),
        "assignee": ("assignee_id", "status"),
    },
    columns={
        "subject": 200,
        "kind": 16,
        "description": None,
        "cause": 64,
        "assignee_id": 64,
        "status": 16,
        "resolution": None,
    },
    order=("id", "version", "customer_id"),
)
"""The complaints and feedback: by customer, by due time, by opening time and by assignee."""

OWNERSHIP_TRANSFERS: Aggregate[OwnershipTransfer] = Aggregate(
    OwnershipTransfer,
    "ownership_transfer",
    "ownership_transfers",
    columns={"from_owner": 64, "rule": 64, "by": 64, "reason": 500},
    indexes={"from": ("from_owner", "at")},
    append_only=True,
)
"""The records of ownership transfers; never changed."""


def a_period(
    uow: UnitOfWork, start: object, end: object, limit: object
) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    """`top_causes`' arguments checked the same on every store; its bounds as UTC instants."""
    uow._check_open()
    a_limit(limit)
    found = an_instant(start, "start"), an_instant(end, "end")
    if found[0] is None or found[1] is None:
        raise ValidationError.of("start" if found[0] is None else "end", "must be a datetime")
    return found[0], found[1]


def top_causes(
    complaints: Iterable[Complaint], start: dt.datetime, end: dt.datetime, limit: int
) -> list[CauseCount]:
    """The reference: the most frequent causes of `complaints` opened in ``[start, end)``."""
    counted = Counter(
        c.cause for c in complaints if c.cause is not None and start <= c.opened_at < end
    )
    return ranked(counted.items(), limit)


def ranked(counts: Iterable[tuple[str, int]], limit: int) -> list[CauseCount]:
    """The `limit` most frequent of `counts` (cause, count), ties by cause in code point order.

    Every store orders here, whatever its database's collation would do.
    """
    ordered = sorted(counts, key=lambda item: (-item[1], item[0]))
    return [CauseCount(cause, n) for cause, n in ordered[:limit]]


class MemoryLifecycleChanges(MemoryRecords[LifecycleChange]):
    """`LifecycleChangeRepository` on the memory store."""

    def _of(self, customer_ids: Iterable[UUID]) -> list[LifecycleChange]:
        wanted = set(customer_ids)
        return [self._from(k, r) for k, r in self._uow._scan(self._name) if r.parent in wanted]

    def for_customer(self, customer_id: UUID) -> list[LifecycleChange]:
        """See `LifecycleChangeRepository.for_customer`."""
        self._uow._check_open()
        key = an_id(customer_id, "customer_id")
        return sorted(self._of([key]), key=lambda c: (c.at, c.id))

    def entered(self, customer_ids: Iterable[UUID]) -> dict[UUID, pendulum.DateTime]:
        """See `LifecycleChangeRepository.entered`."""
        self._uow._check_open()
        found: dict[UUID, pendulum.DateTime] = {}
        for c in self._of(ids(customer_ids, "customer_ids")):
            if c.customer_id not in found or c.at > found[c.customer_id]:
                found[c.customer_id] = c.at
        return found

    def purchases(self, customer_ids: Iterable[UUID]) -> dict[UUID, PurchaseSummary]:
        """See `LifecycleChangeRepository.purchases`: the reference."""
        self._uow._check_open()
        wanted = set(ids(customer_ids, "customer_ids"))
        uow = self._uow
        accounts = {k: r.parent for k, r in uow._scan(CREDIT_ACCOUNTS.table) if r.parent in wanted}
        orders = uow.repository(ORDERS)
        assert isinstance(orders, MemoryRecords)  # noqa: S101 (the memory store's)
        times: dict[UUID, list[pendulum.DateTime]] = {}
        for k, r in uow._scan(ORDERS.table):
            if r.parent in accounts and r.row["status"] != OrderStatus.CANCELLED.value:
                order = orders._from(k, r)
                times.setdefault(accounts[order.account_id], []).append(order.placed_at)
        return {
            c: PurchaseSummary(count=len(t), first_at=min(t), last_at=max(t))
            for c, t in times.items()
        }


class MemoryComplaints(MemoryRecords[Complaint]):
    """`ComplaintRepository` on the memory store."""

    def _matching(self, keep: object) -> list[Complaint]:
        return [self._from(k, r) for k, r in self._uow._scan(self._name) if keep(r)]  # type: ignore[operator]

    def open_for(self, customer_id: UUID) -> list[Complaint]:
        """See `ComplaintRepository.open_for`."""
        self._uow._check_open()
        key = an_id(customer_id, "customer_id")
        found = self._matching(lambda r: r.parent == key and r.row["status"] in _OPEN)
        return sorted(found, key=lambda c: (c.opened_at, c.id))

    def by_assignee(self, assignee_id: str) -> list[Complaint]:
        """See `ComplaintRepository.by_assignee`."""
        self._uow._check_open()
        who = a_key(assignee_id, "assignee_id")
        found = self._matching(lambda r: r.row["assignee_id"] == who and r.row["status"] in _OPEN)
        return sorted(found, key=lambda c: c.id)

    def overdue(self, now: dt.datetime, *, limit: int = 100) -> list[Complaint]:
        """See `ComplaintRepository.overdue`."""
        self._uow._check_open()
        at = a_moment(now)
        a_limit(limit)
        found = [
            c
            for c in self._matching(lambda r: r.row["status"] in _OPEN and r.row["due"] is not None)
            if c.due is not None and c.due < at
        ]
        found.sort(key=lambda c: (c.due, c.id))
        return found[:limit]

    def top_causes(
        self, start: dt.datetime, end: dt.datetime, *, limit: int = 10
    ) -> list[CauseCount]:
        """See `ComplaintRepository.top_causes`: the reference."""
        since, until = a_period(self._uow, start, end, limit)
        return top_causes(self._matching(lambda _: True), since, until, limit)
