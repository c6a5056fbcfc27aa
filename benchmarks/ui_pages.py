"""Web UI pages under ``profilo serve``: time to answer each page, with a session, on a demo store.

Run: .venv/bin/profilo --store duckdb:///var/demo.duckdb demo --customers 10000   # once
     .venv/bin/python benchmarks/ui_pages.py --store duckdb:///var/demo.duckdb [--repeat 7]

The script starts ``profilo serve`` on the store (a DuckDB file: every page's data is read by the
store worker, the way ``make demo`` serves it), logs in as the demo's admin (``demo``/``demo``),
finds a customer and a segment, then requests each page ``--repeat`` times in turn and prints the
median and the slowest time per page (goal: every median under 300 ms), and the same for the
builder's live estimate of a two-condition rule. The server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from _serving import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[1]
RULE = {"all": [{"trait": "country", "op": "eq", "value": "FR"}, {"event": "Order Completed"}]}


def _log_in(client: httpx.Client) -> None:
    form = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post(
        "/ui/login",
        data={"username": "demo", "password": "demo", "csrf": token.group(1), "next": "/ui/"},
    )
    if "profilo_session" not in client.cookies:
        raise SystemExit(f"log-in as demo/demo failed ({done.status_code}); run `profilo demo`")


def _pages(client: httpx.Client) -> list[str]:
    pages = ["/ui/", "/ui/profiles?q=mar", "/ui/segments", "/ui/segments/new", "/ui/sources"]
    pages += ["/ui/sources/crm_contacts", "/ui/sources/web_tracking", "/ui/destinations"]
    pages += ["/ui/privacy"]
    found = re.search(r'href="/ui/profiles/(prf_[0-9a-f]+)"', client.get(pages[1]).text)
    if found:
        pages.append(f"/ui/profiles/{found.group(1)}")
    listed = client.get("/ui/segments").text.replace("/ui/segments/new", "")
    segment = re.search(r'href="/ui/segments/([a-z][a-z0-9_]*)"', listed)
    if segment:
        pages.append(f"/ui/segments/{segment.group(1)}")
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/profilo"), "--store", args.store, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PROFILO_LOG_LEVEL": "warning"},
    )
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, timeout=60) as client:
            _log_in(client)
            pages = _pages(client)
            csrf = re.search(r'data-csrf="([^"]+)"', client.get("/ui/segments/new").text)
            assert csrf is not None
            times: dict[str, list[float]] = {p: [] for p in [*pages, "estimate"]}
            for _ in range(args.repeat):
                for page in pages:
                    started = time.perf_counter()
                    answer = client.get(page)
                    times[page].append((time.perf_counter() - started) * 1000)
                    if answer.status_code != 200:
                        raise SystemExit(f"{page} answered {answer.status_code}")
                started = time.perf_counter()
                answer = client.post(
                    "/ui/api/estimate", json={"rule": RULE}, headers={"X-CSRF-Token": csrf.group(1)}
                )
                times["estimate"].append((time.perf_counter() - started) * 1000)
                assert answer.json()["ok"], answer.text
        print(f"{'page':<42} {'median ms':>10} {'max ms':>8}")
        for page, measured in times.items():
            shown = "POST /ui/api/estimate (2 conditions)" if page == "estimate" else page
            print(f"{shown:<42} {statistics.median(measured):>10.1f} {max(measured):>8.1f}")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
