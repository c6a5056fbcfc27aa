"""Explanations: why a profile holds its records, and why two records are (or are not) one person.

Both return plain dictionaries (JSON-ready) that the CLI prints and the API returns.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import ibis
import pyarrow as pa

from profilo.errors import NotFound
from profilo.identity.merges import RecordRef
from profilo.identity.rules import MATCH_LINK
from profilo.store import Store

__all__ = ["explain_pair", "explain_profile", "explain_record"]

MAX_SHOWN = 200


def _rows(store: Store, expr: ibis.Table, limit: int = MAX_SHOWN) -> list[dict[str, Any]]:
    rows = []
    for row in store.to_arrow(expr.limit(limit)).to_pylist():
        row.pop("workspace_id", None)
        if isinstance(row.get("evidence"), str):
            row["evidence"] = json.loads(row["evidence"])
        rows.append(row)
    return rows


def _profile_of(store: Store, record: RecordRef) -> str | None:
    graph = store.table("identity_records")
    found = store.to_arrow(
        graph.filter(graph.source == record[0], graph.record_key == record[1]).select("profile_id")
    )
    return str(found.column(0)[0].as_py()) if found.num_rows else None


def _pairs_of(store: Store, keys: pa.Table) -> ibis.Table:
    pairs = store.table("match_pairs")
    mem = ibis.memtable(keys)
    left = pairs.semi_join(
        mem, [pairs.source_l == mem.source, pairs.record_key_l == mem.record_key]
    )
    right = pairs.semi_join(
        mem, [pairs.source_r == mem.source, pairs.record_key_r == mem.record_key]
    )
    ids = left.select("pair_id").union(right.select("pair_id"), distinct=True)
    return pairs.semi_join(ids, "pair_id")


def explain_profile(store: Store, profile_id: str) -> dict[str, Any]:
    """Everything that makes a profile: records and how each joined, identifiers with their
    status, links left out and why, matches with their weights, merges, golden traits and lineage.
    """
    graph = store.table("identity_records")
    records = graph.filter(graph.profile_id == profile_id)
    total = int(store.scalar(records.count()))
    if not total:
        raise NotFound(f"profile {profile_id!r} does not exist")
    keys = store.to_arrow(records.select("source", "record_key"))
    ids = store.table("identities")
    conflicts = store.table("identity_conflicts")
    merges = store.table("merges")
    traits = store.table("profile_traits")
    profile = _rows(store, store.table("profiles").filter(lambda t: t.profile_id == profile_id))
    return {
        "profile_id": profile_id,
        "profile": profile[0] if profile else None,
        "records": total,
        "records_shown": _rows(
            store,
            records.select(
                "source", "record_key", "linked_by", "link_type", "link_value", "first_seen"
            ).order_by(["first_seen", "source", "record_key"]),
        ),
        "identifiers": _rows(
            store,
            ids.filter(ids.profile_id == profile_id)
            .select("id_type", "value", "status", "records", "first_seen", "last_seen", "detail")
            .order_by(["id_type", "value"]),
        ),
        "left_out": _rows(
            store,
            conflicts.filter(
                (conflicts.profile_id == profile_id) | (conflicts.held_by == profile_id)
            )
            .select("source", "record_key", "profile_id", "id_type", "value", "held_by", "reason")
            .order_by(["source", "record_key"]),
        ),
        "matches": _rows(
            store,
            _pairs_of(store, keys)
            .select(
                "pair_id",
                "source_l",
                "record_key_l",
                "source_r",
                "record_key_r",
                "match_weight",
                "match_probability",
                "outcome",
                "status",
                "evidence",
            )
            .order_by(ibis.desc("match_weight")),
        ),
        "merges": _rows(
            store,
            merges.filter(
                (merges.profile_id == profile_id) | (merges.other_profile_id == profile_id)
            ).order_by("created_at"),
        ),
        "traits": _rows(
            store,
            traits.filter(traits.profile_id == profile_id)
            .select(
                "trait",
                "value",
                "source",
                "record_key",
                "observed_at",
                "rule",
                "candidates",
                "conflict",
            )
            .order_by("trait"),
        ),
    }


def explain_record(store: Store, record: RecordRef) -> dict[str, Any]:
    """:func:`explain_profile` for the profile a record belongs to."""
    profile = _profile_of(store, record)
    if profile is None:
        raise NotFound(f"record {record[0]}:{record[1]} is not in the identity graph")
    return explain_profile(store, profile)


def _path(store: Store, profile_id: str, start: RecordRef, goal: RecordRef) -> list[dict[str, str]]:
    """The shortest chain of shared identifiers from one record to another inside a profile."""
    graph = store.table("identity_records")
    members = graph.filter(graph.profile_id == profile_id).select("source", "record_key")
    obs = store.table("observed_identifiers")
    links = store.to_arrow(
        obs.filter(obs.is_valid.fill_null(False), obs.value.notnull())
        .semi_join(members, ["source", "record_key"])
        .select("source", "record_key", "id_type", "value")
        .distinct()
    ).to_pylist()
    pairs = _rows(
        store,
        _pairs_of(store, store.to_arrow(members)).filter(
            lambda t: t.status.isin(("auto", "accepted"))
        ),
        limit=100_000,
    )
    for pair in pairs:
        for side in ("l", "r"):
            links.append(
                {
                    "source": pair[f"source_{side}"],
                    "record_key": pair[f"record_key_{side}"],
                    "id_type": MATCH_LINK,
                    "value": pair["pair_id"],
                }
            )
    by_record: dict[RecordRef, list[tuple[str, str]]] = {}
    by_value: dict[tuple[str, str], list[RecordRef]] = {}
    for link in links:
        rec = (link["source"], link["record_key"])
        val = (link["id_type"], link["value"])
        by_record.setdefault(rec, []).append(val)
        by_value.setdefault(val, []).append(rec)
    came: dict[RecordRef, tuple[RecordRef, tuple[str, str]] | None] = {start: None}
    queue = deque([start])
    while queue:
        rec = queue.popleft()
        if rec == goal:
            break
        for val in by_record.get(rec, []):
            for other in by_value.get(val, []):
                if other not in came:
                    came[other] = (rec, val)
                    queue.append(other)
    if goal not in came:
        return []
    steps: list[dict[str, str]] = []
    node = goal
    while came[node] is not None:
        prev, (kind, value) = came[node]  # type: ignore[misc]
        steps.append(
            {
                "from": f"{prev[0]}:{prev[1]}",
                "to": f"{node[0]}:{node[1]}",
                "via": kind,
                "value": value,
            }
        )
        node = prev
    return steps[::-1]


def explain_pair(store: Store, left: RecordRef, right: RecordRef) -> dict[str, Any]:
    """Why two records are in one profile (the chain of identifiers or matches joining them), or
    why not (links left out, a never-same decision, their match score)."""
    profiles = [_profile_of(store, left), _profile_of(store, right)]
    for rec, pid in zip((left, right), profiles, strict=True):
        if pid is None:
            raise NotFound(f"record {rec[0]}:{rec[1]} is not in the identity graph")
    keys = pa.table({"source": [left[0], right[0]], "record_key": [left[1], right[1]]})
    pairs = _pairs_of(store, keys)
    between = pairs.filter(
        (
            (pairs.source_l == left[0])
            & (pairs.record_key_l == left[1])
            & (pairs.source_r == right[0])
            & (pairs.record_key_r == right[1])
        )
        | (
            (pairs.source_l == right[0])
            & (pairs.record_key_l == right[1])
            & (pairs.source_r == left[0])
            & (pairs.record_key_r == left[1])
        )
    )
    over = store.table("identity_overrides")
    never = over.filter(
        (
            (over.source_l == left[0])
            & (over.record_key_l == left[1])
            & (over.source_r == right[0])
            & (over.record_key_r == right[1])
        )
        | (
            (over.source_l == right[0])
            & (over.record_key_l == right[1])
            & (over.source_r == left[0])
            & (over.record_key_r == left[1])
        )
    )
    conflicts = store.table("identity_conflicts")
    left_out = conflicts.filter(
        ((conflicts.source == left[0]) & (conflicts.record_key == left[1]))
        | ((conflicts.source == right[0]) & (conflicts.record_key == right[1]))
    )
    same = profiles[0] == profiles[1]
    result: dict[str, Any] = {
        "left": f"{left[0]}:{left[1]}",
        "right": f"{right[0]}:{right[1]}",
        "left_profile": profiles[0],
        "right_profile": profiles[1],
        "same_profile": same,
        "path": _path(store, str(profiles[0]), left, right) if same else [],
        "match": _rows(
            store,
            between.select(
                "pair_id", "match_weight", "match_probability", "outcome", "status", "evidence"
            ),
        ),
        "never_same": _rows(
            store, never.select("override_id", "reason", "created_at", "created_by")
        ),
        "left_out": _rows(
            store, left_out.select("source", "record_key", "id_type", "value", "held_by", "reason")
        ),
    }
    return result
