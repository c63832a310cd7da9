"""The relay: delivers the outbox's pending events to subscribers, retrying and parking failures.

It works on any store's outbox (`crmkit.storage._outbox.Outbox`) in passes: claim a batch
under a lease, call the handlers outside any transaction, settle the batch. `CRM.relay` runs
passes until nothing is due; a CRM's own units of work run it on their own events right after
their commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from uuid import uuid4

import attrs

from crmkit._clock import Clock
from crmkit._converter import make_converter
from crmkit.errors import CrmkitError
from crmkit.events import DomainEvent, ParkedEvent, RelayReport, _event_class
from crmkit.storage._arguments import a_count, seconds
from crmkit.storage._outbox import Claimed, Key, Outbox, Settlement

__all__ = ["RelaySettings", "parked_event", "relay"]

_log = logging.getLogger("crmkit.events")
_load = make_converter(trusted=True)

HandlersOf = Callable[[type[DomainEvent]], Sequence[Callable[[Any], object]]]


@attrs.frozen(kw_only=True)
class RelaySettings:
    """How the relay retries: checked when made, so a bad value fails before any delivery."""

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 3600.0
    lease: float = 300.0
    batch: int = 100

    def __attrs_post_init__(self) -> None:
        a_count(self.attempts, "attempts", at_most=1000)
        seconds(self.backoff, "backoff", at_least=0, at_most=86400)
        seconds(self.max_backoff, "max_backoff", at_least=0, at_most=7 * 86400)
        seconds(self.lease, "lease", at_least=0.001, at_most=86400)
        a_count(self.batch, "batch", at_most=10_000)

    def pause(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt: doubling, up to the cap."""
        return min(self.max_backoff, self.backoff * 2.0 ** min(attempts - 1, 60))


def _decode(claimed: Claimed) -> DomainEvent:
    """The event `claimed` stored, or `CrmkitError` saying why it cannot be read back."""
    cls = _event_class(claimed.kind)
    if cls is None:
        raise CrmkitError(
            f"no event class {claimed.kind} is defined in this process; "
            f"import the module that defines it before relaying"
        )
    try:
        return _load.structure(claimed.data, cls)
    except CrmkitError as e:
        raise CrmkitError(f"the stored event does not fit {claimed.kind}: {e}") from e


def _deliver(event: DomainEvent, handlers_of: HandlersOf) -> str | None:
    """Call every handler of `event`; the first failure as text, or None if all succeeded."""
    failure = None
    for kind in type(event).__mro__:
        if not (isinstance(kind, type) and issubclass(kind, DomainEvent)):
            continue
        for handler in list(handlers_of(kind)):
            try:
                handler(event)
            except Exception as e:  # noqa: BLE001 (one bad handler must not stop the rest)
                _log.exception("handler %r failed on %r", handler, event)
                name = getattr(handler, "__qualname__", None) or repr(handler)
                failure = failure or f"handler {name} failed: {type(e).__name__}: {e}"
    return failure


def relay(
    outbox: Outbox,
    *,
    handlers_of: HandlersOf,
    clock: Clock,
    settings: RelaySettings,
    keys: Sequence[Key] | None = None,
    limit: int | None = None,
    known: dict[Key, DomainEvent] | None = None,
) -> RelayReport:
    """Deliver due events of `outbox` (those of `keys` only, if given) until none is left.

    At most `limit` events are claimed, if given. `known` has events at hand (a unit of work's
    own), which then need not be read back from what the outbox stored.
    """
    report = RelayReport()
    if keys is not None and len(keys) > settings.batch:
        # A batch of keys at a time, so that no claim looks through all of them.
        for start in range(0, len(keys), settings.batch):
            chunk = keys[start : start + settings.batch]
            report += relay(
                outbox,
                handlers_of=handlers_of,
                clock=clock,
                settings=settings,
                keys=chunk,
                known=known,
            )
        return report
    left = limit
    taken = 0
    while left is None or left > 0:
        batch = settings.batch if left is None else min(settings.batch, left)
        done, claimed = _pass(
            outbox,
            handlers_of=handlers_of,
            clock=clock,
            settings=settings,
            keys=keys,
            batch=batch,
            known=known or {},
        )
        report += done
        taken += claimed
        if not claimed or (keys is not None and taken >= len(keys)):
            break  # nothing left, or every one of `keys` had its turn
        if left is not None:
            left -= claimed
    return report


def _pass(
    outbox: Outbox,
    *,
    handlers_of: HandlersOf,
    clock: Clock,
    settings: RelaySettings,
    keys: Sequence[Key] | None,
    batch: int,
    known: dict[Key, DomainEvent],
) -> tuple[RelayReport, int]:
    now = clock.now()
    token = str(uuid4())
    until = now.add(microseconds=round(settings.lease * 1_000_000))
    claimed = outbox.claim(now=now, until=until, token=token, limit=batch, keys=keys)
    settled: list[Settlement] = []
    stopped: set[tuple[str, str]] = set()  # streams with a failure: the rest of them waits
    delivered = retried = parked = 0
    for c in claimed:
        stream = (c.tenant_id, c.stream)
        if stream in stopped:
            settled.append(Settlement(c.tenant_id, c.id, "pending", c.attempts, now, c.error))
            continue
        try:
            event = known.get((c.tenant_id, c.id))
            failure = _deliver(event if event is not None else _decode(c), handlers_of)
        except CrmkitError as e:
            failure = str(e)
        attempts = c.attempts + 1
        if failure is None:
            settled.append(Settlement(c.tenant_id, c.id, "delivered", attempts, now, None))
            delivered += 1
            continue
        stopped.add(stream)
        if attempts >= settings.attempts:
            settled.append(Settlement(c.tenant_id, c.id, "parked", attempts, now, failure))
            parked += 1
        else:
            due = now.add(microseconds=round(settings.pause(attempts) * 1_000_000))
            settled.append(Settlement(c.tenant_id, c.id, "pending", attempts, due, failure))
            retried += 1
    if settled:
        outbox.settle(token=token, now=clock.now(), settled=settled)
    return RelayReport(delivered=delivered, retried=retried, parked=parked), len(claimed)


def parked_event(claimed: Claimed) -> ParkedEvent:
    """`claimed`, a parked event, as the public `ParkedEvent`."""
    try:
        event: DomainEvent | None = _decode(claimed)
    except CrmkitError:
        event = None
    return ParkedEvent(
        id=claimed.id,
        tenant_id=claimed.tenant_id,
        kind=claimed.kind,
        attempts=claimed.attempts,
        error=claimed.error or "",
        event=event,
        data=claimed.data,
    )
