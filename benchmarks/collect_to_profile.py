"""Seconds from a collected identify to its traits in the golden profile, under ``profilo serve``.

Copies a demo DuckDB store (made by ``profilo demo --no-serve``) to a temporary folder, serves it
with the default settings (so the store worker runs the pipeline by itself), and for each round
sends an identify with a new user id, e-mail and name to ``/v1/identify``, then polls
``/profiles/lookup`` every 50 ms until the golden record holds the name. The time counts from the
identify's answer (stored in the spool) to the first lookup that shows it. Rounds are spaced six
seconds apart (after a lull), or, with ``--trickle``, 3.7 s apart while another client sends a
track every 0.3 s (messages keep arriving, so runs are debounced).

    .venv/bin/profilo --store duckdb:///var/demo.duckdb demo --no-serve
    .venv/bin/python benchmarks/collect_to_profile.py var/demo.duckdb            # about 45 s
    .venv/bin/python benchmarks/collect_to_profile.py var/demo.duckdb --trickle
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from _serving import free_port, wait_ready


def _trickle(url: str, key: str, stop: threading.Event) -> None:
    n = 0
    with httpx.Client(auth=(key, "")) as http:
        while not stop.is_set():
            n += 1
            http.post(f"{url}/v1/track", json={"userId": f"t-{n % 50}", "event": "Product Viewed"})
            stop.wait(0.3)


def _rounds(url: str, token: str, key: str, rounds: int, spacing: float) -> list[dict[str, Any]]:
    admin = {"Authorization": f"Bearer {token}"}
    done = []
    with httpx.Client(base_url=url) as http:
        for _ in range(rounds):
            time.sleep(spacing)
            user = f"bench-{uuid.uuid4().hex[:8]}"
            traits = {"email": f"{user}@acme-shop.fr", "name": "Ann Bench"}
            answer = http.post(
                "/v1/identify", json={"userId": user, "traits": traits}, auth=(key, "")
            )
            answer.raise_for_status()
            sent = time.monotonic()
            while True:
                found = http.get(
                    "/profiles/lookup", params={"identifier": f"user_id:{user}"}, headers=admin
                )
                if found.status_code == 200 and found.json()["traits"].get("name") == "Ann Bench":
                    break
                time.sleep(0.05)
            took = time.monotonic() - sent
            pipeline = http.get("/ready").json()["pipeline"]
            done.append({"seconds": round(took, 2), "last_run": pipeline})
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store_file", type=Path, help="a demo DuckDB file (copied, not changed)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--trickle", action="store_true", help="messages keep arriving")
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="profilo-bench-") as tmp:
        store = Path(tmp) / "demo.duckdb"
        shutil.copy(args.store_file, store)
        key_file = args.store_file.with_name(args.store_file.name + ".key")
        if key_file.exists():
            shutil.copy(key_file, store.with_name(store.name + ".key"))
        port, token = free_port(), uuid.uuid4().hex
        env = {
            **os.environ,
            "PROFILO_STORE": f"duckdb:///{store}",
            "PROFILO_ADMIN_TOKEN": token,
            "PROFILO_LOG_LEVEL": "warning",
        }
        url = f"http://127.0.0.1:{port}"
        with open(Path(tmp) / "serve.log", "w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "profilo", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=log,
            )
            stop = threading.Event()
            try:
                wait_ready(url)
                sources = httpx.get(
                    f"{url}/admin/sources", headers={"Authorization": f"Bearer {token}"}
                )
                key = next(s["write_key"] for s in sources.json() if s["source"] == "website")
                if args.trickle:
                    threading.Thread(target=_trickle, args=(url, key, stop), daemon=True).start()
                results = _rounds(url, token, key, args.rounds, 3.7 if args.trickle else 6.0)
            finally:
                stop.set()
                server.terminate()
                server.wait(60)
    seconds = [r["seconds"] for r in results]
    summary = {
        "mode": "trickle" if args.trickle else "after a lull",
        "seconds": seconds,
        "median": statistics.median(seconds),
        "max": max(seconds),
        "run_seconds": [r["last_run"]["last_seconds"] for r in results],
        "load_average": os.getloadavg(),
    }
    if args.json:
        sys.stdout.write(json.dumps({**summary, "rounds": results}, indent=2) + "\n")
        return
    print(
        f"{summary['mode']}: identify → trait in the golden profile in {summary['median']:.2f} s"
        f" (median of {len(seconds)}; max {summary['max']:.2f} s; each {seconds});"
        f" automatic runs took {summary['run_seconds']} s; load average {summary['load_average']}"
    )


if __name__ == "__main__":
    main()
