"""Activation at scale: a 1,000,000-member audience synced to a local webhook and to Parquet.

Run: .venv/bin/python benchmarks/activation.py [--members 1000000] [--repeat 3]
     [--db /tmp/profilo-activation.duckdb] [--reuse]

1. **Data.** A DuckDB store with ``--members`` profiles, each with a first name, a city and an
   e-mail, 90 % of them with e-mail-marketing consent granted and 10 % denied, all members of one
   segment (entries written by the audiences' own ``record_changes``, as a segment run does).
2. **Sides**, each in a fresh process on a fresh copy of the store (so peak memory is its own),
   taking turns, ``--repeat`` times:
   - ``engine webhook``: Profilo's first sync of a webhook destination following the segment —
     reading the members, checking consent, gathering fields and identifiers, batching (1,000 per
     request), signing, POSTing, and writing the outbox / delivery log, destination state and
     cursors;
   - ``bare webhook``: the ceiling — the same rows (the consenting members with the same fields
     and identifiers, read beforehand, untimed) serialised to the same JSON body in batches of
     1,000 and POSTed over one keep-alive connection, nothing else;
   - ``engine parquet`` / ``bare parquet``: the same for a files destination, against one
     ``pyarrow.parquet.write_table`` of the same rows.
   The receiver is a separate process on loopback that reads each body and answers 200.
3. **Report.** Per side: median wall seconds, members per second and peak RSS; the ratio
   engine / bare (goal: at least 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa

AUDIENCE = "bench"
BATCH = 1000


# -- data ------------------------------------------------------------------------------------


def build(db: Path, members: int) -> None:
    from profilo.audiences import record_changes
    from profilo.store import open_store

    ts = pa.timestamp("us", tz="UTC")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    pids = pa.array([f"prf_{i:010d}" for i in range(members)], pa.string())
    cities = ["Paris", "Lyon", "Nantes", "Lille", "Bordeaux"]
    with open_store(f"duckdb:///{db}", migrate=True) as store:
        n = members
        store.replace_rows(
            "profiles",
            pa.table(
                {
                    "profile_id": pids,
                    "records": pa.array([1] * n, pa.int64()),
                    "traits": pa.array(["{}"] * n, pa.string()),
                    "updated_at": pa.array([now] * n, ts),
                }
            ),
        )
        traits = pa.table(
            {
                "profile_id": pa.concat_arrays([pids, pids]),
                "trait": pa.array(["first_name"] * n + ["city"] * n, pa.string()),
                "value": pa.array(
                    [f"Name{i % 997}" for i in range(n)] + [cities[i % 5] for i in range(n)],
                    pa.string(),
                ),
                "rule": pa.array(["most_recent"] * (2 * n), pa.string()),
                "candidates": pa.array([1] * (2 * n), pa.int64()),
                "conflict": pa.array([False] * (2 * n), pa.bool_()),
            }
        )
        store.replace_rows("profile_traits", traits)
        store.replace_rows(
            "identities",
            pa.table(
                {
                    "id_type": pa.array(["email"] * n, pa.string()),
                    "value": pa.array([f"p{i}@example.com" for i in range(n)], pa.string()),
                    "profile_id": pids,
                    "status": pa.array(["linked"] * n, pa.string()),
                    "records": pa.array([1] * n, pa.int64()),
                }
            ),
        )
        store.replace_rows(
            "identity_records",
            pa.table(
                {
                    "source": pa.array(["crm"] * n, pa.string()),
                    "record_key": pids,
                    "profile_id": pids,
                    "component_id": pids,
                    "linked_by": pa.array(["bench"] * n, pa.string()),
                    "resolved_at": pa.array([now] * n, ts),
                }
            ),
        )
        store.replace_rows(
            "consents",
            pa.table(
                {
                    "consent_id": pa.array([f"c{i}" for i in range(n)], pa.string()),
                    "message_id": pa.array([f"m{i}" for i in range(n)], pa.string()),
                    "source": pa.array(["crm"] * n, pa.string()),
                    "record_key": pids,
                    "purpose": pa.array(["email_marketing"] * n, pa.string()),
                    "status": pa.array(
                        ["denied" if i % 10 == 9 else "granted" for i in range(n)], pa.string()
                    ),
                    "legal_basis": pa.array(["consent"] * n, pa.string()),
                    "consented_at": pa.array([now] * n, ts),
                    "recorded_at": pa.array([now] * n, ts),
                }
            ),
        )
        record_changes(
            store, "bench", {AUDIENCE: (pids, pa.array([], pa.string()))}, trigger="batch", at=now
        )


# -- the receiver ----------------------------------------------------------------------------


def serve(port_file: Path) -> None:
    """A loopback receiver: reads each body, counts changes, answers 200 (keep-alive)."""
    count = {"changes": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                count["changes"] += body.count(b'"change_id"')
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            data = json.dumps(count).encode()
            if self.path == "/reset":
                count["changes"] = 0
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


# -- the sides -------------------------------------------------------------------------------


def _rows(db: Path) -> list[dict[str, Any]]:
    """What the engine sends: consenting members with their fields and identifiers (untimed)."""
    import duckdb  # the bare loop speaks to DuckDB directly, as hand-written code would

    con = duckdb.connect(str(db), read_only=True)
    table = con.execute(
        """
        SELECT m.profile_id,
               max(CASE WHEN t.trait = 'first_name' THEN t.value END) AS first_name,
               max(CASE WHEN t.trait = 'city' THEN t.value END) AS city,
               any_value(i.value) AS email
        FROM memberships m
        JOIN consents c ON c.record_key = m.profile_id AND c.status = 'granted'
        JOIN profile_traits t ON t.profile_id = m.profile_id
        JOIN identities i ON i.profile_id = m.profile_id
        WHERE m.segment = ?
        GROUP BY m.profile_id ORDER BY m.profile_id
        """,
        [AUDIENCE],
    ).to_arrow_table()
    con.close()
    return list(table.to_pylist())


def bare_webhook(db: Path, port: int) -> int:
    import httpx
    import orjson

    rows = _rows(db)
    started = time.perf_counter()
    stamp = datetime.now(UTC).isoformat()
    with httpx.Client(timeout=30) as client:
        for start in range(0, len(rows), BATCH):
            changes = [
                {
                    "change_id": f"hook:initial:{AUDIENCE}:{r['profile_id']}",
                    "type": "upsert",
                    "profile_id": r["profile_id"],
                    "audience": AUDIENCE,
                    "fields": {"city": r["city"], "first_name": r["first_name"]},
                    "identifiers": {"email": [r["email"]]},
                    "occurred_at": stamp,
                }
                for r in rows[start : start + BATCH]
            ]
            body = orjson.dumps({"batch_id": str(start), "sent_at": stamp, "changes": changes})
            client.post(
                f"http://127.0.0.1:{port}/hook",
                content=body,
                headers={"Content-Type": "application/json"},
            ).raise_for_status()
    BENCH["seconds"] = time.perf_counter() - started
    return len(rows)


def bare_parquet(db: Path, folder: Path) -> int:
    import pyarrow.parquet as pq

    rows = _rows(db)
    started = time.perf_counter()
    table = pa.table(
        {
            "profile_id": [r["profile_id"] for r in rows],
            "audience": [AUDIENCE] * len(rows),
            "city": [r["city"] for r in rows],
            "first_name": [r["first_name"] for r in rows],
            "id_email": [[r["email"]] for r in rows],
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "bare.parquet", compression="zstd")
    BENCH["seconds"] = time.perf_counter() - started
    return len(rows)


def engine(db: Path, kind: str, port: int, folder: Path) -> int:
    from profilo.activate import SyncOptions, parse_destination, save_destination, sync_destination
    from profilo.store import open_store

    settings: dict[str, Any] = (
        {"url": f"http://127.0.0.1:{port}/hook", "max_batch": BATCH}
        if kind == "webhook"
        else {"folder": str(folder), "format": "parquet"}
    )
    with open_store(f"duckdb:///{db}") as store:
        definition = parse_destination(
            {
                "name": "hook",
                "kind": "webhook" if kind == "webhook" else "files",
                "purposes": ["email_marketing"],
                "audiences": [AUDIENCE],
                "fields": {"first_name": "first_name", "city": "city"},
                "identifiers": ["email"],
                "settings": settings,
            }
        )
        allow = ("127.0.0.1/32",)
        save_destination(store, definition, allow_networks=allow)
        started = time.perf_counter()
        report = sync_destination(store, "hook", SyncOptions(allow_networks=allow))
        BENCH["seconds"] = time.perf_counter() - started
    if report.pending or report.dead:
        raise SystemExit(f"engine left {report.pending} pending, {report.dead} dead")
    return report.delivered


BENCH: dict[str, float] = {}


def side(name: str, db: Path, port: int, folder: Path) -> dict[str, Any]:
    if name == "engine webhook":
        sent = engine(db, "webhook", port, folder)
    elif name == "engine parquet":
        sent = engine(db, "parquet", port, folder)
    elif name == "bare webhook":
        sent = bare_webhook(db, port)
    else:
        sent = bare_parquet(db, folder)
    return {"side": name, "sent": sent, "seconds": BENCH["seconds"], "peak_mb": _peak_mb()}


def _peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``: its own, unlike ``ru_maxrss``, which a
    child started by ``subprocess`` inherits from its parent across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the run ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "profilo-activation.duckdb"
    )
    parser.add_argument("--reuse", action="store_true", help="Keep the store of an earlier run.")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "receiver":
        serve(args.folder)
        return
    if args.side:
        print(json.dumps(side(args.side, args.db, args.port, args.folder)))
        return
    if not (args.reuse and args.db.exists()):
        args.db.unlink(missing_ok=True)
        started = time.perf_counter()
        build(args.db, args.members)
        print(f"store with {args.members:,} members built in {time.perf_counter() - started:.1f} s")
    work = Path(tempfile.mkdtemp(prefix="profilo-activation-"))
    port_file = work / "port"
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--side", "receiver", "--folder", str(port_file)]
    )
    try:
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = int(port_file.read_text())
        results: dict[str, list[dict[str, Any]]] = {}
        names = ["engine webhook", "bare webhook", "engine parquet", "bare parquet"]
        for turn in range(args.repeat):
            for name in names if turn % 2 == 0 else names[::-1]:
                copy = work / "store.duckdb"
                shutil.copyfile(args.db, copy)
                # on disk before the side starts: the copy is this script's setup, and its dirty
                # pages would otherwise be flushed by the engine's first commit (timed) while the
                # bare sides, which commit nothing, never wait for them
                with open(copy, "rb+") as handle:
                    os.fsync(handle.fileno())
                folder = work / "out"
                shutil.rmtree(folder, ignore_errors=True)
                done = subprocess.run(
                    [sys.executable, __file__, "--side", name, "--db", str(copy),
                     "--port", str(port), "--folder", str(folder)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results.setdefault(name, []).append(result)
                print(
                    f"  {name:<15} {result['sent']:>9,} sent in {result['seconds']:6.2f} s,"
                    f" peak {result['peak_mb']:6.0f} MB",
                    flush=True,
                )
                copy.unlink()
    finally:
        receiver.kill()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'side':<16}{'seconds':>9}{'members/s':>12}{'peak MB':>9}")
    median = {}
    for name, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        sent = runs[0]["sent"]
        median[name] = sent / seconds
        peak = statistics.median(r["peak_mb"] for r in runs)
        print(f"{name:<16}{seconds:>9.2f}{sent / seconds:>12,.0f}{peak:>9.0f}")
    for target in ("webhook", "parquet"):
        ratio = median[f"engine {target}"] / median[f"bare {target}"]
        print(f"engine / bare, {target}: {ratio:.2f} (goal ≥ 0.5)")


if __name__ == "__main__":
    main()
