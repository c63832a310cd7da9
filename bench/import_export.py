"""Import and export benchmark: a generated CSV of customers into SQLite, and back out.

    python bench/import_export.py --rows 100000

Writes a CSV of `--rows` customers (external id, name, owner, code, tags, city, a custom
decimal), imports it into a fresh SQLite file with `import_customers` (batches of `--batch`),
imports it again (every row unchanged: the lookups by external id, without writes), and
exports it with `export_customers`. Then it imports the file once more into another fresh
SQLite file under ``tracemalloc`` (which slows it down, so it is not the timed run): its peak
is what the import held in Python objects at once, to compare with the file's size (the
import streams the file, so the peak stays flat whatever the number of rows).

The last line is ``RESULT {json}``: rows per second of each step, the file's size and the
import's peak memory in MB.
"""

from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "customers.csv"
        write_file(path, args.rows)
        url = f"sqlite:///{Path(folder) / 'crm.db'}"
        took, _, added = import_peak(url, path, batch=args.batch, traced=False)
        if added != args.rows:
            raise SystemExit(f"{added} rows added of {args.rows}")
        crm = crmkit.open(url, relay_on_commit=False)
        try:
            began = time.perf_counter()
            again = import_customers(crm, path, actor="bench", batch_size=args.batch)
            again_s = time.perf_counter() - began
            if again.unchanged != args.rows:
                raise SystemExit(f"the second import changed rows: {again.summary()}")
            began = time.perf_counter()
            written = export_customers(crm, Path(folder) / "out.csv", page_size=args.batch)
            export_s = time.perf_counter() - began
            if written != args.rows:
                raise SystemExit(f"{written} rows exported of {args.rows}")
        finally:
            crm.close()
        traced = f"sqlite:///{Path(folder) / 'traced.db'}"
        _, peak, _ = import_peak(traced, path, batch=args.batch)
        result = {
            "rows": args.rows,
            "batch": args.batch,
            "file_mb": round(path.stat().st_size / 1e6, 2),
            "import_rows_per_s": round(args.rows / took),
            "import_peak_mb": round(peak, 2),
            "reimport_rows_per_s": round(args.rows / again_s),
            "export_rows_per_s": round(args.rows / export_s),
        }
    print(
        f"import {result['import_rows_per_s']} rows/s (peak {result['import_peak_mb']} MB for "
        f"a {result['file_mb']} MB file), re-import {result['reimport_rows_per_s']} rows/s, "
        f"export {result['export_rows_per_s']} rows/s"
    )
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
