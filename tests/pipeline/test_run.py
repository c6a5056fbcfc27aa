"""The whole flow after collection, on a small demo, on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from profilo.collect import import_source, load_mapping
from profilo.demo import generate_demo
from profilo.errors import ConfigError
from profilo.pipeline import STEPS, run_pipeline
from profilo.store import Store


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, customers=60, seed=3)
    return out


def test_pipeline_runs_every_step_in_order(store: Store, demo_dir: Path) -> None:
    for path in sorted((demo_dir / "mappings").glob("*.yaml")):
        import_source(store, load_mapping(path))
    seen: list[str] = []
    results = run_pipeline(store, on_step=lambda r: seen.append(r.step))
    assert seen == list(STEPS) == [r.step for r in results]
    identity, profiles = results[0].summary, results[1].summary
    assert 0 < identity["graph"]["profiles"] < identity["graph"]["records"]
    assert profiles["events"] == store.count_rows()["events"]
    # a second run with nothing new changes nothing
    again = run_pipeline(store, ["profiles"])
    assert again[0].summary["events"] in (0, profiles["events"])


def test_unknown_step_is_named(store: Store) -> None:
    with pytest.raises(ConfigError, match="unknown pipeline step 'identiy'; known:"):
        run_pipeline(store, ["identiy"])


def test_the_demo_definitions_select_people(store: Store, demo_dir: Path) -> None:
    from profilo.audiences.segments import list_segments
    from profilo.demo.definitions import SEGMENTS, TRAITS, apply_definitions

    for path in sorted((demo_dir / "mappings").glob("*.yaml")):
        import_source(store, load_mapping(path))
    run_pipeline(store, ["identity", "profiles"])
    assert apply_definitions(store) == {"traits": len(TRAITS), "segments": len(SEGMENTS)}
    run_pipeline(store, ["traits", "segments"])
    sizes = {s.name: s.members for s in list_segments(store)}
    assert set(sizes) == set(SEGMENTS)
    assert sizes["vip_reachable_by_email"] is not None and sizes["vip"] is not None
    assert 0 < sizes["vip_reachable_by_email"] <= sizes["vip"]
    assert sizes["lapsed_buyers"] and sizes["sms_reachable"]
