"""Batch memberships: entries and exits, history, outbox, scoped runs, references, sizes."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest

from profilo.audiences import (
    estimate_size,
    evaluate_segments,
    mark_delivered,
    membership_history,
    overlap,
    preview_members,
    read_outbox,
    remove_segment,
    save_segment,
)
from profilo.audiences.segments import get_segment, list_segments
from profilo.errors import ConfigError, NotFound
from profilo.store import Store

from .conftest import AS_OF, Person, write_world


def _members(store: Store, segment: str) -> set[str]:
    table = store.table("memberships")
    rows = store.to_arrow(table.filter(table.segment == segment).select("profile_id"))
    return set(rows.column("profile_id").to_pylist())


def _set_trait(store: Store, pid: str, trait: str, value: str) -> None:
    store.replace_rows(
        "profile_traits",
        pa.table(
            {
                "profile_id": [pid],
                "trait": [trait],
                "value": [value],
                "rule": ["most_recent"],
                "candidates": [1],
                "conflict": [False],
            }
        ),
        match=pa.table({"profile_id": [pid], "trait": [trait]}),
    )


@pytest.fixture
def people(store: Store) -> Store:
    write_world(
        store,
        [
            Person("p1", traits={"country": "FR"}, ids=[("email", "a")]),
            Person("p2", traits={"country": "FR"}),
            Person("p3", traits={"country": "GB"}, ids=[("email", "c")]),
        ],
    )
    save_segment(store, "fr", 'trait country = "FR"', description="French")
    save_segment(store, "fr_email", "in segment fr and has email")
    return store


def test_entries_exits_history_and_outbox(people: Store) -> None:
    run = evaluate_segments(people, as_of=AS_OF)
    assert _members(people, "fr") == {"p1", "p2"}
    assert _members(people, "fr_email") == {"p1"}
    assert run.segments["fr"] == {**run.segments["fr"], "members": 2, "entered": 2, "exited": 0}
    outbox = read_outbox(people)
    assert [m["position"] for m in outbox] == [1, 2, 3]
    assert {(m["segment"], m["profile_id"], m["change"]) for m in outbox} == {
        ("fr", "p1", "enter"),
        ("fr", "p2", "enter"),
        ("fr_email", "p1", "enter"),
    }
    assert outbox[0]["payload"]["type"] == "segment_enter"

    _set_trait(people, "p2", "country", "GB")
    _set_trait(people, "p3", "country", "FR")
    run = evaluate_segments(people, as_of=AS_OF)
    assert _members(people, "fr") == {"p1", "p3"}
    assert _members(people, "fr_email") == {"p1", "p3"}
    assert (run.segments["fr"]["entered"], run.segments["fr"]["exited"]) == (1, 1)
    history = membership_history(people, profile_id="p2")
    assert [(h["segment"], h["change"]) for h in history] == [("fr", "exit"), ("fr", "enter")]
    assert [m["position"] for m in read_outbox(people, after=3)] == [4, 5, 6]

    again = evaluate_segments(people, as_of=AS_OF)
    assert all(s["entered"] == s["exited"] == 0 for s in again.segments.values())
    assert len(read_outbox(people)) == 6
    segment = get_segment(people, "fr")
    assert segment.members == 2 and segment.evaluated_at is not None


def test_delivered_messages_leave_the_pending_outbox(people: Store) -> None:
    evaluate_segments(people, as_of=AS_OF)
    assert mark_delivered(people, [1, 2]) == 2
    assert [m["position"] for m in read_outbox(people)] == [3]
    assert len(read_outbox(people, pending=False)) == 3
    assert mark_delivered(people, [99]) == 0


def test_a_scoped_run_touches_only_its_profiles(people: Store) -> None:
    evaluate_segments(people, as_of=AS_OF)
    _set_trait(people, "p1", "country", "DE")
    _set_trait(people, "p3", "country", "FR")
    evaluate_segments(people, as_of=AS_OF, profiles=pa.table({"profile_id": ["p3"]}))
    assert _members(people, "fr") == {"p1", "p2", "p3"}
    run = evaluate_segments(
        people, as_of=AS_OF, profiles=pa.table({"profile_id": ["p1"]}), trigger="incremental"
    )
    assert _members(people, "fr") == {"p2", "p3"}
    assert _members(people, "fr_email") == {"p3"}
    assert run.trigger == "incremental"
    assert membership_history(people, profile_id="p1", segment="fr")[0]["trigger"] == "incremental"


def test_sizes_previews_and_overlaps(people: Store) -> None:
    evaluate_segments(people, as_of=AS_OF)
    assert estimate_size(people, "has email", as_of=AS_OF) == 2
    preview = preview_members(people, 'trait country = "FR"', limit=1)
    assert preview.column("profile_id").to_pylist() == ["p1"]
    both = overlap(people, "fr", "fr_email")
    assert both["both"] == 1 and both["only_first"] == 1 and both["only_second"] == 0
    assert both["jaccard"] == 0.5
    assert overlap(people, "fr", "fr_email", stored=False, as_of=AS_OF)["both"] == 1


def test_segments_are_listed_changed_and_removed(people: Store) -> None:
    assert [s.name for s in list_segments(people)] == ["fr", "fr_email"]
    with pytest.raises(ConfigError, match="used by fr_email"):
        remove_segment(people, "fr")
    evaluate_segments(people, as_of=AS_OF)
    updated = save_segment(people, "fr_email", "in segment fr")
    assert updated.members is None  # a changed rule waits for its next run
    remove_segment(people, "fr_email")
    with pytest.raises(NotFound, match="known: fr"):
        get_segment(people, "fr_email")
    with pytest.raises(NotFound):
        evaluate_segments(people, ["nope"])


def test_windows_move_with_as_of(store: Store) -> None:
    write_world(store, [Person("p1", events=[("opened", "track", AS_OF, {})])])
    save_segment(store, "recent", 'did "opened" in last 7 days')
    evaluate_segments(store, as_of=AS_OF)
    assert _members(store, "recent") == {"p1"}
    evaluate_segments(store, as_of=AS_OF + timedelta(days=7))
    assert _members(store, "recent") == {"p1"}  # the window's first instant still counts
    evaluate_segments(store, as_of=AS_OF + timedelta(days=7, microseconds=1))
    assert _members(store, "recent") == set()
    evaluate_segments(store, as_of=AS_OF - timedelta(microseconds=1))
    assert _members(store, "recent") == set()  # not yet happened
