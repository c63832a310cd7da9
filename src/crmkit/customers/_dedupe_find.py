"""Finding duplicates: blocking picks the pairs worth comparing; every pair is scored once.

Comparing every customer with every other takes n(n-1)/2 comparisons: 5 billion for 100,000
customers. Blocking compares only records that share something (see `BlockingKey`): an exact
key (phone, email, code or external id, birthday, postcode with one of the first two
characters of the name key), or a place near each other when sorted by name key or by the name
key read backwards (the sorted neighbourhood method). `compare_all_pairs` compares every pair
with the same scoring: the reference blocking is measured against.
"""

# Full-width brackets in the examples are what the finder is about:
# ruff: noqa: RUF002

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from crmkit._validation import instance_of
from crmkit.customers._dedupe import (
    BlockingKey,
    ContactPair,
    DuplicatePair,
    DuplicateRules,
    Profile,
    contact_profiles_of,
    least_bits,
    probability,
    profiles_of,
    reasons,
    scorer,
    similarity,
)
from crmkit.customers._model import Customer
from crmkit.errors import ValidationError

__all__ = [
    "as_contact_pairs",
    "as_customer_pairs",
    "checked_rules",
    "compare_all_pairs",
    "find_contact_duplicates",
    "find_duplicates",
    "pairs_of_profiles",
]

_Pair = TypeVar("_Pair", DuplicatePair, ContactPair)


def find_duplicates(
    customers: Iterable[Customer], *, rules: DuplicateRules | None = None
) -> list[DuplicatePair]:
    """The pairs of `customers` that score at least ``rules.threshold``, with their reasons.

    Only the pairs that blocking picks are compared (see `DuplicateRules.blocking`); customers
    of different kinds (company, person) are never paired. Each pair is reported once, the
    smaller id first, and the list is ordered by score, highest first (then by the ids).

    Examples:
        >>> from crmkit import PhoneNumber
        >>> from crmkit.customers import Contact, Customer, find_duplicates
        >>> phone = PhoneNumber("+8613800138000")
        >>> a = Customer(name="深圳市云杉科技有限公司", owner_id="li",
        ...              contacts=[Contact(name="李明", phones=[phone])])
        >>> b = Customer(name="云杉科技（深圳）有限责任公司", owner_id="li",
        ...              contacts=[Contact(name="Li Ming", phones=[phone])])
        >>> [pair] = find_duplicates([a, b])
        >>> pair.score
        0.9998
        >>> for reason in pair.reasons:
        ...     print(reason)
        same E.164 phone +8613800138000
        same name after normalising ('云杉科技')
        same place 深圳

    Raises:
        ValidationError: `rules` is not a `DuplicateRules`, or an item is not a `Customer`.
    """
    rules = checked_rules(rules)
    profiles = profiles_of(_customers(customers), rules)
    return as_customer_pairs(pairs_of_profiles(profiles, rules), profiles, rules)


def compare_all_pairs(
    customers: Iterable[Customer], *, rules: DuplicateRules | None = None
) -> list[DuplicatePair]:
    """What `find_duplicates` reports, found by scoring every pair of customers: no blocking.

    The reference blocking is measured against (the same scoring, the same order); it takes
    time growing with the square of the number of customers, so use it on a few thousand.

    Raises:
        ValidationError: as `find_duplicates`.
    """
    rules = checked_rules(rules)
    profiles = profiles_of(_customers(customers), rules)
    every = ((i, range(i + 1, len(profiles))) for i in range(len(profiles)))
    return as_customer_pairs(_scored(every, profiles, rules), profiles, rules)


