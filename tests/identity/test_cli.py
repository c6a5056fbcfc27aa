"""`profilo identity …` as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from profilo.cli import app
from profilo.errors import ProfiloError
from profilo.store import open_store

from .conftest import records


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def profilo(store: str, *args: str) -> Ran:
    """Run ``profilo --store STORE identity ARGS`` in this process (fast), as a user would."""
    result = CliRunner().invoke(app, ["--store", store, "identity", *args])
    if isinstance(result.exception, ProfiloError):
        return Ran(2, result.stdout, str(result.exception))
    return Ran(result.exit_code, result.stdout, repr(result.exception or ""))


def profilo_process(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "profilo", "--store", store, "identity", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_run_explain_evaluate_and_export(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'id.duckdb'}"
    with open_store(url, migrate=True) as store:
        store.save(
            records(
                [
                    {
                        "key": "1",
                        "ids": {"crm_id": "C1", "email": "ann@x.io"},
                        "traits": {"first_name": "Ann"},
                    },
                    {
                        "key": "2",
                        "ids": {"crm_id": "C2", "email": "ann@x.io"},
                        "traits": {"first_name": "Bob"},
                    },
                    {"key": "3", "ids": {"email": "ann@x.io", "phone": "+39123"}},
                ]
            )
        )
    run = profilo(url, "run", "--no-match", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["graph"]["profiles"] == 2 and summary["profiles_written"] == 2
    explained = profilo(url, "explain", "crm:1", "--json")
    assert explained.returncode == 0, explained.stderr
    data = json.loads(explained.stdout)
    assert data["records"] == 2 and {t["trait"] for t in data["traits"]} == {"first_name"}
    assert [c["record_key"] for c in data["left_out"]] == ["2", "2"]  # e-mail and its SHA-256
    pair = json.loads(profilo(url, "explain", "crm:1", "crm:3", "--json").stdout)
    assert pair["same_profile"] and pair["path"][0]["via"] in ("email", "email_sha256")
    apart = json.loads(profilo(url, "explain", "crm:1", "crm:2", "--json").stdout)
    assert not apart["same_profile"] and apart["left_out"]
    text = profilo(url, "explain", "crm:1")
    assert text.returncode == 0 and "left out" in text.stdout
    truth = tmp_path / "truth.csv"
    truth.write_text("source,record_key,person_id\ncrm,1,A\ncrm,2,B\ncrm,3,A\n")
    scores = json.loads(profilo(url, "evaluate", "--truth", str(truth), "--json").stdout)
    assert scores["precision"] == 1.0 and scores["recall"] == 1.0
    assert "pairwise  precision 1.0000" in profilo(url, "evaluate", "--truth", str(truth)).stdout
    out = tmp_path / "clusters.csv"
    assert profilo(url, "clusters", "--out", str(out)).returncode == 0
    assert len(out.read_text().splitlines()) == 4
    assert json.loads(profilo(url, "review", "--json").stdout) == []
    never = profilo(url, "never-same", "crm:1", "crm:3", "--json")
    assert never.returncode == 0, never.stderr
    missing = profilo_process(url, "explain", "prf_nope")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
