"""What people do with customers: each use case stores its change and records its event.

A service works in the unit of work it is given and never commits it, so a host can do several
things in one transaction; the events it records reach subscribers only after that transaction
commits. Bad input raises before anything is stored or recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from uuid import UUID

from crmkit.customers._events import (
    CustomerRegistered,
    CustomerRemoved,
    CustomerUpdated,
    InteractionLogged,
    OwnerChanged,
)
from crmkit.customers._interactions import Interaction
from crmkit.customers._model import Customer

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = [
    "change_owner",
    "log_interaction",
    "register_customer",
    "register_customers",
    "remove_customer",
    "update_customer",
]


def register_customer(uow: UnitOfWork, customer: Customer) -> Customer:
    """Store a new customer with its contacts and record `CustomerRegistered`.

    Examples:
        >>> import crmkit
        >>> from crmkit.customers import Customer, CustomerRegistered, register_customer
        >>> crm = crmkit.open("memory://")
        >>> crm.subscribe(CustomerRegistered, lambda e: print("registered for", e.owner_id))
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     _ = register_customer(uow, Customer(name="Acme", owner_id="wang.fang"))
        registered for wang.fang

    Raises:
        ValidationError: the customer is invalid or already stored.
        DuplicateError: its id or code is taken in the tenant.
    """
    register_customers(uow, [customer])
    return customer


def register_customers(uow: UnitOfWork, customers: Iterable[Customer]) -> list[Customer]:
    """Store many new customers at once (all or none), recording `CustomerRegistered` for each."""
    batch = list(customers)
    uow.customers.add_many(batch)
    # A generator: each item's fields live only until its event is made.
    uow.record_many(
        CustomerRegistered, ({"customer_id": c.id, "owner_id": c.owner_id} for c in batch)
    )
    return batch


def update_customer(uow: UnitOfWork, customer: Customer) -> None:
    """Store a changed customer and record `CustomerUpdated` with the version now stored.

    Raises:
        ConcurrencyError: someone changed or removed it since it was read.
    """
    uow.customers.update(customer)
    uow.record(CustomerUpdated, customer_id=customer.id, version=customer.version)


def change_owner(uow: UnitOfWork, customer_id: UUID, owner_id: str) -> Customer:
    """Hand a customer to the salesperson `owner_id`, recording `OwnerChanged`.

    Handing a customer to its current owner changes and records nothing.

    Raises:
        NotFound: no such customer in the tenant.
        ValidationError: `owner_id` is not a valid user id (named ``owner_id``).
    """
    customer = uow.customers.get(customer_id)
    previous = customer.owner_id
    if owner_id == previous:
        return customer
    customer.owner_id = owner_id  # checked on assignment
    uow.customers.update(customer)
    uow.record(OwnerChanged, customer_id=customer.id, previous_owner_id=previous, owner_id=owner_id)
    return customer


def remove_customer(uow: UnitOfWork, customer: Customer) -> None:
    """Delete a customer with its contacts and timeline, recording `CustomerRemoved`.

    Raises:
        ConcurrencyError: someone changed or removed it since it was read.
    """
    uow.customers.remove(customer)
    uow.record(CustomerRemoved, customer_id=customer.id)


def log_interaction(uow: UnitOfWork, interaction: Interaction) -> Interaction:
    """Add a call, email, visit, meeting, note or complaint to a customer's timeline.

    Records `InteractionLogged`.

    Raises:
        NotFound: the customer does not exist in the tenant.
    """
    uow.interactions.add(interaction)
    uow.record(
        InteractionLogged,
        interaction_id=interaction.id,
        customer_id=interaction.customer_id,
        kind=interaction.kind,
    )
    return interaction
