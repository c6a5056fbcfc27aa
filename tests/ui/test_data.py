"""The page data functions on both engines, on a small demo (the browser tests use DuckDB only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profilo.access import MASK
from profilo.collect import import_source, load_mapping
from profilo.demo import generate_demo
from profilo.demo.definitions import apply_definitions
from profilo.pipeline import run_pipeline
from profilo.store import Store
from profilo.ui import data, profile_data, segment_data


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, customers=20, seed=11)
    return out


def test_every_page_reads_on_this_engine(store: Store, demo_dir: Path) -> None:
    for path in sorted((demo_dir / "mappings").glob("*.yaml")):
        import_source(store, load_mapping(path))
    apply_definitions(store)
    run_pipeline(store)

    overview = data.overview(store)
    assert overview["profiles"] == overview["known"] + overview["anonymous"] > 0
    assert sum(p["n"] for p in overview["events_per_day"]) > 0
    assert overview["segment_history"]
    sources = data.sources_page(store)
    assert {s["source"] for s in sources} >= {"crm_contacts", "web_tracking"}
    crm = data.source_page(store, source="crm_contacts", masked=True)
    assert crm["quality"]["fields"] and all(q["raw"] is None for q in crm["quarantine"])
    assert data.privacy_page(store)["purposes"]
    assert data.destinations_page(store)["destinations"] == []

    catalogue = segment_data.builder_catalogue(store)
    assert "country" in catalogue["traits"] and "Order Completed" in catalogue["events"]
    rule = {"all": [{"identity": "email"}, {"event": "Order Completed"}]}
    estimate = segment_data.estimate(store, rule=rule, masked=True)
    assert estimate["ok"] and estimate["size"] >= len(estimate["members"]) > 0
    saved = segment_data.save(store, name="buyers", rule=rule, description="", title="Buyers")
    assert saved["ok"] and saved["segment"]["members"] == estimate["size"]
    detail = segment_data.segment_detail(store, name="buyers")
    assert detail["title"] == "Buyers" and detail["history"][-1]["members"] == estimate["size"]

    member = estimate["members"][0]["profile_id"]
    page = profile_data.profile_page(store, profile_id=member, masked=True)
    assert page["records_shown"] and page["timeline"]["events"]
    if "email" in page["traits"]:
        assert MASK in page["traits"]["email"]["value"]
    hits = profile_data.search_page(store, query=member, masked=False)
    assert [h["profile_id"] for h in hits] == [member]
