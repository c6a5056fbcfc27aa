"""Import throughput: 1,000,000 order rows from CSV with normalisation, against DuckDB's raw load.

Run: .venv/bin/python benchmarks/import_throughput.py [--rows 1000000] [--repeat 5]

It writes a seeded orders CSV (100,000 customers; e-mails with case and space noise, French
phones in mixed formats, ISO times with offsets, French decimal commas), then, each in a process of
its own so peak memory is measured per run:
  raw      DuckDB: CREATE TABLE AS SELECT * FROM read_csv(file) — the ceiling for this engine;
  profilo  `import_source` into a fresh DuckDB store: parse, normalise (e-mail, phone, time, amount),
           quarantine bad rows, write events + observed identifiers.
and prints rows/s, CPU seconds, peak memory and the ratio of the two speeds (goal: Profilo ≥ 25% of
raw, memory < 2 GB). On a busy machine, ``--repeat N`` runs the two sides N times in turn and
reports the median ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def write_orders(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    customers = 100_000
    first = np.array(
        ["anne", "jean", "marie", "louis", "chloé", "hélène", "paul", "emma", "tom", "léa"]
    )
    last = np.array(["martin", "dubois", "lefèvre", "smith", "brown", "moreau", "garcia", "roux"])
    domains = np.array(["gmail.com", "orange.fr", "free.fr", "yahoo.co.uk", "outlook.com"])
    cf = rng.integers(0, len(first), customers)
    cl = rng.integers(0, len(last), customers)
    cd = rng.integers(0, len(domains), customers)
    emails = np.array(
        [
            f"{first[a]}.{last[b]}{i}@{domains[c]}"
            for i, (a, b, c) in enumerate(zip(cf, cl, cd, strict=True))
        ]
    )
    phones = np.array([f"06{n:08d}" for n in rng.integers(0, 10**8, customers)])
    start = np.datetime64("2024-01-01T00:00:00")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "email", "phone", "ordered_at", "total", "currency", "items"])
        chunk = 100_000
        for offset in range(0, rows, chunk):
            n = min(chunk, rows - offset)
            who = rng.integers(0, customers, n)
            noise = rng.random(n)
            mail = emails[who]
            mail = np.where(noise < 0.1, np.char.upper(mail), mail)
            mail = np.where((noise > 0.1) & (noise < 0.15), np.char.add(" ", mail), mail)
            phone = phones[who]
            fmt = rng.random(n)
            seconds = rng.integers(0, 3 * 365 * 86400, n)
            when = (start + seconds.astype("timedelta64[s]")).astype(str)
            totals = rng.gamma(2.0, 40.0, n).round(2)
            for i in range(n):
                p = phone[i]
                if fmt[i] < 0.3:
                    p = " ".join(p[j : j + 2] for j in range(0, 10, 2))
                elif fmt[i] < 0.5:
                    p = "+33" + p[1:]
                total = f"{totals[i]:.2f}"
                if fmt[i] > 0.8:
                    total = total.replace(".", ",")
                writer.writerow(
                    [
                        f"O{offset + i:08d}",
                        mail[i],
                        p,
                        f"{when[i]}+01:00",
                        total,
                        "EUR",
                        int(fmt[i] * 5) + 1,
                    ]
                )


MAPPING = {
    "source": "orders",
    "category": "ecommerce",
    "format": "csv",
    "default_country": "FR",
    "key": ["order_id"],
    "identifiers": [{"column": "email", "type": "email"}, {"column": "phone", "type": "phone"}],
    "event": {
        "name": "Order Completed",
        "timestamp": {"column": "ordered_at", "type": "datetime"},
        "properties": {
            "order_id": "order_id",
            "revenue": {"column": "total", "type": "float"},
            "currency": "currency",
            "items": {"column": "items", "type": "integer"},
        },
    },
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_raw(csv_path: Path, db: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(str(db))
    started, cpu = time.perf_counter(), _cpu()
    con.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv('{csv_path}')")
    rows = con.execute("SELECT count(*) FROM orders").fetchone()[0]  # type: ignore[index]
    con.close()
    return {"rows": rows, "seconds": time.perf_counter() - started, "cpu_seconds": _cpu() - cpu}


def run_profilo(csv_path: Path, db: Path, batch_rows: int | None = None) -> dict[str, float]:
    from profilo.collect import import_source, parse_mapping
    from profilo.store import open_store

    store = open_store(f"duckdb:///{db}", migrate=True)
    mapping = parse_mapping({**MAPPING, "path": str(csv_path)})
    started, cpu = time.perf_counter(), _cpu()
    result = import_source(store, mapping, batch_rows=batch_rows)
    store.close()  # timed like the raw side's: the file is complete when the connection closes
    return {
        "rows": result.rows_read,
        "stored": result.inserted,
        "quarantined": result.quarantined,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu() - cpu,
    }


def child(phase: str, csv_path: Path, db: Path, batch_rows: int | None) -> None:
    result = run_raw(csv_path, db) if phase == "raw" else run_profilo(csv_path, db, batch_rows)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_phase(phase: str, args: argparse.Namespace) -> dict[str, float]:
    """One side in a process of its own, on a fresh DuckDB file."""
    db = args.workdir / f"{phase}.duckdb"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--rows", str(args.rows), "--workdir", str(args.workdir)]
    command += ["--phase", phase, "--batch-rows", str(args.batch_rows)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/profilo-bench"))
    parser.add_argument("--phase", choices=["raw", "profilo"])
    parser.add_argument(
        "--batch-rows", type=int, default=0, help="rows per import batch (0: the store's choice)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs of runs, the two sides taking turns"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv_path = args.workdir / f"orders_{args.rows}.csv"
    if args.phase:
        child(args.phase, csv_path, args.workdir / f"{args.phase}.duckdb", args.batch_rows or None)
        return
    if not csv_path.exists():
        t = time.perf_counter()
        write_orders(csv_path, args.rows)
        print(
            f"wrote {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )
    print(
        f"{'run':<14}{'rows':>11}{'seconds':>9}{'rows/s':>10}{'CPU s':>8}{'peak MB':>9}{'ratio':>7}"
    )
    ratios, peaks = [], []
    for turn in range(1, args.repeat + 1):
        raw, ours = run_phase("raw", args), run_phase("profilo", args)
        ratio = raw["seconds"] / ours["seconds"]  # rows are the same on both sides
        ratios.append(ratio)
        peaks.append(ours["peak_mb"])
        for name, run in ((f"{turn} duckdb raw", raw), (f"{turn} profilo", ours)):
            print(
                f"{name:<14}{run['rows']:>11,}{run['seconds']:>9.2f}"
                f"{run['rows'] / run['seconds']:>10,.0f}{run['cpu_seconds']:>8.1f}"
                f"{run['peak_mb']:>9.0f}" + (f"{ratio:>7.2f}" if run is ours else "")
            )
        print(
            f"  load average {os.getloadavg()[0]:.2f}; stored {ours['stored']:,},"
            f" quarantined {ours['quarantined']:,}"
        )
    print(
        f"ratio profilo/raw: median {statistics.median(ratios):.2f} of {len(ratios)}"
        f" (goal ≥ 0.25); peak memory {max(peaks):.0f} MB (goal < 2048)"
    )


if __name__ == "__main__":
    main()
