"""Duplicate customers and contacts: the rules, what is compared, and how a pair is scored.

A customer becomes a `Profile`: its name key (see `company_key` and `person_key`), the E.164
phones and normalised emails of its contacts, its code and external id, its birthday, and the
postcode and street of its address. Two profiles are compared signal by signal, and each signal
adds evidence for or against their being one (the Fellegi-Sunter model of record linkage):

- a signal that agrees adds its `Weight`'s ``agree`` (in bits: +10 makes the odds 1024 times
  higher), one that disagrees adds its ``disagree`` (zero or less); a signal that one side lacks
  adds nothing, so a missing phone neither helps nor hurts;
- names (and streets) are compared by rapidfuzz's normalised Indel similarity of their keys,
  from 0 to 1: a similarity of 1 adds ``agree``, one at `DuplicateRules.floor` (for streets
  `DuplicateRules.street_floor`) adds nothing, and one of 0 adds ``disagree``, in proportion
  in between;
- phones, emails and places (the regions in a Chinese company's name, the city and region of
  the address) agree when the two share one, and disagree when both have some but share none;
  birthdays and postcodes agree when equal; streets with different house numbers disagree;
  a shared code or external id only agrees (two records of one customer entered twice have
  two codes anyway);
- a common name says less: the evidence of two names alike loses a bit each time the number of
  records compared that have the more common name doubles, beyond two
  (`DuplicateRules.name_frequency`);
- the evidence starts at `DuplicateRules.prior` (the odds that two records picked at random
  are one: low), and the score is the probability the total stands for::

    score = 1 / (1 + 2 ** -(prior + sum of the evidence))
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from uuid import UUID

import attrs

from crmkit._validation import (
    Validated,
    as_frozenset,
    as_tuple,
    bounded_int,
    check,
    each,
    instance_of,
    text,
)
from crmkit.customers._dedupe_normal import (
    COMPANY_SUFFIXES,
    REGIONS,
    company_parts,
    email_key,
    person_key,
    place,
    plain,
)
from crmkit.customers._model import Contact, Customer, CustomerKind

__all__ = [
    "BlockingKey",
    "ContactPair",
    "DuplicatePair",
    "DuplicateRules",
    "Profile",
    "Weight",
]

Similarity = Callable[[str, str], float]
_NUMBER = re.compile(r"\d+")


class BlockingKey(enum.StrEnum):
    """A way of picking the pairs worth comparing (see `DuplicateRules.blocking`).

    Records that share an exact key (`PHONE`, `EMAIL`, `CODE`, `BIRTHDAY`, or `POSTCODE`
    with one of the first two characters of the name key) are compared with each other; `NAME` and
    `REVERSED_NAME` sort the records by their name key (or by it read backwards, which brings
    together names that differ in their first letters) and compare each record with the
    ``window - 1`` before and after it: the sorted neighbourhood method.
    """

    PHONE = "phone"
    EMAIL = "email"
    CODE = "code"
    POSTCODE = "postcode"
    BIRTHDAY = "birthday"
    NAME = "name"
    REVERSED_NAME = "reversed_name"


def _bits(low: float, high: float) -> Callable[[object], str | None]:
    def check_bits(value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, not {type(value).__name__}"
        if not math.isfinite(value) or not low <= value <= high:
            return f"{value!r} is out of range; it must be from {low:g} to {high:g}"
        return None

    return check_bits


@attrs.frozen(kw_only=True)
class Weight(Validated):
    """How much one signal says, in bits, when it agrees and when it disagrees.

    Examples:
        >>> Weight(agree=10, disagree=-3)
        Weight(agree=10, disagree=-3)
        >>> Weight(agree=10, disagree=3)
        Traceback (most recent call last):
        ...
        crmkit.errors.ValidationError: disagree: 3 is out of range; it must be from -100 to 0

    Attributes:
        agree: the evidence a match adds, from 0 to 100 bits.
        disagree: the evidence a mismatch adds, from -100 to 0 bits.
    """

    agree: float = attrs.field(metadata=check(_bits(0, 100)))
    disagree: float = attrs.field(default=0, metadata=check(_bits(-100, 0)))


def _threshold(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value) or not 0 < value < 1:
        return f"{value!r} is out of range; a threshold is more than 0 and less than 1"
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


_is_weight = instance_of(Weight)


@attrs.frozen(kw_only=True)
class DuplicateRules(Validated):
    """What makes two records duplicates: the weight of each signal, the threshold, the blocking.

    The defaults find 97% or more of the duplicates in crmkit's generated test data, with few
    false ones (see the "Duplicates" page for the figures).

    Examples:
        >>> DuplicateRules(threshold=0.9, phone=Weight(agree=12, disagree=-4)).phone
        Weight(agree=12, disagree=-4)
        >>> DuplicateRules(window=1)
        Traceback (most recent call last):
        ...
        crmkit.errors.ValidationError: window: 1 is out of range; it must be from 2 to 1000

    Attributes:
        threshold: the score from which a pair is reported, more than 0 and less than 1.
        prior: the evidence, in bits, before any signal is compared: how likely two records
            picked at random are one (-7: 1 in 129).
        name: the weight of the names' similarity.
        floor: the similarity of names that is no evidence either way.
        phone: the weight of a shared E.164 phone number (and of none shared).
        email: the weight of a shared normalised email address (and of none shared).
        code: the weight of a shared code or external id.
        birthday: the weight of the birthday.
        postcode: the weight of the postcode.
        street: the weight of the street's similarity (street and city, normalised).
        places: the weight of the places named: the regions in a Chinese company's name
            (``"深圳市"``, ``"(深圳)"``) and the city and region of the address. Two records
            that name places and share none are taken to be in different places.
        street_floor: the similarity of streets that is no evidence either way: streets share
            many words ("Road", "路"), so only near-equal ones count for.
        blocking: the ways of picking candidate pairs; all of them by default.
        window: how many neighbours in name order each record is compared with, plus one.
        max_block: exact-key blocks with more records than this are not compared in full: a
            phone number or postcode shared by hundreds of records (a switchboard, a business
            park) tells nothing; the sorted neighbourhoods still compare their neighbours.
        email_aliases: fold provider aliases (``+tag``, Gmail's dots) in email addresses.
        name_frequency: weigh a name by how common it is among the records compared: the
            evidence of two names alike loses a bit each time the number of records with
            the more common of the two doubles (beyond 2). Two people called 王伟 are less
            likely one person than two called 欧阳明远.
        suffixes: legal-form suffixes dropped from company names (`COMPANY_SUFFIXES`).
        regions: Chinese regions dropped from company names (`REGIONS`).
    """

    threshold: float = attrs.field(default=0.5, metadata=check(_threshold))
    prior: float = attrs.field(default=-7, metadata=check(_bits(-100, 100)))
    name: Weight = attrs.field(default=Weight(agree=8, disagree=-6), metadata=check(_is_weight))
    floor: float = attrs.field(default=0.5, metadata=check(_threshold))
    phone: Weight = attrs.field(default=Weight(agree=10, disagree=-3), metadata=check(_is_weight))
    email: Weight = attrs.field(default=Weight(agree=10, disagree=-2), metadata=check(_is_weight))
    code: Weight = attrs.field(default=Weight(agree=12), metadata=check(_is_weight))
    birthday: Weight = attrs.field(default=Weight(agree=6, disagree=-6), metadata=check(_is_weight))
    postcode: Weight = attrs.field(default=Weight(agree=2, disagree=-2), metadata=check(_is_weight))
    street: Weight = attrs.field(default=Weight(agree=3, disagree=-1), metadata=check(_is_weight))
    street_floor: float = attrs.field(default=0.85, metadata=check(_threshold))
    places: Weight = attrs.field(default=Weight(agree=1, disagree=-4), metadata=check(_is_weight))
    blocking: frozenset[BlockingKey] = attrs.field(
        default=frozenset(BlockingKey), converter=as_frozenset, metadata=check(_blocking)
    )
    window: int = attrs.field(default=11, metadata=check(bounded_int(2, 1000)))
    max_block: int = attrs.field(default=200, metadata=check(bounded_int(2, 100_000)))
    email_aliases: bool = attrs.field(default=False, metadata=check(_bool))
    name_frequency: bool = attrs.field(default=True, metadata=check(_bool))
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
        score: from 0 to 1 (rounded to 4 places): how likely the two are one, by the evidence.
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


@attrs.define(kw_only=True)
class Profile:
    """What the finder compares of a customer or contact, normalised once.

    Attributes:
        id: the record's id.
        customer_id: the customer a contact belongs to (for a customer, its own id).
        group: records of different groups are never paired (company, person, contact).
        key: the name key (`company_key` or `person_key`).
        phones: E.164 phone numbers.
        emails: normalised email addresses (`email_key`).
        codes: the code and external id, folded to lower case.
        birthday: the day of birth, if known.
        postcode: the postcode with its spaces removed, or ``""``.
        street: the normalised street and city, or ``""``.
        numbers: the numbers in the street (house numbers), in order.
        places: the places named: regions in a company's name, the address's city and region.
        name_count: how many of the records compared have this name key (see
            `DuplicateRules.name_frequency`); 1 until they are counted.
    """

    id: UUID
    customer_id: UUID
    group: str
    key: str
    phones: frozenset[str]
    emails: frozenset[str]
    codes: frozenset[str]
    birthday: dt.date | None
    postcode: str
    street: str
    numbers: tuple[str, ...]
    places: frozenset[str]
    name_count: int = 1

    @classmethod
    def of_customer(cls, customer: Customer, rules: DuplicateRules) -> Profile:
        """The profile of `customer`; its phones and emails are those of its contacts."""
        if customer.kind is CustomerKind.PERSON:
            key, named = person_key(customer.name), frozenset[str]()
        else:
            key, named = company_parts(customer.name, rules.suffixes, rules.regions)
        address = customer.address
        if address is not None:
            named |= {p for p in (place(address.city), place(address.region)) if p}
        codes = (customer.code, customer.external_id)
        return cls(
            id=customer.id,
            customer_id=customer.id,
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
            numbers=tuple(_NUMBER.findall(address.street)) if address else (),
            places=named,
        )

    @classmethod
    def of_contact(cls, contact: Contact, customer_id: UUID, rules: DuplicateRules) -> Profile:
        """The profile of `contact`, one of the customer `customer_id`'s contacts."""
        return cls(
            id=contact.id,
            customer_id=customer_id,
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
            numbers=(),
            places=frozenset(),
        )


def _street(street: str, city: str) -> str:
    return plain(f"{street} {city}") if street.strip() else ""


def profiles_of(customers: Iterable[Customer], rules: DuplicateRules) -> list[Profile]:
    """The profile of each customer, in the order given, their names counted."""
    return counted([Profile.of_customer(c, rules) for c in customers], rules)


def contact_profiles_of(customers: Iterable[Customer], rules: DuplicateRules) -> list[Profile]:
    """The profile of each contact of each customer, in the order given, their names counted."""
    return counted(
        [Profile.of_contact(k, c.id, rules) for c in customers for k in c.contacts], rules
    )


def counted(profiles: list[Profile], rules: DuplicateRules) -> list[Profile]:
    """`profiles`, each with its `Profile.name_count` among them (if the rules count names)."""
    if rules.name_frequency:
        counts = Counter((p.group, p.key) for p in profiles)
        for p in profiles:
            p.name_count = counts[p.group, p.key]
    return profiles


def _name_bits(rules: DuplicateRules, a: Profile, b: Profile, similar: float) -> float:
    found = _graded(rules.name, similar, rules.floor)
    if found > 0:
        found = max(0.0, found - _commonness(a, b))
    return found


def _commonness(a: Profile, b: Profile) -> float:
    """How much less a name says for being common: 1 bit less each time its count doubles."""
    common = max(a.name_count, b.name_count)
    return math.log2(common) - 1 if common > 2 else 0.0  # noqa: PLR2004


def similarity() -> Similarity:
    """The normalised Indel similarity (0 to 1) of rapidfuzz, imported when first needed.

    rapidfuzz's ``fuzz.ratio`` is the same measure in percent, and the quicker call.
    """
    from rapidfuzz.fuzz import ratio

    def similar(a: str, b: str) -> float:
        return ratio(a, b) / 100

    return similar


def _graded(weight: Weight, similar: float, floor: float) -> float:
    """The evidence of a similarity: ``agree`` at 1, nothing at `floor`, ``disagree`` at 0."""
    if similar >= floor:
        return weight.agree * (similar - floor) / (1 - floor)
    return weight.disagree * (floor - similar) / floor


def probability(bits: float) -> float:
    """The probability `bits` of evidence stand for, rounded to 4 places."""
    if bits < -60:  # noqa: PLR2004 (2**60 overflows nothing, but rounds to 0 anyway)
        return 0.0
    return round(1 / (1 + 2**-bits), 4)


def score(a: Profile, b: Profile, rules: DuplicateRules, similar: Similarity) -> float:
    """The score of `a` and `b`, from 0 to 1; 0 when they are of different groups."""
    found = scorer(rules, similar)(a)(b)
    return 0.0 if found is None else probability(found)


def least_bits(threshold: float) -> float:
    """The least evidence whose `probability` can reach `threshold` (after rounding)."""
    below = threshold - 0.00005
    return -math.inf if below <= 0 else math.log2(below / (1 - below))


Evidence = Callable[[Profile], float | None]


def scorer(rules: DuplicateRules, similar: Similarity) -> Callable[[Profile], Evidence]:
    """Given a profile `a`, a function of another giving the evidence that they are one, in bits.

    ``scorer(rules, similar)(a)(b)`` is ``None`` for `a` and itself and for profiles of
    different groups. The weights, and `a`'s fields, are read once: this is the loop every
    candidate pair goes through.
    """
    prior, floor, street_floor = rules.prior, rules.floor, rules.street_floor
    name_for, name_against = rules.name.agree / (1 - floor), rules.name.disagree / floor
    street_for = rules.street.agree / (1 - street_floor)
    street_against = rules.street.disagree / street_floor
    phone, email, code = rules.phone, rules.email, rules.code.agree
    birthday, postcode, places = rules.birthday, rules.postcode, rules.places
    log2 = math.log2

    def against(a: Profile) -> Evidence:
        group, key, count, phones, emails, codes = (
            a.group, a.key, a.name_count, a.phones, a.emails, a.codes
        )  # fmt: skip
        born, post, where, street, numbers = (
            a.birthday, a.postcode, a.places, a.street, a.numbers
        )  # fmt: skip

        def bits(b: Profile) -> float | None:
            if b is a or b.group != group:
                return None
            name = similar(key, b.key)
            if name >= floor:
                found = name_for * (name - floor)
                common = max(count, b.name_count)
                if common > 2:  # noqa: PLR2004 (see _commonness)
                    found = max(0.0, found - (log2(common) - 1))
                found += prior
            else:
                found = prior + name_against * (floor - name)
            if phones and b.phones:
                found += phone.disagree if phones.isdisjoint(b.phones) else phone.agree
            if emails and b.emails:
                found += email.disagree if emails.isdisjoint(b.emails) else email.agree
            if codes and not codes.isdisjoint(b.codes):
                found += code
            if born is not None and b.birthday is not None:
                found += birthday.agree if born == b.birthday else birthday.disagree
            if post and b.postcode:
                found += postcode.agree if post == b.postcode else postcode.disagree
            if where and b.places:
                found += places.disagree if where.isdisjoint(b.places) else places.agree
            if street and b.street:
                alike = similar(street, b.street) if numbers == b.numbers else 0.0
                found += (
                    street_for * (alike - street_floor)
                    if alike >= street_floor
                    else street_against * (street_floor - alike)
                )
            return found

        return bits

    return against


def evidence(
    a: Profile, b: Profile, rules: DuplicateRules, similar: Similarity
) -> list[tuple[float, str]]:
    """Each signal `score` compared for `a` and `b`: its evidence in bits and its words.

    The strongest evidence for comes first, the strongest against last; ``prior`` plus the
    evidence is what `score` turns into a probability.
    """
    found: list[tuple[float, str]] = []
    _exact(found, a.phones, b.phones, "E.164 phone", rules.phone)
    _exact(found, a.emails, b.emails, "email", rules.email)
    codes = a.codes & b.codes
    if codes:
        found.append((rules.code.agree, f"same code or external id {', '.join(sorted(codes))}"))
    name = similar(a.key, b.key)
    words = (
        f"same name after normalising ({a.key!r})"
        if a.key == b.key
        else f"names {name:.2f} similar after normalising ({a.key!r}, {b.key!r})"
    )
    if _commonness(a, b) > 0:
        common = max(a.name_count, b.name_count)
        words += f", a common name ({common} records have {'it' if a.key == b.key else 'one'})"
    found.append((_name_bits(rules, a, b, name), words))
    if a.birthday is not None and b.birthday is not None:
        if a.birthday == b.birthday:
            found.append((rules.birthday.agree, f"same birthday {a.birthday.isoformat()}"))
        else:
            days = f"{a.birthday.isoformat()}, {b.birthday.isoformat()}"
            found.append((rules.birthday.disagree, f"different birthdays ({days})"))
    if a.postcode and b.postcode:
        if a.postcode == b.postcode:
            found.append((rules.postcode.agree, f"same postcode {a.postcode}"))
        else:
            both = f"{a.postcode}, {b.postcode}"
            found.append((rules.postcode.disagree, f"different postcodes ({both})"))
    _exact(found, a.places, b.places, "place", rules.places)
    if a.street and b.street:
        if a.numbers == b.numbers:
            street = similar(a.street, b.street)
            words = f"addresses {street:.2f} similar"
        else:
            street, words = 0.0, "different house numbers"
        found.append((_graded(rules.street, street, rules.street_floor), words))
    found.sort(key=lambda item: -item[0])
    return found


def reasons(a: Profile, b: Profile, rules: DuplicateRules, similar: Similarity) -> tuple[str, ...]:
    """The words of `evidence`: each signal compared, the strongest evidence for first."""
    return tuple(words for _, words in evidence(a, b, rules, similar))


def _exact(
    found: list[tuple[float, str]],
    mine: frozenset[str],
    theirs: frozenset[str],
    what: str,
    weight: Weight,
) -> None:
    shared = mine & theirs
    if shared:
        found.append((weight.agree, f"same {what} {', '.join(sorted(shared))}"))
    elif mine and theirs:
        found.append((weight.disagree, f"no {what} in common"))
