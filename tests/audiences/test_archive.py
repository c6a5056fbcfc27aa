"""Renaming and archiving segments, on DuckDB and PostgreSQL."""

from __future__ import annotations

import pytest
from tests.profiles.conftest import records

from profilo.audiences import (
    archive_segment,
    evaluate_segments,
    get_segment,
    list_segments,
    membership_history,
    read_outbox,
    rename_segment,
    save_segment,
)
from profilo.errors import ConfigError
from profilo.identity import resolve_identities
from profilo.identity.survivorship import build_profiles
from profilo.profiles.events import refresh_profiles
from profilo.store import Store


def _world(store: Store) -> None:
    store.save(
        records(
            [
                {"key": "c1", "ids": {"email": "a@x.fr"}, "traits": {"country": ("FR", "country")}},
                {"key": "c2", "ids": {"email": "b@x.fr"}, "traits": {"country": ("FR", "country")}},
                {"key": "c3", "ids": {"email": "c@x.fr"}, "traits": {"country": ("DE", "country")}},
            ]
        )
    )
    resolve_identities(store)
    build_profiles(store)
    refresh_profiles(store)


def test_rename_changes_the_title_only(store: Store) -> None:
    _world(store)
    save_segment(store, "french", 'trait country = "FR"')
    assert get_segment(store, "french").title == "french"
    renamed = rename_segment(store, "french", "Clients français")
    assert (renamed.name, renamed.title) == ("french", "Clients français")
    assert renamed.as_dict()["title"] == "Clients français"
    with pytest.raises(ConfigError, match="1 to 200"):
        rename_segment(store, "french", "  ")


def test_archived_segments_lose_members_and_are_not_evaluated(store: Store) -> None:
    _world(store)
    save_segment(store, "french", 'trait country = "FR"')
    save_segment(store, "uses_french", "in segment french")
    evaluate_segments(store)
    assert get_segment(store, "french").members == 2
    with pytest.raises(ConfigError, match="used by uses_french"):
        archive_segment(store, "french")
    archive_segment(store, "uses_french")
    archived = archive_segment(store, "french")
    assert archived.archived_at is not None and archived.members == 0
    exits = [h for h in membership_history(store, segment="french") if h["change"] == "exit"]
    assert len(exits) == 2
    assert {m["change"] for m in read_outbox(store) if m["segment"] == "french"} == {
        "enter",
        "exit",
    }
    run = evaluate_segments(store)
    assert "french" not in run.segments and "uses_french" not in run.segments
    with pytest.raises(Exception, match="unknown segment 'french'"):
        save_segment(store, "other", "in segment french")
    archive_segment(store, "french", archived=False)
    evaluate_segments(store)
    assert get_segment(store, "french").members == 2
    assert [s.name for s in list_segments(store)] == ["french", "uses_french"]
