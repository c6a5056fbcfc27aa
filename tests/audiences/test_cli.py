"""The ``profilo trait``, ``segment`` and ``profile`` commands, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from profilo.cli import app
from profilo.store import open_store

from .conftest import AS_OF, Person, write_world


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    with open_store(url, migrate=True) as store:
        write_world(
            store,
            [
                Person("p1", traits={"country": "FR"}, ids=[("email", "a@x.fr")],
                       events=[("Order Completed", "track", AS_OF, {"revenue": 10})]),
                Person("p2", traits={"country": "GB"}, ids=[("email", "b@x.fr")]),
            ],
        )  # fmt: skip
    return url


def _run(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["--store", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_traits_and_segments_from_the_command_line(store_path: str, tmp_path: Path) -> None:
    definition = tmp_path / "orders.yaml"
    definition.write_text("aggregate: count\nevents: [Order Completed]\n")
    added = json.loads(
        _run(store_path, "trait", "add", "orders", "--def", str(definition), "--json")
    )
    assert added == {"trait": "orders", "changed": True, "value_kind": "number"}
    assert [t["name"] for t in json.loads(_run(store_path, "trait", "list", "--json"))] == [
        "orders"
    ]

    rule = tmp_path / "rule.json"
    rule.write_text(
        json.dumps({"all": [{"trait": "country", "value": "FR"}, {"identity": "email"}]})
    )
    _run(store_path, "segment", "add", "fr", "--rule", str(rule))
    _run(store_path, "segment", "add", "buyers", "--rule", "computed orders >= 1 and in segment fr")
    fresh = json.loads(_run(store_path, "segment", "size", "fr", "--json"))
    assert fresh["members"] == 1 and fresh["as_of"] != "last run"
    run = json.loads(_run(store_path, "segment", "run", "--json"))
    assert run["segments"]["buyers"]["entered"] == 1
    size = json.loads(_run(store_path, "segment", "size", "buyers", "--json"))
    assert size["members"] == 1 and size["as_of"] == "last run"
    members = json.loads(_run(store_path, "segment", "members", "buyers", "--json"))
    assert members["members"] == ["p1"]
    overlap = json.loads(_run(store_path, "segment", "overlap", "fr", "buyers", "--json"))
    assert overlap["both"] == 1
    outbox = json.loads(_run(store_path, "segment", "outbox", "--json"))
    assert [m["change"] for m in outbox] == ["enter", "enter"]
    preview = json.loads(_run(store_path, "segment", "preview", "--rule", "has email", "--json"))
    assert preview["size"] == 2


def test_bad_rules_exit_with_the_problem(store_path: str) -> None:
    from profilo.cli import main

    with pytest.raises(SystemExit) as info:
        import sys

        argv = sys.argv
        sys.argv = [
            "profilo",
            "--store",
            store_path,
            "segment",
            "add",
            "x",
            "--rule",
            'trait contry = "FR"',
        ]
        try:
            main()
        finally:
            sys.argv = argv
    assert info.value.code == 2
