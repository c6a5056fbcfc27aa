"""The pipeline's ``cards`` step on DuckDB and PostgreSQL: everyone the first time, then only the
people whose golden record, segments, computed values or personalisation consent changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from profilo.activate.consent import record_consent
from profilo.audiences import save_segment
from profilo.collect import import_source, load_mapping
from profilo.demo import generate_demo
from profilo.demo.definitions import apply_definitions
from profilo.pipeline import run_pipeline
from profilo.store import Store


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, customers=60, seed=5)
    return out


def _cards(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.to_arrow(store.table("profile_cards")).to_pylist()
    return {r["profile_id"]: r for r in rows}


def _summary(store: Store, **kwargs: Any) -> dict[str, Any]:
    return run_pipeline(store, ["cards"], **kwargs)[0].summary


def test_cards_follow_what_changed(store: Store, demo_dir: Path) -> None:
    for path in sorted((demo_dir / "mappings").glob("*.yaml")):
        import_source(store, load_mapping(path))
    run_pipeline(store, ["identity", "profiles"])
    apply_definitions(store)
    first = run_pipeline(store)[-1]
    profiles = store.count_rows()["profiles"]
    assert first.step == "cards" and first.summary["mode"] == "full"
    assert first.summary["cards"] == profiles == len(_cards(store))

    # nothing new: nothing rewritten
    idle = _summary(store)
    assert idle["mode"] == "incremental" and idle["changed"] == 0 and idle["cards"] == 0

    # a consent, then its withdrawal: that person's card only, each time
    before = _cards(store)
    person = sorted(before)[0]
    record_consent(store, reference=person, purpose="personalisation", status="granted")
    granted = _summary(store)
    assert granted["changed"] == 1 and granted["cards"] == 1
    assert _cards(store)[person]["consented"]
    record_consent(store, reference=person, purpose="personalisation", status="withdrawn")
    withdrawn = _summary(store)
    assert withdrawn["changed"] == 1 and withdrawn["cards"] == 1
    after = _cards(store)
    assert not after[person]["consented"]
    assert after[person]["updated_at"] > before[person]["updated_at"]
    assert all(after[p]["updated_at"] == before[p]["updated_at"] for p in after if p != person)

    # a new segment: its members' cards, and theirs only
    save_segment(store, "everyone_with_email", "has email")
    run_pipeline(store, ["segments"])
    members = {
        r["profile_id"]
        for r in store.to_arrow(store.table("memberships")).to_pylist()
        if r["segment"] == "everyone_with_email"
    }
    assert len(members) > 0
    entered = _summary(store)
    cards = _cards(store)
    assert len(members) * 2 < profiles  # so the step stays incremental
    assert entered["mode"] == "incremental" and entered["changed"] == len(members)
    for profile in members:
        segments = cards[profile]["segments"]
        assert "everyone_with_email" in (segments if isinstance(segments, list) else str(segments))

    # full: everyone again
    again = _summary(store, full=True)
    assert again["mode"] == "full" and again["cards"] == profiles
