"""The files destination: Parquet and CSV exports, incremental and full, with a manifest."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from tests.activate.conftest import FakeClock, add_people, enter, leave, options

from profilo.activate.definitions import parse_destination, save_destination
from profilo.activate.sync import sync_destination
from profilo.store import Store

GRANTED = {"email_marketing": "granted"}


def _files(store: Store, folder: Path, **extra: object) -> None:
    data = {
        "name": "export",
        "kind": "files",
        "purposes": ["email_marketing"],
        "audiences": ["vip"],
        "fields": {"first_name": "first_name", "city": "city"},
        "identifiers": ["email"],
        "settings": {"folder": str(folder), "format": "parquet", "mode": "incremental"},
        **extra,
    }
    save_destination(store, parse_destination(data))


def _runs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def test_incremental_parquet_has_adds_removes_and_changes(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    pids = add_people(store, 6, consents=lambda i: GRANTED if i != 5 else {})
    enter(store, "vip", pids, "r1")
    _files(store, tmp_path)
    first = sync_destination(store, "export", options(clock))
    assert first.delivered == 5 and first.skipped == 1
    leave(store, "vip", pids[:2], "r2")
    second = sync_destination(store, "export", options(clock))
    assert second.removes == 2
    one, two = _runs(tmp_path)
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["mode"] == "incremental" and manifest["rows"] == 5
    assert manifest["counts"] == {"add": 5}
    table = pq.read_table(one / manifest["files"][0]["name"])
    assert sorted(table.column("profile_id").to_pylist()) == sorted(pids[:5])
    assert set(table.column_names) >= {"change_id", "action", "first_name", "city", "id_email"}
    row = next(r for r in table.to_pylist() if r["profile_id"] == pids[0])
    assert row["first_name"] == "Name0" and row["id_email"] == [f"{pids[0]}@example.com"]
    removed = pq.read_table(two / "part-00001.parquet").to_pylist()
    assert sorted((r["action"], r["profile_id"]) for r in removed) == [
        ("remove", pids[0]),
        ("remove", pids[1]),
    ]
    assert sync_destination(store, "export", options(clock)).delivered == 0
    assert len(_runs(tmp_path)) == 2  # a run with nothing to say writes nothing


def test_full_csv_exports_the_whole_audience_each_run(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    pids = add_people(store, 4, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    _files(
        store,
        tmp_path,
        settings={"folder": str(tmp_path), "format": "csv", "mode": "full"},
    )
    sync_destination(store, "export", options(clock))
    assert sync_destination(store, "export", options(clock)).delivered == 0  # nothing moved
    leave(store, "vip", pids[:1], "r2")
    sync_destination(store, "export", options(clock))
    one, two = _runs(tmp_path)
    with open(two / "part-00001.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["profile_id"] for r in rows) == sorted(pids[1:])
    assert "action" not in rows[0] and rows[0]["id_email"].endswith("@example.com")
    assert json.loads((two / "manifest.json").read_text())["mode"] == "full"
    assert len(list(one.glob("part-*.csv"))) == 1
