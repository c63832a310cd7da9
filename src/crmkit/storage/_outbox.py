"""The transactional outbox: recorded events kept with the writes, until a relay delivers them.

A unit of work adds its events to the outbox in its own transaction, so an event exists exactly
when the change it tells of was committed. A relay then *claims* pending events for a while (a
lease), hands them to the subscribers outside any transaction, and *settles* each one:
delivered, to be tried again later, or parked. A relay that dies while holding a lease leaves
its events to the next relay once the lease has run out (delivery is at least once).

Events carry a sequence number per tenant, taken at the commit under a lock on the tenant's
counter (the one the change log's numbers come from), so it follows the order of the commits;
within one aggregate (one *stream*) the numbers are then increasing in commit order too. A relay
claims the events of a stream only as a run from the stream's oldest pending one: an event never
overtakes an earlier one of its aggregate that is being delivered, or waiting to be tried again.

This module holds what the adapters share, and the memory store's outbox; the SQL outbox is in
`crmkit.storage.sql._outbox`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, Protocol
from uuid import UUID

import attrs
import pendulum

from crmkit._converter import plain_data
from crmkit._json import dumps_sorted
from crmkit.errors import ValidationError
from crmkit.events import DomainEvent, _kind_name, _stream

__all__ = [
    "Claimed",
    "MemoryOutbox",
    "Outbox",
    "Settlement",
    "outbox_record",
    "outbox_text",
    "runs",
]

Status = Literal["pending", "delivered", "parked"]
Key = tuple[str, UUID]


def outbox_record(event: DomainEvent) -> tuple[str, str, dict[str, Any]]:
    """The stream, the kind name and the stored form (`to_dict`) of `event`.

    Raises:
        ValidationError: the event has a field whose value cannot be stored as JSON (a field
            of a type crmkit's converter does not know), named by its path.
    """
    stream, kind, data, _ = outbox_text(event)
    return stream, kind, data


def outbox_text(event: DomainEvent) -> tuple[str, str, dict[str, Any], str]:
    """`outbox_record` of `event`, and its stored form as JSON text (encoded once).

    Raises:
        ValidationError: as `outbox_record`.
    """
    cls = type(event)
    data = plain_data(event, cls)
    try:
        text = dumps_sorted(data)
    except (TypeError, ValueError) as e:
        raise ValidationError.of(
            cls.__name__, f"the event cannot be stored in the outbox as JSON: {e}"
        ) from e
    return _stream(event), _kind_name(cls), data, text


@attrs.frozen
class Claimed:
    """A pending event, as a relay claims it (or lists it, once parked)."""

    tenant_id: str
    id: UUID
    stream: str
    seq: int
    kind: str
    data: dict[str, Any]
    attempts: int
    error: str | None = None


@attrs.frozen
class Settlement:
    """What became of one claimed event: its new status, attempts, due time and error."""

    tenant_id: str
    id: UUID
    status: Status
    attempts: int
    due_at: pendulum.DateTime
    error: str | None


class Outbox(Protocol):
    """A store's outbox, as the relay uses it."""

    def claim(
        self,
        *,
        now: pendulum.DateTime,
        until: pendulum.DateTime,
        token: str,
        limit: int,
        keys: Sequence[Key] | None = None,
    ) -> list[Claimed]:
        """Claim up to `limit` due events (only those of `keys`, if given) until `until`.

        The events come oldest first, each stream's as a run from its oldest pending event.
        """
        ...

    def settle(self, *, token: str, now: pendulum.DateTime, settled: Sequence[Settlement]) -> None:
        """Record what became of events claimed with `token` (unless another relay took them)."""
        ...

    def parked(self, *, tenant_id: str | None, limit: int) -> list[Claimed]:
        """Up to `limit` parked events (of `tenant_id`, if given), oldest first."""
        ...

    def retry(
        self, *, now: pendulum.DateTime, tenant_id: str | None, ids: Sequence[UUID] | None
    ) -> int:
        """Make parked events (those with `ids`, of `tenant_id`, if given) pending again."""
        ...

    def purge(self, *, before: pendulum.DateTime) -> int:
        """Delete the events delivered before `before`; how many were deleted."""
        ...


def runs(
    candidates: Sequence[Claimed], pending: dict[tuple[str, str], Sequence[int]]
) -> list[Claimed]:
    """Of `candidates` (oldest first), those in a run from their stream's oldest pending event.

    `pending` has the sequence numbers of each stream's pending events, in increasing order (at
    least those up to the candidates' largest). The numbers are the tenant's, so those of a stream
    skip the numbers of the tenant's other streams: a run follows the stream's pending events in
    order, not consecutive numbers. A stream whose oldest pending event is not among the candidates
    (another relay has it, or it waits to be tried again) gives nothing, and a stream stops at the
    first pending event missing from them. The result keeps the candidates' order, except that each
    stream's events come in the order of their sequence numbers, so any first part of it holds each
    stream's events as a run from its head.
    """
    by_stream: dict[tuple[str, str], list[Claimed]] = {}
    for c in candidates:
        by_stream.setdefault((c.tenant_id, c.stream), []).append(c)
    queues: dict[tuple[str, str], list[Claimed]] = {}
    members: set[Key] = set()
    for stream, found in by_stream.items():
        expected = iter(pending.get(stream, ()))
        run: list[Claimed] = []
        for c in sorted(found, key=lambda c: c.seq):
            if c.seq != next(expected, None):
                break
            run.append(c)
            members.add((c.tenant_id, c.id))
        queues[stream] = run[::-1]  # popped from the end below: in sequence order
    # Each member's place goes to the next event of its stream.
    return [
        queues[(c.tenant_id, c.stream)].pop() for c in candidates if (c.tenant_id, c.id) in members
    ]


@attrs.define
class _Row:
    tenant_id: str
    id: UUID
    stream: str
    seq: int
    kind: str
    data: dict[str, Any]
    status: Status = "pending"
    attempts: int = 0
    due_at: pendulum.DateTime | None = None  # None: due at once
    claim: str | None = None
    delivered_at: pendulum.DateTime | None = None
    error: str | None = None

    def claimed(self) -> Claimed:
        return Claimed(
            self.tenant_id,
            self.id,
            self.stream,
            self.seq,
            self.kind,
            self.data,
            self.attempts,
            self.error,
        )


def _by_id(row: _Row) -> UUID:
    return row.id


class MemoryOutbox:
    """The memory store's outbox: rows in this process, with the SQL outbox's semantics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[Key, _Row] = {}
        self._pending: dict[Key, _Row] = {}
        self._counters: dict[str, int] = {}  # per tenant, the number of its last event

    def add(self, tenant_id: str, events: Sequence[DomainEvent]) -> Callable[[], None]:
        """Prepare to add a committing unit of work's events; call the result to add them.

        Whatever can fail (reading the events) happens here, before the unit of work applies
        its writes; the returned function cannot fail, so the writes and the events go in
        together or not at all. Call it while holding the store's commit lock.
        """
        records = [(event.id, *outbox_record(event)) for event in events]

        def apply() -> None:
            with self._lock:
                for event_id, stream, kind, data in records:
                    seq = self._counters[tenant_id] = self._counters.get(tenant_id, 0) + 1
                    row = _Row(tenant_id, event_id, stream, seq, kind, data)
                    self._rows[(tenant_id, event_id)] = self._pending[(tenant_id, event_id)] = row

        return apply

    def status(self, tenant_id: str, event_id: UUID) -> Status | None:
        """The status of an event (for tests), or None if there is no such event."""
        row = self._rows.get((tenant_id, event_id))
        return None if row is None else row.status

    def claim(
        self,
        *,
        now: pendulum.DateTime,
        until: pendulum.DateTime,
        token: str,
        limit: int,
        keys: Sequence[Key] | None = None,
    ) -> list[Claimed]:
        """See `Outbox.claim`."""
        with self._lock:
            pending = self._pending
            if keys is None:
                rows = list(pending.values())
            else:
                rows = [pending[k] for k in keys if k in pending]
            numbers: dict[tuple[str, str], list[int]] = {}
            for row in pending.values() if keys is None else self._stream_rows(rows):
                numbers.setdefault((row.tenant_id, row.stream), []).append(row.seq)
            for seqs in numbers.values():
                seqs.sort()
            due = sorted((r for r in rows if r.due_at is None or r.due_at <= now), key=_by_id)
            taken = runs([r.claimed() for r in due], dict(numbers))[:limit]
            for c in taken:
                row = pending[(c.tenant_id, c.id)]
                row.claim, row.due_at = token, until
            return taken

    def _stream_rows(self, rows: Iterable[_Row]) -> list[_Row]:
        streams = {(r.tenant_id, r.stream) for r in rows}
        return [r for r in self._pending.values() if (r.tenant_id, r.stream) in streams]

    def settle(self, *, token: str, now: pendulum.DateTime, settled: Sequence[Settlement]) -> None:
        """See `Outbox.settle`."""
        with self._lock:
            for s in settled:
                row = self._pending.get((s.tenant_id, s.id))
                if row is None or row.claim != token:
                    continue  # the lease ran out and another relay took it
                row.status, row.attempts, row.due_at, row.error = (
                    s.status,
                    s.attempts,
                    s.due_at,
                    s.error,
                )
                row.claim = None
                if s.status != "pending":
                    del self._pending[(s.tenant_id, s.id)]
                if s.status == "delivered":
                    row.delivered_at = now

    def parked(self, *, tenant_id: str | None, limit: int) -> list[Claimed]:
        """See `Outbox.parked`."""
        with self._lock:
            found = [
                r
                for r in self._rows.values()
                if r.status == "parked" and (tenant_id is None or r.tenant_id == tenant_id)
            ]
        found.sort(key=lambda r: (r.tenant_id, r.id))
        return [r.claimed() for r in found[:limit]]

    def retry(
        self, *, now: pendulum.DateTime, tenant_id: str | None, ids: Sequence[UUID] | None
    ) -> int:
        """See `Outbox.retry`."""
        wanted = None if ids is None else set(ids)
        count = 0
        with self._lock:
            for key, row in self._rows.items():
                if row.status != "parked" or (tenant_id is not None and row.tenant_id != tenant_id):
                    continue
                if wanted is not None and row.id not in wanted:
                    continue
                row.status, row.attempts, row.due_at = "pending", 0, now
                self._pending[key] = row
                count += 1
        return count

    def purge(self, *, before: pendulum.DateTime) -> int:
        """See `Outbox.purge`."""
        with self._lock:
            old = [
                key
                for key, row in self._rows.items()
                if row.status == "delivered" and row.delivered_at is not None
                and row.delivered_at < before
            ]  # fmt: skip
            for key in old:
                del self._rows[key]
        return len(old)
