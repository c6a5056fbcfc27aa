"""The columnar path (batches as Arrow tables) against the row path (``Change`` objects).

Two destinations with the same definition follow the same audiences of one store; one gets its
batches through ``send_table``, the other through ``send`` (``SyncOptions(tables=False)``), each
with its own clock started at the same time and the same jitter seed. At every step they must
receive the same changes in the same batches and leave the same delivery log and holdings.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tests.activate.conftest import (
    FakeClock,
    Receiver,
    add_people,
    enter,
    leave,
    options,
    set_consent,
    webhook,
)

from profilo.activate.definitions import parse_destination, save_destination
from profilo.activate.secrets import Keyring
from profilo.activate.sync import SyncReport, sync_destination
from profilo.store import Store

GRANTED = {"email_marketing": "granted"}
CONSENTS = {3: {"email_marketing": "denied"}, 4: {}}
_VARIABLE = ("batch_id", "workspace_id")


def _same_name(value: Any, name: str) -> Any:
    """A change id without what differs between the two destinations (name, files run id)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"^snapshot:[^:]+:", "snapshot:<run>:", value.replace(f"{name}:", "", 1))


def _log(store: Store, name: str) -> list[dict[str, Any]]:
    table = store.table("deliveries")
    rows = store.to_arrow(table.filter(table.destination == name).order_by("seq")).to_pylist()
    out = []
    for row in rows:
        row = {k: v for k, v in row.items() if k not in _VARIABLE and k != "destination"}
        row["change_id"] = _same_name(row["change_id"], name)
        if isinstance(row["payload"], str):
            row["payload"] = json.loads(row["payload"])
        out.append(row)
    return out


def _held(store: Store, name: str) -> list[tuple[str, str]]:
    table = store.table("destination_members")
    rows = store.to_arrow(table.filter(table.destination == name)).to_pylist()
    return sorted((r["audience"], r["profile_id"]) for r in rows)


def _batches(receiver: Receiver, name: str) -> list[list[dict[str, Any]]]:
    batches = []
    for received in receiver.received:
        changes = received.changes
        for change in changes:
            change["change_id"] = _same_name(change["change_id"], name)
        batches.append(changes)
    return batches


def _report(report: SyncReport) -> dict[str, Any]:
    return {k: v for k, v in report.as_dict().items() if k not in ("destination", "seconds")}


def _trait(store: Store, pid: str, trait: str, value: str, at: Any) -> None:
    row = {
        "profile_id": pid,
        "trait": trait,
        "value": value,
        "source": "crm",
        "record_key": pid,
        "observed_at": at,
        "rule": "most_recent",
        "candidates": 1,
        "conflict": False,
    }
    match = pa.table({"profile_id": [pid], "trait": [trait]})
    store.replace_rows("profile_traits", pa.Table.from_pylist([row]), match=match)
    profiles = store.table("profiles")
    head = store.to_arrow(profiles.filter(profiles.profile_id == pid)).drop_columns(
        ["workspace_id"]
    )
    head = head.set_column(
        head.column_names.index("updated_at"),
        "updated_at",
        pa.array([at], pa.timestamp("us", tz="UTC")),
    )
    store.replace_rows("profiles", head, match=pa.table({"profile_id": [pid]}))


