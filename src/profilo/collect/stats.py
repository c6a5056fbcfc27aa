"""What the tracking API took in, per source: received, stored, duplicate, conflicting, quarantined."""

from __future__ import annotations

from typing import Any

from profilo.collect.report import status_report
from profilo.store import Store

__all__ = ["COUNTERS", "collect_counts", "collect_status"]

COUNTERS = ("received", "stored", "duplicates", "conflicts", "quarantined")


def collect_counts(store: Store) -> dict[str, dict[str, int]]:
    """The loader's counters per source (only sources that received tracking messages)."""
    stats = store.table("collect_stats")
    rows = store.to_arrow(stats.select("source", *COUNTERS).order_by("source")).to_pylist()
    return {row.pop("source"): {k: int(v or 0) for k, v in row.items()} for row in rows}


def collect_status(store: Store) -> dict[str, Any]:
    """``profilo status``'s report, with each tracking source's counters under ``collect``.

    ``events`` and ``quarantine`` count rows (what is stored); ``collect.duplicates`` counts the
    client retries and repeats that were not stored again, which leave no row to count.
    """
    report = status_report(store)
    for source, counts in collect_counts(store).items():
        entry = report["sources"].setdefault(
            source,
            {
                "events": 0,
                "observed_identifiers": 0,
                "observed_traits": 0,
                "consents": 0,
                "quarantine": 0,
            },
        )
        entry["collect"] = counts
    return report
