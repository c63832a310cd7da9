"""Ingest benchmark: crmkit's SQL store against hand-written sqlite3 code, on one SQLite schema.

    python bench/ingest.py --size 100000

Both sides start from the same list of `Customer` objects (each with two contacts, each contact
with a phone number and an email address) and write the same rows into the same schema (crmkit's
tables, tenant keys included: customers, contacts, and the contacts' phone numbers and emails
indexed for lookups), with the same SQLite settings (WAL, foreign keys on, crmkit's page cache
size, one transaction). The baseline is what an app would write without crmkit: tuples for
``executemany``, its JSON written with orjson as crmkit writes its own, so the ratio measures
crmkit and not a JSON library. Reads compare ``uow.customers.get``, ``by_owner`` and
``by_phone`` with sqlite3 queries that build the same domain objects.

The memory store's ``add_many`` is timed too, against a plain dict insert loop that builds the
same plain records (what the memory store keeps: each customer as plain data, keyed by id),
at two sizes ten times apart (``--size`` and ten times it, at most 10,000 and 100,000), to show
that it scales linearly: ``memory.growth`` is how much the time per customer grows from the
smaller size to the larger (1.0 when linear).

crmkit's side does what a host's bulk import does: `register_customers` stores the customers and
records a ``CustomerRegistered`` event for each, so besides the same domain rows crmkit also
writes one change-log row per customer and one outbox row per event, in the same transaction
(the baseline writes only the domain rows). The CRM is opened with ``relay_on_commit=False``:
a bulk import leaves its events to the relay worker (``crmkit relay URL``) rather than
delivering thousands of them inline in the importing request, so the outbox rows stay pending.

The last line is ``RESULT {json}``; ``ratio`` is the insert time of crmkit over the baseline's
(goal: at most 2.0).
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa

import crmkit
from crmkit import EmailAddress, PhoneNumber
from crmkit.customers import (
    BuyingRole,
    Contact,
    Customer,
    CustomerKind,
    LifecycleStage,
    Tier,
    register_customers,
)
from crmkit.demo import generate_customers
from crmkit.storage import MemoryStore
from crmkit.storage.sql import SQLITE_CACHE_KIB, metadata

TENANT = "default"


def _encode(data: Any) -> str:
    """The baseline's JSON: compact, keys sorted, with orjson, the writer crmkit uses too."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()


def timed(action: Callable[[], Any]) -> float:
    # Both sides start from the same garbage collector state: otherwise whichever runs first
    # pays for the collections that move the freshly generated customers to the old generation.
    gc.collect()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# --- the baseline: plain sqlite3 -----------------------------------------------------------------


def raw_connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    return connection


def raw_insert(connection: sqlite3.Connection, customers: Sequence[Customer]) -> None:
    customer_rows = []
    contact_rows = []
    key_rows: list[tuple[Any, ...]] = []
    for c in customers:
        details: dict[str, Any] = {}
        if c.tags:
            details["tags"] = sorted(c.tags)
        if c.custom_fields:
            details["custom_fields"] = c.custom_fields
        if c.preferences:
            details["preferences"] = list(c.preferences)
        customer_rows.append(
            (
                TENANT,
                c.id.bytes,
                1,
                c.kind.value,
                c.name,
                c.code,
                c.owner_id,
                c.lifecycle.value,
                c.source,
                c.tier.code if c.tier else None,
                c.tier.service_level if c.tier else None,
                c.timezone,
                c.birthday.isoformat() if c.birthday else None,
                _encode(details),
                c.external_id,
            )
        )
        for position, p in enumerate(c.contacts):
            person: dict[str, Any] = {}
            if p.roles:
                person["roles"] = sorted(r.value for r in p.roles)
            if p.phones:
                person["phones"] = [n.e164 for n in p.phones]
            if p.emails:
                person["emails"] = [e.address for e in p.emails]
            contact_rows.append(
                (
                    TENANT,
                    p.id.bytes,
                    c.id.bytes,
                    position,
                    p.name,
                    p.title,
                    p.reports_to.bytes if p.reports_to else None,
                    p.birthday.isoformat() if p.birthday else None,
                    _encode(person),
                    p.external_id,
                )
            )
            keys = {("phone", n.e164) for n in p.phones} | {
                ("email", e.address.lower()) for e in p.emails
            }
            key_rows.extend(
                (TENANT, kind, value, p.id.bytes, c.id.bytes) for kind, value in sorted(keys)
            )
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO crmkit_customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", customer_rows
    )
    connection.executemany("INSERT INTO crmkit_contacts VALUES (?,?,?,?,?,?,?,?,?,?)", contact_rows)
    connection.executemany("INSERT INTO crmkit_contact_keys VALUES (?,?,?,?,?)", key_rows)
    connection.execute("COMMIT")


