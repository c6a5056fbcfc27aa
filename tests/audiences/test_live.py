"""Live segments: memberships moved in memory by incoming events agree with a batch run."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pyarrow as pa
import pytest

from profilo.audiences import evaluate_segments, membership_history, save_segment
from profilo.audiences.live import LiveSegments
from profilo.profiles.traits import parse_trait, refresh_traits, save_trait
from profilo.store import Store

from .conftest import AS_OF, CATEGORIES, EVENT_NAMES, TS, random_people, write_world

SEGMENTS = {
    "fr": 'trait country = "FR"',
    "buyers": 'did "Order Completed" at least 2 times in last 30 days',
    "shoes": 'did ["Order Completed", "clicked"] in last 7 days where category = "shoes"',
    "quiet": 'has email and did not "opened" in last 14 days',
    "spenders": "computed spend >= 50 or computed orders >= 3",
    "recent": "computed since_order <= 2 and consent email_marketing",
    "fr_buyers": "in segment fr and in segment buyers and not in segment quiet",
    "ever": 'did "clicked" at least 3 times',
}
TRAITS = [
    {"name": "orders", "aggregate": "count", "events": "Order Completed"},
    {"name": "spend", "aggregate": "sum", "events": "Order Completed", "property": "revenue",
     "within": {"last": 90}},
    {"name": "since_order", "aggregate": "days_since", "events": "Order Completed"},
]  # fmt: skip


def _members(store: Store) -> dict[str, set[str]]:
    rows = store.to_arrow(store.table("memberships").select("segment", "profile_id"))
    out: dict[str, set[str]] = {name: set() for name in SEGMENTS}
    for segment, pid in zip(
        rows.column("segment").to_pylist(), rows.column("profile_id").to_pylist(), strict=True
    ):
        out[segment].add(pid)
    return out


@pytest.mark.parametrize("seed", [3])
def test_live_memberships_equal_a_batch_run(store: Store, seed: int) -> None:
    write_world(store, random_people(seed))
    for data in TRAITS:
        save_trait(store, parse_trait(data), as_of=AS_OF)
    for name, text in SEGMENTS.items():
        save_segment(store, name, text)
    evaluate_segments(store, as_of=AS_OF)
    live = LiveSegments(store)
    live.warm(as_of=AS_OF)
    assert {k: v for k, v in live.members.items()} == _members(store)

    rng = random.Random(seed)
    later = AS_OF + timedelta(hours=1)
    for batch in range(6):
        rows = []
        for i in range(15):
            name = rng.choice(EVENT_NAMES)
            props = {"category": rng.choice(CATEGORIES), "revenue": rng.choice([5, 20, 40])}
            rows.append(
                {
                    "profile_id": f"prf_{rng.randrange(80):04d}",
                    "message_id": f"live:{batch}:{i}",
                    "source": "web",
                    "record_key": f"live:{batch}:{i}",
                    "type": "track",
                    "event": name,
                    "timestamp": later - timedelta(minutes=rng.randrange(50)),
                    "properties": json.dumps(props),
                }
            )
        table = pa.Table.from_pylist(rows)
        table = table.set_column(3 + 3, "timestamp", table.column("timestamp").cast(TS))
        live.ingest(table, as_of=later)
    live.flush()
    refresh_traits(store, as_of=later)
    run = evaluate_segments(store, as_of=later)
    assert all(s["entered"] == s["exited"] == 0 for s in run.segments.values()), run.segments
    assert live.members == _members(store)
    assert any(h["trigger"] == "realtime" for h in membership_history(store, limit=10_000))
