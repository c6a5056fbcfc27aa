"""Golden records: one value per profile and trait, chosen by survivorship rules, with lineage.

Each trait follows one strategy:

* ``source_priority`` — the value from the most trusted source (``SurvivorshipRules.source_priority``
  lists sources best first), then the most recent;
* ``most_recent`` — the value observed last;
* ``most_frequent`` — the value the records say most often, then the most recent;
* ``most_complete`` — the longest value (``12 Rose Street, Flat 2`` over ``12 Rose St``), then
  the most recent.

Every surviving value keeps its lineage (source, record and time it was observed), how many
distinct values competed and whether they disagreed, in ``profile_traits``; ``profiles`` holds one
row per profile with its traits as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from profilo.store import Store

__all__ = ["STRATEGIES", "SurvivorshipRules", "build_profiles"]

Strategy = Literal["source_priority", "most_recent", "most_frequent", "most_complete"]
STRATEGIES: tuple[str, ...] = ("source_priority", "most_recent", "most_frequent", "most_complete")

_DEFAULT_TRAITS: dict[str, Strategy] = {
    "first_name": "most_frequent",
    "last_name": "most_frequent",
    "name": "most_frequent",
    "birth_date": "most_frequent",
    "gender": "most_frequent",
    "address": "most_complete",
    "street": "most_complete",
}


class SurvivorshipRules(BaseModel):
    """Which strategy each trait follows (others: ``default``) and which sources to trust first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: Strategy = "most_recent"
    traits: dict[str, Strategy] = _DEFAULT_TRAITS
    source_priority: tuple[str, ...] = ()

    def strategy(self, trait: str) -> Strategy:
        return self.traits.get(trait, self.default)


def _candidates(store: Store, rules: SurvivorshipRules, profiles: pa.Table | None) -> pa.Table:
    """One row per (profile, trait, value): how often, how recently, from which source."""
    traits = store.table("observed_traits")
    graph = store.table("identity_records")
    if profiles is not None:
        graph = graph.semi_join(store.temporary(profiles), "profile_id")
    traits = traits.filter(traits.is_valid.fill_null(False), traits.value.notnull())
    rows = traits.join(graph, ["source", "record_key"]).select(
        "profile_id", "trait", "value", "source", "record_key", "observed_at"
    )
    ranks = ibis.memtable(
        pa.table(
            {
                "rank_source": pa.array(list(rules.source_priority), pa.string()),
                "source_rank": pa.array(range(len(rules.source_priority)), pa.int64()),
            }
        )
    )
    rows = rows.left_join(ranks, rows.source == ranks.rank_source).select(
        "profile_id",
        "trait",
        "value",
        "source",
        "record_key",
        "observed_at",
        source_rank=ibis.coalesce(ranks.source_rank, len(rules.source_priority)),
    )
    # the latest observation of each value carries its lineage
    latest = ibis.row_number().over(
        group_by=["profile_id", "trait", "value"],
        order_by=[ibis.desc("observed_at"), "source", "record_key"],
    )
    per_value = rows.mutate(
        seen=rows.count().over(group_by=["profile_id", "trait", "value"]),
        best_rank=rows.source_rank.min().over(group_by=["profile_id", "trait", "value"]),
        pos=latest,
    )
    per_value = per_value.filter(per_value.pos == 0).drop("pos", "source_rank")
    return store.to_arrow(per_value)


