"""The loader: drains the tracking API's spool into the store, in large batches, exactly once.

Each :meth:`Loader.load_once` reads frames from the spool after the stored cursor, turns their
messages into records with :func:`~profilo.collect.messages.messages_to_records` (the same
function file imports use), and in **one transaction** appends them (first copy of a message id
wins), writes the quarantined ones, adds to the per-source counters and moves the cursor. A crash
before the commit leaves the cursor where it was, so the batch is read again; after the commit, it
is never read again. Duplicates are therefore only ever *client* retries, and are counted as such.

Spool segments are deleted by :meth:`Loader.release`, only after the store has made everything
before the cursor durable (a DuckDB CHECKPOINT; PostgreSQL commits with ``synchronous_commit``).

A batch the store refuses is split in halves until the one frame at fault is found; if the store
is healthy, that frame's messages are quarantined with the store's error (``store_rejected``)
rather than blocking every later message.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from profilo.collect.messages import messages_to_records
from profilo.collect.spool import Cursor, Frame, SpoolReader, spool_id
from profilo.collect.tracking import (
    RequestRejected,
    accept_messages,
    apply_batch_fields,
    as_received,
    fingerprint,
    parse_body,
)
from profilo.errors import StoreError
from profilo.store import RecordSet, Store

__all__ = ["LoadResult", "Loader", "quarantine_rows"]

log = logging.getLogger("profilo.collect.loader")

_TS = pa.timestamp("us", tz="UTC")
QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine_id", pa.string()),
        ("source", pa.string()),
        ("origin", pa.string()),
        ("location", pa.string()),
        ("reason", pa.string()),
        ("field", pa.string()),
        ("detail", pa.string()),
        ("raw", pa.string()),
        ("received_at", _TS),
        ("status", pa.string()),
    ]
)


@dataclass
class SourceCounts:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0

    def add(self, other: SourceCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class LoadResult:
    """What one load did, per source."""

    frames: int = 0
    cursor: Cursor = field(default_factory=lambda: Cursor(0, 0))
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    seconds: float = 0.0

    def total(self) -> SourceCounts:
        total = SourceCounts()
        for counts in self.sources.values():
            total.add(counts)
        return total


@dataclass
class _Batch:
    """Messages of many frames, grouped by source and deduplicated on messageId."""

    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    arrived: dict[str, list[datetime]] = field(default_factory=dict)
    prints: dict[str, dict[str, str]] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, SourceCounts] = field(default_factory=dict)


def read_frame(payload: bytes) -> dict[str, Any]:
    """A frame's JSON. The API writes a batch's messages into the frame as their text came when
    its fast reader found nothing wrong with them (see ``tracking.read_batch_short``), and that
    reader does not look inside values it skips: a number beyond the double range there (``1e400``),
    which JSON parsers refuse, reaches the frame. Such a frame is read leniently and its messages
    checked again, each bad one quarantined with the reason the API gives it (``invalid_number``)."""
    try:
        head: dict[str, Any] = orjson.loads(payload)
        return head
    except orjson.JSONDecodeError:
        pass
    try:
        head, _ = parse_body(payload)
    except RequestRejected as exc:
        raise StoreError(f"a spool frame cannot be read: {exc.message}") from None
    envelope = {"S": head.get("S"), "c": head.get("c"), "i": head.get("i")}
    checked = accept_messages(
        head.get("m") or [],
        envelope,
        source=head["s"],
        received_at=datetime.fromisoformat(head["t"]),
        lenient=True,
        origin=head.get("o", "api"),
    )
    again: dict[str, Any] = orjson.loads(checked.payload)
    again["q"] = [*(head.get("q") or []), *again["q"]]
    return again


def quarantine_id(source: str, reason: str, raw: str) -> str:
    """A stable id for a quarantined message, so a client's retry does not add a second row."""
    try:
        content = fingerprint(orjson.loads(raw))
    except orjson.JSONDecodeError:
        content = hashlib.md5(raw.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
    return (
        "q-"
        + hashlib.md5(f"{source}|{reason}|{content}".encode(), usedforsecurity=False).hexdigest()
    )


def quarantine_rows(rows: Sequence[dict[str, Any]]) -> pa.Table | None:
    """Quarantine rows as a table with the quarantine's columns."""
    if not rows:
        return None
    return pa.Table.from_pylist(list(rows), schema=QUARANTINE_SCHEMA)


def _quarantine_row(
    source: str,
    origin: str,
    reason: str,
    field_name: str | None,
    detail: str,
    raw: str,
    at: datetime,
) -> dict[str, Any]:
    try:
        message_id = orjson.loads(raw).get("messageId")
    except (orjson.JSONDecodeError, AttributeError):
        message_id = None
    return {
        "quarantine_id": quarantine_id(source, reason, raw),
        "source": source,
        "origin": origin,
        "location": f"messageId {message_id}" if isinstance(message_id, str) else None,
        "reason": reason,
        "field": field_name,
        "detail": detail,
        "raw": raw,
        "received_at": at,
        "status": "open",
    }


class Loader:
    """Moves messages from one spool into the store (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        spool_dir: Path,
        *,
        batch_bytes: int = 16 * 1024 * 1024,
        after_load: Sequence[Callable[[Store, LoadResult], None]] = (),
    ) -> None:
        self.store = store
        self.reader = SpoolReader(spool_dir)
        self.spool_id = spool_id(Path(spool_dir))
        self.batch_bytes = batch_bytes
        self.after_load = list(after_load)
        self.cursor = self._stored_cursor()
        self.totals = SourceCounts()
        self.loads = 0

    def _stored_cursor(self) -> Cursor:
        cursors = self.store.table("collect_cursors")
        rows = self.store.to_arrow(
            cursors.filter(cursors.spool_id == self.spool_id).select("segment", "byte_offset")
        ).to_pylist()
        if rows:
            return Cursor(int(rows[0]["segment"]), int(rows[0]["byte_offset"]))
        return self.reader.first_cursor()

    # -- loading -----------------------------------------------------------------------------

    def load_once(self) -> LoadResult | None:
        """Store the next batch of spooled frames; None when there was nothing new."""
        started = time.perf_counter()
        frames, end = self.reader.read(self.cursor, max_bytes=self.batch_bytes)
        if not frames:
            if end != self.cursor:  # moved past a torn tail or a released segment
                self._commit_cursor(end)
            return None
        result = LoadResult(frames=len(frames), cursor=end)
        self._store_frames(frames, result)
        result.seconds = time.perf_counter() - started
        self.loads += 1
        self.totals.add(result.total())
        for hook in self.after_load:
            hook(self.store, result)
        return result

    def drain(self, timeout: float = 60.0) -> int:
        """Load until the spool has nothing new (for tools and tests); returns messages handled."""
        handled = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.load_once()
            if result is None:
                return handled
            handled += result.total().received
        return handled

    def _store_frames(self, frames: list[Frame], result: LoadResult) -> None:
        try:
            counts = self._commit(self._batch(frames), frames[-1].end)
        except StoreError:
            if len(frames) > 1:
                middle = len(frames) // 2
                self._store_frames(frames[:middle], result)
                self._store_frames(frames[middle:], result)
                return
            self.store.schema_version()  # raises when the store itself is down: retry later
            log.exception("the store refused a spooled frame; quarantining its messages")
            counts = self._commit(self._rejected(frames[0]), frames[0].end)
        for source, source_counts in counts.items():
            result.sources.setdefault(source, SourceCounts()).add(source_counts)

    def _batch(self, frames: list[Frame]) -> _Batch:
        batch = _Batch()
        for frame in frames:
            head = read_frame(frame.payload)
            source = head["s"]
            origin = head.get("o", "api")
            arrived = datetime.fromisoformat(head["t"])
            counts = batch.counts.setdefault(source, SourceCounts())
            messages = batch.messages.setdefault(source, [])
            arrivals = batch.arrived.setdefault(source, [])
            prints = batch.prints.setdefault(source, {})
            for message in head["m"]:
                counts.received += 1
                # the content as the client sent it: a retry differs only in its sentAt
                content = fingerprint(
                    apply_batch_fields(message, context=head.get("c"), integrations=head.get("i"))
                )
                message = as_received(message, head)
                message_id = message["messageId"]
                first = prints.get(message_id)
                if first is not None:  # a retry that landed in the same batch
                    counts.duplicates += 1
                    if first != content:
                        counts.conflicts += 1
                        batch.quarantine.append(self._conflict(source, origin, message, arrived))
                    continue
                prints[message_id] = content
                messages.append(message)
                arrivals.append(arrived)
            for entry in head["q"]:
                counts.received += 1
                batch.quarantine.append(
                    _quarantine_row(
                        source, origin, entry["r"], entry["f"], entry["d"], entry["x"], arrived
                    )
                )
        return batch

    def _conflict(
        self, source: str, origin: str, message: dict[str, Any], arrived: datetime
    ) -> dict[str, Any]:
        log.warning(
            "message %r of source %r was sent again with other content; the first copy is kept",
            message.get("messageId"),
            source,
        )
        raw = orjson.dumps(message).decode()
        row = _quarantine_row(
            source,
            origin,
            "conflicting_duplicate",
            "messageId",
            "this messageId was stored before with other content; the first copy was kept",
            raw,
            arrived,
        )
        row["status"] = "conflict"
        return row

    def _rejected(self, frame: Frame) -> _Batch:
        """A frame the store refused: every message of it quarantined with the store's error."""
        batch = _Batch()
        head = read_frame(frame.payload)
        source, origin = head["s"], head.get("o", "api")
        arrived = datetime.fromisoformat(head["t"])
        counts = batch.counts.setdefault(source, SourceCounts())
        for message in head["m"]:
            counts.received += 1
            raw = orjson.dumps(as_received(message, head)).decode()
            batch.quarantine.append(
                _quarantine_row(
                    source, origin, "store_rejected", None, "the store refused it", raw, arrived
                )
            )
        for entry in head["q"]:
            counts.received += 1
            batch.quarantine.append(
                _quarantine_row(
                    source, origin, entry["r"], entry["f"], entry["d"], entry["x"], arrived
                )
            )
        return batch

    def _commit(self, batch: _Batch, end: Cursor) -> dict[str, SourceCounts]:
        store = self.store
        quarantine = list(batch.quarantine)
        with store.transaction():
            for source, messages in batch.messages.items():
                if not messages:
                    continue
                counts = batch.counts[source]
                records = messages_to_records(
                    messages,
                    source=source,
                    received_at=batch.arrived[source][0],
                    received_ats=batch.arrived[source],
                    origin="api",
                )
                prints = batch.prints[source]
                events = records.events.append_column(
                    "payload_hash",
                    pa.array(
                        [prints[i] for i in records.events.column("message_id").to_pylist()],
                        pa.string(),
                    ),
                )
                if records.quarantine is not None:  # the API's checks let something through
                    quarantine.extend(
                        {**row, "quarantine_id": quarantine_id(source, row["reason"], row["raw"])}
                        for row in records.quarantine.to_pylist()
                    )
                appended = store.append(
                    RecordSet(
                        events=events,
                        identifiers=records.identifiers,
                        traits=records.traits,
                        consents=records.consents,
                    )
                )
                counts.stored += appended.inserted
                counts.duplicates += appended.duplicates
                if appended.conflicts:
                    by_id = {m["messageId"]: m for m in messages}
                    counts.conflicts += len(appended.conflicts)
                    for message_id in appended.conflicts:
                        quarantine.append(
                            self._conflict(
                                source, "api", by_id[message_id], batch.arrived[source][0]
                            )
                        )
            by_source: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for row in quarantine:
                by_source.setdefault((row["source"], row["status"]), []).append(row)
            for (source, status), rows in by_source.items():
                new = store.append(RecordSet(events=_NO_EVENTS, quarantine=quarantine_rows(rows)))
                if status == "open":  # a retried invalid message finds its row and adds none
                    batch.counts.setdefault(source, SourceCounts()).quarantined += new.quarantined
            for source, counts in batch.counts.items():
                store.add_to(
                    "collect_stats",
                    {"source": source},
                    {
                        "received": counts.received,
                        "stored": counts.stored,
                        "duplicates": counts.duplicates,
                        "conflicts": counts.conflicts,
                        "quarantined": counts.quarantined,
                    },
                )
            self._write_cursor(end)
        self.cursor = end
        return batch.counts

    def _write_cursor(self, cursor: Cursor) -> None:
        self.store.upsert(
            "collect_cursors",
            {
                "spool_id": self.spool_id,
                "segment": cursor.segment,
                "byte_offset": cursor.offset,
                "updated_at": datetime.now(UTC),
            },
            key=["spool_id"],
        )

    def _commit_cursor(self, cursor: Cursor) -> None:
        self._write_cursor(cursor)
        self.cursor = cursor

    # -- releasing ---------------------------------------------------------------------------

    def release(self) -> list[int]:
        """Make the store durable, then delete the spool segments wholly before the cursor."""
        segments = [n for n in _segments(self.reader) if n < self.cursor.segment]
        if not segments:
            return []
        self.store.make_durable()
        return self.reader.release(self.cursor)


def _segments(reader: SpoolReader) -> list[int]:
    from profilo.collect.spool import segment_numbers

    return segment_numbers(reader.directory)


_NO_EVENTS = pa.table({"message_id": pa.array([], pa.string())})
