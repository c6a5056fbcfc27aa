"""On the demo data: an incremental run after each import equals a full rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest

from profilo.collect import import_source, load_mapping
from profilo.demo import generate_demo
from profilo.identity import resolve_identities
from profilo.store import Store


def _state(store: Store) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    graph = store.table("identity_records").select("source", "record_key", "profile_id")
    ids = store.table("identities").select("id_type", "value", "profile_id", "status", "records")
    return (
        store.to_arrow(graph.order_by(["source", "record_key"])).to_pylist(),
        store.to_arrow(ids.order_by(["id_type", "value"])).to_pylist(),
    )


@pytest.mark.slow
def test_incremental_equals_rebuild_on_demo_data(tmp_path: Path, store: Store) -> None:
    out = tmp_path / "demo"
    generate_demo(out, customers=100, seed=5)
    mappings = sorted((out / "mappings").glob("*.yaml"))
    assert len(mappings) == 9
    for i, path in enumerate(mappings):
        import_source(store, load_mapping(path))
        report = resolve_identities(store)
        assert report.mode == ("full" if i == 0 else "incremental")
    incremental = _state(store)
    assert resolve_identities(store, full=True).mode == "full"
    assert _state(store) == incremental
