"""Memberships: who is in each segment, every entry and exit, and the outbox activation reads.

:func:`evaluate_segments` runs segments (all of them, in dependency order, or some) for every
profile or for the profiles new data touched, compares the answer with the current members and
writes the differences three ways in one transaction per segment: ``memberships`` (who is in now),
``membership_changes`` (the history, kept for ever) and ``membership_outbox`` (messages for
activation, in ``position`` order; :func:`read_outbox` and :func:`mark_delivered` consume it).
:func:`record_changes` is the one writer, shared with the real-time path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from profilo.audiences.compile import compile_rule
from profilo.audiences.segments import compile_context, dependency_order, list_segments
from profilo.errors import NotFound
from profilo.store import Store, new_id

__all__ = [
    "Change",
    "SegmentRun",
    "evaluate_segments",
    "mark_delivered",
    "membership_history",
    "read_outbox",
    "record_changes",
    "segment_members",
]

Trigger = Literal["batch", "incremental", "realtime"]
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Change:
    """One profile entering or leaving one segment."""

    segment: str
    profile_id: str
    change: Literal["enter", "exit"]


@dataclass
class SegmentRun:
    """What one evaluation did, per segment: members after it, entries, exits, seconds."""

    run_id: str
    trigger: str
    as_of: datetime
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "as_of": self.as_of.isoformat(),
            "segments": self.segments,
            "seconds": self.seconds,
        }


def _ids(table: pa.Table) -> pa.Array:
    column = table.column("profile_id")
    return (
        column.combine_chunks().cast(pa.string())
        if column.num_chunks
        else pa.array([], pa.string())
    )


def record_changes(
    store: Store,
    run_id: str,
    changes: Mapping[str, tuple[pa.Array, pa.Array]],
    *,
    trigger: str,
    at: datetime | None = None,
    first_position: int | None = None,
    apply: bool = True,
) -> int:
    """Write entries and exits (``segment → (entered ids, exited ids)``) to memberships, history
    and outbox, in one transaction. Returns how many changes were written.

    Outbox positions follow the highest one stored, unless the caller keeps its own counter and
    gives ``first_position`` (it must be above every stored position). Without ``apply`` the
    ``memberships`` table is left to the caller (the live path applies it in batches)."""
    at = at or datetime.now(UTC)
    segment_of: list[str] = []
    ids: list[pa.Array] = []
    kinds: list[str] = []
    for segment, (entered, exited) in changes.items():
        for kind, chosen in (("enter", entered), ("exit", exited)):
            if len(chosen):
                ids.append(
                    pa.array(chosen, pa.string())
                    if isinstance(chosen, list)
                    else chosen.cast(pa.string())
                )
                segment_of += [segment] * len(chosen)
                kinds += [kind] * len(chosen)
    n = len(kinds)
    if not n:
        return 0
    profile_ids = pa.concat_arrays(ids)
    change_ids = pa.array([f"{run_id}:{i}" for i in range(n)], pa.string())
    segments = pa.array(segment_of, pa.string())
    kind_array = pa.array(kinds, pa.string())
    stamps = pa.array([at] * n, _TS)
    history = pa.table(
        {
            "change_id": change_ids,
            "run_id": pa.array([run_id] * n, pa.string()),
            "segment": segments,
            "profile_id": profile_ids,
            "change": kind_array,
            "changed_at": stamps,
            "trigger": pa.array([trigger] * n, pa.string()),
        }
    )
    stamp = at.isoformat()
    payloads = pa.array(
        [
            json.dumps(
                {
                    "type": f"segment_{kind}",
                    "segment": segment,
                    "profile_id": pid,
                    "changed_at": stamp,
                    "run_id": run_id,
                    "trigger": trigger,
                },
                sort_keys=True,
            )
            for segment, pid, kind in zip(segment_of, profile_ids.to_pylist(), kinds, strict=True)
        ],
        pa.string(),
    )
    entering = pc.equal(kind_array, "enter")
    entries = pa.table(
        {
            "segment": segments.filter(entering),
            "profile_id": profile_ids.filter(entering),
            "entered_at": stamps.filter(entering),
        }
    )
    leaving_mask = pc.invert(entering)
    leaving = pa.table(
        {"segment": segments.filter(leaving_mask), "profile_id": profile_ids.filter(leaving_mask)}
    )
    with store.transaction():
        if first_position is None:
            last = store.scalar(store.table("membership_outbox").position.max())
            start = int(last) + 1 if last is not None and last == last else 1
        else:
            start = first_position
        outbox = pa.table(
            {
                "position": pa.array(range(start, start + n), pa.int64()),
                "change_id": change_ids,
                "segment": segments,
                "profile_id": profile_ids,
                "change": kind_array,
                "changed_at": stamps,
                "payload": payloads,
            }
        )
        if apply:
            store.replace_rows("memberships", entries, match=leaving if leaving.num_rows else None)
        store.replace_rows("membership_changes", history)
        store.replace_rows("membership_outbox", outbox)
    return n


def evaluate_segments(
    store: Store,
    names: Sequence[str] | None = None,
    *,
    as_of: datetime | None = None,
    profiles: pa.Table | None = None,
    trigger: Trigger = "batch",
) -> SegmentRun:
    """Evaluate segments and record who entered and who left.

    ``names`` picks segments (default: all, each after those it refers to); ``profiles`` (a
    ``profile_id`` table) limits the run to those profiles, e.g. the ones new data touched.
    """
    started = time.perf_counter()
    ctx = compile_context(store, as_of)
    run = SegmentRun(run_id=new_id(), trigger=trigger, as_of=ctx.as_of)
    stored = {s.name: s for s in list_segments(store) if s.archived_at is None}
    if names is not None:
        for name in names:
            if name not in stored:
                known = ", ".join(sorted(stored)) or "none"
                raise NotFound(f"unknown segment {name!r}; known: {known}")
    order = [n for n in dependency_order({k: s.rule for k, s in stored.items()})]
    if names is not None:
        order = [n for n in order if n in set(names)]
    scope_ids = None
    if profiles is not None:
        scope_ids = profiles.select(["profile_id"]).cast(pa.schema([("profile_id", pa.string())]))
        if not scope_ids.num_rows:
            run.seconds = round(time.perf_counter() - started, 3)
            return run
        ctx.profiles = ibis.memtable(scope_ids)
    memberships = store.table("memberships")
    for name in order:
        began = time.perf_counter()
        members = _ids(store.to_arrow(compile_rule(store, stored[name].rule, ctx)))
        current = memberships.filter(memberships.segment == name)
        if ctx.profiles is not None:
            current = current.semi_join(ctx.profiles, "profile_id")
        before = _ids(store.to_arrow(current.select("profile_id")))
        entered = pc.filter(members, pc.invert(pc.is_in(members, value_set=before)))
        exited = pc.filter(before, pc.invert(pc.is_in(before, value_set=members)))
        record_changes(store, f"{run.run_id}:{name}", {name: (entered, exited)}, trigger=trigger)
        total = int(store.scalar(memberships.filter(memberships.segment == name).count()))
        store.upsert(
            "segments",
            {**_segment_row(store, name), "evaluated_at": datetime.now(UTC), "members": total},
            key=["name"],
        )
        run.segments[name] = {
            "members": total,
            "entered": len(entered),
            "exited": len(exited),
            "seconds": round(time.perf_counter() - began, 3),
        }
    run.seconds = round(time.perf_counter() - started, 3)
    return run


def _segment_row(store: Store, name: str) -> dict[str, Any]:
    table = store.table("segments")
    row = store.to_arrow(table.filter(table.name == name)).to_pylist()[0]
    row.pop("workspace_id", None)
    return dict(row)


def membership_history(
    store: Store, *, profile_id: str | None = None, segment: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Entries and exits, newest first, for one profile and/or one segment."""
    table = store.table("membership_changes")
    if profile_id is not None:
        table = table.filter(table.profile_id == profile_id)
    if segment is not None:
        table = table.filter(table.segment == segment)
    table = table.order_by(ibis.desc("changed_at"), ibis.desc("change_id")).limit(limit)
    rows = store.to_arrow(table.drop("workspace_id")).to_pylist()
    return list(rows)