def raw_customer(row: Sequence[Any], contacts: Sequence[Sequence[Any]]) -> Customer:
    details = json.loads(row[13])
    return Customer(
        id=UUID(bytes=row[1]),
        version=row[2],
        kind=CustomerKind(row[3]),
        name=row[4],
        code=row[5],
        owner_id=row[6],
        lifecycle=LifecycleStage(row[7]),
        source=row[8],
        tier=None if row[9] is None else Tier(code=row[9], service_level=row[10] or ""),
        timezone=row[11],
        tags=frozenset(details.get("tags", ())),
        preferences=tuple(details.get("preferences", ())),
        contacts=[raw_contact(p) for p in contacts],
    )


def raw_contact(p: Sequence[Any]) -> Contact:
    person = json.loads(p[8])
    return Contact(
        id=UUID(bytes=p[1]),
        name=p[4],
        title=p[5],
        reports_to=None if p[6] is None else UUID(bytes=p[6]),
        roles=frozenset(BuyingRole(r) for r in person.get("roles", ())),
        phones=tuple(PhoneNumber(n) for n in person.get("phones", ())),
        emails=tuple(EmailAddress(e) for e in person.get("emails", ())),
    )


def raw_get(connection: sqlite3.Connection, customer_id: UUID) -> Customer:
    key = customer_id.bytes
    row = connection.execute(
        "SELECT * FROM crmkit_customers WHERE tenant_id = ? AND id = ?", (TENANT, key)
    ).fetchone()
    contacts = connection.execute(
        "SELECT * FROM crmkit_contacts WHERE tenant_id = ? AND customer_id = ? ORDER BY position",
        (TENANT, key),
    ).fetchall()
    return raw_customer(row, contacts)


def raw_by_owner(connection: sqlite3.Connection, owner: str) -> list[Customer]:
    rows = connection.execute(
        "SELECT * FROM crmkit_customers WHERE tenant_id = ? AND owner_id = ? ORDER BY id",
        (TENANT, owner),
    ).fetchall()
    contacts: defaultdict[bytes, list[Any]] = defaultdict(list)
    for p in connection.execute(
        "SELECT * FROM crmkit_contacts WHERE tenant_id = ? AND customer_id IN "
        "(SELECT id FROM crmkit_customers WHERE tenant_id = ? AND owner_id = ?) "
        "ORDER BY customer_id, position",
        (TENANT, TENANT, owner),
    ):
        contacts[p[2]].append(p)
    return [raw_customer(r, contacts[r[1]]) for r in rows]


def raw_by_phone(connection: sqlite3.Connection, phone: str) -> list[Customer]:
    rows = connection.execute(
        "SELECT * FROM crmkit_customers WHERE tenant_id = ? AND id IN (SELECT customer_id FROM "
        "crmkit_contact_keys WHERE tenant_id = ? AND kind = 'phone' AND value = ?) ORDER BY id",
        (TENANT, TENANT, phone),
    ).fetchall()
    contacts: defaultdict[bytes, list[Any]] = defaultdict(list)
    for p in connection.execute(
        "SELECT * FROM crmkit_contacts WHERE tenant_id = ? AND customer_id IN (?"
        + ",?" * (len(rows) - 1)
        + ") ORDER BY customer_id, position",
        (TENANT, *(r[1] for r in rows)),
    ):
        contacts[p[2]].append(p)
    return [raw_customer(r, contacts[r[1]]) for r in rows]


def table_digest(path: Path) -> list[Any]:
    """Every stored row, to check that both sides wrote exactly the same data."""
    with sqlite3.connect(path) as connection:
        return [
            connection.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in (
                ("crmkit_customers", "tenant_id, id"),
                ("crmkit_contacts", "tenant_id, id"),
                ("crmkit_contact_keys", "tenant_id, kind, value, contact_id"),
            )
        ]


def log_counts(path: Path) -> tuple[int, int]:
    """How many change-log rows and pending outbox rows crmkit wrote besides the domain rows."""
    with sqlite3.connect(path) as connection:
        changes = connection.execute("SELECT count(*) FROM crmkit_changes").fetchone()[0]
        pending = connection.execute(
            "SELECT count(*) FROM crmkit_outbox WHERE status = 'pending'"
        ).fetchone()[0]
    return changes, pending


# --- the memory store against a dict ------------------------------------------------------------


