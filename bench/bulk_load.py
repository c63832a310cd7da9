"""Bulk load benchmark: batches of customers into new tables, the time of each batch.

    python bench/bulk_load.py --url postgresql+psycopg://postgres@127.0.0.1/test

Makes new crmkit tables (prefix ``crmkit_bench_``, dropped at the end) on the database at
``--url``, then stores ``--batches`` batches of ``--size`` customers (each with two contacts,
one with an email address), one unit of work per batch through ``uow.customers.add_many``, as
an import does. A load that stays linear takes as long for its last batches as for its first.

The last line is ``RESULT {json}``: the total, the time of every batch, and ``slope``, the
fastest of the last third of the batches over the fastest of the first third (after the first
batch, which warms up); about 1.0 when the load is linear. The baseline is the load's own
start, so ``ratio`` (the headline, as in every benchmark here) is that slope.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import crmkit
from crmkit import EmailAddress
from crmkit.customers import Contact, Customer
from crmkit.storage.sql import SqlStore, build_tables


def batch(number: int, size: int) -> list[Customer]:
    return [
        Customer(
            name=f"Customer {number}-{i}",
            owner_id=f"owner-{i % 7}",
            contacts=[
                Contact(name="Li Ming", emails=(EmailAddress(f"li.{number}.{i}@example.cn"),)),
                Contact(name="Chen Jie"),
            ],
        )
        for i in range(size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: SQLite in a temporary file)")
    parser.add_argument("--batches", type=int, default=20, help="batches to store")
    parser.add_argument("--size", type=int, default=1000, help="customers per batch")
    args = parser.parse_args()

    tables = build_tables(prefix="crmkit_bench_")
    scratch = tempfile.TemporaryDirectory()
    engine = SqlStore.from_url(args.url or f"sqlite:///{scratch.name}/bulk-load.db").engine
    with engine.begin() as connection:
        tables.metadata.drop_all(connection)
        tables.metadata.create_all(connection)
    crm = crmkit.CRM(SqlStore(engine, tables=tables))
    seconds: list[float] = []
    try:
        for number in range(args.batches):
            customers = batch(number, args.size)
            start = time.perf_counter()
            with crm.unit_of_work(actor="importer") as uow:
                uow.customers.add_many(customers)
            seconds.append(time.perf_counter() - start)
            print(f"batch {number + 1:3}: {seconds[-1]:.3f} s", flush=True)
    finally:
        with engine.begin() as connection:
            tables.metadata.drop_all(connection)
        engine.dispose()
        scratch.cleanup()
    third = max(1, (len(seconds) - 1) // 3)
    slope = round(min(seconds[-third:]) / min(seconds[1 : 1 + third] or seconds), 2)
    result = {
        "backend": engine.dialect.name,
        "batches": args.batches,
        "size": args.size,
        "total": round(sum(seconds), 3),
        "seconds": [round(s, 3) for s in seconds],
        "slope": slope,
        "ratio": slope,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