def find_contact_duplicates(
    customers: Iterable[Customer], *, rules: DuplicateRules | None = None
) -> list[ContactPair]:
    """The pairs of contacts of `customers` (of one customer or of two) that may be one person.

    Contacts are compared by name (`person_key`), phones, emails, external id and birthday,
    with the blocking and the order of `find_duplicates`.

    Examples:
        >>> from crmkit import EmailAddress
        >>> from crmkit.customers import Contact, Customer, find_contact_duplicates
        >>> mail = EmailAddress("wang.wei@example.cn")
        >>> a = Customer(name="Acme", owner_id="li",
        ...              contacts=[Contact(name="Wang Wei", emails=[mail])])
        >>> b = Customer(name="Globex", owner_id="li",
        ...              contacts=[Contact(name="WEI Wang", emails=[mail])])
        >>> [pair] = find_contact_duplicates([a, b])
        >>> pair.reasons
        ('same email wang.wei@example.cn', "same name after normalising ('wang wei')")

    Raises:
        ValidationError: as `find_duplicates`.
    """
    rules = checked_rules(rules)
    profiles = contact_profiles_of(_customers(customers), rules)
    return as_contact_pairs(pairs_of_profiles(profiles, rules), profiles, rules)


def as_contact_pairs(
    found: Iterable[tuple[int, int, float]], profiles: Sequence[Profile], rules: DuplicateRules
) -> list[ContactPair]:
    """The contact pairs `pairs_of_profiles` found, with their reasons, in report order."""
    similar = similarity()
    pairs = [
        ContactPair(
            a_id=a.id,
            b_id=b.id,
            a_customer_id=a.customer_id,
            b_customer_id=b.customer_id,
            score=value,
            reasons=reasons(a, b, rules, similar),
        )
        for a, b, value in _ordered(found, profiles)
    ]
    return _sorted(pairs)


def pairs_of_profiles(
    profiles: Sequence[Profile], rules: DuplicateRules
) -> list[tuple[int, int, float]]:
    """The pairs of `profiles` blocking picks that score at least the threshold.

    Each as ``(i, j, score)`` with ``i < j`` indexes into `profiles`, each pair once.
    """
    return _scored(_candidates(profiles, rules), profiles, rules)


def _scored(
    candidates: Iterable[tuple[int, Iterable[int]]],
    profiles: Sequence[Profile],
    rules: DuplicateRules,
) -> list[tuple[int, int, float]]:
    """The `candidates` (each record with the ones after it to compare) that reach the threshold."""
    against, threshold = scorer(rules, similarity()), rules.threshold
    least = least_bits(threshold)
    found: list[tuple[int, int, float]] = []
    for i, others in candidates:
        bits = against(profiles[i])
        for j in others:
            value = bits(profiles[j])
            if value is not None and value >= least and probability(value) >= threshold:
                found.append((i, j, probability(value)))
    return found


# --- blocking ------------------------------------------------------------------------------------


def _candidates(
    profiles: Sequence[Profile], rules: DuplicateRules
) -> Iterator[tuple[int, list[int]]]:
    """For each record `i`, the records after it in `profiles` that blocking pairs it with.

    Worked out record by record, so the pairs are never all in memory at once.
    """
    blocks = _exact_blocks(profiles, rules)
    orders = _orders(profiles, rules)
    window = rules.window
    for i in range(len(profiles)):
        others: set[int] = set()
        for members in blocks[i]:
            if members[-1] > i:
                others.update(j for j in members if j > i)
        for order, position in orders:
            at = position[i]
            others.update(order[at + 1 : at + window])
            others.update(order[max(0, at - window + 1) : at])
        others = {j for j in others if j > i}
        if others:
            yield i, sorted(others)


def _exact_blocks(profiles: Sequence[Profile], rules: DuplicateRules) -> list[list[list[int]]]:
    """Per record, the exact-key blocks it is in: each a list of record numbers, ascending.

    Blocks of one record, and blocks of more than ``rules.max_block``, are left out.
    """
    holders: dict[tuple[BlockingKey, str], list[int]] = defaultdict(list)
    keys = [key for key in _EXACT if key in rules.blocking]
    for i, p in enumerate(profiles):
        for key in keys:
            for value in _values(p, key):
                holders[key, value].append(i)
    found: list[list[list[int]]] = [[] for _ in profiles]
    for members in holders.values():
        if 1 < len(members) <= rules.max_block:
            for i in members:
                found[i].append(members)
    return found


