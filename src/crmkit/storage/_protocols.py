"""What every storage adapter provides: repositories, a unit of work, a store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import pendulum

from crmkit._clock import Clock
from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit.customers import Customer, CustomFieldSchema, Interaction

if TYPE_CHECKING:
    from crmkit.events import DomainEvent
    from crmkit.storage._outbox import Outbox
    from crmkit.storage._unit_of_work import UnitOfWork

__all__ = ["CustomerRepository", "EventSink", "InteractionRepository", "Store"]

EventSink = Callable[[Sequence["DomainEvent"]], None]
"""Receives the events of a unit of work once its writes are durable."""


class CustomerRepository(Protocol):
    """The customers of one tenant, as one unit of work sees them.

    Reads return copies: changing a returned customer changes nothing until it is passed to
    `update`. Writes check the whole aggregate first (`ValidationError`) and the stored version
    (`ConcurrencyError`); a successful `add` or `update` sets the object's `version` to the
    version now stored.
    """

    def add(self, customer: Customer) -> None:
        """Store a new customer (version 0) with its contacts.

        Raises:
            ValidationError: the customer is invalid, or was already stored (version > 0).
            DuplicateError: its id, or its code, is taken in this tenant.
        """
        ...

    def add_many(self, customers: Iterable[Customer]) -> None:
        """Store many new customers at once; all or none, like `add` for each.

        If it fails once it has begun writing, the unit of work is spoilt (see `UnitOfWork`):
        none of the batch can be committed.
        """
        ...

    def get(self, customer_id: UUID) -> Customer:
        """The customer with `customer_id`.

        Raises:
            NotFound: no such customer in this tenant.
        """
        ...

    def get_many(self, customer_ids: Iterable[UUID]) -> list[Customer]:
        """The customers with these ids that exist, in the order the ids were given."""
        ...

    def by_code(self, code: str) -> Customer:
        """The customer with the host's customer code `code`.

        Raises:
            NotFound: no customer has that code in this tenant.
        """
        ...

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Customer]:
        """The customers owned by the salesperson `owner_id`, oldest id first.

        All of them by default; with `limit` (at most 100,000), a page of at most that many,
        starting after the id `after` (keyset paging, as `page`), for books too large to load
        at once.
        """
        ...

    def by_phone(self, phone: PhoneNumber | str) -> list[Customer]:
        """Every customer with a contact who has the phone number `phone`, oldest id first.

        Args:
            phone: a `PhoneNumber`, or E.164 text (``"+8613800138000"``); parse what a person
                typed with `PhoneNumber.parse` first.

        Raises:
            ValidationError: `phone` is neither.
        """
        ...

    def by_email(self, email: EmailAddress | str) -> list[Customer]:
        """Every customer with a contact who has the address `email`, oldest id first.

        Addresses match whatever their case: ``Li.Wei@example.com`` finds ``li.wei@example.com``.

        Raises:
            ValidationError: `email` is not an email address.
        """
        ...

    def page(self, *, after: UUID | None = None, limit: int = 100) -> list[Customer]:
        """Up to `limit` customers (at most 100,000) with ids after `after`, in id order.

        Keyset paging: pass the id of the last customer of a page as `after` for the next.
        """
        ...

    def count(self) -> int:
        """How many customers the tenant has."""
        ...

    def update(self, customer: Customer) -> None:
        """Store the changed customer, if nobody changed it since it was read.

        Raises:
            ValidationError: the customer is invalid.
            ConcurrencyError: the stored version is not `customer.version`, or it was removed.
            DuplicateError: its new code is taken.
        """
        ...

    def remove(self, customer: Customer) -> None:
        """Delete the customer, its contacts and its timeline, if unchanged since it was read.

        Raises:
            ConcurrencyError: the stored version is not `customer.version`, or it is gone.
        """
        ...


class InteractionRepository(Protocol):
    """The interaction timelines of one tenant's customers."""

    def add(self, interaction: Interaction) -> None:
        """Store a new interaction (version 0).

        Raises:
            ValidationError: the interaction is invalid or already stored.
            NotFound: its customer does not exist in this tenant.
            DuplicateError: its id is taken.
        """
        ...

    def get(self, interaction_id: UUID) -> Interaction:
        """The interaction with `interaction_id`.

        Raises:
            NotFound: no such interaction in this tenant.
        """
        ...

    def for_customer(
        self,
        customer_id: UUID,
        *,
        since: pendulum.DateTime | None = None,
        until: pendulum.DateTime | None = None,
    ) -> list[Interaction]:
        """The customer's timeline from `since` (included) to `until` (excluded), oldest first."""
        ...

    def update(self, interaction: Interaction) -> None:
        """Store the changed interaction, if nobody changed it since it was read.

        Raises:
            ConcurrencyError: the stored version is not `interaction.version`.
        """
        ...

    def remove(self, interaction: Interaction) -> None:
        """Delete the interaction, if unchanged since it was read."""
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
        custom_fields: CustomFieldSchema | None,
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
