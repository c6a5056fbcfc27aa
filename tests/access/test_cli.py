"""``profilo user``: add, list, change the password, remove — with clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def profilo(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "profilo", "--store", store, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_user_commands(tmp_path: Path) -> None:
    store = f"duckdb:///{tmp_path / 'users.duckdb'}"
    added = profilo(store, "user", "add", "ana", "--role", "marketer", "--language", "fr",
                    "--password", "pw-ana")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "ana (marketer, fr) saved" in added.stdout
    again = profilo(store, "user", "add", "ana", "--password", "pw-ana")
    assert again.returncode == 2 and "exists already" in again.stderr
    bad = profilo(store, "user", "add", "bob", "--role", "boss", "--password", "pw-bob")
    assert bad.returncode == 2
    assert "unknown role 'boss'; known: admin, analyst, marketer, viewer" in bad.stderr
    assert "Traceback" not in bad.stderr
    listed = json.loads(profilo(store, "user", "list", "--json").stdout)
    assert [(u["username"], u["role"], u["language"]) for u in listed] == [
        ("ana", "marketer", "fr")
    ]
    assert "password" not in json.dumps(listed)
    changed = profilo(store, "user", "passwd", "ana", "--password", "new-pw")
    assert changed.returncode == 0, changed.stderr
    removed = profilo(store, "user", "remove", "ana")
    assert (
        removed.returncode == 0
        and json.loads(profilo(store, "user", "list", "--json").stdout) == []
    )
    missing = profilo(store, "user", "remove", "ana")
    assert missing.returncode == 2 and "unknown user 'ana'" in missing.stderr
