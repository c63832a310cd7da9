"""Import and export benchmark: a generated CSV of customers into SQLite, and back out.

    python bench/import_export.py --size 100000

Writes a CSV of `--size` customers (external id, name, owner, code, tags, city, a custom
decimal), imports it into a fresh SQLite file with `import_customers` (batches of `--batch`),
imports it again (every row unchanged: the lookups by external id, without writes), and
exports it with `export_customers`. Then it imports the file once more into another fresh
SQLite file under ``tracemalloc`` (which slows it down, so it is not the timed run): its peak
is what the import held in Python objects at once, to compare with the file's size (the
import streams the file, so the peak stays flat whatever the number of rows).

The baseline, in the same run, reads the same file with the standard library's ``csv`` and
inserts its rows into a plain SQLite table with ``executemany`` in the same batches: no
checks, no lookups, no change log, no events. The last line is ``RESULT {json}``: rows per
second of each step, the file's size, the import's peak memory in MB, and ``ratio``, the
import's time over the baseline's.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path

import crmkit
from crmkit.customers import export_customers, import_customers


def write_file(path: Path, rows: int, *, start: int = 0) -> None:
    """A customers CSV of `rows` rows, written a line at a time."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("external_id,name,owner_id,code,tags,city,custom.budget\n")
        for i in range(start, start + rows):
            out.write(
                f"ERP-{i:07d},客户 {i} 有限公司,sales.{i % 17},C-{i:07d},"
                f"{'vip|' if i % 5 == 0 else ''}region {i % 7},City {i % 101},{i}.50\n"
            )


def import_peak(
    url: str, path: Path, *, batch: int, traced: bool = True
) -> tuple[float, float, int]:
    """Import `path` into `url` (under tracemalloc if `traced`): seconds, peak MB, rows added."""
    crm = crmkit.open(url, create=True, relay_on_commit=False)
    try:
        if traced:
            tracemalloc.start()
        began = time.perf_counter()
        report = import_customers(crm, path, actor="bench", batch_size=batch)
        took = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
        tracemalloc.stop()
    finally:
        crm.close()
    if not report.ok:
        raise SystemExit(f"the import refused rows: {report.errors[:3]}")
    return took, peak / 1e6, report.added


def baseline(path: Path, database: Path, *, batch: int) -> float:
    """Seconds to load `path` into a plain SQLite table with `csv` and `executemany`."""
    began = time.perf_counter()
    db = sqlite3.connect(database)
    try:
        db.execute(
            "CREATE TABLE customers (external_id TEXT PRIMARY KEY, name TEXT, owner_id TEXT, "
            "code TEXT UNIQUE, tags TEXT, city TEXT, budget TEXT)"
        )
        with path.open(encoding="utf-8", newline="") as file:
            rows = csv.reader(file)
            next(rows)
            while chunk := list(itertools.islice(rows, batch)):
                with db:
                    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)", chunk)
    finally:
        db.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="rows in the file")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        write_file(path, args.size)
        url = f"sqlite:///{Path(folder) / 'crm.db'}"
        took, _, added = import_peak(url, path, batch=args.batch, traced=False)
        if added != args.size:
            raise SystemExit(f"{added} rows added of {args.size}")
        crm = crmkit.open(url, relay_on_commit=False)
        try:
            began = time.perf_counter()
            again = import_customers(crm, path, actor="bench", batch_size=args.batch)
            again_s = time.perf_counter() - began
            if again.unchanged != args.size:
                raise SystemExit(f"the second import changed rows: {again.summary()}")
            began = time.perf_counter()
            written = export_customers(crm, Path(folder) / "out.csv", page_size=args.batch)
            export_s = time.perf_counter() - began
            if written != args.size:
                raise SystemExit(f"{written} rows exported of {args.size}")
        finally:
            crm.close()
        baseline_s = baseline(path, Path(folder) / "plain.db", batch=args.batch)
        traced = f"sqlite:///{Path(folder) / 'traced.db'}"
        _, peak, _ = import_peak(traced, path, batch=args.batch)
        result = {
            "size": args.size,
            "batch": args.batch,
            "file_mb": round(path.stat().st_size / 1e6, 2),
            "import_rows_per_s": round(args.size / took),
            "import_peak_mb": round(peak, 2),
            "reimport_rows_per_s": round(args.size / again_s),
            "export_rows_per_s": round(args.size / export_s),
            "import_s": round(took, 3),
            "baseline_s": round(baseline_s, 3),
            "ratio": round(took / baseline_s, 2),
        }
    print(
        f"import {result['import_rows_per_s']} rows/s (peak {result['import_peak_mb']} MB for "
        f"a {result['file_mb']} MB file), re-import {result['reimport_rows_per_s']} rows/s, "
        f"export {result['export_rows_per_s']} rows/s; import {result['ratio']} times the "
        "plain csv and sqlite3 load"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
