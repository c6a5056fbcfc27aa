"""Personalisation API at 1,000,000 profiles: p50/p95/p99 at 200 requests/s over HTTP, beside the
engine's own point reads of the same data (the ceiling).

Run: .venv/bin/python benchmarks/personalise.py [--profiles 1000000] [--rate 200] [--seconds 30]
     [--rounds 3] [--db /tmp/profilo-personalise.duckdb] [--reuse] [--no-in-process]

1. **Data.** A DuckDB store filled straight with SQL (seeded hashes, rows in a shuffled order so
   nothing leans on the physical order): per profile a golden record, five identifiers
   (e-mail 95%, phone 60%, user id 50%, CRM id 70%, anonymous id 100%: about 3.75 million
   ``identities`` rows) and the card the pipeline keeps (``profile_cards``: traits, computed
   traits, segments, five recommendations; 80% consented to personalisation). Then one real
   personalisation key is created (``create_key``).
2. **Ceiling.** The same requests as the engine's raw point reads, run directly on the connection:
   identifier → profile, profile → card (parameters bound, the same indexes).
3. **Profilo as deployed.** ``profilo serve`` on this file (uvicorn, the whole application, the
   store worker that owns the DuckDB file and answers the request's read); a separate process
   sends ``GET /v1/personalise`` requests open-loop — each at its scheduled time, whether or not
   earlier answers came back, latency counted from that time — at ``--rate`` per second for
   ``--seconds``, each for a random identifier of a random type (3% unknown, answered 404). The
   server's CPU per request counts its processes and their children (the store worker).
4. **In-process runner** (second line, unless ``--no-in-process``): the same router alone under
   uvicorn with the store opened in the web process — what the worker hop and the full
   application add.

Each round runs the three in turn (the raw reads need the file, so no server runs meanwhile);
the table gives the median of the rounds' percentiles, and each round's below it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil

from profilo.store import Store, open_store

KINDS = [("email", 95), ("phone", 60), ("user_id", 50), ("crm_id", 70), ("anonymous_id", 100)]
VALUES = {
    "email": ("printf('user%08d@example.com', i)", "user{:08d}@example.com"),
    "phone": ("printf('+336%08d', i)", "+336{:08d}"),
    "user_id": ("printf('U%08d', i)", "U{:08d}"),
    "crm_id": ("printf('CRM%08d', i)", "CRM{:08d}"),
    "anonymous_id": ("printf('anon-%08d', i)", "anon-{:08d}"),
}


def _log(message: str) -> None:
    print(message, flush=True)


def _share(kind: str) -> int:
    return dict(KINDS)[kind]


def _holds(i: int, kind: str) -> bool:
    """Whether profile ``i`` has an identifier of ``kind`` (the same hash the SQL uses)."""
    return (i * 2654435761 + len(kind) * 97) % 100 < _share(kind)


def generate(store: Store, profiles: int) -> None:
    con = store.backend.con
    ws = store.workspace
    started = time.perf_counter()
    con.execute("CREATE OR REPLACE TEMP MACRO h(x, salt, n) AS CAST(hash(x, salt) % n AS BIGINT)")
    now = "TIMESTAMPTZ '2026-06-01 00:00:00+00'"
    pid = "printf('prf_%08d', i)"
    shuffled = f"FROM range({profiles}) t(i) ORDER BY hash(i, 'order')"
    countries = "['FR', 'FR', 'GB', 'DE', 'BE']"
    traits = (
        f"json_object('first_name', ['Ana', 'Bob', 'Chloé', 'David'][1 + h(i, 'n', 4)],"
        f" 'country', {countries}[1 + h(i, 'c', 5)], 'city', ['Paris', 'Lyon', 'London'][1 + h(i, 'y', 3)],"
        f" 'email', printf('user%08d@example.com', i))"
    )
    con.execute(
        f"INSERT INTO profiles SELECT '{ws}', {pid}, 3, 'crm,web,orders', {now} - INTERVAL 400 DAY,"
        f" {now}, {traits}, {now} {shuffled}"
    )
    for kind, (value, _) in VALUES.items():
        con.execute(
            f"INSERT INTO identities SELECT '{ws}', '{kind}', {value}, {pid}, {pid}, 'linked',"
            f" 'crm', 1, {now}, {now}, NULL FROM range({profiles}) t(i)"
            f" WHERE (i * 2654435761 + {len(kind) * 97}) % 100 < {_share(kind)}"
            " ORDER BY hash(i, 'order')"
        )
    segments = "['buyers', 'newsletter', 'vip', 'lapsed', 'french']"
    skus = "printf('ML-%05d', 10000 + h(i, 'k' || k, 400))"
    con.execute(
        f"""INSERT INTO profile_cards SELECT '{ws}', {pid}, h(i, 'consent', 10) < 8, {traits},
            json_object('orders_365d', h(i, 'o', 12), 'spend_365d', h(i, 's', 2000) / 1.0),
            to_json(list_filter({segments}, lambda s: h(i, s, 3) = 0)),
            to_json([struct_pack(sku := {skus}, name := 'Product ' || k, category := 'shoes',
                                 reason := 'bought_together') FOR k IN range(5)]),
            {now} {shuffled}"""
    )
    con.execute(
        f"""INSERT INTO personalisation_defaults VALUES ('{ws}', 'recommendations',
            '[{{"sku": "ML-10001", "name": "Bag", "category": "bags", "reason": "popular"}}]',
            {now})"""
    )
    con.execute("CHECKPOINT")
    _log(
        f"  {profiles:,} profiles, identities and cards written in {time.perf_counter() - started:.1f} s"
    )


def _requests(profiles: int, count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        i = rng.randrange(profiles)
        kind = rng.choice([k for k, _ in KINDS])
        if rng.random() < 0.03:
            out.append((kind, VALUES[kind][1].format(profiles + i)))  # nobody holds it
        elif _holds(i, kind):
            out.append((kind, VALUES[kind][1].format(i)))
        else:
            out.append(("anonymous_id", VALUES["anonymous_id"][1].format(i)))
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def ceiling(store: Store, requests: list[tuple[str, str]]) -> list[float]:
    """The engine's raw point reads for the same requests, one after the other."""
    con = store.backend.con
    ids = "SELECT profile_id FROM identities WHERE value = $value"
    card = "SELECT consented, traits, computed, segments, recommendations FROM profile_cards WHERE profile_id = $pid"
    latencies = []
    for kind, value in requests:
        started = time.perf_counter()
        hit = [r for r in con.execute(ids, {"value": value}).fetchall()]
        if hit:
            con.execute(card, {"pid": hit[0][0]}).fetchall()
        latencies.append(time.perf_counter() - started)
        assert kind
    return latencies


