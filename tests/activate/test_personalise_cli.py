"""``profilo personalise key add/list/revoke`` on the store itself, DuckDB and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from profilo.activate.personalise import KeyRefused, personalise
from profilo.cli import app
from profilo.store import open_store


def _run(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--store", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_from_the_command_line(store_url: str) -> None:
    shown = _run(store_url, "personalise", "key", "add", "web site", "--trait", "first_name",
                 "--trait", "country", "--segment", "*", "--no-recommendations")  # fmt: skip
    assert "pk_" in shown and "not shown again" in shown
    assert "sees traits country, first_name" in shown and "segments all" in shown
    key = next(word for word in shown.split() if word.startswith("pk_"))
    listed = json.loads(_run(store_url, "personalise", "key", "list", "--json"))
    assert len(listed) == 1 and listed[0]["name"] == "web site"
    assert key not in json.dumps(listed) and "key_hash" not in listed[0]
    assert listed[0]["scope"]["recommendations"] is False and listed[0]["revoked_at"] is None
    assert "key id" in _run(store_url, "personalise", "key", "list")  # a table
    assert "revoked" in _run(store_url, "personalise", "key", "revoke", listed[0]["key_id"])
    again = json.loads(_run(store_url, "personalise", "key", "list", "--json"))
    assert again[0]["revoked_at"] is not None
    with open_store(store_url) as store, pytest.raises(KeyRefused):
        personalise(store, key=key, id_type="email", value="ana@x.fr")
    missing = CliRunner().invoke(app, ["--store", store_url, "personalise", "key", "revoke", "no"])
    assert missing.exit_code != 0
