"""Segments at scale: 1,000,000 profiles and 20,000,000 events, against hand-written DuckDB SQL.

Run: .venv/bin/python benchmarks/segments.py [--profiles 1000000] [--events 20000000]
     [--db /tmp/profilo-segments.duckdb] [--reuse] [--only segments,realtime,lookup]

1. **Data.** A DuckDB store filled straight with SQL (seeded hashes, so every run writes the same
   rows; it streams from ``range()``, so memory stays flat): one golden record per profile with
   country, city, first name and birth date, e-mails, phones and user ids in ``identities``,
   e-mail consents, and 20 events per profile in ``profile_events`` (pages, product views, e-mails
   sent, opened and clicked, orders with a category and revenue, in-store purchases) spread over the
   year before ``AS_OF``, sorted by profile as Profilo's own refresh writes them. Two computed
   traits are then computed by Profilo (``refresh_traits``, timed).
2. **Segments.** Five rules — trait-only, event window with a property filter, absence, nested
   AND/OR/NOT, segment of segments — each compiled by Profilo and run to the list of member ids,
   and the same question hand-written in DuckDB SQL on the same tables, best of five runs each
   (the two sides taking turns),
   side by side with the ratio (goal: within 1.5×, under 2 s). Both sides must find the same
   members. A full ``evaluate_segments`` run (membership, history and outbox writes) is timed too.
3. **Real time.** Events arrive at a steady 500 per second for 20 s, each for a profile named by
   its e-mail. A loop takes what has arrived, resolves the e-mails to profiles, appends the events
   and re-evaluates those profiles' computed traits and segments (``RealtimeSegments``), writing
   entries and exits; each event's latency is from its arrival to the commit of that write. Prints
   p50/p95/p99 (goal: p95 under 50 ms).
4. **Lookup.** ``profilo``'s profile router served by uvicorn over this store; a separate process
   sends ``GET /profiles/lookup?identifier=email:…`` at 200 requests per second for 15 s, each for
   a random profile, and reports p50/p95/p99 latency (goal: p99 under 10 ms).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from profilo.audiences import (
    compile_context,
    compile_rule,
    evaluate_segments,
    read_rule,
    save_segment,
)
from profilo.audiences.live import LiveSegments
from profilo.profiles import parse_trait, refresh_traits, save_trait
from profilo.store import Store, open_store

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
EVENTS_PER_PROFILE = 20
CATEGORIES = ["shoes", "bags", "dresses", "home", "beauty"]
COUNTRIES = ["FR", "FR", "FR", "FR", "GB", "GB", "DE", "DE", "BE", "ES"]  # by hash % 10

TRAITS = [
    {"name": "orders_365d", "aggregate": "count", "events": ["Order Completed", "In-Store Purchase"],
     "within": {"last": 365}},
    {"name": "spend_365d", "aggregate": "sum", "events": ["Order Completed", "In-Store Purchase"],
     "property": "revenue", "within": {"last": 365}},
]  # fmt: skip

SEGMENTS: list[tuple[str, str, str]] = [
    (
        "trait_only",
        'trait country = "FR" and trait birth_date < "1980-01-01" and trait city in ["Paris", "Lyon"]',
        """SELECT c.profile_id FROM profile_traits c
           JOIN profile_traits b ON b.profile_id = c.profile_id AND b.trait = 'birth_date'
           JOIN profile_traits t ON t.profile_id = c.profile_id AND t.trait = 'city'
           WHERE c.trait = 'country' AND c.value = 'FR' AND b.value < '1980-01-01'
             AND t.value IN ('Paris', 'Lyon')""",
    ),
    (
        "event_window",
        'did "Order Completed" at least 2 times in last 90 days where category = "shoes"',
        """SELECT profile_id FROM profile_events
           WHERE event = 'Order Completed'
             AND timestamp >= TIMESTAMPTZ '2026-03-03 00:00:00+00'
             AND timestamp <= TIMESTAMPTZ '2026-06-01 00:00:00+00'
             AND properties->>'category' = 'shoes'
           GROUP BY profile_id HAVING count(*) >= 2""",
    ),
    (
        "absence",
        'has email and did not "opened" in last 60 days',
        """SELECT i.profile_id FROM identities i
           WHERE i.id_type = 'email' AND i.status = 'linked'
             AND NOT EXISTS (SELECT 1 FROM profile_events e
               WHERE e.profile_id = i.profile_id AND e.event = 'opened'
                 AND e.timestamp >= TIMESTAMPTZ '2026-04-02 00:00:00+00'
                 AND e.timestamp <= TIMESTAMPTZ '2026-06-01 00:00:00+00')""",
    ),
    (
        "nested",
        '(trait country = "FR" or trait country = "BE") and consent email_marketing'
        ' and (did "clicked" in last 30 days or computed spend_365d >= 400)'
        ' and not did "Order Completed" in last 14 days',
        """SELECT c.profile_id FROM profile_traits c
           JOIN profile_consents k ON k.profile_id = c.profile_id
             AND k.purpose = 'email_marketing' AND k.status = 'granted'
           WHERE c.trait = 'country' AND c.value IN ('FR', 'BE')
             AND (c.profile_id IN (SELECT profile_id FROM profile_events WHERE event = 'clicked'
                    AND timestamp >= TIMESTAMPTZ '2026-05-02 00:00:00+00'
                    AND timestamp <= TIMESTAMPTZ '2026-06-01 00:00:00+00')
                  OR c.profile_id IN (SELECT profile_id FROM computed_traits
                    WHERE trait = 'spend_365d' AND number_value >= 400))
             AND c.profile_id NOT IN (SELECT profile_id FROM profile_events
                    WHERE event = 'Order Completed'
                      AND timestamp >= TIMESTAMPTZ '2026-05-18 00:00:00+00'
                      AND timestamp <= TIMESTAMPTZ '2026-06-01 00:00:00+00')""",
    ),
    (
        "segment_of_segments",
        'in segment nested and not in segment absence and did "Product Viewed" in last 7 days',
        """SELECT n.profile_id FROM memberships n
           WHERE n.segment = 'nested'
             AND n.profile_id NOT IN (SELECT profile_id FROM memberships WHERE segment = 'absence')
             AND n.profile_id IN (SELECT profile_id FROM profile_events
               WHERE event = 'Product Viewed'
                 AND timestamp >= TIMESTAMPTZ '2026-05-25 00:00:00+00'
                 AND timestamp <= TIMESTAMPTZ '2026-06-01 00:00:00+00')""",
    ),
]


def _con(store: Store) -> Any:
    """The DuckDB connection under the store (the benchmark's hand-written SQL runs on it)."""
    return store.backend.con


def _log(message: str) -> None:
    print(message, flush=True)


# -- 1. data ---------------------------------------------------------------------------------------


def generate(store: Store, profiles: int, events: int) -> None:
    con = _con(store)
    ws = store.workspace
    now = "TIMESTAMPTZ '2026-06-01 00:00:00+00'"
    countries = "[" + ", ".join(f"'{c}'" for c in COUNTRIES) + "]"
    cities = "['Paris', 'Lyon', 'Marseille', 'Lille', 'Nantes', 'London', 'Berlin', 'Bruxelles']"
    names = "['Ana', 'Bob', 'Chloé', 'David', 'Emma', 'Farid', 'Giulia', 'Hugo']"
    cats = "[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
    con.execute("SET preserve_insertion_order = true")  # rows go in profile order
    con.execute("CREATE OR REPLACE TEMP MACRO h(x, salt, n) AS CAST(hash(x, salt) % n AS BIGINT)")
    started = time.perf_counter()
    pid = "printf('prf_%08d', i)"
    con.execute(
        f"""INSERT INTO profiles SELECT '{ws}', {pid}, 1 + h(i, 'r', 4), 'crm,web',
            {now} - INTERVAL 400 DAY, {now}, json_object('country', {countries}[1 + h(i, 'c', 10)]),
            {now} FROM range({profiles}) t(i)"""
    )
    traits = {
        "country": f"{countries}[1 + h(i, 'c', 10)]",
        "city": f"{cities}[1 + h(i, 'y', 8)]",
        "first_name": f"{names}[1 + h(i, 'n', 8)]",
        "birth_date": "strftime(DATE '1950-01-01' + CAST(h(i, 'b', 20000) AS INTEGER), '%Y-%m-%d')",
    }
    for trait, expr in traits.items():
        keep = "h(i, 'k" + trait + "', 10) < 9" if trait != "country" else "true"
        con.execute(
            f"""INSERT INTO profile_traits SELECT '{ws}', {pid}, '{trait}', {expr}, 'crm', {pid},
                {now}, 'most_recent', 1, false FROM range({profiles}) t(i) WHERE {keep}"""
        )
    kinds = {"country": "country", "city": "city", "first_name": "name", "birth_date": "date"}
    for trait, kind in kinds.items():
        con.execute(
            f"""INSERT INTO observed_traits VALUES ('{ws}', 'bench:{trait}', 'crm', 'k', '{trait}',
                '{kind}', 'x', 'x', NULL, true, {now})"""
        )
    for kind, value, share in (
        ("email", "printf('user%08d@example.com', i)", 95),
        ("phone", "printf('+336%08d', i)", 60),
        ("user_id", "printf('U%08d', i)", 50),
    ):
        con.execute(
            f"""INSERT INTO identities SELECT '{ws}', '{kind}', {value}, {pid}, {pid}, 'linked',
                'crm', 1, {now}, {now}, NULL FROM range({profiles}) t(i)
                WHERE h(i, '{kind}', 100) < {share}"""
        )
    con.execute(
        f"""INSERT INTO profile_consents SELECT '{ws}', {pid}, 'email_marketing',
            CASE WHEN h(i, 'g', 10) < 6 THEN 'granted' ELSE 'denied' END,
            {now} - INTERVAL 30 DAY, 'crm', {pid} FROM range({profiles}) t(i)
            WHERE h(i, 'e', 10) < 8"""
    )
    con.execute(
        f"""INSERT INTO consents VALUES ('{ws}', 'bench', 'bench', 'crm', 'k', 'email_marketing',
            'granted', 'consent', {now}, {now})"""
    )
    _log(f"  profiles, traits, identities, consents: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    per = max(1, events // profiles)
    kind = "h(e, 't', 1000)"
    event = f"""CASE WHEN {kind} < 400 THEN NULL WHEN {kind} < 600 THEN 'Product Viewed'
        WHEN {kind} < 750 THEN 'sent' WHEN {kind} < 870 THEN 'opened'
        WHEN {kind} < 900 THEN 'clicked' WHEN {kind} < 950 THEN 'Order Completed'
        WHEN {kind} < 980 THEN 'In-Store Purchase' ELSE 'Product Added' END"""
    type_ = f"CASE WHEN {kind} < 400 THEN 'page' ELSE 'track' END"
    props = f"""CASE WHEN {kind} < 400 THEN '{{"path":"/p/' || h(e, 'p', 5000) || '"}}'
        WHEN {kind} >= 900 AND {kind} < 980 THEN '{{"category":"' || {cats}[1 + h(e, 'k', 5)]
             || '","revenue":' || (5 + h(e, 'v', 300)) || '}}'
        ELSE '{{}}' END"""
    con.execute(
        f"""INSERT INTO profile_events SELECT '{ws}', printf('prf_%08d', e // {per}),
            'm' || e, CASE WHEN {kind} < 600 THEN 'web' ELSE 'email' END, 'm' || e,
            {type_}, {event}, {now} - to_seconds(CAST(h(e, 'd', 365 * 86400) AS BIGINT)),
            CAST({props} AS JSON) FROM range({events}) t(e)"""
    )
    con.execute("SET preserve_insertion_order = false")
    con.execute("CHECKPOINT")
    _log(f"  {events:,} events: {time.perf_counter() - started:.1f} s")


# -- 2. segments -----------------------------------------------------------------------------------


def _best_of(
    ours: Callable[[], Any], theirs: Callable[[], Any], times: int = 5
) -> tuple[float, Any, float, Any]:
    """Best time of each side, the two sides taking turns (a busy moment hits both alike)."""
    best = [float("inf"), float("inf")]
    results: list[Any] = [None, None]
    for _ in range(times):
        for side, run in enumerate((ours, theirs)):
            started = time.perf_counter()
            results[side] = run()
            best[side] = min(best[side], time.perf_counter() - started)
    return best[0], results[0], best[1], results[1]


def bench_segments(store: Store) -> list[dict[str, Any]]:
    con = _con(store)
    started = time.perf_counter()
    for data in TRAITS:
        save_trait(store, parse_trait(data), refresh=False)
    report = refresh_traits(store, as_of=AS_OF)
    _log(
        f"  computed traits {list(report.rows)} for every profile: {time.perf_counter() - started:.1f} s"
    )
    rows = []
    for name, text, sql in SEGMENTS:
        save_segment(store, name, text)
        ctx = compile_context(store, AS_OF)
        rule = read_rule(text)

        def profilo(rule: Any = rule, ctx: Any = ctx) -> set[str]:
            expr = compile_rule(store, rule, ctx)
            return set(store.to_arrow(expr).column("profile_id").to_pylist())

        def hand(sql: str = sql) -> set[str]:
            table = con.sql(sql).to_arrow_table()
            return set(table.column(0).to_pylist())

        ours, members, theirs, expected = _best_of(profilo, hand)
        if members != expected:
            raise SystemExit(f"{name}: Profilo found {len(members)} members, SQL {len(expected)}")
        rows.append({"segment": name, "members": len(members), "profilo": ours, "sql": theirs})
        _log(
            f"  {name:<20} {len(members):>9,} members  Profilo {ours:6.3f} s"
            f"  SQL {theirs:6.3f} s  ratio {ours / theirs:5.2f}"
        )
        # the next segments refer to this one's members
        evaluate_segments(store, [name], as_of=AS_OF)
    started = time.perf_counter()
    run = evaluate_segments(store, as_of=AS_OF + timedelta(days=1))
    moved = sum(s["entered"] + s["exited"] for s in run.segments.values())
    _log(
        f"  evaluate_segments, all five a day later: {time.perf_counter() - started:.2f} s"
        f" ({moved:,} entries and exits written to memberships, history and outbox)"
    )
    return rows


# -- 3. real time ----------------------------------------------------------------------------------


def bench_realtime(
    store: Store, profiles: int, rate: int = 500, seconds: float = 20.0, seed: int = 5
) -> dict[str, float]:
    # a second connection applies memberships and trait values behind, in a thread
    live = LiveSegments(store)
    now_of = AS_OF + timedelta(days=1, seconds=1)
    live.warm(as_of=now_of)
    _log(
        f"  warm-up: state of {len(live.definitions.segments)} segments read in {live.warm_seconds:.1f} s"
    )
    rng = random.Random(seed)
    n = int(rate * seconds)
    names = ["Order Completed", "opened", "clicked", "Product Viewed"]
    arrivals = []
    for i in range(n):
        name = rng.choice(names)
        props = (
            {"category": rng.choice(CATEGORIES), "revenue": rng.randrange(5, 300)}
            if name == "Order Completed"
            else {}
        )
        arrivals.append((i, f"prf_{rng.randrange(profiles):08d}", name, json.dumps(props)))
    schema = pa.schema(
        [("profile_id", pa.string()), ("message_id", pa.string()), ("source", pa.string()),
         ("record_key", pa.string()), ("type", pa.string()), ("event", pa.string()),
         ("timestamp", pa.timestamp("us", tz="UTC")), ("properties", pa.string())]
    )  # fmt: skip
    latencies: list[float] = []
    moving: list[float] = []  # events that made their profile enter or leave a segment
    batches: list[int] = []
    changes = 0
    start = time.perf_counter() + 0.5
    done = 0
    while done < n:
        now = time.perf_counter()
        due = min(n, int((now - start) * rate) + 1) if now >= start else 0
        if due <= done:
            time.sleep(max(0.0, start + done / rate - now))
            continue
        batch = arrivals[done:due]
        table = pa.table(
            {
                "profile_id": [b[1] for b in batch],
                "message_id": [f"rt{b[0]}" for b in batch],
                "source": ["web"] * len(batch),
                "record_key": [f"rt{b[0]}" for b in batch],
                "type": ["track"] * len(batch),
                "event": [b[2] for b in batch],
                "timestamp": [now_of] * len(batch),
                "properties": [b[3] for b in batch],
            },
            schema=schema,
        )
        result = live.ingest(table, as_of=now_of)
        changes += len(result.changes)
        written = time.perf_counter()
        latencies += [written - (start + b[0] / rate) for b in batch]
        moved = {c.profile_id for c in result.changes}
        moving += [written - (start + b[0] / rate) for b in batch if b[1] in moved]
        batches.append(len(batch))
        done = due
    live.flush()
    latencies.sort()
    moving.sort()

    def pct(p: float, values: list[float] = latencies) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000

    figures = {
        "events": n,
        "changes": changes,
        "batches": len(batches),
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "moving_p95": pct(0.95, moving) if moving else 0.0,
    }
    _log(
        f"  {n:,} events at {rate}/s in {len(batches):,} passes (mean {statistics.fmean(batches):.1f}"
        f" events each): {changes:,} entries and exits written;"
        f" latency p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms, p99 {figures['p99']:.1f} ms"
    )
    if moving:
        _log(
            f"  the {len(moving):,} events that moved their profile: p50 {pct(0.5, moving):.1f} ms,"
            f" p95 {pct(0.95, moving):.1f} ms, p99 {pct(0.99, moving):.1f} ms"
        )
    return figures


# -- 4. lookup -------------------------------------------------------------------------------------


def _serve(db: str, port: int, ready: Any) -> None:
    import uvicorn
    from fastapi import FastAPI

    from profilo.profiles.routes import router as profiles_router
    from profilo.store import LocalRunner

    app = FastAPI()
    app.include_router(profiles_router)
    app.state.store_runner = LocalRunner(open_store(f"duckdb:///{db}"))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    ready.set()
    server.run()


def _load(port: int, profiles: int, rate: int, seconds: float, out: Any) -> None:
    import httpx

    rng = random.Random(9)
    latencies = []
    errors = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
        for _ in range(50):  # warm up
            client.get("/profiles/lookup", params={"identifier": "email:user00000001@example.com"})
        n = int(rate * seconds)
        start = time.perf_counter()
        for i in range(n):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            person = rng.randrange(profiles)
            sent = time.perf_counter()
            answer = client.get(
                "/profiles/lookup", params={"identifier": f"email:user{person:08d}@example.com"}
            )
            latencies.append(time.perf_counter() - sent)
            if answer.status_code not in (200, 404):
                errors += 1
    out.put({"latencies": latencies, "errors": errors})


def bench_lookup(
    db: str, profiles: int, rate: int = 200, seconds: float = 15.0
) -> dict[str, float]:
    port = 18000 + os.getpid() % 1000
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=_serve, args=(db, port, ready), daemon=True)
    server.start()
    ready.wait(60)
    time.sleep(3.0)
    queue = ctx.Queue()
    load = ctx.Process(target=_load, args=(port, profiles, rate, seconds, queue))
    load.start()
    result = queue.get(timeout=seconds + 120)
    load.join()
    server.terminate()
    server.join()
    latencies = sorted(result["latencies"])

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    figures = {"requests": len(latencies), "errors": result["errors"], "p50": pct(0.5),
               "p95": pct(0.95), "p99": pct(0.99), "mean": statistics.fmean(latencies) * 1000}  # fmt: skip
    _log(
        f"  {len(latencies):,} lookups at {rate}/s from another process: p50 {figures['p50']:.1f} ms,"
        f" p95 {figures['p95']:.1f} ms, p99 {figures['p99']:.1f} ms, errors {result['errors']}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--db", default="/tmp/profilo-segments.duckdb")
    parser.add_argument("--reuse", action="store_true", help="Keep the data of an earlier run.")
    parser.add_argument("--only", default="segments,realtime,lookup")
    parser.add_argument("--seed", type=int, default=5, help="Seed of the real-time events.")
    args = parser.parse_args()
    steps = set(args.only.split(","))
    db = Path(args.db)
    fresh = not (args.reuse and db.exists())
    if fresh:
        for path in (db, db.with_name(db.name + ".wal")):
            path.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{db}", migrate=True)
    if fresh:
        _log(f"1. data: {args.profiles:,} profiles, {args.events:,} events")
        generate(store, args.profiles, args.events)
    if "segments" in steps:
        _log("2. segments (best of 5, taking turns; Profilo = compile + run to member ids)")
        bench_segments(store)
    if "realtime" in steps:
        _log("3. real-time re-evaluation at 500 events/s")
        bench_realtime(store, args.profiles, seed=args.seed)
    store.close()
    if "lookup" in steps:
        _log("4. profile lookup over HTTP at 200 requests/s")
        bench_lookup(str(db), args.profiles)


if __name__ == "__main__":
    sys.exit(main())