def serve_in_process(db: str, port: int) -> None:
    """The second server: the same router on an in-process runner over the DuckDB file (no store
    worker, no admin or UI routes): what the worker hop and the full application cost."""
    import uvicorn
    from fastapi import FastAPI

    from profilo.activate.routes_personalise import router
    from profilo.store import LocalRunner

    app = FastAPI()
    app.include_router(router)
    app.state.store_runner = LocalRunner(open_store(f"duckdb:///{db}"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _drive(
    port: int, key: str, requests: list[tuple[str, str]], rate: float, connections: int = 16
) -> dict[str, Any]:
    """Open loop over ``connections`` keep-alive HTTP/1.1 connections (a bare client: an
    asyncio httpx client costs more CPU per request than the server and could not keep up)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, str, str] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            due, kind, value = item
            query = urlencode({"type": kind, "value": value})
            writer.write(
                f"GET /v1/personalise?{query} HTTP/1.1\r\nHost: bench\r\n"
                f"Authorization: Bearer {key}\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line[15:])
            await reader.readexactly(length)
            if due > 0:  # warm-up requests carry no time
                latencies.append(loop.time() - due)  # from the scheduled time: queueing counts
                status = int(head[9:12])
                statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    tasks = [asyncio.create_task(connection()) for _ in range(connections)]
    for kind, value in requests[:200]:  # warm up: connections, prepared queries, caches
        queue.put_nowait((0.0, kind, value))
    while not queue.empty():
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    start = loop.time() + 0.1
    for n, (kind, value) in enumerate(requests):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        queue.put_nowait((due, kind, value))
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return {"latencies": latencies, "statuses": statuses}


def load(port: int, key: str, profiles: int, rate: float, seconds: float, out: str) -> None:
    """The load process: open-loop requests, latencies written to ``out`` as JSON."""
    requests = _requests(profiles, int(rate * seconds), seed=11)
    result = asyncio.run(_drive(port, key, requests, rate))
    Path(out).write_text(json.dumps(result))


def _wait_for(port: int, path: str, ready: bool, timeout: float = 180.0) -> None:
    """Until the server answers ``path`` (with 200 when ``ready``)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1.0)
            if got.status_code == 200 or not ready:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer on port {port} within {timeout:.0f} s")


def _cpu(process: psutil.Process) -> float:
    """CPU seconds of a process and its children (the store worker, checkers)."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _measure(
    server: list[str], ready: tuple[str, bool], port: int, load: list[str]
) -> dict[str, Any]:
    """Start ``server``, drive it from a separate process, stop it: latencies and CPU."""
    out = f"/tmp/profilo-personalise-{os.getpid()}.json"
    process = subprocess.Popen(server, env={**os.environ, "PROFILO_LOG_LEVEL": "warning"})
    try:
        _wait_for(port, *ready)
        served = psutil.Process(process.pid)
        cpu_before = _cpu(served)
        subprocess.run([*load, "--load", str(port), out], check=True)
        cpu = _cpu(served) - cpu_before
    finally:
        process.terminate()
        process.wait(60)
    result: dict[str, Any] = json.loads(Path(out).read_text())
    Path(out).unlink()
    result["cpu_ms"] = cpu / max(1, len(result["latencies"]) + 200) * 1000
    return result


def _row(label: str, values: list[float]) -> str:
    cells = "".join(f"{_pct(values, p):>9.2f}" for p in (0.5, 0.95, 0.99, 1.0))
    return f"  {label:<40}{cells}"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1, help="Measure each side this many times.")
    parser.add_argument("--db", default="/tmp/profilo-personalise.duckdb")
    parser.add_argument("--reuse", action="store_true", help="Keep the data of an earlier run.")
    parser.add_argument(
        "--no-in-process", action="store_true", help="Skip the in-process runner's line."
    )
    parser.add_argument("--serve-in-process", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=2, metavar=("PORT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_in_process:
        serve_in_process(args.db, args.serve_in_process)
        return
    if args.load:
        load(int(args.load[0]), args.key, args.profiles, args.rate, args.seconds, args.load[1])
        return

    from profilo.activate.personalise import create_key

    db = Path(args.db)
    fresh = not (args.reuse and db.exists())
    if fresh:
        for path in (db, db.with_name(db.name + ".wal")):
            path.unlink(missing_ok=True)
    store = open_store(f"duckdb:///{db}", migrate=True)
    if fresh:
        _log(f"1. data: {args.profiles:,} profiles")
        generate(store, args.profiles)
    key = create_key(store, name="benchmark", traits=["first_name", "country"], computed=["*"],
                     segments=["*"])["key"]  # fmt: skip
    store.close()
    requests = _requests(args.profiles, int(args.rate * args.seconds), seed=11)
    port = 18500 + os.getpid() % 1000
    me = [sys.executable, __file__, "--db", str(db), "--profiles", str(args.profiles)]
    load_cmd = [*me, "--rate", str(args.rate), "--seconds", str(args.seconds), "--key", key]
    spool = Path(f"/tmp/profilo-personalise-spool-{os.getpid()}")
    deployed = [sys.executable, "-m", "profilo", "--store", f"duckdb:///{db}", "serve",
                "--port", str(port), "--spool", str(spool)]  # fmt: skip
    sides = {"raw": "raw point reads (in process, back to back)",
             "serve": "profilo serve over HTTP (open loop)",
             "local": "in-process runner over HTTP (open loop)"}  # fmt: skip
    if args.no_in_process:
        del sides["local"]
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    loads: list[float] = []
    for n in range(1, args.rounds + 1):
        _log(
            f"round {n}/{args.rounds}: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        store = open_store(f"duckdb:///{db}")
        runs["raw"].append({"latencies": ceiling(store, requests), "cpu_ms": None})
        store.close()
        _log(f"  raw point reads: {len(requests):,} requests back to back")
        runs["serve"].append(_measure(deployed, ("/ready", True), port, load_cmd))
        _log(f"  profilo serve: {dict(sorted(runs['serve'][-1]['statuses'].items()))}")
        if "local" in runs:
            server = [*me, "--serve-in-process", str(port)]
            runs["local"].append(_measure(server, ("/v1/personalise", False), port, load_cmd))
            _log(f"  in-process runner: {dict(sorted(runs['local'][-1]['statuses'].items()))}")
        loads.append(os.getloadavg()[0])
    _log("")
    _log(f"{args.profiles:,} profiles, {args.rate:.0f} requests/s for {args.seconds:.0f} s,"
         f" {args.rounds} round(s); load average {', '.join(f'{v:.1f}' for v in loads)}"
         f" on {os.cpu_count()} cores")  # fmt: skip
    _log(f"  {'':<40}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'CPU/req':>9}")
    medians: dict[str, list[float]] = {}
    for side, label in sides.items():
        per_round = [[_pct(r["latencies"], p) for p in (0.5, 0.95, 0.99, 1.0)] for r in runs[side]]
        medians[side] = [_median([r[i] for r in per_round]) for i in range(4)]
        cpus = [r["cpu_ms"] for r in runs[side] if r["cpu_ms"] is not None]
        cpu = f"{_median(cpus):>9.2f}" if cpus else f"{'':>9}"
        _log(f"  {label:<40}" + "".join(f"{v:>9.2f}" for v in medians[side]) + cpu)
        if args.rounds > 1:
            for r in per_round:
                _log(f"  {'  one round':<40}" + "".join(f"{v:>9.2f}" for v in r))
    ratio = [medians["serve"][i] / max(medians["raw"][i], 1e-9) for i in range(3)]
    _log(f"  {'ratio profilo serve / raw':<40}" + "".join(f"{r:>9.1f}" for r in ratio))
    verdict = "met" if medians["serve"][2] < 10 else "NOT met"
    _log(f"  goal p99 under 10 ms at {args.rate:.0f}/s under profilo serve: {verdict}"
         " (median of the rounds' p99)")  # fmt: skip
    _log("  (CPU/req: milliseconds of CPU per request in the server's processes, worker included)")


if __name__ == "__main__":
    main()
