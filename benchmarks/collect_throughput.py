"""Throughput of the Segment-compatible tracking API, with durable acknowledgements.

Starts ``profilo serve`` (DuckDB store in a temporary folder) and, from a separate load process,
measures for a few seconds each:

1. the ceiling for batches: the same server stack answering ``POST /bench/parse``, which only
   reads and parses the JSON body, with 100-message batches;
2. ``POST /v1/batch`` with 100 messages per batch, each answered after the spool's fsync;
3. the ceiling for single calls: ``/bench/parse`` with one message;
4. ``POST /v1/track`` with one message.

Each durable phase runs right after its ceiling, twice over, so changes in the machine's load
weigh on both. It prints messages/s and requests/s, p50/p99 latency and the ratios to the
ceilings, then watches the loader store the spooled messages on its own for a few seconds.

    .venv/bin/python benchmarks/collect_throughput.py            # about 55 s on 2 cores
    .venv/bin/python benchmarks/collect_throughput.py --seconds 3 --json

The load process speaks HTTP/1.1 over raw asyncio streams (keep-alive, one request in flight per
connection, 32 connections) so that the client costs as little CPU as possible on the same
machine. Messages are varied (random ids, prices, URLs) as real traffic is.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from _serving import free_port, wait_ready

_ROOT = Path(__file__).resolve().parent.parent
_PROFILO = [sys.executable, "-m", "profilo"]
_MARK = b"XXXXXXXXXXXXXXXX"


_CATEGORIES = ("shoes", "socks", "jackets", "tents", "bags", "lamps", "gloves", "hats")


def _message(i: int, rng: random.Random) -> dict[str, Any]:
    """A realistic message: random ids and values, so the spool's compression gets no free ride."""
    product = rng.randrange(100_000)
    return {
        "type": "track",
        "event": rng.choice(("Product Viewed", "Product Added", "Checkout Started")),
        "userId": f"user-{rng.randrange(1_000_000)}",
        "anonymousId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "messageId": f"{_MARK.decode()}-{i:03d}-{rng.getrandbits(48):012x}",
        "timestamp": f"2026-11-24T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
        f"{rng.randrange(60):02d}.{rng.randrange(1000):03d}+00:00",
        "properties": {
            "product_id": f"p-{product}",
            "sku": f"SKU-{product:06d}-{rng.randrange(100):02d}",
            "price": round(rng.uniform(1, 500), 2),
            "currency": "EUR",
            "category": rng.choice(_CATEGORIES),
            "url": f"https://shop.example/p/{product}?ref={rng.getrandbits(32):08x}",
        },
        "context": {
            "library": {"name": "analytics-python", "version": "2.4.0"},
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        },
        "integrations": {},
    }


