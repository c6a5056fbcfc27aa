"""Reports on what was collected: per-source quality (completeness, validity, quarantine) and status."""

from __future__ import annotations

from typing import Any

from profilo.store import TABLES, Store

__all__ = ["quality_report", "status_report"]


def _rows(store: Store, expr: Any) -> list[dict[str, Any]]:
    return store.to_arrow(expr).to_pylist()


def quality_report(store: Store, source: str | None = None) -> list[dict[str, Any]]:
    """One entry per source: rows, completeness and validity per field, duplicate keys, quarantine.

    Completeness is the share of the source's rows where the field is present; validity is the
    share of present values that passed validation.
    """
    events = store.table("events")
    ids = store.table("observed_identifiers")
    traits = store.table("observed_traits")
    quarantine = store.table("quarantine")
    imports = store.table("imports")
    if source is not None:
        events = events.filter(events.source == source)
        ids = ids.filter(ids.source == source)
        traits = traits.filter(traits.source == source)
        quarantine = quarantine.filter(quarantine.source == source)
        imports = imports.filter(imports.source == source)
    sources = store.table("sources")
    report: dict[str, dict[str, Any]] = {}
    for row in _rows(
        store, sources.select("source", "party", "category", "origin").order_by("source")
    ):
        if source is None or row["source"] == source:
            report[row["source"]] = {
                **row,
                "rows": 0,
                "fields": [],
                "quarantine": {},
                "duplicate_keys": 0,
                "last_import": None,
            }
    for row in _rows(store, events.group_by("source").aggregate(rows=events.count())):
        report.setdefault(
            row["source"],
            {
                "source": row["source"],
                "fields": [],
                "quarantine": {},
                "duplicate_keys": 0,
                "last_import": None,
            },
        )["rows"] = row["rows"]
    for table, name_col, kind in ((ids, "id_type", "identifier"), (traits, "trait", "trait")):
        agg = (
            table.group_by(["source", name_col])
            .aggregate(
                present=table.count(),
                valid=table.is_valid.ifelse(1, 0).sum(),
                distinct=table.value.nunique(),
            )
            .order_by(["source", name_col])
        )
        for row in _rows(store, agg):
            entry = report.get(row["source"])
            if entry is None:
                continue
            rows = entry.get("rows") or 0
            entry["fields"].append(
                {
                    "field": row[name_col],
                    "kind": kind,
                    "present": row["present"],
                    "completeness": round(row["present"] / rows, 4) if rows else None,
                    "validity": round((row["valid"] or 0) / row["present"], 4)
                    if row["present"]
                    else None,
                    "distinct": row["distinct"],
                }
            )
    agg = (
        quarantine.group_by(["source", "reason"])
        .aggregate(n=quarantine.count())
        .order_by(["source", "reason"])
    )
    for row in _rows(store, agg):
        if row["source"] in report:
            report[row["source"]]["quarantine"][row["reason"]] = row["n"]
    latest = imports.order_by(imports.started_at.desc())
    for row in _rows(
        store,
        latest.select(
            "source",
            "status",
            "started_at",
            "rows_read",
            "rows_duplicate_key",
            "rows_quarantined",
            "error",
        ),
    ):
        entry = report.get(row["source"])
        if entry is not None and entry["last_import"] is None:
            entry["duplicate_keys"] = row["rows_duplicate_key"]
            entry["last_import"] = {
                "status": row["status"],
                "started_at": row["started_at"].isoformat() if row["started_at"] else None,
                "rows_read": row["rows_read"],
                "quarantined": row["rows_quarantined"],
                "error": row["error"],
            }
    return list(report.values())


def status_report(store: Store) -> dict[str, Any]:
    """Rows per table, and per source for the tables that have a source column."""
    per_source: dict[str, dict[str, int]] = {}
    for name in ("events", "observed_identifiers", "observed_traits", "consents", "quarantine"):
        table = store.table(name)
        for row in _rows(store, table.group_by("source").aggregate(n=table.count())):
            per_source.setdefault(row["source"], {})[name] = row["n"]
    for counts in per_source.values():
        for name in ("events", "observed_identifiers", "observed_traits", "consents", "quarantine"):
            counts.setdefault(name, 0)
    return {
        "store": str(store.url),
        "workspace": store.workspace,
        "schema_version": store.schema_version(),
        "tables": {name: n for name, n in store.count_rows().items() if name in TABLES},
        "sources": dict(sorted(per_source.items())),
    }
