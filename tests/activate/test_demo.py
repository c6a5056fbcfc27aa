"""The demo's last act: audiences to Parquet and to a signed loopback webhook, with consent."""

from __future__ import annotations

import json
from pathlib import Path

from tests.activate.conftest import add_people, enter

from profilo.demo.activation import activate_demo
from profilo.store import open_store


def test_the_demo_exports_and_pushes_its_audiences(tmp_path: Path) -> None:
    with open_store(f"duckdb:///{tmp_path / 'demo.duckdb'}", migrate=True) as store:
        consents = {
            0: {"email_marketing": "granted", "ad_targeting": "granted"},
            1: {"email_marketing": "granted"},
            2: {"ad_targeting": "denied"},
        }
        pids = add_people(store, 3, consents=lambda i: consents[i])
        enter(store, "vip", pids, "r1")
        shown = activate_demo(store, tmp_path)
        again = activate_demo(store, tmp_path)  # a second demo run sends nothing twice
    files, hook = shown["destinations"]["audience_files"], shown["destinations"]["email_tool"]
    assert (files["delivered"], files["skipped"]) == (1, 2)
    assert (hook["delivered"], hook["skipped"]) == (2, 1)
    assert hook["skip_reasons"] == {"no consent for email_marketing": 1}
    assert shown["webhook"]["signed"] and shown["webhook"]["bad_signatures"] == 0
    assert shown["webhook"]["received"] == {"upsert vip": 2}
    (run,) = [p for p in (tmp_path / "exports").iterdir() if p.is_dir()]
    assert json.loads((run / "manifest.json").read_text())["rows"] == 1
    assert (tmp_path / "definitions" / "destinations" / "email_tool.yaml").exists()
    assert (
        "env:EMAIL_TOOL_SECRET"
        in (tmp_path / "definitions" / "destinations" / "email_tool.yaml").read_text()
    )
    assert all(r["delivered"] == 0 for r in again["destinations"].values())
