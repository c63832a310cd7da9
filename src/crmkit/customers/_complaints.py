"""Complaints and feedback, tracked to closure: open -> in progress -> resolved or rejected.

A `Complaint` belongs to a customer (and, if known, one of its contacts); it has a cause (a key
such as ``"late_delivery"``, counted by `ComplaintRepository.top_causes`), an assignee, a due
time, and, once closed, a resolution. Its status changes only through `start`, `resolve`,
`reject` and `reopen`, which check the move.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, NoReturn
from uuid import UUID

import attrs
import pendulum

from crmkit._clock import to_utc
from crmkit._ids import new_id
from crmkit._validation import ON_SETATTR, Validated, check, instance_of, optional, text
from crmkit.customers._model import _instant, _key, _uuid, version_check
from crmkit.errors import Issue, ValidationError

__all__ = [
    "CLOSED",
    "OPEN",
    "CauseCount",
    "Complaint",
    "ComplaintKind",
    "ComplaintStatus",
]


class ComplaintKind(enum.StrEnum):
    """A complaint (something went wrong) or feedback (a remark, a wish)."""

    COMPLAINT = "complaint"
    FEEDBACK = "feedback"


class ComplaintStatus(enum.StrEnum):
    """Where a complaint stands."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"


OPEN = (ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS)
"""The statuses of a complaint still being worked on."""

CLOSED = (ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED)
"""The statuses of a closed complaint."""

_subject = text(max_length=200)
_description = text(max_length=2000, blank=True, multiline=True)
_resolution = text(max_length=2000, multiline=True)


def _by_operations(instance: object, attribute: attrs.Attribute[Any], value: object) -> NoReturn:  # noqa: ARG001
    raise ValidationError.of(
        attribute.name, "changes only through start, resolve, reject and reopen"
    )


def _when(at: object) -> pendulum.DateTime:
    when = to_utc(at, "at")
    problem = _instant(when)
    if problem is not None:
        raise ValidationError.of("at", problem)
    return when


@attrs.frozen
class CauseCount:
    """How many complaints had one cause over a period.

    Attributes:
        cause: the cause's key.
        count: how many.
    """

    cause: str
    count: int