_EXACT = (
    BlockingKey.PHONE,
    BlockingKey.EMAIL,
    BlockingKey.CODE,
    BlockingKey.POSTCODE,
    BlockingKey.BIRTHDAY,
)


def _values(profile: Profile, key: BlockingKey) -> Iterable[str]:
    if key is BlockingKey.PHONE:
        return profile.phones
    if key is BlockingKey.EMAIL:
        return profile.emails
    if key is BlockingKey.CODE:
        return profile.codes
    if key is BlockingKey.POSTCODE and profile.postcode:
        # Each of the first two characters: one typo at the start leaves one of them shared.
        return {f"{profile.group}|{profile.postcode}|{c}" for c in profile.key[:2]}
    if key is BlockingKey.BIRTHDAY and profile.birthday is not None:
        return (f"{profile.group}|{profile.birthday.isoformat()}",)
    return ()


def _orders(
    profiles: Sequence[Profile], rules: DuplicateRules
) -> list[tuple[list[int], list[int]]]:
    """Each sorted neighbourhood's order of the records, and each record's place in it."""
    found = []
    for key, read in ((BlockingKey.NAME, 1), (BlockingKey.REVERSED_NAME, -1)):
        if key not in rules.blocking:
            continue
        # Equal keys are ordered by postcode and birthday, so that among many people of one
        # name, those who also live or were born alike are neighbours.
        order = sorted(
            range(len(profiles)),
            key=lambda i: (
                profiles[i].group,
                profiles[i].key[::read],
                profiles[i].postcode,
                str(profiles[i].birthday),
            ),
        )
        position = [0] * len(profiles)
        for at, i in enumerate(order):
            position[i] = at
        found.append((order, position))
    return found


# --- results -------------------------------------------------------------------------------------


def _ordered(
    found: Iterable[tuple[int, int, float]], profiles: Sequence[Profile]
) -> Iterator[tuple[Profile, Profile, float]]:
    """Each pair with the smaller id first."""
    for i, j, value in found:
        a, b = profiles[i], profiles[j]
        yield (a, b, value) if a.id < b.id else (b, a, value)


def as_customer_pairs(
    found: Iterable[tuple[int, int, float]], profiles: Sequence[Profile], rules: DuplicateRules
) -> list[DuplicatePair]:
    """The customer pairs `pairs_of_profiles` found, with their reasons, in report order."""
    similar = similarity()
    pairs = [
        DuplicatePair(a_id=a.id, b_id=b.id, score=value, reasons=reasons(a, b, rules, similar))
        for a, b, value in _ordered(found, profiles)
    ]
    return _sorted(pairs)


def _sorted(pairs: list[_Pair]) -> list[_Pair]:
    pairs.sort(key=lambda p: (-p.score, p.a_id, p.b_id))
    return pairs


_is_rules = instance_of(DuplicateRules)


def checked_rules(rules: object) -> DuplicateRules:
    if rules is None:
        return DuplicateRules()
    problem = _is_rules(rules)
    if problem is not None:
        raise ValidationError.of("rules", problem)
    assert isinstance(rules, DuplicateRules)  # noqa: S101 (for the type checker)
    return rules


def _customers(customers: object) -> list[Customer]:
    if isinstance(customers, str | bytes) or not isinstance(customers, Iterable):
        raise ValidationError.of(
            "customers", f"must be an iterable of Customer, not {type(customers).__name__}"
        )
    found = list(customers)
    for i, c in enumerate(found):
        if not isinstance(c, Customer):
            raise ValidationError.of(
                f"customers[{i}]", f"must be a Customer, not {type(c).__name__}"
            )
    return found
