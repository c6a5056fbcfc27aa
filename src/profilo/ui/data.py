"""What the overview, sources, destinations and privacy pages show: plain data read from the store.

Every function here is module-level, takes a store and plain keyword arguments and returns plain
data (dicts, lists, numbers, datetimes), so the page handlers can run it through the store runner
wherever the store lives (see :mod:`profilo.store.runner`).
"""

from __future__ import annotations

import json
import weakref
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis

from profilo.access import mask_tree
from profilo.activate import delivery_counts, get_destination, list_destinations, replay_dead
from profilo.collect import list_quarantine
from profilo.collect.report import quality_report
from profilo.errors import NotFound
from profilo.store import Store
from profilo.ui._tables import table

__all__ = [
    "ANONYMOUS_TYPES",
    "destinations_page",
    "overview",
    "privacy_page",
    "replay_dead_letters",
    "source_page",
    "sources_page",
]

ANONYMOUS_TYPES = ("anonymous_id", "device_id")
"""Identifier types that do not tell who a person is: a profile with only these is anonymous."""
CHART_DAYS = 60


def _rows(store: Store, expr: Any) -> list[dict[str, Any]]:
    return list(store.to_arrow(expr).to_pylist())


def _events_per_day(
    store: Store, latest: datetime | None, days: int = CHART_DAYS
) -> list[dict[str, Any]]:
    """Events per day over the ``days`` up to the latest event (demo data may end in the past)."""
    events = table(store, "events")
    if latest is None:
        return []
    end = latest.date() if isinstance(latest, datetime) else date.today()
    start = end - timedelta(days=days - 1)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    recent = events.filter(events.timestamp >= ibis.literal(since, type="timestamp('UTC')"))
    per_day = recent.group_by(day=recent.timestamp.date()).aggregate(n=recent.count())
    counts = {row["day"]: int(row["n"]) for row in _rows(store, per_day)}
    return [
        {"day": start + timedelta(days=i), "n": counts.get(start + timedelta(days=i), 0)}
        for i in range(days)
    ]


def _segment_history(
    store: Store, active: list[dict[str, Any]], limit: int = 6
) -> dict[str, list[dict[str, Any]]]:
    """Members of the largest segments after each run that changed them (from entries and exits)."""
    top = sorted(active, key=lambda r: (-(r["members"] or 0), r["name"]))[:limit]
    if not top:
        return {}
    changes = table(store, "membership_changes")
    names = [row["name"] for row in top]
    per_day = (
        changes.filter(changes.segment.isin(names))
        .group_by(["segment", changes.changed_at.date().name("day")])
        .aggregate(
            delta=(changes.change == "enter").ifelse(1, -1).sum(),
        )
        .order_by(["segment", "day"])
    )
    history: dict[str, list[dict[str, Any]]] = {(row["title"] or row["name"]): [] for row in top}
    title = {row["name"]: row["title"] or row["name"] for row in top}
    running: dict[str, int] = {}
    for row in _rows(store, per_day):
        running[row["segment"]] = running.get(row["segment"], 0) + int(row["delta"])
        history[title[row["segment"]]].append({"day": row["day"], "n": running[row["segment"]]})
    return history