@attrs.define(kw_only=True, on_setattr=ON_SETATTR)
class Complaint(Validated):
    """A complaint or piece of feedback from a customer, tracked until it is closed.

    Examples:
        >>> import pendulum
        >>> from crmkit import new_id
        >>> from crmkit.customers import Complaint
        >>> t = pendulum.datetime(2026, 3, 2, 9)
        >>> c = Complaint(customer_id=new_id(), subject="Parcel arrived late",
        ...               cause="late_delivery", opened_at=t, due=t.add(days=2))
        >>> c.start("wang.fang")
        >>> c.resolve("refunded the shipping fee", at=t.add(hours=5))
        >>> str(c.status), c.closed_at == t.add(hours=5)
        ('resolved', True)

    Attributes:
        customer_id: the customer.
        subject: what it is about, in a line.
        opened_at: when it was recorded (UTC).
        id: the complaint's identifier; a new UUIDv7 by default.
        kind: complaint or feedback.
        contact_id: the customer's contact who raised it, if known.
        description: what happened, in words.
        cause: why it happened, as a key (``"late_delivery"``, ``"wrong_item"``); ``None``
            until known. `ComplaintRepository.top_causes` counts them.
        assignee_id: who handles it; ``None`` while nobody in particular does.
        due: when it should be closed by (UTC), if there is a deadline.
        status: open, in progress, resolved or rejected; changed by `start`, `resolve`,
            `reject` and `reopen` only.
        closed_at: when it was resolved or rejected; set exactly when it is closed.
        resolution: what was done (or why it was rejected); set exactly when it is closed.
        version: how many times it was stored; 0 until it is first added.
    """

    customer_id: UUID = attrs.field(metadata=check(_uuid))
    subject: str = attrs.field(metadata=check(_subject))
    opened_at: pendulum.DateTime = attrs.field(metadata=check(_instant))
    id: UUID = attrs.field(factory=new_id, metadata=check(_uuid))
    kind: ComplaintKind = attrs.field(
        default=ComplaintKind.COMPLAINT, metadata=check(instance_of(ComplaintKind))
    )
    contact_id: UUID | None = attrs.field(default=None, metadata=check(optional(_uuid)))
    description: str = attrs.field(default="", metadata=check(_description))
    cause: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    assignee_id: str | None = attrs.field(default=None, metadata=check(optional(_key)))
    due: pendulum.DateTime | None = attrs.field(default=None, metadata=check(optional(_instant)))
    status: ComplaintStatus = attrs.field(
        default=ComplaintStatus.OPEN,
        metadata=check(instance_of(ComplaintStatus)),
        on_setattr=_by_operations,
    )
    closed_at: pendulum.DateTime | None = attrs.field(
        default=None, metadata=check(optional(_instant)), on_setattr=_by_operations
    )
    resolution: str | None = attrs.field(
        default=None, metadata=check(optional(_resolution)), on_setattr=_by_operations
    )
    version: int = attrs.field(default=0, metadata=check(version_check))

    def _invariants(self) -> list[Issue]:
        found: list[Issue] = []
        closed = self.status in CLOSED
        if (self.closed_at is not None) != closed:
            found.append(Issue("closed_at", "must be set exactly when the complaint is closed"))
        elif self.closed_at is not None and self.closed_at < self.opened_at:
            found.append(Issue("closed_at", "is before opened_at"))
        if (self.resolution is not None) != closed:
            found.append(Issue("resolution", "must be set exactly when the complaint is closed"))
        return found

    @property
    def is_open(self) -> bool:
        """Whether it is still being worked on (open or in progress)."""
        return self.status in OPEN

    def is_overdue(self, now: dt.datetime) -> bool:
        """Whether it is still open after its due time."""
        return self.is_open and self.due is not None and self.due < now

    def _set(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _require_open(self, doing: str) -> None:
        if not self.is_open:
            raise ValidationError.of("status", f"the complaint is {self.status}; cannot {doing} it")

    def start(self, assignee_id: str | None = None) -> None:
        """Start working on it (open -> in progress), giving it to `assignee_id` if named.

        Raises:
            ValidationError: it is not open, or `assignee_id` is not a user id.
        """
        if self.status is not ComplaintStatus.OPEN:
            raise ValidationError.of("status", f"the complaint is {self.status}; cannot start it")
        if assignee_id is not None:
            self.assignee_id = assignee_id  # checked on assignment
        self._set(status=ComplaintStatus.IN_PROGRESS)

    def _close(self, status: ComplaintStatus, resolution: object, at: object, doing: str) -> None:
        self._require_open(doing)
        problem = _resolution(resolution)
        if problem is not None:
            raise ValidationError.of("resolution", problem)
        when = _when(at)
        if when < self.opened_at:
            raise ValidationError.of("at", "is before the complaint was opened")
        self._set(status=status, resolution=resolution, closed_at=when)

    def resolve(self, resolution: str, *, at: dt.datetime) -> None:
        """Close it as resolved, saying what was done.

        Raises:
            ValidationError: it is closed already, `resolution` is blank or too long, or `at`
                is not an aware datetime after it was opened.
        """
        self._close(ComplaintStatus.RESOLVED, resolution, at, "resolve")

    def reject(self, resolution: str, *, at: dt.datetime) -> None:
        """Close it as rejected (unfounded), saying why.

        Raises:
            ValidationError: as `resolve`.
        """
        self._close(ComplaintStatus.REJECTED, resolution, at, "reject")

    def reopen(self) -> None:
        """Open a closed complaint again (the customer came back); its resolution is cleared.

        Raises:
            ValidationError: it is not closed.
        """
        if self.is_open:
            raise ValidationError.of("status", f"the complaint is {self.status}; cannot reopen it")
        self._set(status=ComplaintStatus.OPEN, resolution=None, closed_at=None)

    def reassign(self, assignee_id: str | None) -> None:
        """Give it to `assignee_id` (``None``: to nobody in particular).

        Raises:
            ValidationError: it is closed, or `assignee_id` is not a user id.
        """
        self._require_open("reassign")
        self.assignee_id = assignee_id
