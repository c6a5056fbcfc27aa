"""The command line as a user meets it: clear errors, no tracebacks, JSON for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def profilo(*args: str, store: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "profilo"]
    if store:
        command += ["--store", store]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def store_arg(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'cli.duckdb'}"


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["import", "--help"],
        ["quality", "--help"],
        ["status", "--help"],
        ["init", "--help"],
        ["demo", "--help"],
        ["demo", "generate", "--help"],
    ):
        result = profilo(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def test_mapping_typo_is_one_clear_line_not_a_traceback(tmp_path: Path, store_arg: str) -> None:
    mapping = tmp_path / "crm.yaml"
    mapping.write_text(
        "source: crm\nformat: csv\npath: crm.csv\nkey: [id]\n"
        "identifiers: [{column: mail, type: emial}]\n"
    )
    result = profilo("import", str(mapping), store=store_arg)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown identifier type 'emial'; known:" in result.stderr


def test_missing_file_and_bad_store_url(tmp_path: Path, store_arg: str) -> None:
    mapping = tmp_path / "crm.yaml"
    mapping.write_text(
        "source: crm\nformat: csv\npath: nowhere.csv\nkey: [id]\n"
        "identifiers: [{column: mail, type: email}]\n"
    )
    result = profilo("import", str(mapping), store=store_arg)
    assert result.returncode == 1
    assert "file not found" in result.stderr and "Traceback" not in result.stderr
    result = profilo("status", store="mysql://nowhere")
    assert result.returncode == 2
    assert "unknown engine 'mysql'; known: duckdb, postgres" in result.stderr


def test_import_status_and_quality_json(tmp_path: Path, store_arg: str) -> None:
    (tmp_path / "crm.csv").write_text("id,mail,city\n1,A@x.fr,PARIS\n2,bad@,Lyon\n3,c@x.fr\n")
    mapping = tmp_path / "crm.yaml"
    mapping.write_text(
        "source: crm\ncategory: crm\nformat: csv\npath: crm.csv\nkey: [id]\n"
        "identifiers: [{column: mail, type: email}]\ntraits: {city: {column: city, type: city}}\n"
    )
    assert profilo("init", store=store_arg).returncode == 0
    imported = profilo("import", "--json", str(mapping), store=store_arg)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)[0]["inserted"] == 2
    status = json.loads(profilo("status", "--json", store=store_arg).stdout)
    assert status["sources"]["crm"]["events"] == 2
    assert status["sources"]["crm"]["quarantine"] == 1
    quality = json.loads(profilo("quality", "--json", store=store_arg).stdout)
    email = next(f for f in quality[0]["fields"] if f["field"] == "email")
    assert (email["completeness"], email["validity"]) == (1.0, 0.5)
    assert quality[0]["quarantine"] == {"malformed_row": 1}