def _choose(rules: SurvivorshipRules, cand: pa.Table) -> pa.Table:
    """The surviving value of each (profile, trait), by the trait's strategy."""
    if not cand.num_rows:
        return cand
    traits = cand.column("trait").to_pylist()
    strategies = [rules.strategy(t) for t in traits]
    seen = cand.column("seen").to_pylist()
    rank = cand.column("best_rank").to_pylist()
    length = pc.utf8_length(cand.column("value")).to_pylist()
    # one sort key per row, smaller is better; ties go to the most recent, then the smaller value
    primary = []
    for s, n, r, ln in zip(strategies, seen, rank, length, strict=True):
        if s == "most_frequent":
            primary.append(-n)
        elif s == "source_priority":
            primary.append(r)
        elif s == "most_complete":
            primary.append(-ln)
        else:
            primary.append(0)
    keyed = cand.append_column("__primary", pa.array(primary, pa.int64())).append_column(
        "__strategy", pa.array(strategies, pa.string())
    )
    ordered = keyed.sort_by(
        [
            ("profile_id", "ascending"),
            ("trait", "ascending"),
            ("__primary", "ascending"),
            ("observed_at", "descending"),
            ("value", "ascending"),
        ]
    )
    pid = ordered.column("profile_id").combine_chunks()
    trait = ordered.column("trait").combine_chunks()
    n = ordered.num_rows
    if n == 0:
        return ordered
    first = pc.or_(
        pc.not_equal(pid, pa.concat_arrays([pa.array([None], pa.string()), pid.slice(0, n - 1)])),
        pc.not_equal(
            trait, pa.concat_arrays([pa.array([None], pa.string()), trait.slice(0, n - 1)])
        ),
    )
    first = pc.fill_null(first, True)
    counts = ordered.group_by(["profile_id", "trait"], use_threads=False).aggregate(
        [("value", "count_distinct")]
    )
    chosen = ordered.filter(first).join(counts, ["profile_id", "trait"], use_threads=False)
    return chosen


def build_profiles(
    store: Store,
    rules: SurvivorshipRules | None = None,
    *,
    profile_ids: pa.Table | None = None,
) -> int:
    """Write the golden records of all profiles, or of ``profile_ids`` (a ``profile_id`` column:
    ids that no longer exist lose their rows). Returns how many profiles were written."""
    store.analyze("observed_traits", "identity_records", "profiles", "profile_traits")
    try:
        return _build_profiles(store, rules, profile_ids=profile_ids)
    finally:
        store.drop_temporaries()


def _build_profiles(
    store: Store, rules: SurvivorshipRules | None, *, profile_ids: pa.Table | None
) -> int:
    rules = rules or SurvivorshipRules()
    scope = None
    if profile_ids is not None:
        scope = profile_ids.select(["profile_id"]).cast(pa.schema([("profile_id", pa.string())]))
        if not scope.num_rows:
            return 0
    chosen = _choose(rules, _candidates(store, rules, scope))
    graph = store.table("identity_records")
    if scope is not None:
        graph = graph.semi_join(store.temporary(scope), "profile_id")
    summary = store.to_arrow(
        graph.group_by("profile_id").aggregate(
            records=graph.count(),
            first_seen=graph.first_seen.min(),
            last_seen=graph.last_seen.max(),
            sources=graph.source.collect(distinct=True),
        )
    )
    now = datetime.now(UTC)
    traits_of: dict[str, dict[str, str]] = {}
    if chosen.num_rows:
        for p, t, v in zip(
            chosen.column("profile_id").to_pylist(),
            chosen.column("trait").to_pylist(),
            chosen.column("value").to_pylist(),
            strict=True,
        ):
            traits_of.setdefault(p, {})[t] = v
    ids = summary.column("profile_id").to_pylist()
    profiles = pa.table(
        {
            "profile_id": summary.column("profile_id"),
            "records": summary.column("records"),
            "sources": pa.array(
                [",".join(sorted(s)) for s in summary.column("sources").to_pylist()], pa.string()
            ),
            "first_seen": summary.column("first_seen"),
            "last_seen": summary.column("last_seen"),
            "traits": pa.array([_json(traits_of.get(p, {})) for p in ids], pa.string()),
            "updated_at": pa.array([now] * len(ids), pa.timestamp("us", tz="UTC")),
        }
    )
    lineage = None
    if chosen.num_rows:
        lineage = pa.table(
            {
                "profile_id": chosen.column("profile_id"),
                "trait": chosen.column("trait"),
                "value": chosen.column("value"),
                "source": chosen.column("source"),
                "record_key": chosen.column("record_key"),
                "observed_at": chosen.column("observed_at"),
                "rule": chosen.column("__strategy"),
                "candidates": chosen.column("value_count_distinct"),
                "conflict": pc.greater(chosen.column("value_count_distinct"), 1),
            }
        )
    with store.transaction():
        if scope is None:
            store.replace_rows("profiles", profiles, all_rows=True)
            store.replace_rows("profile_traits", lineage, all_rows=True)
        else:
            store.replace_rows("profiles", profiles, match=scope)
            store.replace_rows("profile_traits", lineage, match=scope)
    return len(ids)


def _json(value: dict[str, str]) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)
