"""The duplicate finder's quality on generated customers with known duplicates (goal: F1 >= 0.97).

The generator (`crmkit.testing.duplicates`) copies customers the way duplicates arise: typos,
swapped names, other legal forms and regions, full-width letters, missing fields.
"""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from crmkit.customers import CustomerKind, compare_all_pairs, find_duplicates
from crmkit.testing.duplicates import generate_duplicates, quality


def test_the_finder_finds_generated_duplicates_with_an_f1_of_at_least_0_97() -> None:
    data = generate_duplicates(2000, seed=11)
    found = quality(find_duplicates(data.customers), data.true_pairs)
    print(f"\n2,000 generated customers, {len(data.true_pairs)} true pairs: {found}")
    assert found.f1 >= 0.97
    assert found.precision >= 0.97
    assert found.recall >= 0.95


def test_blocking_finds_exactly_the_pairs_all_pairs_finds_on_generated_customers() -> None:
    data = generate_duplicates(600, seed=3)
    assert find_duplicates(data.customers) == compare_all_pairs(data.customers)


def test_the_generator_is_repeatable_and_its_truth_is_ordered_pairs_of_its_customers() -> None:
    first, again = generate_duplicates(300, seed=5), generate_duplicates(300, seed=5)
    assert [c.id for c in first.customers] == [c.id for c in again.customers]
    assert [c.name for c in first.customers] == [c.name for c in again.customers]
    assert first.true_pairs == again.true_pairs
    ids = {c.id for c in first.customers}
    assert len(first.customers) == 300
    assert all(a < b and a in ids and b in ids for a, b in first.true_pairs)
    assert {c.kind for c in first.customers} == set(CustomerKind)
    assert generate_duplicates(300, seed=6).true_pairs != first.true_pairs


def test_unrelated_generated_companies_never_share_a_registered_name() -> None:
    # A Latin name is unique in the data, a Chinese one within its city (named in front of
    # it) and trade: two companies of one such name are copies of one original.
    data = generate_duplicates(20_000, seed=2)
    named: dict[str, list[UUID]] = {}
    for c in data.customers:
        if c.kind is CustomerKind.COMPANY and (c.name.isascii() or c.name[2:3] == "市"):
            named.setdefault(c.name, []).append(c.id)
    shared = [ids for ids in named.values() if len(ids) > 1]
    assert shared  # copies that kept the name
    for ids in shared:
        assert all((min(a, b), max(a, b)) in data.true_pairs for a in ids for b in ids if a != b)


def test_common_names_are_common_and_most_are_not() -> None:
    # Names are weighted by rank as in life: 王 and Smith often, most names seldom.
    data = generate_duplicates(5000, seed=2)
    persons = [c.name for c in data.customers if c.kind is CustomerKind.PERSON]
    surnames = Counter(n[0] for n in persons if not n.isascii())
    assert surnames.most_common(1)[0][0] in "王李张"
    names = Counter(persons)
    assert sum(1 for n in names.values() if n == 1) > len(names) / 2


def test_quality_counts_pairs_in_either_order() -> None:
    a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
    perfect = quality([(b, a)], [(a, b)])
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    nothing = quality([], [(a, b)])
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 0.0, 0.0)
    wrong = quality([(a, c)], [(a, b)])
    assert (wrong.true_positives, wrong.false_positives, wrong.false_negatives) == (0, 1, 1)
