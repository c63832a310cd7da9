"""Finding duplicates among the customers a store holds: read page by page, then compare.

Only the profiles (names keys, phones, emails, ...) are kept while reading, not the customers,
so a tenant of 100,000 customers is compared in the memory of its profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from crmkit._validation import bounded_int
from crmkit.customers._dedupe import (
    ContactPair,
    DuplicatePair,
    DuplicateRules,
    Profile,
    counted,
)
from crmkit.customers._dedupe_find import (
    as_contact_pairs,
    as_customer_pairs,
    checked_rules,
    pairs_of_profiles,
)
from crmkit.customers._model import Customer
from crmkit.errors import ValidationError

if TYPE_CHECKING:
    from crmkit.storage import UnitOfWork

__all__ = ["find_duplicate_contacts", "find_duplicate_customers"]

_page_size = bounded_int(1, 100_000)


def find_duplicate_customers(
    uow: UnitOfWork, *, rules: DuplicateRules | None = None, page_size: int = 1000
) -> list[DuplicatePair]:
    """The pairs of the tenant's customers that may be one customer (see `find_duplicates`).

    Reads every customer of the unit of work's tenant, `page_size` at a time, and stores
    nothing: merging is a decision for a person (or a rule of the host's) to take.

    Examples:
        >>> import crmkit
        >>> from crmkit import PhoneNumber
        >>> from crmkit.customers import Contact, Customer, find_duplicate_customers
        >>> crm = crmkit.open("memory://")
        >>> phone = PhoneNumber("+8613800138000")
        >>> with crm.unit_of_work(actor="li.na") as uow:
        ...     for name in ("Acme Trading Co., Ltd.", "ACME Trading Ltd", "Globex"):
        ...         uow.customers.add(Customer(name=name, owner_id="li.na",
        ...                                    contacts=[Contact(name="Li", phones=[phone])]))
        ...     [pair] = find_duplicate_customers(uow)
        >>> pair.reasons
        ('same E.164 phone +8613800138000', "same name after normalising ('acme trading')")

    Raises:
        ValidationError: `rules` is not a `DuplicateRules`, or `page_size` is out of range.
    """
    rules = checked_rules(rules)
    profiles = counted([Profile.of_customer(c, rules) for c in _every(uow, page_size)], rules)
    return as_customer_pairs(pairs_of_profiles(profiles, rules), profiles, rules)


def find_duplicate_contacts(
    uow: UnitOfWork, *, rules: DuplicateRules | None = None, page_size: int = 1000
) -> list[ContactPair]:
    """The pairs of contacts in the tenant that may be one person (see `find_contact_duplicates`).

    Raises:
        ValidationError: `rules` is not a `DuplicateRules`, or `page_size` is out of range.
    """
    rules = checked_rules(rules)
    profiles = counted(
        [Profile.of_contact(k, c.id, rules) for c in _every(uow, page_size) for k in c.contacts],
        rules,
    )
    return as_contact_pairs(pairs_of_profiles(profiles, rules), profiles, rules)


def _every(uow: UnitOfWork, page_size: int) -> Iterator[Customer]:
    problem = _page_size(page_size)
    if problem is not None:
        raise ValidationError.of("page_size", problem)
    page: Callable[..., list[Customer]] = uow.customers.page
    after = None
    while True:
        customers = page(after=after, limit=page_size)
        yield from customers
        if len(customers) < page_size:
            return
        after = customers[-1].id
