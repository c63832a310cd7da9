"""The customers capability on the repository core: its aggregates, and its memory queries.

The memory store's special queries (`by_code`, `by_owner`, `by_phone`, `by_email`,
`for_customer`) are here.

The SQL store's are in `crmkit.storage.sql._customers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol
from uuid import UUID

import pendulum

from crmkit._contact_points import EmailAddress, PhoneNumber
from crmkit.customers import Customer, Interaction
from crmkit.errors import Issue, NotFound
from crmkit.storage._aggregates import Aggregate, Parent, UniqueKey
from crmkit.storage._arguments import (
    a_key,
    a_limit,
    a_page,
    a_phone,
    a_span,
    an_email,
    an_id,
    email_key,
    external_keys,
)
from crmkit.storage._unit_of_work import UnitOfWork
from crmkit.storage.memory import MemoryRecords, Row

__all__ = [
    "CUSTOMERS",
    "INTERACTIONS",
    "CustomerRepository",
    "InteractionRepository",
    "MemoryCustomers",
    "MemoryInteractions",
]


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

    def lock(self, customer_id: UUID) -> Customer:
        """The customer with `customer_id`, locked against other writers till the unit of work ends.

        ``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB/MySQL (others wait for it to end);
        on SQLite a writing unit of work holds the write lock already; on the memory store the
        commit fails with `ConcurrencyError` if someone else committed a change to it since.

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

    def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        """The customers with these external ids, by external id; ids no customer has are left out.

        One query for the lot (an importer asks per batch, not per row).

        Raises:
            ValidationError: an external id is not a key (text without spaces at the ends, at
                most 128 characters), or more than 100,000 are asked for.
        """
        ...

    def by_contact_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        """The customers having a contact with each of these external ids, by the contact's.

        Raises:
            ValidationError: as `by_external_ids`.
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

    def recent(self, customer_id: UUID, *, limit: int = 20) -> list[Interaction]:
        """The customer's `limit` latest interactions (at most 100,000), newest first.

        Found through the timeline's index, newest end first: the cost grows with `limit`,
        not with the length of the timeline.
        """
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


def _custom_field_issues(customer: Customer, uow: Any) -> list[Issue]:  # noqa: ANN401
    schema = uow._custom_fields
    if schema is None or not isinstance(customer.custom_fields, dict):
        return []
    found: list[Issue] = schema.issues(customer.custom_fields, path="custom_fields")
    return found


def _contact_ids(customer: Customer) -> list[UUID]:
    return [p.id for p in customer.contacts]


def _contact_external_ids(customer: Customer) -> list[str | None]:
    return [p.external_id for p in customer.contacts]


# The positions of the code and the external ids among the customers' unique keys.
_CODE, _EXTERNAL, _CONTACT_EXTERNAL = 0, 2, 3
CUSTOMERS: Aggregate[Customer] = Aggregate(
    Customer,
    "customer",
    "customers",
    unique=(
        UniqueKey("code"),
        UniqueKey("id", record="contact", values=_contact_ids),
        UniqueKey("external_id"),
        UniqueKey("external_id", record="contact", values=_contact_external_ids),
    ),
    indexes={"owner": ("owner_id", "id")},
    issues=_custom_field_issues,
)
"""Customers with their contacts: codes, external ids and contact ids are unique in a tenant."""

INTERACTIONS: Aggregate[Interaction] = Aggregate(
    Interaction,
    "interaction",
    "interactions",
    parent=Parent("customer", "customers", "customer_id"),
    immutable={"customer_id": "an interaction cannot move to another customer"},
    indexes={"timeline": ("customer_id", "occurred_at", "id")},
    columns={"kind": 16, "actor_id": 64, "summary": None},
    order=("id", "version", "customer_id", "contact_id"),
)
"""The customer timelines: each interaction belongs to a customer and goes with it."""


class MemoryCustomers(MemoryRecords[Customer]):
    """`CustomerRepository` on the memory store."""

    def by_code(self, code: str) -> Customer:
        """See `CustomerRepository.by_code`."""
        self._uow._check_open()
        a_key(code, "code")
        key = self._uow._holder(self._name, _CODE, code)
        found = None if key is None else self._uow._read(self._name, key)
        if key is None or found is None:
            raise NotFound("customer with code", code)
        return self._from(key, found)

    def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        """See `CustomerRepository.by_external_ids`."""
        return self._by_unique(_EXTERNAL, external_keys(external_ids, "external_ids"))

    def by_contact_external_ids(self, external_ids: Iterable[str]) -> dict[str, Customer]:
        """See `CustomerRepository.by_contact_external_ids`."""
        return self._by_unique(_CONTACT_EXTERNAL, external_keys(external_ids, "external_ids"))

    def _by_unique(self, position: int, values: list[str]) -> dict[str, Customer]:
        self._uow._check_open()
        holders = {v: self._uow._holder(self._name, position, v) for v in values}
        loaded = {c.id: c for c in self._load(sorted({k for k in holders.values() if k}))}
        return {v: loaded[k] for v, k in holders.items() if k is not None and k in loaded}

    def by_owner(
        self, owner_id: str, *, after: UUID | None = None, limit: int | None = None
    ) -> list[Customer]:
        """See `CustomerRepository.by_owner`."""
        self._uow._check_open()
        a_key(owner_id, "owner_id")
        a_page(after, limit)
        keys = sorted(
            k
            for k, r in self._uow._scan(self._name)
            if r.row["owner_id"] == owner_id and (after is None or k > after)
        )
        return self._load(keys[:limit])

    def by_phone(self, phone: PhoneNumber | str) -> list[Customer]:
        """See `CustomerRepository.by_phone`."""
        self._uow._check_open()
        value = a_phone(phone, "phone")
        return self._having(lambda contact: value in contact["phones"])

    def by_email(self, email: EmailAddress | str) -> list[Customer]:
        """See `CustomerRepository.by_email`."""
        self._uow._check_open()
        value = an_email(email, "email")
        return self._having(lambda contact: value in {email_key(e) for e in contact["emails"]})

    def _having(self, test: Callable[[Row], bool]) -> list[Customer]:
        keys = sorted(
            k for k, r in self._uow._scan(self._name) if any(map(test, r.row["contacts"]))
        )
        return self._load(keys)


def timeline_span(
    uow: UnitOfWork, customer_id: object, since: object, until: object
) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None] | None:
    """Check `for_customer`'s arguments; its bounds as UTC instants, or None if none can match.

    Every adapter's timeline starts here, so the checks and the bounds beyond what a store
    holds (see `a_span`) are the same on each.
    """
    uow._check_open()
    an_id(customer_id, "customer_id")
    return a_span(since, until)


class MemoryInteractions(MemoryRecords[Interaction]):
    """`InteractionRepository` on the memory store."""

    def for_customer(
        self,
        customer_id: UUID,
        *,
        since: pendulum.DateTime | None = None,
        until: pendulum.DateTime | None = None,
    ) -> list[Interaction]:
        """See `InteractionRepository.for_customer`."""
        span = timeline_span(self._uow, customer_id, since, until)
        if span is None:
            return []
        since, until = span
        found = [
            self._from(key, record)
            for key, record in self._uow._scan(self._name)
            if record.parent == customer_id
        ]
        found = [
            i
            for i in found
            if (since is None or i.occurred_at >= since)
            and (until is None or i.occurred_at < until)
        ]
        return sorted(found, key=lambda i: (i.occurred_at, i.id))

    def recent(self, customer_id: UUID, *, limit: int = 20) -> list[Interaction]:
        """See `InteractionRepository.recent`."""
        self._uow._check_open()
        an_id(customer_id, "customer_id")
        a_limit(limit)
        found = [
            self._from(key, record)
            for key, record in self._uow._scan(self._name)
            if record.parent == customer_id
        ]
        found.sort(key=lambda i: (i.occurred_at, i.id), reverse=True)
        return found[:limit]