def _template(path: str, batch: int, write_key: str, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    if batch > 1:
        body = orjson.dumps(
            {
                "batch": [_message(i, rng) for i in range(batch)],
                "sentAt": "2026-11-24T10:00:01.000+00:00",
            }
        )
    else:
        body = orjson.dumps(_message(0, rng))
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Authorization: Basic {auth}\r\nUser-Agent: analytics-python/2.4.0\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


# -- the load process ---------------------------------------------------------------------------


async def _connection(
    port: int, template: bytes, run: int, conn: int, stop: float, latencies: list[float]
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = failed = 0
    seq = 0
    try:
        while time.perf_counter() < stop:
            seq += 1
            # a fresh messageId prefix per request: every message is new to the server
            request = template.replace(_MARK, b"%02d%03d%011d" % (run, conn, seq))
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head.startswith(b"HTTP/1.1 200"):
                done += 1
            else:
                failed += 1
    finally:
        writer.close()
    return done, failed


async def _phase(
    port: int, template: bytes, run: int, conns: int, seconds: float
) -> dict[str, Any]:
    warm = time.perf_counter() + 0.5
    await asyncio.gather(
        *[_connection(port, template, run + 50, c, warm, []) for c in range(conns)]
    )
    latencies: list[float] = []
    started = time.perf_counter()
    results = await asyncio.gather(
        *[_connection(port, template, run, c, started + seconds, latencies) for c in range(conns)]
    )
    elapsed = time.perf_counter() - started
    return {
        "requests": sum(r[0] for r in results),
        "failed": sum(r[1] for r in results),
        "seconds": elapsed,
        "latencies": latencies,
    }


def _load(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    # Each durable phase runs right after its ceiling, twice over, so that a change in the
    # machine's load (other processes) weighs on both alike.
    phases = [
        ("ceiling_batch", "/bench/parse", 100),
        ("batch", "/v1/batch", 100),
        ("ceiling_single", "/bench/parse", 1),
        ("single", "/v1/track", 1),
    ]
    out: dict[str, dict[str, Any]] = {}
    rounds = 2
    for round_ in range(rounds):
        for run, (name, path, batch) in enumerate(phases):
            template = _template(path, batch, args.write_key)
            result = asyncio.run(
                _phase(
                    args.port, template, round_ * 10 + run, args.connections, args.seconds / rounds
                )
            )
            into = out.setdefault(
                name, {"batch": batch, "requests": 0, "failed": 0, "seconds": 0.0, "latencies": []}
            )
            into["requests"] += result["requests"]
            into["failed"] += result["failed"]
            into["seconds"] += result["seconds"]
            into["latencies"].extend(result.pop("latencies"))
    for into in out.values():
        latencies = sorted(into.pop("latencies"))
        into["requests_per_s"] = into["requests"] / into["seconds"]
        into["messages_per_s"] = into["requests_per_s"] * into["batch"]
        into["p50_ms"] = latencies[len(latencies) // 2] * 1000
        into["p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1000
    sys.stdout.write(json.dumps(out) + "\n")


# -- the driver ---------------------------------------------------------------------------------


def _watch_loader(url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """The loader's own rate once the load has stopped (bounded: the backlog of a long run takes
    longer to store than the benchmark should last)."""

    def counters() -> tuple[dict[str, Any], int]:
        status = httpx.get(f"{url}/admin/status", headers=headers, timeout=120).json()
        return status["sources"]["bench"].get("collect", {}), status["server"][
            "spool_backlog_bytes"
        ]

    first, _ = counters()
    started = time.perf_counter()
    time.sleep(args.loader_seconds)
    last, backlog = counters()
    seconds = time.perf_counter() - started
    return {
        "stored_during_load": first.get("stored", 0),
        "messages_per_s": (last.get("stored", 0) - first.get("stored", 0)) / seconds,
        "seconds": seconds,
        "backlog_mb": backlog / 1e6,
        "duplicates": last.get("duplicates", 0),
        "quarantined": last.get("quarantined", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="measured seconds per phase (split in two)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--loader-seconds", type=float, default=8.0, help="seconds to watch the loader alone"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--write-key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        _load(args)
        return

    with tempfile.TemporaryDirectory(prefix="profilo-bench-") as tmp:
        env = {
            **os.environ,
            "PROFILO_STORE": f"duckdb:///{tmp}/bench.duckdb",
            "PROFILO_WORKSPACE": "bench",
            "PROFILO_LOG_LEVEL": "warning",
        }
        created = subprocess.run(
            [
                *_PROFILO,
                "source",
                "add",
                "bench",
                "--kind",
                "server",
                "--rate-limit",
                "0",
                "--json",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        write_key = json.loads(created.stdout)["write_key"]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*_PROFILO, "serve", "--port", str(port), "--ceiling"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "serve.log", "w"),  # noqa: SIM115 - closed with the folder
        )
        try:
            wait_ready(url)
            load = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--load",
                    "--port",
                    str(port),
                    "--write-key",
                    write_key,
                    "--seconds",
                    str(args.seconds),
                    "--connections",
                    str(args.connections),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results = json.loads(load.stdout)
            token = json.loads(Path(f"{tmp}/bench.duckdb.serve.json").read_text())["token"]
            results["loader"] = _watch_loader(url, {"Authorization": f"Bearer {token}"}, args)
        finally:
            server.kill()  # the benchmark's data is thrown away with its folder
            server.wait(60)
    results["ratios"] = {
        "batch_vs_ceiling": results["batch"]["messages_per_s"]
        / results["ceiling_batch"]["messages_per_s"],
        "single_vs_ceiling": results["single"]["requests_per_s"]
        / results["ceiling_single"]["requests_per_s"],
    }
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return
    print(f"{'phase':<16}{'req/s':>10}{'msg/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}")
    for name in ("ceiling_batch", "batch", "ceiling_single", "single"):
        r = results[name]
        print(
            f"{name:<16}{r['requests_per_s']:>10,.0f}{r['messages_per_s']:>11,.0f}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['failed']:>8}"
        )
    ratios = results["ratios"]
    print(
        f"batched ingestion: {ratios['batch_vs_ceiling']:.0%} of the ceiling;"
        f" single calls: {ratios['single_vs_ceiling']:.0%} of the ceiling"
    )
    loader = results["loader"]
    print(
        f"loader: {loader['stored_during_load']:,} messages stored during the load (it runs on"
        f" idle CPU), then {loader['messages_per_s']:,.0f} messages/s on its own for"
        f" {loader['seconds']:.0f} s; {loader['backlog_mb']:,.0f} MB still spooled at the end"
        f" ({loader['duplicates']} duplicates, {loader['quarantined']} quarantined)"
    )


if __name__ == "__main__":
    main()