def read_outbox(
    store: Store, *, after: int = 0, limit: int = 1000, pending: bool = True
) -> list[dict[str, Any]]:
    """Outbox messages after ``position`` (only the undelivered ones when ``pending``)."""
    table = store.table("membership_outbox")
    table = table.filter(table.position > after)
    if pending:
        table = table.filter(table.delivered_at.isnull())
    table = table.order_by("position").limit(limit)
    rows = store.to_arrow(table.drop("workspace_id")).to_pylist()
    for row in rows:
        if isinstance(row["payload"], str):
            row["payload"] = json.loads(row["payload"])
    return list(rows)


def mark_delivered(store: Store, positions: Sequence[int]) -> int:
    """Mark outbox messages delivered; returns how many were found."""
    if not positions:
        return 0
    table = store.table("membership_outbox")
    rows = store.to_arrow(table.filter(table.position.isin(list(positions))).drop("workspace_id"))
    if not rows.num_rows:
        return 0
    now = datetime.now(UTC)
    rows = rows.set_column(
        rows.schema.get_field_index("delivered_at"),
        "delivered_at",
        pa.array([now] * rows.num_rows, _TS),
    )
    store.replace_rows("membership_outbox", rows, match=rows.select(["position"]))
    return rows.num_rows


def segment_members(
    store: Store, name: str, *, limit: int = 1000, after: str | None = None
) -> list[str]:
    """Current members of a segment (as of its last run), by profile id, a page at a time."""
    from profilo.audiences.segments import get_segment

    get_segment(store, name)
    table = store.table("memberships")
    table = table.filter(table.segment == name)
    if after is not None:
        table = table.filter(table.profile_id > after)
    rows = store.to_arrow(table.order_by("profile_id").limit(max(1, min(limit, 100_000))))
    return list(rows.column("profile_id").to_pylist())
