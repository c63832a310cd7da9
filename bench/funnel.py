"""Funnel benchmark: the funnel and the channel report through crmkit, against hand-written SQL.

    python bench/funnel.py --size 1000000

Stores ``--size`` opportunities (two pipelines, the five-step B2B one and the short
transactional one; twenty owners; amounts in CNY and USD; histories that move on, go back, are
won, lost and reopened) and as many leads in a SQLite file, through crmkit's bulk ``add_many``
in batches of 10,000, one unit of work per batch. Then, in the same run:

- **crmkit**: ``uow.opportunities.funnel(...)`` of the B2B pipeline and
  ``uow.leads.channel_report(...)`` of both, values converted to CNY with exchange rates,
  computed inside the database from crmkit's ``opportunity_stages`` rows;
- **hand SQL**: the same figures from hand-written SQL on the same tables through plain
  ``sqlite3`` (with crmkit's SQLite settings), assembled in plain Python; the run stops if
  its answer is not crmkit's, figure for figure;
- **Python**: what an app does without push-down: load every opportunity and lead into Python
  (``page`` by ``page``) and run the plain-Python references, `crmkit.pipeline.funnel` and
  `crmkit.pipeline.channel_report`. Holding a million deals in memory takes gigabytes, so this
  runs on the first ``--python-size`` deals and leads (100,000 at most by default) and is
  reported with its size, and as seconds per 100,000 deals.

The last line is ``RESULT {json}``; ``ratio`` is crmkit's time over the hand SQL's for the
two reports together (goal: at most 1.2; must be at most 1.5), and ``python_ratio`` the Python
baseline's time per deal over crmkit's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import random
import sqlite3
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pendulum

import crmkit
from crmkit import ExchangeRate, ExchangeRates, Money
from crmkit.customers import Customer
from crmkit.pipeline import (
    ChannelReport,
    ChannelRow,
    Decision,
    Funnel,
    FunnelStage,
    FunnelWarning,
    Lead,
    Opportunity,
    Pipeline,
    StageEntry,
    b2b_pipeline,
    channel_report,
    funnel,
    transactional_pipeline,
)
from crmkit.storage.sql import SQLITE_CACHE_KIB

TENANT = "default"
BATCH = 10_000
B2B, QUICK = b2b_pipeline(), transactional_pipeline()
PIPELINES = (B2B, QUICK)
CHANNELS = ("trade_show", "website", "short_video", "referral", "wechat_ad")
OWNERS = tuple(f"sales-{i:02}" for i in range(20))
T0 = pendulum.datetime(2026, 1, 5, 9)
RATES = ExchangeRates(
    [
        ExchangeRate("USD", "CNY", dt.date(2026, 1, 1), "7.185"),
        ExchangeRate("USD", "CNY", dt.date(2026, 4, 1), "7.1"),
        ExchangeRate("USD", "CNY", dt.date(2026, 7, 1), "7.05"),
    ]
)


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    found = action()
    return time.perf_counter() - start, found


# --- the data -----------------------------------------------------------------------------------


def a_history(rng: random.Random, pipeline: Pipeline) -> list[tuple[str, int]]:
    """Stage keys and minutes after creation: forward, sometimes back, lost, won, reopened."""
    path = [s.key for s in pipeline.path]
    lost = pipeline.lost_stages[0].key
    at, here = 0, 0
    found = [(path[0], 0)]
    for _ in range(rng.randint(0, 6)):
        at += rng.randint(10, 30 * 24 * 60)
        current = found[-1][0]
        if current in (lost, path[-1]):
            if rng.random() < 0.8:
                break
            found.append((path[here], at))  # reopened
            continue
        roll = rng.random()
        if roll < 0.15:
            found.append((lost, at))
        elif roll < 0.25 and here > 0:
            here -= 1
            found.append((path[here], at))
        else:
            here += 1
            found.append((path[here], at))
    return found


def customers_for(size: int) -> list[Customer]:
    return [Customer(name=f"Customer {i}", owner_id="sales-00") for i in range(size // 50 + 1)]


def a_deal(rng: random.Random, i: int, customers: list[Customer]) -> Opportunity:
    pipeline = B2B if rng.random() < 0.6 else QUICK
    created = T0.add(minutes=rng.randint(0, 180 * 24 * 60))
    history = [
        StageEntry(stage=k, entered_at=created.add(minutes=m)) for k, m in a_history(rng, pipeline)
    ]
    stage = history[-1].stage
    lost = pipeline.stage(stage).lost
    currency = "USD" if rng.random() < 0.2 else "CNY"
    cents = rng.randint(100_00, 5_000_000_00)
    return Opportunity(
        name=f"Deal {i}",
        customer_id=customers[i % len(customers)].id,
        owner_id=rng.choice(OWNERS),
        pipeline=pipeline.key,
        amount=Money(Decimal(cents).scaleb(-2), currency),
        expected_close=created.date() + dt.timedelta(days=rng.randint(10, 120)),
        stage=stage,
        history=history,
        competitors={"globex", "initech"},
        lost_reason=rng.choice(("price", "timing", "no budget")) if lost else None,
        winning_competitor=rng.choice((None, "globex", "initech")) if lost else None,
        source=rng.choice((None, *CHANNELS)),
    )


def a_lead(rng: random.Random, i: int, customers: list[Customer]) -> Lead:
    lead = Lead(
        name=f"Lead {i}",
        source=rng.choice(CHANNELS),
        created_at=T0.add(minutes=rng.randint(0, 180 * 24 * 60)),
    )
    roll = rng.random()
    if roll < 0.8:
        lead.assign(Decision.manual(rng.choice(OWNERS), "imported"), at=T0)
    if roll < 0.3:
        lead.mark_converted(customers[i % len(customers)].id)
    elif roll < 0.4:
        lead.disqualify("no budget")
    return lead


def load(crm: crmkit.CRM, size: int, seed: int = 7) -> None:
    """Generate and store everything through crmkit's bulk `add_many`, a unit of work per batch.

    Batch by batch: a million deals and leads are never all in memory at once.
    """
    rng = random.Random(seed)
    customers = customers_for(size)
    for first in range(0, len(customers), BATCH):
        with crm.unit_of_work(actor="bench") as uow:
            uow.customers.add_many(customers[first : first + BATCH])
    for first in range(0, size, BATCH):
        numbers = range(first, min(size, first + BATCH))
        deals = [a_deal(rng, i, customers) for i in numbers]
        leads = [a_lead(rng, i, customers) for i in numbers]
        with crm.unit_of_work(actor="bench") as uow:
            uow.opportunities.add_many(deals)
            uow.leads.add_many(leads)


# --- crmkit -------------------------------------------------------------------------------------


def through_crmkit(crm: crmkit.CRM) -> tuple[Funnel, ChannelReport]:
    with crm.unit_of_work(actor="bench", read_only=True) as uow:
        found = uow.opportunities.funnel(B2B, rates=RATES, currency="CNY")
        report = uow.leads.channel_report(PIPELINES, rates=RATES, currency="CNY")
    return found, report


# --- hand-written SQL ---------------------------------------------------------------------------


def raw_connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    return connection


_RATE_DATES = sorted({r.effective for r in RATES._rates[("USD", "CNY")]})  # noqa: SLF001
_RATE_OF = {r.effective: r for r in RATES._rates[("USD", "CNY")]}  # noqa: SLF001


def to_cny(groups: list[tuple[str, str, int]]) -> tuple[Decimal, set[ExchangeRate]]:
    """The exact CNY total of (currency, ISO date, ten-thousandths) sums, and the rates used."""
    total, used = Decimal(0), set()
    for currency, on, units in groups:
        amount = Decimal(units).scaleb(-4)
        if currency == "USD":
            rate = _RATE_OF[_RATE_DATES[bisect_right(_RATE_DATES, dt.date.fromisoformat(on)) - 1]]
            used.add(rate)
            amount *= rate.rate
        total += amount
    return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), used


FUNNEL_SQL = {
    "reached": """
        SELECT mask, COUNT(*) FROM (
            SELECT SUM(DISTINCT CASE stage {whens} ELSE 0 END) AS mask
            FROM crmkit_opportunity_stages
            WHERE tenant_id = ? AND pipeline = ?
            GROUP BY opportunity_id)
        GROUP BY mask""",
    "stays": """
        SELECT stage, SUM(stay), COUNT(stay) FROM crmkit_opportunity_stages
        WHERE tenant_id = ? AND pipeline = ? AND stay IS NOT NULL
        GROUP BY stage""",
    "current": """
        SELECT s.stage, o.amount_currency, o.expected_close,
               CASE WHEN s.stage = :lost THEN s.previous END,
               CASE WHEN s.stage = :lost THEN o.lost_reason END,
               CASE WHEN s.stage = :lost THEN o.winning_competitor END,
               COUNT(*), SUM(o.amount)
        FROM crmkit_opportunity_stages s
        JOIN crmkit_opportunities o ON o.tenant_id = s.tenant_id AND o.id = s.opportunity_id
        WHERE s.tenant_id = :tenant AND s.pipeline = :pipeline AND s.stay IS NULL
        GROUP BY 1, 2, 3, 4, 5, 6""",
}

CHANNEL_SQL = {
    "leads": """
        SELECT source, COUNT(*), SUM(status = 'converted') FROM crmkit_leads
        WHERE tenant_id = ? GROUP BY source""",
    "won": """
        SELECT source, amount_currency, expected_close, COUNT(*), SUM(amount)
        FROM crmkit_opportunities
        WHERE tenant_id = ? AND source IS NOT NULL
          AND ((pipeline = ? AND stage = ?) OR (pipeline = ? AND stage = ?))
        GROUP BY source, amount_currency, expected_close""",
}


def hand_funnel(connection: sqlite3.Connection) -> Funnel:
    path = [s.key for s in B2B.path]
    whens = " ".join(f"WHEN '{k}' THEN {1 << i}" for i, k in enumerate(path))
    scope = (TENANT, B2B.key)
    masks = connection.execute(FUNNEL_SQL["reached"].format(whens=whens), scope).fetchall()
    stays = {k: (t, n) for k, t, n in connection.execute(FUNNEL_SQL["stays"], scope)}
    current: Counter[str] = Counter()
    amounts: dict[str, list[tuple[str, str, int]]] = {k: [] for k in path}
    lost_from: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    to: Counter[str] = Counter()
    lost = B2B.lost_stages[0].key
    named = {"tenant": TENANT, "pipeline": B2B.key, "lost": lost}
    for row in connection.execute(FUNNEL_SQL["current"], named):
        stage, currency, on, previous, reason, competitor, n, units = row
        current[stage] += n
        if stage in amounts:
            amounts[stage].append((currency, on, units))
        if stage == lost:
            lost_from[previous] += n
            reasons[reason or ""] += n
            if competitor is not None:
                to[competitor] += n
    total = sum(n for _, n in masks)

    def reaching(want: int) -> int:
        return sum(n for mask, n in masks if mask & want == want)

    stages, warnings, used = [], [], set()
    threshold = Decimal("0.15")
    for i, key in enumerate(path):
        here, rate = reaching(1 << i), None
        if i + 1 < len(path) and here:
            converted = reaching(3 << i)
            rate = Decimal(converted) / here
            if rate < threshold:
                warnings.append(FunnelWarning(key, path[i + 1], here, converted, rate, threshold))
        value, rates = to_cny(amounts[key])
        used |= rates
        stay = stays.get(key)
        average = None
        if stay is not None:
            exact = Decimal(stay[0]) / (stay[1] * 1_000_000)
            average = exact.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        stages.append(FunnelStage(key, here, current[key], Money(value, "CNY"), rate, average))
    won = current[path[-1]]
    overall = Decimal(won) / total if total else None
    if overall is not None and overall < threshold:
        warnings.append(FunnelWarning(path[0], path[-1], total, won, overall, threshold))
    return Funnel(
        pipeline=B2B.key,
        currency="CNY",
        opportunities=total,
        stages=tuple(stages),
        won=won,
        overall=overall,
        lost_from=dict(sorted(lost_from.items())),
        lost_reasons=dict(sorted(reasons.items())),
        lost_to=dict(sorted(to.items())),
        warnings=tuple(warnings),
        rates=tuple(sorted(used, key=lambda r: (r.base, r.quote, r.effective))),
    )


def hand_channels(connection: sqlite3.Connection) -> ChannelReport:
    leads = {k: (n, c) for k, n, c in connection.execute(CHANNEL_SQL["leads"], (TENANT,))}
    won_in = (TENANT, B2B.key, B2B.won_stage.key, QUICK.key, QUICK.won_stage.key)
    won: Counter[str] = Counter()
    amounts: dict[str, list[tuple[str, str, int]]] = {}
    for source, currency, on, n, units in connection.execute(CHANNEL_SQL["won"], won_in):
        won[source] += n
        amounts.setdefault(source, []).append((currency, on, units))
    rows, used = [], set()
    for channel in sorted(set(leads) | set(won)):
        n, converted = leads.get(channel, (0, 0))
        revenue, rates = to_cny(amounts.get(channel, []))
        used |= rates
        conversion = Decimal(converted) / n if n else None
        rows.append(
            ChannelRow(channel, n, converted, conversion, won[channel], Money(revenue, "CNY"))
        )
    total = sum(r.leads for r in rows)
    converted = sum(r.converted for r in rows)
    return ChannelReport(
        currency="CNY",
        channels=tuple(rows),
        leads=total,
        converted=converted,
        conversion=Decimal(converted) / total if total else None,
        won=sum(r.won for r in rows),
        revenue=sum((r.revenue for r in rows if r.revenue), Money("0.00", "CNY")),
        rates=tuple(sorted(used, key=lambda r: (r.base, r.quote, r.effective))),
    )


def by_hand(connection: sqlite3.Connection) -> tuple[Funnel, ChannelReport]:
    connection.execute("BEGIN")
    try:
        return hand_funnel(connection), hand_channels(connection)
    finally:
        connection.execute("COMMIT")


# --- everything in Python -----------------------------------------------------------------------


def every(page: Callable[..., list[Any]], size: int) -> list[Any]:
    """The first `size` records, read `BATCH` at a time by keyset paging."""
    found: list[Any] = []
    after = None
    while len(found) < size:
        records = page(after=after, limit=min(BATCH, size - len(found)))
        if not records:
            break
        found.extend(records)
        after = records[-1].id
    return found


def in_python(crm: crmkit.CRM, size: int) -> tuple[Funnel, ChannelReport]:
    """Load the first `size` deals and leads page by page, and run the references."""
    with crm.unit_of_work(actor="bench", read_only=True) as uow:
        deals: list[Opportunity] = every(uow.opportunities.page, size)
        leads: list[Lead] = every(uow.leads.page, size)
    return (
        funnel(deals, B2B, rates=RATES, currency="CNY"),
        channel_report(leads, deals, PIPELINES, rates=RATES, currency="CNY"),
    )


def run(size: int, workdir: Path, repeat: int, python_size: int) -> dict[str, Any]:
    path = workdir / "funnel.db"
    crm = crmkit.open(f"sqlite:///{path}", create=True, relay_on_commit=False)
    load_s, _ = timed(lambda: load(crm, size))
    raw = raw_connect(path)
    ours, theirs = through_crmkit(crm), by_hand(raw)
    if ours != theirs:
        raise SystemExit("crmkit and the hand-written SQL give different answers")
    crmkit_s = min(timed(lambda: through_crmkit(crm))[0] for _ in range(repeat))
    hand_s = min(timed(lambda: by_hand(raw))[0] for _ in range(repeat))
    small = min(size, python_size)
    python_s, loaded = timed(lambda: in_python(crm, small))
    if small == size and loaded != ours:
        raise SystemExit("the Python references over every record and crmkit differ")
    rows = raw.execute("SELECT COUNT(*) FROM crmkit_opportunity_stages").fetchone()[0]
    raw.close()
    crm.close()
    return {
        "size": size,
        "stage_rows": rows,
        "load_s": round(load_s, 2),
        "crmkit_s": round(crmkit_s, 4),
        "hand_sql_s": round(hand_s, 4),
        "ratio": round(crmkit_s / hand_s, 3),
        "python_size": small,
        "python_s": round(python_s, 3),
        "python_s_per_100k": round(python_s * 100_000 / small, 3),
        "crmkit_s_per_100k": round(crmkit_s * 100_000 / size, 4),
        "python_ratio": round((python_s / small) / (crmkit_s / size), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="opportunities (and leads)")
    parser.add_argument("--repeat", type=int, default=3, help="times to time each side")
    parser.add_argument(
        "--python-size", type=int, default=100_000, help="deals the Python baseline loads"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmkit-bench-") as workdir:
        results = run(args.size, Path(workdir), args.repeat, args.python_size)
    print(
        f"funnel + channel report, {args.size} deals and leads: crmkit {results['crmkit_s']:.3f} s"
        f"   hand SQL {results['hand_sql_s']:.3f} s   ratio {results['ratio']:.2f}"
        " (goal <= 1.2, must be <= 1.5)"
    )
    print(
        f"everything loaded into Python, {results['python_size']} deals and leads: "
        f"{results['python_s']:.2f} s ({results['python_s_per_100k']:.2f} s per 100,000 deals, "
        f"crmkit {results['crmkit_s_per_100k']:.3f} s; {results['python_ratio']}x)"
    )
    print("RESULT " + json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
