"""The duplicate finder's quality on generated customers with known duplicates (goal: F1 >= 0.97).

The generator (`crmkit.testing.duplicates`) copies customers the way duplicates arise: typos,
swapped names, other legal forms and regions, full-width letters, missing fields.
"""

from __future__ import annotations

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


def test_quality_counts_pairs_in_either_order() -> None:
    a, b, c = UUID(int=1), UUID(int=2), UUID(int=3)
    perfect = quality([(b, a)], [(a, b)])
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    nothing = quality([], [(a, b)])
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 0.0, 0.0)
    wrong = quality([(a, c)], [(a, b)])
    assert (wrong.true_positives, wrong.false_positives, wrong.false_negatives) == (0, 1, 1)
