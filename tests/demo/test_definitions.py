"""The demo's computed traits and segments are valid definitions that select people."""

from __future__ import annotations

from pathlib import Path

import yaml

from profilo.demo.definitions import SEGMENTS, TRAITS, write_definitions
from profilo.profiles.traits import parse_trait


def test_definitions_are_written_as_the_files_the_cli_reads(tmp_path: Path) -> None:
    written = write_definitions(tmp_path)
    assert len(written) == len(TRAITS) + len(SEGMENTS)
    for name in TRAITS:
        body = yaml.safe_load((tmp_path / "traits" / f"{name}.yaml").read_text())
        assert parse_trait(body, name=name).name == name
    vip = yaml.safe_load((tmp_path / "segments" / "vip.yaml").read_text())
    assert vip == {"text": SEGMENTS["vip"][0], "description": SEGMENTS["vip"][1]}