def overview(store: Store) -> dict[str, Any]:
    """Profiles, known and anonymous, sources, events per day, identity figures, segments."""
    profiles = table(store, "profiles")
    heads = _rows(
        store,
        profiles.aggregate(n=profiles.count(), multi=(profiles.records > 1).ifelse(1, 0).sum()),
    )[0]
    n_profiles, multi = int(heads["n"] or 0), int(heads["multi"] or 0)
    ids = table(store, "identities")
    known = int(
        store.scalar(
            ids.filter(
                ids.profile_id.notnull(), ~ids.id_type.isin(ANONYMOUS_TYPES)
            ).profile_id.nunique()
        )
    )
    graph = table(store, "identity_records")
    n_records = int(store.scalar(graph.count()))
    pairs = table(store, "match_pairs")
    review = int(store.scalar(pairs.filter(pairs.status == "pending").count()))
    merges = table(store, "merges")
    splits = int(store.scalar(merges.filter(merges.kind.isin(["split", "never_same"])).count()))
    events = table(store, "events")
    per_source = {
        row["source"]: row
        for row in _rows(
            store,
            events.group_by("source").aggregate(
                events=events.count(), last_event=events.timestamp.max()
            ),
        )
    }
    imports = table(store, "imports")
    last_import = {
        row["source"]: row["last_import"]
        for row in _rows(
            store, imports.group_by("source").aggregate(last_import=imports.started_at.max())
        )
    }
    sources = [
        {
            "source": row["source"],
            "category": row["category"],
            "party": row["party"],
            "origin": row["origin"],
            "events": int(per_source.get(row["source"], {}).get("events") or 0),
            "last_event": per_source.get(row["source"], {}).get("last_event"),
            "last_import": last_import.get(row["source"]),
        }
        for row in _rows(
            store,
            table(store, "sources")
            .select("source", "category", "party", "origin")
            .order_by("source"),
        )
    ]
    segments = table(store, "segments")
    active = _rows(
        store,
        segments.filter(segments.archived_at.isnull()).select("name", "title", "members"),
    )
    latest = max((s["last_event"] for s in sources if s["last_event"] is not None), default=None)
    return {
        "profiles": n_profiles,
        "known": known,
        "anonymous": max(n_profiles - known, 0),
        "records": n_records,
        "records_per_profile": round(n_records / n_profiles, 2) if n_profiles else 0.0,
        "merged_profiles": multi,
        "merge_rate": round(1 - n_profiles / n_records, 4) if n_records else 0.0,
        "review_queue": review,
        "splits": splits,
        "events": sum(s["events"] for s in sources),
        "sources": sources,
        "events_per_day": _events_per_day(store, latest),
        "segments": len(active),
        "segment_history": _segment_history(store, active),
    }


def sources_page(store: Store, *, only: str | None = None) -> list[dict[str, Any]]:
    """Each source (or ``only`` one) with its kind, status, rows, last import or event, and
    quarantined rows."""
    events = table(store, "events")
    quarantine = table(store, "quarantine")
    imports = table(store, "imports")
    sources = table(store, "sources")
    if only is not None:
        events = events.filter(events.source == only)
        quarantine = quarantine.filter(quarantine.source == only)
        imports = imports.filter(imports.source == only)
        sources = sources.filter(sources.source == only)
    per_source = {
        row["source"]: row
        for row in _rows(
            store,
            events.group_by("source").aggregate(
                events=events.count(),
                last_event=events.timestamp.max(),
                last_received=events.received_at.max(),
            ),
        )
    }
    held = {
        row["source"]: int(row["n"])
        for row in _rows(
            store,
            quarantine.filter(quarantine.status == "open")
            .group_by("source")
            .aggregate(n=lambda t: t.count()),
        )
    }
    latest = imports.mutate(
        rank=ibis.row_number().over(group_by=imports.source, order_by=ibis.desc(imports.started_at))
    )
    last = {
        row["source"]: row
        for row in _rows(
            store,
            latest.filter(latest.rank == 0).select(
                "source", "status", "started_at", "finished_at", "rows_read", "error"
            ),
        )
    }
    out = []
    for row in _rows(
        store,
        sources.select("source", "category", "party", "origin", "write_key").order_by("source"),
    ):
        name = row["source"]
        run = last.get(name)
        counts = per_source.get(name, {})
        if run is not None and run["status"] not in ("succeeded", "running"):
            status = "failing"
        elif counts.get("events"):
            status = "receiving"
        else:
            status = "waiting"
        out.append(
            {
                "source": name,
                "category": row["category"],
                "party": row["party"],
                "origin": row["origin"],
                "tracking": row["write_key"] is not None,
                "status": status,
                "events": int(counts.get("events") or 0),
                "last_event": counts.get("last_event"),
                "last_received": counts.get("last_received"),
                "last_import": run,
                "quarantined": held.get(name, 0),
            }
        )
    return out


def _mapping(settings: Any) -> dict[str, Any]:
    data = json.loads(settings) if isinstance(settings, str) else (settings or {})
    return dict(data)


_QUALITY: weakref.WeakKeyDictionary[Store, dict[str, tuple[str, Any]]] = weakref.WeakKeyDictionary()


def _quality(store: Store, source: str, fingerprint: str) -> Any:
    """The source's quality report, computed again only when the source's data changed."""
    cached = _QUALITY.setdefault(store, {}).get(source)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    report = quality_report(store, source)
    found = report[0] if report else None
    _QUALITY[store][source] = (fingerprint, found)
    return found


