"""Each profile's events and consents, keyed by profile: what every later step reads.

The identity step maps records (source, record key) to profiles; this step writes
``profile_events`` (the raw events of each profile's records, with their properties) and
``profile_consents`` (each profile's current consent per purpose: the latest change among its
records; on a tie, ``denied`` wins). A full refresh rewrites both from scratch, sorted by profile
so an engine without indexes still finds one profile's rows quickly; an incremental one rewrites
the records the identity step resolved since the last refresh (its ``resolved_at``) and the
profiles whose consents changed, and reports every profile it touched (old and new owners of a
moved record alike), so traits and segments can follow for those profiles only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from profilo.store import Store

__all__ = [
    "EVENT_COLUMNS",
    "ProfileRefresh",
    "attributed_events",
    "current_consents",
    "refresh_profiles",
]

EVENT_COLUMNS = (
    "profile_id",
    "message_id",
    "source",
    "record_key",
    "type",
    "event",
    "timestamp",
    "properties",
)
_KEY = ["source", "record_key"]
_STEP_RECORDS = "profile_events"
_STEP_CONSENTS = "profile_consents"
_CHUNK_ROWS = 2_000_000
"""Events a full refresh reads and writes at a time (memory stays flat whatever the store holds)."""


@dataclass
class ProfileRefresh:
    """What one refresh did. ``profiles`` lists the touched profile ids (None after a full one)."""

    mode: str
    events: int = 0
    consents: int = 0
    records: int = 0
    seconds: float = 0.0
    profiles: pa.Table | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        touched = None if self.profiles is None else self.profiles.num_rows
        return {
            "mode": self.mode,
            "events": self.events,
            "consents": self.consents,
            "records": self.records,
            "profiles_touched": touched,
            "seconds": self.seconds,
        }


def attributed_events(store: Store, records: ir.Table | None = None) -> ir.Table:
    """Events joined to the profile of their record (optionally only ``records``' records)."""
    events = store.table("events")
    graph = store.table("identity_records")
    if records is not None:
        graph = graph.semi_join(records, _KEY)
    joined = events.join(
        graph, [events.source == graph.source, events.record_key == graph.record_key]
    )
    return joined.select(
        profile_id=graph.profile_id,
        message_id=events.message_id,
        source=events.source,
        record_key=events.record_key,
        type=events.type,
        event=events.event,
        timestamp=events.timestamp,
        properties=events.properties,
    )


def current_consents(store: Store, profiles: ir.Table | None = None) -> ir.Table:
    """Each profile's latest consent change per purpose (a tie goes to ``denied``)."""
    consents = store.table("consents")
    graph = store.table("identity_records")
    if profiles is not None:
        graph = graph.semi_join(profiles, "profile_id")
    joined = consents.join(
        graph, [consents.source == graph.source, consents.record_key == graph.record_key]
    ).select(
        profile_id=graph.profile_id,
        purpose=consents.purpose,
        status=consents.status,
        changed_at=ibis.coalesce(consents.consented_at, consents.recorded_at),
        source=consents.source,
        record_key=consents.record_key,
    )
    rank = ibis.row_number().over(
        group_by=["profile_id", "purpose"],
        order_by=[ibis.desc("changed_at"), "status", "source", "record_key"],
    )
    ranked = joined.mutate(rank=rank)
    return ranked.filter(ranked.rank == 0).drop("rank")


def _watermark(store: Store, step: str) -> datetime | None:
    table = store.table("profile_refreshes")
    rows = store.to_arrow(table.filter(table.step == step).select("watermark"))
    return rows.column("watermark")[0].as_py() if rows.num_rows else None


def _set_watermark(store: Store, step: str, value: datetime | None) -> None:
    store.upsert(
        "profile_refreshes",
        {"step": step, "watermark": value, "updated_at": datetime.now(UTC)},
        key=["step"],
    )


def _max(store: Store, table: str, column: str) -> datetime | None:
    value = store.scalar(store.table(table)[column].max())
    if value is None or value != value:  # an empty table: None, or NaT (never equal to itself)
        return None
    stamp: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _profile_chunks(store: Store) -> list[list[str]]:
    """Groups of profile-id prefixes holding about ``_CHUNK_ROWS`` records each, in order."""
    graph = store.table("identity_records")
    prefix = graph.profile_id.substr(0, 6)
    counts = store.to_arrow(
        graph.group_by(prefix=prefix).aggregate(rows=graph.count()).order_by("prefix")
    )
    chunks: list[list[str]] = []
    size = _CHUNK_ROWS
    for name, rows in zip(
        counts.column("prefix").to_pylist(), counts.column("rows").to_pylist(), strict=True
    ):
        if size + rows > _CHUNK_ROWS and (not chunks or chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(name)
        size += rows
    return chunks


def _full(store: Store, report: ProfileRefresh) -> None:
    with store.transaction():
        store.replace_rows("profile_events", None, all_rows=True)
        for chunk in _profile_chunks(store):
            rows = attributed_events(store)
            rows = rows.filter(rows.profile_id.substr(0, 6).isin(chunk))
            data = store.to_arrow(rows.order_by("profile_id", "timestamp", "message_id"))
            store.replace_rows("profile_events", data)
            report.events += data.num_rows
        consents = store.to_arrow(current_consents(store).order_by("profile_id", "purpose"))
        store.replace_rows("profile_consents", consents, all_rows=True)
        report.consents = consents.num_rows


def _touched(store: Store, since: datetime | None, until: datetime | None) -> pa.Table:
    graph = store.table("identity_records")
    if since is not None:
        graph = graph.filter(graph.resolved_at > since)
    if until is not None:
        graph = graph.filter(graph.resolved_at <= until)
    return store.to_arrow(graph.select("source", "record_key", "profile_id"))


def _consent_profiles(store: Store, since: datetime | None, until: datetime | None) -> pa.Table:
    consents = store.table("consents")
    if since is not None:
        consents = consents.filter(consents.recorded_at > since)
    if until is not None:
        consents = consents.filter(consents.recorded_at <= until)
    graph = store.table("identity_records")
    rows = graph.semi_join(consents.select(*_KEY), _KEY).select("profile_id").distinct()
    return store.to_arrow(rows)


def _incremental(
    store: Store, report: ProfileRefresh, records: pa.Table, consent_profiles: pa.Table
) -> None:
    record_keys = records.select(_KEY)
    old = store.table("profile_events")
    moved = pa.table({"profile_id": pa.array([], pa.string())})
    if records.num_rows:
        moved = store.to_arrow(
            old.semi_join(ibis.memtable(record_keys), _KEY).select("profile_id").distinct()
        )
    touched = pa.concat_tables(
        [
            records.select(["profile_id"]),
            moved.select(["profile_id"]).cast(records.select(["profile_id"]).schema),
            consent_profiles.select(["profile_id"]).cast(records.select(["profile_id"]).schema),
        ]
    )
    touched = touched.group_by("profile_id").aggregate([])
    report.profiles = touched
    report.records = records.num_rows
    if not touched.num_rows:
        return
    with store.transaction():
        if records.num_rows:
            data = store.to_arrow(
                attributed_events(store, ibis.memtable(record_keys)).order_by(
                    "profile_id", "timestamp", "message_id"
                )
            )
            store.replace_rows("profile_events", data, match=record_keys)
            report.events = data.num_rows
        consents = store.to_arrow(current_consents(store, ibis.memtable(touched)))
        store.replace_rows("profile_consents", consents, match=touched)
        report.consents = consents.num_rows


def refresh_profiles(store: Store, *, full: bool = False) -> ProfileRefresh:
    """Bring ``profile_events`` and ``profile_consents`` up to date with the identity graph.

    The first run, or ``full=True``, rebuilds both; later runs rewrite what changed since.

    >>> from profilo.store import open_store
    >>> refresh_profiles(open_store("duckdb://:memory:", migrate=True)).mode
    'full'
    """
    started = time.perf_counter()
    since_records = None if full else _watermark(store, _STEP_RECORDS)
    since_consents = None if full else _watermark(store, _STEP_CONSENTS)
    until_records = _max(store, "identity_records", "resolved_at")
    until_consents = _max(store, "consents", "recorded_at")
    incremental = since_records is not None
    records = consent_profiles = None
    if incremental:
        records = _touched(store, since_records, until_records)
        consent_profiles = _consent_profiles(store, since_consents, until_consents)
        total = int(store.scalar(store.table("identity_records").count()))
        # past half of a big graph (an identity rebuild), rewriting everything is cheaper
        incremental = records.num_rows <= total // 2 or total < _CHUNK_ROWS // 100
    report = ProfileRefresh(mode="incremental" if incremental else "full")
    if incremental:
        assert records is not None and consent_profiles is not None
        _incremental(store, report, records, consent_profiles)
    else:
        _full(store, report)
        report.records = int(store.scalar(store.table("identity_records").count()))
    with store.transaction():
        _set_watermark(store, _STEP_RECORDS, until_records or datetime(1970, 1, 1, tzinfo=UTC))
        _set_watermark(store, _STEP_CONSENTS, until_consents or datetime(1970, 1, 1, tzinfo=UTC))
    report.seconds = round(time.perf_counter() - started, 3)
    return report
