"""Duplicate customers and contacts: the rules, what is compared, and how a pair is scored.

A customer becomes a `Profile`: its name key (see `company_key` and `person_key`), the E.164
phones and normalised emails of its contacts, its code and external id, its birthday, and the
postcode and street of its address. Two profiles are compared signal by signal; a signal counts
only when both sides have it (a missing phone neither helps nor hurts), and the score is the
weighted mean of the signals that count::

    score = sum(weight * similarity) / sum(weight)      over the signals both sides have

Names are always compared (rapidfuzz's normalised Indel similarity of the keys, from 0 to 1);
phones, emails, birthdays and postcodes are 1 when equal (for phones and emails: when any is
shared) and 0 when not; streets are compared like names; a shared code or external id counts
only when it agrees, since two records of one customer entered twice have two codes anyway.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Iterable
from uuid import UUID

import attrs

from crmkit._validation import Validated, as_frozenset, as_tuple, bounded_int, check, each, text
from crmkit.customers._dedupe_normal import (
    COMPANY_SUFFIXES,
    REGIONS,
    company_key,
    email_key,
    person_key,
)
from crmkit.customers._model import Contact, Customer, CustomerKind

__all__ = [
    "BlockingKey",
    "ContactPair",
    "DuplicatePair",
    "DuplicateRules",
    "Profile",
]

Similarity = Callable[[str, str], float]


class BlockingKey(enum.StrEnum):
    """A way of picking the pairs worth comparing (see `DuplicateRules.blocking`).

    Records that share an exact key (`PHONE`, `EMAIL`, `CODE`, `POSTCODE` with the first
    character of the name key) are compared with each other; `NAME` and `REVERSED_NAME` sort the
    records by their name key (or by it read backwards, which brings together names that differ
    in their first letters) and compare each record with the next ``window - 1``: the sorted
    neighbourhood method.
    """

    PHONE = "phone"
    EMAIL = "email"
    CODE = "code"
    POSTCODE = "postcode"
    NAME = "name"
    REVERSED_NAME = "reversed_name"


def _weight(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value) or not 0 <= value <= 100:  # noqa: PLR2004
        return f"{value!r} is out of range; a weight is from 0 to 100"
    return None


def _positive_weight(value: object) -> str | None:
    problem = _weight(value)
    if problem is None and value == 0:
        return "must be more than 0: names are always compared"
    return problem


def _threshold(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value) or not 0 < value <= 1:
        return f"{value!r} is out of range; a threshold is more than 0 and at most 1"
    return None


def _blocking(value: object) -> str | None:
    if not isinstance(value, frozenset):
        return f"must be a frozenset, not {type(value).__name__}"
    bad = [v for v in value if not isinstance(v, BlockingKey)]
    if bad:
        return f"{bad[0]!r} is not a BlockingKey"
    return None


def _bool(value: object) -> str | None:
    return None if isinstance(value, bool) else f"must be a bool, not {type(value).__name__}"


@attrs.frozen(kw_only=True)
class DuplicateRules(Validated):
    """What makes two records duplicates: the weight of each signal, the threshold, the blocking.

    The defaults find 97% or more of the duplicates in crmkit's generated test data with as
    few false ones (see the "Duplicates" page for the figures).

    Examples:
        >>> DuplicateRules(threshold=0.8).threshold
        0.8
        >>> DuplicateRules(window=1)
        Traceback (most recent call last):
        ...
        crmkit.errors.ValidationError: window: 1 is out of range; it must be from 2 to 1000

    Attributes:
        threshold: the score from which a pair is reported, more than 0 and at most 1.
        name_weight: the weight of the names' similarity (always compared; more than 0).
        phone_weight: the weight of a shared E.164 phone number.
        email_weight: the weight of a shared (normalised) email address.
        code_weight: the weight of a shared code or external id.
        birthday_weight: the weight of the birthday.
        postcode_weight: the weight of the postcode.
        street_weight: the weight of the street's similarity.
        blocking: the ways of picking candidate pairs; all of them by default.
        window: how many neighbours in name order each record is compared with, plus one.
        max_block: exact-key blocks with more records than this are not compared in full: a
            phone number or postcode shared by hundreds of records (a switchboard, a business
            park) tells nothing; the sorted neighbourhoods still compare their neighbours.
        email_aliases: fold provider aliases (``+tag``, Gmail's dots) in email addresses.
        suffixes: legal-form suffixes dropped from company names (`COMPANY_SUFFIXES`).
        regions: Chinese regions dropped from company names (`REGIONS`).
    """

    threshold: float = attrs.field(default=0.75, metadata=check(_threshold))
    name_weight: float = attrs.field(default=0.4, metadata=check(_positive_weight))
    phone_weight: float = attrs.field(default=0.3, metadata=check(_weight))
    email_weight: float = attrs.field(default=0.3, metadata=check(_weight))
    code_weight: float = attrs.field(default=0.4, metadata=check(_weight))
    birthday_weight: float = attrs.field(default=0.15, metadata=check(_weight))
    postcode_weight: float = attrs.field(default=0.05, metadata=check(_weight))
    street_weight: float = attrs.field(default=0.1, metadata=check(_weight))
    blocking: frozenset[BlockingKey] = attrs.field(
        default=frozenset(BlockingKey), converter=as_frozenset, metadata=check(_blocking)
    )
    window: int = attrs.field(default=12, metadata=check(bounded_int(2, 1000)))
    max_block: int = attrs.field(default=200, metadata=check(bounded_int(2, 100_000)))
    email_aliases: bool = attrs.field(default=False, metadata=check(_bool))
    suffixes: tuple[str, ...] = attrs.field(
        default=COMPANY_SUFFIXES, converter=as_tuple, metadata=check(each(text(max_length=50)))
    )
    regions: tuple[str, ...] = attrs.field(
        default=REGIONS, converter=as_tuple, metadata=check(each(text(max_length=50)))
    )


@attrs.frozen(kw_only=True)
class DuplicatePair:
    """Two customers that may be one, with how sure the finder is and why.

    Attributes:
        a_id: the id of one customer: the smaller of the two ids.
        b_id: the id of the other.
        score: from 0 to 1 (rounded to 4 places): the weighted mean of the signals compared.
        reasons: each signal compared, in words (``"same E.164 phone +8613800138000"``,
            ``"names 0.93 similar after normalising"``, ``"different birthdays ..."``), the
            strongest first.
    """

    a_id: UUID
    b_id: UUID
    score: float
    reasons: tuple[str, ...]


@attrs.frozen(kw_only=True)
class ContactPair:
    """Two contacts, of the same customer or of two, that may be one person.

    Attributes:
        a_id: the id of one contact: the smaller of the two ids.
        b_id: the id of the other.
        a_customer_id: the customer `a_id` belongs to.
        b_customer_id: the customer `b_id` belongs to.
        score: from 0 to 1, as for `DuplicatePair`.
        reasons: each signal compared, in words.
    """

    a_id: UUID
    b_id: UUID
    a_customer_id: UUID
    b_customer_id: UUID
    score: float
    reasons: tuple[str, ...]


@attrs.frozen(kw_only=True)
class Profile:
    """What the finder compares of a customer or contact, normalised once.

    Attributes:
        id: the record's id.
        owner_id: the id of the customer a contact belongs to (the customer's own for one).
        group: records of different groups are never paired (company, person, contact).
        key: the name key (`company_key` or `person_key`).
        phones: E.164 phone numbers.
        emails: normalised email addresses (`email_key`).
        codes: the code and external id, folded to lower case.
        birthday: the day of birth, if known.
        postcode: the postcode with its spaces removed, or ``""``.
        street: the normalised street and city, or ``""``.
    """

    id: UUID
    owner_id: UUID
    group: str
    key: str
    phones: frozenset[str]
    emails: frozenset[str]
    codes: frozenset[str]
    birthday: dt.date | None
    postcode: str
    street: str

    @classmethod
    def of_customer(cls, customer: Customer, rules: DuplicateRules) -> Profile:
        """The profile of `customer`; its phones and emails are those of its contacts."""
        if customer.kind is CustomerKind.PERSON:
            key = person_key(customer.name)
        else:
            key = company_key(customer.name, suffixes=rules.suffixes, regions=rules.regions)
        address = customer.address
        codes = (customer.code, customer.external_id)
        return cls(
            id=customer.id,
            owner_id=customer.id,
            group=customer.kind.value,
            key=key,
            phones=frozenset(p.e164 for c in customer.contacts for p in c.phones),
            emails=frozenset(
                email_key(e.address, aliases=rules.email_aliases)
                for c in customer.contacts
                for e in c.emails
            ),
            codes=frozenset(c.casefold() for c in codes if c is not None),
            birthday=customer.birthday,
            postcode="".join(address.postcode.split()).upper() if address else "",
            street=_street(address.street, address.city) if address else "",
        )

    @classmethod
    def of_contact(cls, contact: Contact, customer_id: UUID, rules: DuplicateRules) -> Profile:
        """The profile of `contact`, one of the customer `customer_id`'s contacts."""
        return cls(
            id=contact.id,
            owner_id=customer_id,
            group="contact",
            key=person_key(contact.name),
            phones=frozenset(p.e164 for p in contact.phones),
            emails=frozenset(
                email_key(e.address, aliases=rules.email_aliases) for e in contact.emails
            ),
            codes=frozenset({contact.external_id.casefold()} if contact.external_id else ()),
            birthday=contact.birthday,
            postcode="",
            street="",
        )


def _street(street: str, city: str) -> str:
    if not street.strip():
        return ""
    return company_key(f"{street} {city}", suffixes=(), regions=())


def profiles_of(customers: Iterable[Customer], rules: DuplicateRules) -> list[Profile]:
    """The profile of each customer, in the order given."""
    return [Profile.of_customer(c, rules) for c in customers]


def contact_profiles_of(customers: Iterable[Customer], rules: DuplicateRules) -> list[Profile]:
    """The profile of each contact of each customer, in the order given."""
    return [Profile.of_contact(k, c.id, rules) for c in customers for k in c.contacts]


def similarity() -> Similarity:
    """The normalised Indel similarity (0 to 1) of rapidfuzz, imported when first needed."""
    from rapidfuzz.distance import Indel

    return Indel.normalized_similarity


def score(a: Profile, b: Profile, rules: DuplicateRules, similar: Similarity) -> float:
    """The score of `a` and `b` (rounded to 4 places), or 0 when they are of different groups."""
    if a.group != b.group or a.id == b.id:
        return 0.0
    weight = rules.name_weight
    total = weight * similar(a.key, b.key)
    if a.phones and b.phones:
        weight += rules.phone_weight
        if not a.phones.isdisjoint(b.phones):
            total += rules.phone_weight
    if a.emails and b.emails:
        weight += rules.email_weight
        if not a.emails.isdisjoint(b.emails):
            total += rules.email_weight
    if a.codes and not a.codes.isdisjoint(b.codes):
        weight += rules.code_weight
        total += rules.code_weight
    if a.birthday is not None and b.birthday is not None:
        weight += rules.birthday_weight
        if a.birthday == b.birthday:
            total += rules.birthday_weight
    if a.postcode and b.postcode:
        weight += rules.postcode_weight
        if a.postcode == b.postcode:
            total += rules.postcode_weight
    if a.street and b.street:
        weight += rules.street_weight
        total += rules.street_weight * similar(a.street, b.street)
    return round(total / weight, 4)


def reasons(a: Profile, b: Profile, rules: DuplicateRules, similar: Similarity) -> tuple[str, ...]:
    """Each signal `score` compared for `a` and `b`, in words, the strongest first."""
    found: list[tuple[float, str]] = []
    _exact(found, a.phones, b.phones, "E.164 phone", rules.phone_weight)
    _exact(found, a.emails, b.emails, "email", rules.email_weight)
    codes = a.codes & b.codes
    if codes:
        found.append((rules.code_weight, f"same code or external id {', '.join(sorted(codes))}"))
    name = similar(a.key, b.key)
    words = (
        f"same name after normalising ({a.key!r})"
        if a.key == b.key
        else f"names {name:.2f} similar after normalising ({a.key!r}, {b.key!r})"
    )
    found.append((rules.name_weight * name, words))
    if a.birthday is not None and b.birthday is not None:
        if a.birthday == b.birthday:
            found.append((rules.birthday_weight, f"same birthday {a.birthday.isoformat()}"))
        else:
            days = f"{a.birthday.isoformat()}, {b.birthday.isoformat()}"
            found.append((-rules.birthday_weight, f"different birthdays ({days})"))
    if a.postcode and b.postcode:
        if a.postcode == b.postcode:
            found.append((rules.postcode_weight, f"same postcode {a.postcode}"))
        else:
            both = f"{a.postcode}, {b.postcode}"
            found.append((-rules.postcode_weight, f"different postcodes ({both})"))
    if a.street and b.street:
        street = similar(a.street, b.street)
        found.append((rules.street_weight * street, f"addresses {street:.2f} similar"))
    found.sort(key=lambda item: -item[0])
    return tuple(words for _, words in found)


def _exact(
    found: list[tuple[float, str]],
    mine: frozenset[str],
    theirs: frozenset[str],
    what: str,
    weight: float,
) -> None:
    shared = mine & theirs
    if shared:
        found.append((weight, f"same {what} {', '.join(sorted(shared))}"))
    elif mine and theirs:
        found.append((-weight, f"no {what} in common"))
