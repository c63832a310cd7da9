"""The benchmarks measure what they say: ingest (the memory store against the same plain records)
and funnel (crmkit, hand-written SQL and the Python references give the same answers), and dedupe
(blocking finds the pairs comparing every pair finds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from crmkit.demo import generate_customers

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def ingest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_memory_sizes_are_ten_times_apart_and_capped(ingest: ModuleType) -> None:
    assert ingest.memory_sizes(300) == (300, 3000)
    assert ingest.memory_sizes(20_000) == (10_000, 100_000)
    assert ingest.memory_sizes(100_000) == (10_000, 100_000)


def test_the_dict_baseline_builds_the_records_the_memory_store_keeps(ingest: ModuleType) -> None:
    customers = generate_customers(40, contacts_per_customer=2, seed=7)
    # time_memory stops the run when the store's records and the baseline's differ.
    found = ingest.time_memory(customers, (4, 40), 1)
    assert found["sizes"] == [4, 40]
    assert len(found["crmkit_s"]) == len(found["dict_s"]) == len(found["ratio"]) == 2
    assert found["growth"] > 0


def test_a_baseline_that_builds_other_records_is_caught(
    ingest: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = generate_customers(4, contacts_per_customer=2, seed=7)
    plain = ingest.plain_record
    monkeypatch.setattr(ingest, "plain_record", lambda c: {**plain(c), "name": "?"})
    with pytest.raises(SystemExit, match="different records"):
        ingest.time_memory(customers, (2, 4), 1)


@pytest.fixture(scope="module")
def funnel_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_funnel", ROOT / "bench" / "funnel.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_funnel_bench_compares_equal_answers(funnel_bench: ModuleType, tmp_path: Path) -> None:
    # run() stops when crmkit, the hand-written SQL and (at this size) the Python references
    # do not give the same funnel and channel report.
    found = funnel_bench.run(300, tmp_path, 1, 300)
    assert found["size"] == found["python_size"] == 300
    assert found["stage_rows"] > 300
    assert found["ratio"] > 0
    assert found["python_ratio"] > 0


def test_a_hand_sql_answer_that_differs_is_caught(
    funnel_bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand = funnel_bench.hand_channels
    monkeypatch.setattr(funnel_bench, "hand_channels", lambda c: attrs.evolve(hand(c), leads=-1))
    with pytest.raises(SystemExit, match="different answers"):
        funnel_bench.run(50, tmp_path, 1, 50)


def load_bench(name: str) -> ModuleType:
    """The module ``bench/<name>.py``, loaded as a test loads it."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dedupe_bench() -> ModuleType:
    return load_bench("dedupe")


def test_the_dedupe_bench_compares_blocking_with_all_pairs(dedupe_bench: ModuleType) -> None:
    # run() stops when the finder and all pairs do not report the same pairs.
    found = dedupe_bench.run(300, 600)
    assert found["same_pairs"] is True
    assert (found["size"], found["large"]) == (300, 600)
    assert found["pairs"] > 0
    assert found["ratio"] > 0
    assert 0 < found["f1"] <= 1
    assert found["f1"] == found["all_pairs_f1"]
    assert 0 < found["large_f1"] <= 1


def test_a_dedupe_finder_that_misses_a_pair_is_caught(
    dedupe_bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    find = dedupe_bench.find_duplicates
    monkeypatch.setattr(dedupe_bench, "find_duplicates", lambda c, rules: find(c, rules=rules)[1:])
    with pytest.raises(SystemExit, match="different pairs"):
        dedupe_bench.run(200, 200)


@pytest.fixture(scope="module")
def transfer() -> ModuleType:
    return load_bench("import_export")


@pytest.mark.slow
def test_an_import_streams_the_file_in_bounded_memory(transfer: ModuleType, tmp_path: Path) -> None:
    import csv
    import tracemalloc

    def peak_of(rows: int) -> tuple[Path, float]:
        path = tmp_path / f"{rows}.csv"
        transfer.write_file(path, rows)
        _, peak, added = transfer.import_peak(
            f"sqlite:///{tmp_path / f'{rows}.db'}", path, batch=250
        )
        assert added == rows
        return path, peak

    peak_of(300)  # caches and lazy imports filled once, as in any long-running process
    _, small = peak_of(1_000)
    path, large = peak_of(4_000)
    tracemalloc.start()
    with path.open(encoding="utf-8", newline="") as stream:
        whole = list(csv.DictReader(stream))
    read_whole = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    assert len(whole) == 4_000
    # Four times the rows, about the same peak: the import holds a batch, not the file.
    assert large < small * 1.3 + 0.3, (small, large)
    # Reading a file whole grows with its rows; at 100,000 rows (25 times this one) it would
    # need more than ten times what the import of any size holds.
    assert large < read_whole * 25 / 10, (large, read_whole)
