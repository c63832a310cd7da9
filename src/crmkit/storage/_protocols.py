"""What every storage adapter provides: repositories, a unit of work, a store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from crmkit._clock import Clock
from crmkit.errors import Issue

if TYPE_CHECKING:
    from crmkit.events import DomainEvent
    from crmkit.storage._outbox import Outbox
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["EventSink", "FieldRules", "Store"]

EventSink = Callable[[Sequence["DomainEvent"]], None]
"""Receives the events of a unit of work once its writes are durable."""


class FieldRules(Protocol):
    """A host's rules for the free-form fields of records (a `CustomFieldSchema`, say)."""

    def issues(self, values: Mapping[str, Any], *, path: str = "") -> list[Issue]:
        """Every problem with `values`, each under `path`."""
        ...


class Store(Protocol):
    """A place to keep a CRM's data: opens units of work on it."""

    @property
    def outbox(self) -> Outbox:
        """The events its units of work recorded, until a relay has delivered them."""
        ...

    def unit_of_work(
        self,
        *,
        tenant_id: str,
        actor_id: str,
        clock: Clock,
        custom_fields: FieldRules | None,
        on_commit: EventSink,
        read_only: bool = False,
        connection: Any = None,  # noqa: ANN401 (a SQLAlchemy Connection, for SQL stores)
    ) -> UnitOfWork:
        """Begin a unit of work for one tenant and actor."""
        ...

    def create_all(self) -> None:
        """Create whatever the store needs to hold data (tables); a no-op if they exist."""
        ...

    def verify_schema(self) -> None:
        """Raise `SchemaVersionError` if the stored schema is not the one this code needs."""
        ...

    def close(self) -> None:
        """Release the store's resources (connections)."""
        ...