def plain_record(c: Customer) -> dict[str, Any]:
    """The customer as plain data, written out by hand: what the memory store keeps of it."""
    if (
        c.do_not_contact
        or c.address
        or any(p.quiet_hours or p.do_not_contact or p.opt_outs or p.timezone for p in c.contacts)
    ):
        raise SystemExit("the plain records cover no windows, addresses or contact permissions")
    return {
        "address": None,
        "anniversaries": [{"date": a.date.isoformat(), "label": a.label} for a in c.anniversaries],
        "birthday": c.birthday.isoformat() if c.birthday else None,
        "code": c.code,
        "contacts": [
            {
                "birthday": p.birthday.isoformat() if p.birthday else None,
                "do_not_contact": [],
                "emails": [e.address for e in p.emails],
                "external_id": p.external_id,
                "id": str(p.id),
                "name": p.name,
                "opt_outs": [],
                "phones": [n.e164 for n in p.phones],
                "quiet_hours": None,
                "reports_to": str(p.reports_to) if p.reports_to else None,
                "roles": sorted(r.value for r in p.roles),
                "timezone": None,
                "title": p.title,
            }
            for p in c.contacts
        ],
        "custom_fields": dict(c.custom_fields),
        "do_not_contact": [],
        "external_id": c.external_id,
        "id": str(c.id),
        "kind": c.kind.value,
        "lifecycle": c.lifecycle.value,
        "name": c.name,
        "owner_id": c.owner_id,
        "preferences": list(c.preferences),
        "source": c.source,
        "tags": sorted(c.tags),
        "tier": {"code": c.tier.code, "service_level": c.tier.service_level} if c.tier else None,
        "timezone": c.timezone,
        "version": 1,
    }


def dict_insert(table: dict[UUID, dict[str, Any]], customers: Sequence[Customer]) -> None:
    """The baseline: each customer's plain record into a dict keyed by id, refusing a taken id."""
    for c in customers:
        if c.id in table:
            raise SystemExit(f"customer {c.id} is there already")
        table[c.id] = plain_record(c)


def memory_sizes(size: int) -> tuple[int, int]:
    """The two sizes the memory store is timed at: ten times apart, at most 10k and 100k."""
    small = max(1, min(size, 10_000))
    return small, min(small * 10, 100_000)


def time_memory(customers: Sequence[Customer], sizes: Sequence[int], repeat: int) -> dict[str, Any]:
    """Time `MemoryStore.add_many` against `dict_insert` at each size (best of `repeat`)."""
    found: dict[str, Any] = {"sizes": list(sizes), "crmkit_s": [], "dict_s": [], "ratio": []}
    for n in sizes:
        batch = customers[:n]
        best = {"crmkit": float("inf"), "dict": float("inf")}
        for _ in range(repeat):
            store = MemoryStore()
            crm = crmkit.CRM(store)
            table: dict[UUID, dict[str, Any]] = {}
            for c in batch:
                c.version = 0  # stored by the previous attempt

            def crmkit_insert(crm: crmkit.CRM = crm, batch: Sequence[Customer] = batch) -> None:
                with crm.unit_of_work(actor="bench") as uow:
                    uow.customers.add_many(batch)

            def baseline_insert(
                table: dict[UUID, dict[str, Any]] = table, batch: Sequence[Customer] = batch
            ) -> None:
                dict_insert(table, batch)

            best["crmkit"] = min(best["crmkit"], timed(crmkit_insert))
            best["dict"] = min(best["dict"], timed(baseline_insert))
        kept = store._table("customers", TENANT).records  # noqa: SLF001 (what the store keeps)
        stored = {k: r.row for k, r in kept.items()}
        if stored != table:
            raise SystemExit("the memory store and the baseline hold different records")
        found["crmkit_s"].append(round(best["crmkit"], 4))
        found["dict_s"].append(round(best["dict"], 4))
        found["ratio"].append(round(best["crmkit"] / best["dict"], 3))
    (small, large), (t_small, t_large) = sizes, found["crmkit_s"]
    found["growth"] = round((t_large / large) / (t_small / small), 3)
    return found


# --- the run ------------------------------------------------------------------------------------


