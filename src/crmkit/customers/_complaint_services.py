"""What people do with complaints: open, start, resolve, reject, reopen and reassign them.

Each service works in the unit of work it is given and never commits it; it records its event
there, and bad input raises before anything is written. A change to a complaint locks it first,
so two people closing the same complaint at once take turns and the second is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from crmkit._validation import shown, text
from crmkit.customers._arguments import an_id
from crmkit.customers._care_events import (
    ComplaintOpened,
    ComplaintReassigned,
    ComplaintRejected,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintStarted,
)
from crmkit.customers._complaints import Complaint
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = [
    "open_complaint",
    "reassign_complaint",
    "reject_complaint",
    "reopen_complaint",
    "resolve_complaint",
    "start_complaint",
]

_reason = text(max_length=500)


def _fields(c: Complaint) -> dict[str, object]:
    return {"complaint_id": c.id, "customer_id": c.customer_id}


def open_complaint(uow: UnitOfWork, complaint: Complaint) -> Complaint:
    """Store a new complaint (or feedback) and record `ComplaintOpened`.

    Examples:
        >>> import crmkit, pendulum
        >>> from crmkit.customers import Complaint, Customer, open_complaint
        >>> crm = crmkit.open("memory://")
        >>> t = pendulum.datetime(2026, 3, 2, 9)
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     uow.customers.add(acme := Customer(name="Acme", owner_id="li.na"))
        ...     c = open_complaint(uow, Complaint(customer_id=acme.id, subject="Late parcel",
        ...                                       cause="late_delivery", opened_at=t))
        ...     [x.subject for x in uow.complaints.open_for(acme.id)]
        ['Late parcel']

    Raises:
        ValidationError: it is not a valid, new, open `Complaint`.
        NotFound: its customer does not exist in the tenant.
        DuplicateError: its id is taken.
    """
    if not isinstance(complaint, Complaint):
        raise ValidationError.of("complaint", f"must be a Complaint, not {shown(complaint)}")
    if not complaint.is_open:
        raise ValidationError.of("status", f"a new complaint is open, not {complaint.status}")
    uow.complaints.add(complaint)
    uow.record(
        ComplaintOpened,
        **_fields(complaint),
        kind=str(complaint.kind),
        cause=complaint.cause,
        assignee_id=complaint.assignee_id,
    )
    return complaint


def start_complaint(
    uow: UnitOfWork, complaint_id: UUID, *, assignee_id: str | None = None
) -> Complaint:
    """Start working on an open complaint, giving it to `assignee_id` if named.

    Raises:
        NotFound: no such complaint in the tenant.
        ValidationError: it is not open, or `assignee_id` is not a user id.
        ConcurrencyError: someone changed it at the same moment (run it again).
    """
    complaint = uow.complaints.lock(an_id(complaint_id, "complaint_id"))
    complaint.start(assignee_id)
    uow.complaints.update(complaint)
    uow.record(ComplaintStarted, **_fields(complaint), assignee_id=complaint.assignee_id)
    return complaint


def resolve_complaint(uow: UnitOfWork, complaint_id: UUID, *, resolution: str) -> Complaint:
    """Close a complaint as resolved, saying what was done; records `ComplaintResolved`.

    It closes at the unit of work's clock.

    Raises:
        NotFound: no such complaint in the tenant.
        ValidationError: it is closed already, or `resolution` is blank or too long.
        ConcurrencyError: someone changed it at the same moment (run it again).
    """
    return _close(uow, complaint_id, resolution, resolved=True)


def reject_complaint(uow: UnitOfWork, complaint_id: UUID, *, resolution: str) -> Complaint:
    """Close a complaint as rejected (unfounded), saying why; records `ComplaintRejected`.

    Raises:
        NotFound: no such complaint in the tenant.
        ValidationError: it is closed already, or `resolution` is blank or too long.
        ConcurrencyError: someone changed it at the same moment (run it again).
    """
    return _close(uow, complaint_id, resolution, resolved=False)


def _close(uow: UnitOfWork, complaint_id: UUID, resolution: str, *, resolved: bool) -> Complaint:
    complaint = uow.complaints.lock(an_id(complaint_id, "complaint_id"))
    close = complaint.resolve if resolved else complaint.reject
    close(resolution, at=uow.now())
    uow.complaints.update(complaint)
    event = ComplaintResolved if resolved else ComplaintRejected
    uow.record(event, **_fields(complaint), resolution=resolution)
    return complaint


def reopen_complaint(uow: UnitOfWork, complaint_id: UUID, *, reason: str) -> Complaint:
    """Open a closed complaint again (the customer came back), saying why.

    Raises:
        NotFound: no such complaint in the tenant.
        ValidationError: it is not closed, or `reason` is blank or too long.
        ConcurrencyError: someone changed it at the same moment (run it again).
    """
    key = an_id(complaint_id, "complaint_id")
    problem = _reason(reason)
    if problem is not None:
        raise ValidationError.of("reason", problem)
    complaint = uow.complaints.lock(key)
    complaint.reopen()
    uow.complaints.update(complaint)
    uow.record(ComplaintReopened, **_fields(complaint), reason=reason)
    return complaint


def reassign_complaint(uow: UnitOfWork, complaint_id: UUID, assignee_id: str | None) -> Complaint:
    """Give an open complaint to `assignee_id` (``None``: nobody in particular).

    Giving it to whoever has it changes and records nothing.

    Raises:
        NotFound: no such complaint in the tenant.
        ValidationError: it is closed, or `assignee_id` is not a user id.
        ConcurrencyError: someone changed it at the same moment (run it again).
    """
    complaint = uow.complaints.lock(an_id(complaint_id, "complaint_id"))
    previous = complaint.assignee_id
    if previous == assignee_id:
        return complaint
    complaint.reassign(assignee_id)
    uow.complaints.update(complaint)
    uow.record(
        ComplaintReassigned,
        **_fields(complaint),
        previous_assignee_id=previous,
        assignee_id=assignee_id,
    )
    return complaint
