"""Duplicate finder benchmark: blocking against comparing every pair, and the quality of both.

    python bench/dedupe.py --size 5000 --large 100000

Generates ``--size`` customers with realistic duplicates and the truth about them
(`crmkit.testing.duplicates`: Chinese and Latin companies and persons, copies with typos,
swapped names, other legal forms and region prefixes, full-width letters and missing fields).
Then, in the same run and with the same rules:

- **finder**: `crmkit.customers.find_duplicates`, which compares only the pairs blocking picks
  (shared phone, email, code, birthday, postcode with one of the name's first two characters,
  and the sorted neighbourhoods by name key and by reversed name key);
- **all pairs**: `crmkit.customers.compare_all_pairs`, the same scoring over every one of the
  n(n-1)/2 pairs.

The run stops (exit status 1) unless both report the very same pairs with the same scores and
reasons. Precision, recall and F1 against the truth are reported for both (goal: F1 >= 0.97).
Then the finder alone runs on ``--large`` generated customers (100,000 by default), and is timed
(wall clock, and CPU seconds of this process) and scored the same way.

The last line is ``RESULT {json}``; ``ratio`` is the finder's time over all pairs' time at
``--size`` (goal: at most 0.1).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from crmkit.customers import DuplicateRules, compare_all_pairs, find_duplicates
from crmkit.testing.duplicates import generate_duplicates, quality


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    found = action()
    return time.perf_counter() - start, found


def timed_cpu(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds: on a shared machine the second says what the work costs."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    found = action()
    return time.perf_counter() - start, time.process_time() - cpu, found


def run(size: int, large: int, seed: int = 7) -> dict[str, Any]:
    rules = DuplicateRules()
    data = generate_duplicates(size, seed=seed)
    finder_s, found = timed(lambda: find_duplicates(data.customers, rules=rules))
    all_s, reference = timed(lambda: compare_all_pairs(data.customers, rules=rules))
    if found != reference:
        missed = len({(p.a_id, p.b_id) for p in reference} - {(p.a_id, p.b_id) for p in found})
        raise SystemExit(
            f"the finder and all pairs found different pairs ({len(found)} and "
            f"{len(reference)}; {missed} of all pairs' not found by blocking)"
        )
    ours, theirs = quality(found, data.true_pairs), quality(reference, data.true_pairs)
    generate_s, big = timed(lambda: generate_duplicates(large, seed=seed))
    large_s, large_cpu_s, large_found = timed_cpu(
        lambda: find_duplicates(big.customers, rules=rules)
    )
    at_large = quality(large_found, big.true_pairs)
    return {
        "size": size,
        "true_pairs": len(data.true_pairs),
        "pairs": len(found),
        "finder_s": round(finder_s, 3),
        "all_pairs_s": round(all_s, 3),
        "ratio": round(finder_s / all_s, 4),
        "same_pairs": True,
        "precision": round(ours.precision, 4),
        "recall": round(ours.recall, 4),
        "f1": round(ours.f1, 4),
        "all_pairs_f1": round(theirs.f1, 4),
        "large": large,
        "large_generate_s": round(generate_s, 2),
        "large_s": round(large_s, 2),
        "large_cpu_s": round(large_cpu_s, 2),
        "large_pairs": len(large_found),
        "large_precision": round(at_large.precision, 4),
        "large_recall": round(at_large.recall, 4),
        "large_f1": round(at_large.f1, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000, help="customers compared both ways")
    parser.add_argument("--large", type=int, default=100_000, help="customers for the finder")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated customers")
    args = parser.parse_args()
    results = run(args.size, args.large, args.seed)
    print(
        f"{args.size} customers: finder {results['finder_s']:.2f} s, all pairs "
        f"{results['all_pairs_s']:.2f} s, ratio {results['ratio']:.3f} (goal <= 0.1); "
        f"same {results['pairs']} pairs; precision {results['precision']:.4f}, recall "
        f"{results['recall']:.4f}, F1 {results['f1']:.4f} (goal >= 0.97)"
    )
    print(
        f"{args.large} customers: finder {results['large_s']:.1f} s "
        f"({results['large_cpu_s']:.1f} s of CPU), {results['large_pairs']} "
        f"pairs; precision {results['large_precision']:.4f}, recall "
        f"{results['large_recall']:.4f}, F1 {results['large_f1']:.4f}"
    )
    print("RESULT " + json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
