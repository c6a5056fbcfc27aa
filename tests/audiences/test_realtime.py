"""Real-time re-evaluation of a profile when new events arrive."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from profilo.audiences import evaluate_segments, membership_history, read_outbox, save_segment
from profilo.audiences.realtime import RealtimeSegments
from profilo.profiles.traits import parse_trait, save_trait
from profilo.store import Store

from .conftest import AS_OF, TS, Person, write_world


def _event(pid: str, n: int, name: str, days_ago: float, **props: object) -> dict[str, object]:
    import json

    return {
        "profile_id": pid,
        "message_id": f"rt:{pid}:{n}",
        "source": "web",
        "record_key": f"rt:{pid}:{n}",
        "type": "track",
        "event": name,
        "timestamp": AS_OF - timedelta(days=days_ago),
        "properties": json.dumps(props),
    }


def _table(rows: list[dict[str, object]]) -> pa.Table:
    table = pa.Table.from_pylist(rows)
    return table.set_column(
        table.schema.get_field_index("timestamp"), "timestamp", table.column("timestamp").cast(TS)
    )


def test_new_events_move_a_profile_in_and_out(store: Store) -> None:
    write_world(
        store,
        [
            Person("p1", traits={"country": "FR"}, ids=[("email", "a")]),
            Person("p2", traits={"country": "FR"}),
        ],
    )
    save_trait(
        store,
        parse_trait(
            {
                "name": "spend",
                "aggregate": "sum",
                "events": "Order Completed",
                "property": "revenue",
            }
        ),
        as_of=AS_OF,
    )
    save_segment(store, "buyers", 'did "Order Completed" at least 2 times in last 30 days')
    save_segment(store, "big", "computed spend >= 100 and in segment buyers")
    save_segment(store, "quiet", 'did not "opened" in last 30 days')
    evaluate_segments(store, as_of=AS_OF)
    realtime = RealtimeSegments(store)

    first = realtime.ingest(
        _table([_event("p1", 1, "Order Completed", 1, revenue=60)]), as_of=AS_OF
    )
    assert first.changes == []
    second = realtime.ingest(
        _table([_event("p1", 2, "Order Completed", 0.5, revenue=50)]), as_of=AS_OF
    )
    assert {(c.segment, c.change) for c in second.changes} == {
        ("buyers", "enter"),
        ("big", "enter"),
    }
    values = store.table("computed_traits")
    spend = store.to_arrow(values.filter(values.profile_id == "p1", values.trait == "spend"))
    assert spend.column("number_value").to_pylist() == [110.0]

    third = realtime.ingest(_table([_event("p2", 1, "opened", 0)]), as_of=AS_OF)
    assert [(c.segment, c.profile_id, c.change) for c in third.changes] == [("quiet", "p2", "exit")]

    later = realtime.reevaluate(["p1"], as_of=AS_OF + timedelta(days=30))
    assert {(c.segment, c.change) for c in later.changes} == {("buyers", "exit"), ("big", "exit")}
    history = membership_history(store, profile_id="p1")
    assert {h["trigger"] for h in history if h["segment"] == "buyers"} == {"realtime"}
    assert [m["change"] for m in read_outbox(store) if m["segment"] == "buyers"] == [
        "enter",
        "exit",
    ]

    # a batch run now agrees and has nothing to change
    run = evaluate_segments(store, as_of=AS_OF + timedelta(days=30))
    assert all(s["entered"] == s["exited"] == 0 for s in run.segments.values()), run.segments


def test_definitions_say_what_to_load(store: Store) -> None:
    write_world(store, [Person("p1", traits={"country": "FR"})])
    save_segment(store, "a", 'trait country = "FR" and did "x" in last 3 days')
    realtime = RealtimeSegments(store)
    defs = realtime.definitions
    assert defs.trait_names == {"country"} and defs.event_names == {"x"}
    assert defs.lookback == timedelta(days=3)
    save_segment(store, "b", 'did page where path starts with "/p/"')
    realtime.reload()
    assert realtime.definitions.event_types == {"page"} and realtime.definitions.lookback is None
