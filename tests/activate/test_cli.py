"""``profilo destination`` and ``profilo sync``, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.activate.conftest import Receiver, add_people, enter
from typer.testing import CliRunner

from profilo.cli import app
from profilo.store import open_store


def _run(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--store", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_destinations_from_the_command_line(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROFILO_ACTIVATION_ALLOW_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("HOOK_SECRET", "s3cret-value")
    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    with open_store(url, migrate=True) as store:
        pids = add_people(store, 3, consents=lambda i: {"email_marketing": "granted"} if i else {})
        enter(store, "vip", pids, "r1")
    definition = tmp_path / "destinations.yaml"
    definition.write_text(
        f"""destinations:
  - name: hook
    kind: webhook
    purposes: [email_marketing]
    audiences: [vip]
    fields: {{first_name: first_name}}
    settings: {{url: "{receiver.url}"}}
    credentials: {{secret: "env:HOOK_SECRET"}}
  - name: export
    kind: files
    purposes: [email_marketing]
    audiences: [vip]
    settings: {{folder: "{tmp_path / "out"}", format: csv}}
"""
    )
    assert "destination hook: saved" in _run(url, "destination", "add", str(definition))
    assert "unchanged" in _run(url, "destination", "add", str(definition))
    listed = _run(url, "destination", "list", "--json")
    assert "s3cret-value" not in listed
    by_name = {d["name"]: d for d in json.loads(listed)}
    assert by_name["hook"]["credentials"] == {"secret": "********"}
    assert "s3cret-value" not in _run(url, "destination", "show", "hook", "--yaml")
    reports = json.loads(_run(url, "sync", "--json"))
    assert [(r["destination"], r["delivered"], r["skipped"]) for r in reports] == [
        ("export", 2, 1),
        ("hook", 2, 1),
    ]
    assert len(receiver.changes) == 2
    log = json.loads(_run(url, "destination", "log", f"email:{pids[1]}@example.com", "--json"))
    assert {(r["destination"], r["status"]) for r in log} == {
        ("hook", "delivered"),
        ("export", "delivered"),
    }
    assert "no consent for email_marketing" in _run(url, "destination", "log", pids[0])
    assert "0 dead letter(s)" in _run(url, "destination", "dead", "hook")
    assert "0 queued again" in _run(url, "destination", "replay", "hook")
    _run(url, "destination", "remove", "export")
    assert [r["name"] for r in json.loads(_run(url, "destination", "list", "--json"))] == ["hook"]