def source_page(store: Store, *, source: str, masked: bool, limit: int = 50) -> dict[str, Any]:
    """One source: its mapping, quality report and quarantined rows with their reasons."""
    sources = table(store, "sources")
    found = _rows(store, sources.filter(sources.source == source))
    if not found:
        raise NotFound(f"unknown source {source!r}")
    row = found[0]
    mapping = _mapping(row["settings"])
    mapping.pop("write_key", None)
    summary = next(iter(sources_page(store, only=source)), None)
    # what the report depends on: rows, their last arrival, the last import, open quarantine
    fingerprint = repr(
        [summary.get(k) for k in ("events", "last_received", "last_import", "quarantined")]
        if summary
        else None
    )
    quarantined = list_quarantine(store, source=source, limit=limit)
    for entry in quarantined:
        if masked:
            entry["raw"] = None  # raw rows hold personal data in clear
        entry.pop("location", None)
    return {
        "source": source,
        "category": row["category"],
        "party": row["party"],
        "origin": row["origin"],
        "summary": summary,
        "mapping": mask_tree(mapping) if masked else mapping,
        "quality": _quality(store, source, fingerprint),
        "quarantine": quarantined,
    }


def privacy_page(store: Store) -> dict[str, Any]:
    """Current consent per purpose (granted, denied, unknown) and the changes of the last 30 days."""
    profiles = int(store.scalar(table(store, "profiles").count()))
    consents = table(store, "profile_consents")
    per_purpose: dict[str, dict[str, Any]] = {}
    for row in _rows(
        store,
        consents.group_by(["purpose", "status"]).aggregate(n=consents.count()).order_by("purpose"),
    ):
        entry = per_purpose.setdefault(
            row["purpose"], {"purpose": row["purpose"], "granted": 0, "denied": 0}
        )
        entry[row["status"] if row["status"] in ("granted", "denied") else "denied"] += int(
            row["n"]
        )
    raw = table(store, "consents")
    latest = store.scalar(raw.consented_at.max())
    recent: dict[str, dict[str, int]] = {}
    if latest is not None:
        since = latest - timedelta(days=30)
        window = raw.filter(raw.consented_at >= ibis.literal(since, type="timestamp('UTC')"))
        for row in _rows(store, window.group_by(["purpose", "status"]).aggregate(n=window.count())):
            recent.setdefault(row["purpose"], {})[row["status"]] = int(row["n"])
    purposes = []
    for purpose, entry in sorted(per_purpose.items()):
        entry["unknown"] = max(profiles - entry["granted"] - entry["denied"], 0)
        entry["rate"] = round(entry["granted"] / profiles, 4) if profiles else 0.0
        entry["recent"] = recent.get(purpose, {})
        purposes.append(entry)
    return {"profiles": profiles, "purposes": purposes, "latest_change": latest}


def destinations_page(store: Store) -> dict[str, Any]:
    """Destinations with their status, last sync and delivery counts, and the segment outbox."""
    outbox = table(store, "membership_outbox")
    pending = int(store.scalar(outbox.filter(outbox.delivered_at.isnull()).count()))
    delivered = int(store.scalar(outbox.filter(outbox.delivered_at.notnull()).count()))
    counts = delivery_counts(store)
    rows = []
    for stored in list_destinations(store):
        definition = stored.definition
        states = counts.get(definition.name, {})
        dead = states.get("dead", 0)
        waiting = states.get("pending", 0) + states.get("in_flight", 0)
        if not definition.enabled:
            status = "disabled"
        elif dead:
            status = "failing"
        elif stored.last_sync_at is None:
            status = "waiting"
        else:
            status = "syncing" if waiting else "up_to_date"
        rows.append(
            {
                "name": definition.name,
                "kind": definition.kind,
                "audiences": list(definition.audiences),
                "purposes": list(definition.purposes),
                "status": status,
                "last_sync": stored.last_sync_at,
                "delivered": states.get("delivered", 0),
                "skipped": states.get("skipped", 0) + states.get("superseded", 0),
                "pending": waiting,
                "dead_letters": dead,
            }
        )
    return {"destinations": rows, "outbox": {"pending": pending, "delivered": delivered}}


def replay_dead_letters(store: Store, *, destination: str) -> dict[str, int]:
    """Queue a destination's dead letters again (the next sync sends them)."""
    get_destination(store, destination)
    return replay_dead(store, destination, datetime.now(UTC))
