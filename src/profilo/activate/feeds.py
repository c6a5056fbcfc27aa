"""Where a destination's changes come from, each feed with its cursor in ``sync_cursors``.

- ``initial``: the first sync of a destination sends the current members of the audiences it
  follows (and, for a trait sync, every profile), then follows the membership feed from there;
- ``memberships``: segment entries and exits from ``membership_outbox`` after the destination's
  position — an entry is an ``upsert``, an exit a ``remove`` (sent only if that person was sent);
- ``consents``: profiles whose consent for one of the destination's purposes changed since the
  watermark — a withdrawal removes them from every audience they were pushed to, a new consent
  adds them to the audiences they are in;
- ``traits``: profiles pushed to the destination whose mapped fields changed since the watermark
  (the profiles and computed-trait steps touched them, and their fields differ from the payload of
  the last upsert in the delivery log).

Change ids are made of the destination and what caused the change, so planning the same source
rows twice yields the same ids: the outbox keeps one row per id, and a re-run sends nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.chunks import planned_table
from profilo.activate.definitions import DestinationDefinition
from profilo.store import Store

__all__ = [
    "Planned",
    "initial_changes",
    "initial_profiles",
    "last_payloads",
    "member_pairs",
    "membership_changes",
    "read_cursors",
    "write_cursor",
]

TRAIT_SYNC = ""
"""The ``audience`` under which ``destination_members`` keeps the profiles of a trait sync."""


@dataclass
class Planned:
    """Changes of one chunk, as parallel lists (a chunk may hold 100,000 of them)."""

    change_id: list[str]
    profile_id: list[str]
    action: list[Literal["upsert", "remove"]]
    audience: list[str | None]
    occurred_at: list[datetime]

    @classmethod
    def empty(cls) -> Planned:
        return cls([], [], [], [], [])

    def add(
        self,
        change_id: str,
        profile_id: str,
        action: Literal["upsert", "remove"],
        audience: str | None,
        at: datetime,
    ) -> None:
        self.change_id.append(change_id)
        self.profile_id.append(profile_id)
        self.action.append(action)
        self.audience.append(audience)
        self.occurred_at.append(at)

    def __len__(self) -> int:
        return len(self.change_id)

    def table(self) -> pa.Table:
        """The changes as an Arrow table (what the engine plans with)."""
        return planned_table(
            self.change_id, self.profile_id, self.action, self.audience, self.occurred_at
        )


def _stamp(value: Any) -> datetime | None:
    if value is None or value != value:
        return None
    stamp: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def read_cursors(store: Store, destination: str) -> dict[str, dict[str, Any]]:
    """``feed → {position, watermark}`` of one destination."""
    table = store.table("sync_cursors")
    rows = store.to_arrow(
        table.filter(table.destination == destination).select("feed", "position", "watermark")
    )
    return {
        r["feed"]: {"position": r["position"], "watermark": _stamp(r["watermark"])}
        for r in rows.to_pylist()
    }


def write_cursor(
    store: Store,
    destination: str,
    feed: str,
    *,
    position: int | None = None,
    watermark: datetime | None = None,
) -> None:
    store.upsert(
        "sync_cursors",
        {
            "destination": destination,
            "feed": feed,
            "position": position,
            "watermark": watermark,
            "updated_at": datetime.now(UTC),
        },
        key=["destination", "feed"],
    )


def last_position(store: Store) -> int:
    """The highest membership outbox position (0 when empty)."""
    value = store.scalar(store.table("membership_outbox").position.max())
    return int(value) if value is not None and value == value else 0


def latest(store: Store, table: str, column: str) -> datetime | None:
    return _stamp(store.scalar(store.table(table)[column].max()))


def _initial_sources(
    store: Store, definition: DestinationDefinition
) -> list[tuple[str | None, Any]]:
    sources: list[tuple[str | None, Any]] = []
    memberships = store.table("memberships")
    for segment in definition.audiences:
        sources.append(
            (segment, memberships.filter(memberships.segment == segment).select("profile_id"))
        )
    if definition.traits:
        sources.append((None, store.table("profiles").select("profile_id")))
    return sources


def initial_profiles(store: Store, definition: DestinationDefinition) -> Any:
    """Everyone a first sync covers (an Ibis table of distinct ``profile_id``)."""
    parts = [expr for _, expr in _initial_sources(store, definition)]
    if not parts:
        return store.table("profiles").select("profile_id").limit(0)
    return ibis.union(*parts, distinct=True) if len(parts) > 1 else parts[0].distinct()


def initial_changes(
    store: Store, definition: DestinationDefinition, now: datetime, *, chunk: int, tag: str
) -> Iterator[pa.Table]:
    """Everyone the destination should hold now, a chunk at a time, in profile id order (each
    audience's members read at once, in one query, then cut in chunks: paging with a query per
    chunk would sort what is left of the audience again for each)."""
    name = definition.name
    for audience, expr in _initial_sources(store, definition):
        found = store.to_arrow(expr.order_by("profile_id")).column(0)
        everyone = found.combine_chunks().cast(pa.string())
        label = audience or TRAIT_SYNC
        for start in range(0, len(everyone), chunk):
            ids = everyone.slice(start, chunk)
            n = len(ids)
            yield planned_table(
                pc.binary_join_element_wise(f"{name}:{tag}:{label}:", ids, ""),
                ids,
                pa.repeat(pa.scalar("upsert", pa.string()), n),
                pa.repeat(pa.scalar(audience, pa.string()), n),
                pa.repeat(pa.scalar(now, pa.timestamp("us", tz="UTC")), n),
            )


def member_pairs(store: Store, destination: str, profile_ids: list[str]) -> set[tuple[str, str]]:
    """``(audience, profile id)`` pairs the destination holds among ``profile_ids``."""
    if not profile_ids:
        return set()
    table = store.table("destination_members")
    ids = store.temporary(pa.table({"profile_id": pa.array(sorted(set(profile_ids)), pa.string())}))
    rows = store.to_arrow(
        table.filter(table.destination == destination)
        .semi_join(ids, "profile_id")
        .select("audience", "profile_id")
    )
    store.drop_temporaries()
    return {(r["audience"], r["profile_id"]) for r in rows.to_pylist()}


def membership_changes(
    store: Store, definition: DestinationDefinition, after: int, *, chunk: int
) -> tuple[Planned, int]:
    """Entries and exits of the followed audiences after ``after``; the last position read."""
    outbox = store.table("membership_outbox")
    rows = store.to_arrow(
        outbox.filter(outbox.position > after, outbox.segment.isin(definition.audiences))
        .order_by("position")
        .select("position", "change_id", "segment", "profile_id", "change", "changed_at")
        .limit(chunk)
    ).to_pylist()
    planned = Planned.empty()
    if not rows:
        return planned, after
    exits = [r["profile_id"] for r in rows if r["change"] == "exit"]
    held = member_pairs(store, definition.name, exits)
    # an exit followed by an entry in the same chunk still needs its remove
    entered: set[tuple[str, str]] = set()
    for r in rows:
        key = (r["segment"], r["profile_id"])
        at = _stamp(r["changed_at"]) or datetime.now(UTC)
        change_id = f"{definition.name}:{r['change_id']}"
        if r["change"] == "enter":
            entered.add(key)
            planned.add(change_id, r["profile_id"], "upsert", r["segment"], at)
        elif key in held or key in entered:
            entered.discard(key)
            held.discard(key)
            planned.add(change_id, r["profile_id"], "remove", r["segment"], at)
    return planned, int(rows[-1]["position"])


def changed_profiles(
    store: Store, definition: DestinationDefinition, since: datetime | None, until: datetime
) -> list[str]:
    """Profiles the destination holds whose golden record or mapped computed traits were written
    in ``(since, until]``."""
    held = store.table("destination_members")
    held = held.filter(held.destination == definition.name).select("profile_id").distinct()
    profiles = store.table("profiles")
    touched = profiles.filter(profiles.updated_at <= ibis.literal(until))
    if since is not None:
        touched = touched.filter(touched.updated_at > ibis.literal(since))
    parts = [touched.select("profile_id")]
    computed = [s.name for s in definition.field_sources.values() if s.kind == "computed"]
    if computed:
        values = store.table("computed_traits")
        values = values.filter(
            values.trait.isin(computed), values.computed_at <= ibis.literal(until)
        )
        if since is not None:
            values = values.filter(values.computed_at > ibis.literal(since))
        parts.append(values.select("profile_id"))
    union = ibis.union(*parts, distinct=True) if len(parts) > 1 else parts[0].distinct()
    rows = store.to_arrow(union.semi_join(held, "profile_id").order_by("profile_id"))
    return [str(p) for p in rows.column("profile_id").to_pylist()]


def last_payloads(store: Store, destination: str, profile_ids: list[str]) -> dict[str, Any]:
    """The payload of the last upsert planned for each of ``profile_ids`` (skips aside), from
    the delivery log: what the destination was last told about the person's fields."""
    if not profile_ids:
        return {}
    table = store.table("deliveries")
    ids = store.temporary(pa.table({"profile_id": pa.array(profile_ids, pa.string())}))
    sent = table.filter(
        table.destination == destination, table.action == "upsert", table.status != "skipped"
    ).semi_join(ids, "profile_id")
    ranked = sent.mutate(
        rank=ibis.row_number().over(group_by="profile_id", order_by=ibis.desc("seq"))
    )
    rows = store.to_arrow(ranked.filter(ranked.rank == 0).select("profile_id", "payload"))
    store.drop_temporaries()
    return {
        pid: json.loads(payload) if isinstance(payload, str) else payload
        for pid, payload in zip(rows.column(0).to_pylist(), rows.column(1).to_pylist(), strict=True)
    }


def audience_members(
    store: Store, audiences: list[str], profile_ids: list[str]
) -> set[tuple[str, str]]:
    """``(segment, profile id)`` memberships now, among ``profile_ids``."""
    if not profile_ids or not audiences:
        return set()
    table = store.table("memberships")
    ids = store.temporary(pa.table({"profile_id": pa.array(profile_ids, pa.string())}))
    rows = store.to_arrow(
        table.filter(table.segment.isin(audiences))
        .semi_join(ids, "profile_id")
        .select("segment", "profile_id")
    )
    store.drop_temporaries()
    return {(r["segment"], r["profile_id"]) for r in rows.to_pylist()}