def run(size: int, workdir: Path, repeat: int) -> dict[str, Any]:
    customers = generate_customers(size, contacts_per_customer=2, seed=7)

    # Inserts are timed `repeat` times each, alternately, into fresh files; the best time of
    # each side counts (the usual way to take scheduler and disk noise out of a timing).
    insert: dict[str, Any] = {"crmkit_s": float("inf"), "raw_s": float("inf"), "repeat": repeat}
    for attempt in range(repeat):
        crm_path, raw_path = workdir / f"crmkit{attempt}.db", workdir / f"raw{attempt}.db"
        crm = crmkit.open(f"sqlite:///{crm_path}", create=True, relay_on_commit=False)
        metadata.create_all(sa.create_engine(f"sqlite:///{raw_path}"))
        raw = raw_connect(raw_path)
        for c in customers:
            c.version = 0  # stored by the previous attempt

        def crmkit_insert(crm: crmkit.CRM = crm) -> None:
            with crm.unit_of_work(actor="bench") as uow:
                register_customers(uow, customers)

        def baseline_insert(raw: sqlite3.Connection = raw) -> None:
            raw_insert(raw, customers)

        insert["crmkit_s"] = min(insert["crmkit_s"], timed(crmkit_insert))
        insert["raw_s"] = min(insert["raw_s"], timed(baseline_insert))
        if table_digest(crm_path) != table_digest(raw_path):
            raise SystemExit("crmkit and the baseline stored different rows")
        if log_counts(crm_path) != (len(customers), len(customers)):
            raise SystemExit("crmkit did not write a change and an event per customer")
        if attempt < repeat - 1:
            crm.close()
            raw.close()

    figures = {"insert": insert, **time_reads(crm, raw, customers)}
    for f in figures.values():
        f["ratio"] = round(f["crmkit_s"] / f["raw_s"], 3)
        f["crmkit_s"] = round(f["crmkit_s"], 4)
        f["raw_s"] = round(f["raw_s"], 4)
    raw.close()
    crm.close()
    owners = len({c.owner_id for c in customers})
    return {
        "size": size,
        "contacts_per_customer": 2,
        "owners": owners,
        **figures,
        "ratio": insert["ratio"],
    }


Read = Callable[[Any, Any], Any]


def time_reads(
    crm: crmkit.CRM, raw: sqlite3.Connection, customers: Sequence[Customer]
) -> dict[str, dict[str, Any]]:
    """Time each kind of read over all its keys, crmkit against the baseline."""
    reads: dict[str, tuple[list[Any], Read, Read]] = {
        "read_by_id": ([c.id for c in customers], lambda uow, k: uow.customers.get(k), raw_get),
        "read_by_owner": (
            sorted({c.owner_id for c in customers}),
            lambda uow, k: uow.customers.by_owner(k),
            raw_by_owner,
        ),
        "read_by_phone": (
            [c.contacts[0].phones[0].e164 for c in customers],
            lambda uow, k: uow.customers.by_phone(k),
            raw_by_phone,
        ),
    }
    figures = {}
    for name, (keys, ours, theirs) in reads.items():
        with crm.unit_of_work(actor="bench") as uow:
            for key in keys[:: max(1, len(keys) // 50)]:
                if ours(uow, key) != theirs(raw, key):
                    raise SystemExit(f"{name}: crmkit and the baseline read different customers")

        def crmkit_reads(keys: list[Any] = keys, ours: Read = ours) -> None:
            with crm.unit_of_work(actor="bench") as uow:
                for key in keys:
                    ours(uow, key)

        def raw_reads(keys: list[Any] = keys, theirs: Read = theirs) -> None:
            for key in keys:
                theirs(raw, key)

        figures[name] = {"crmkit_s": timed(crmkit_reads), "raw_s": timed(raw_reads)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="customers to insert")
    parser.add_argument("--repeat", type=int, default=3, help="times to time each insert")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmkit-bench-") as workdir:
        results = run(args.size, Path(workdir), args.repeat)
    sizes = memory_sizes(args.size)
    many = generate_customers(sizes[-1], contacts_per_customer=2, seed=7)
    results["memory"] = memory = time_memory(many, sizes, args.repeat)
    rows = args.size * 7  # a customer, two contacts, and a phone and an email for each contact
    for name in ("insert", "read_by_id", "read_by_owner", "read_by_phone"):
        f = results[name]
        print(
            f"{name:14} crmkit {f['crmkit_s']:8.3f} s   sqlite3 {f['raw_s']:8.3f} s   "
            f"ratio {f['ratio']:.2f}"
        )
    print(f"({args.size} customers, {rows} rows; goal for insert: ratio <= 2.0)")
    for n, ours, theirs, ratio in zip(
        memory["sizes"], memory["crmkit_s"], memory["dict_s"], memory["ratio"], strict=True
    ):
        print(f"memory {n:>7} crmkit {ours:8.3f} s   dict    {theirs:8.3f} s   ratio {ratio:.2f}")
    print(f"(memory add_many: time per customer grows {memory['growth']:.2f}x over ten times more)")
    print("RESULT " + json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