def test_webhook_tables_and_rows_send_and_log_the_same(store: Store, keyring: Keyring) -> None:
    pids = add_people(store, 9, consents=lambda i: CONSENTS.get(i, GRANTED))
    enter(store, "vip", pids[:7], "r1")
    enter(store, "lapsed", pids[2:9], "r2")
    sides = {"table_hook": True, "row_hook": False}
    receivers = {name: Receiver().start() for name in sides}
    clocks = {name: FakeClock() for name in sides}
    try:
        for name in sides:
            webhook(
                store,
                receivers[name].url,
                keyring,
                name=name,
                audiences=["vip", "lapsed"],
                fields={"first_name": "first_name", "city": "city", "crm": "identifier:crm_id"},
                identifiers=["email", "crm_id"],
                settings={"url": receivers[name].url, "max_batch": 3},
            )

        def both(**extra: Any) -> None:
            reports = {
                name: sync_destination(
                    store, name, options(clocks[name], keyring, tables=tables, **extra)
                )
                for name, tables in sides.items()
            }
            assert _report(reports["table_hook"]) == _report(reports["row_hook"])
            assert _batches(receivers["table_hook"], "table_hook") == _batches(
                receivers["row_hook"], "row_hook"
            )
            assert _log(store, "table_hook") == _log(store, "row_hook")
            assert _held(store, "table_hook") == _held(store, "row_hook")

        both()  # the first sync: current members, skips without consent
        assert len(receivers["table_hook"].changes) == 10  # 14 memberships, 4 without consent
        leave(store, "vip", pids[:2], "r3")
        enter(store, "vip", pids[:1], "r4")  # out and in again: a remove, then an upsert
        set_consent(store, pids[5], "email_marketing", "denied", at=clocks["row_hook"].now())
        _trait(store, pids[6], "city", "Nantes", clocks["row_hook"].now() + timedelta(minutes=1))
        for clock in clocks.values():
            clock.advance(120)
        both()
        # the destination answers 500, then 429 for a while: retries with the same jitter
        leave(store, "lapsed", pids[6:9], "r5")
        for receiver in receivers.values():
            receiver.script = [(500, {}), (429, {"Retry-After": "7"})]
        both(drain=True)
        assert receivers["table_hook"].answered[-3:] == [500, 429, 200]
        order = [
            (c["type"], c["audience"])
            for c in receivers["table_hook"].changes
            if c["profile_id"] == pids[0]
        ]
        assert order[-2:] == [("remove", "vip"), ("upsert", "vip")]  # in order per profile
    finally:
        for receiver in receivers.values():
            receiver.stop()


def _files(store: Store, name: str, folder: Path, **settings: Any) -> None:
    data = {
        "name": name,
        "kind": "files",
        "purposes": ["email_marketing"],
        "audiences": ["vip"],
        "fields": {"first_name": "first_name", "city": "city", "id": "profile_id"},
        "identifiers": ["email", "crm_id"],
        "settings": {"folder": str(folder), **settings},
    }
    save_destination(store, parse_destination(data))


def _parts(folder: Path) -> list[list[dict[str, Any]]]:
    runs = sorted(p for p in folder.iterdir() if p.is_dir())
    out = []
    for run in runs:
        for part in sorted(run.glob("part-*")):
            if part.suffix == ".parquet":
                table = pq.read_table(part)
                rows = table.to_pylist()
                out.append([{"_types": str(table.schema)}, *rows])
            else:
                with open(part, newline="") as handle:
                    out.append(list(csv.DictReader(handle)))
        manifest = json.loads((run / "manifest.json").read_text())
        out.append([{"counts": manifest["counts"], "rows": manifest["rows"]}])
    for rows in out:
        for row in rows:
            if "change_id" in row:
                row["change_id"] = row["change_id"].split(":", 1)[1]
    return out


def test_files_tables_and_rows_write_the_same(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    pids = add_people(store, 7, consents=lambda i: CONSENTS.get(i, GRANTED))
    enter(store, "vip", pids, "r1")
    kinds = {
        "parquet_inc": {"format": "parquet", "mode": "incremental"},
        "csv_full": {"format": "csv", "mode": "full"},
    }
    for kind, settings in kinds.items():
        for tables in (True, False):
            name = f"{kind}_{'t' if tables else 'r'}"
            _files(store, name, tmp_path / name, max_rows_per_file=2, **settings)

    def both() -> None:
        for kind in kinds:
            for tables in (True, False):
                name = f"{kind}_{'t' if tables else 'r'}"
                sync_destination(store, name, options(clock, tables=tables))
            assert _parts(tmp_path / f"{kind}_t") == _parts(tmp_path / f"{kind}_r")
            assert _log(store, f"{kind}_t") == _log(store, f"{kind}_r")

    both()
    leave(store, "vip", pids[:2], "r2")  # removes carry no fields
    both()
    first = pq.read_table(next((tmp_path / "parquet_inc_t").glob("*/part-00001.parquet")))
    assert first.schema.field("id_email").type == pa.list_(pa.string())
