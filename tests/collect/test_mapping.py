from __future__ import annotations

from pathlib import Path

import pytest

from profilo.collect import load_mapping, parse_mapping
from profilo.errors import MappingError

BASE = {
    "source": "crm",
    "format": "csv",
    "path": "crm.csv",
    "key": ["id"],
    "identifiers": [{"column": "mail", "type": "email"}],
}


def test_a_valid_mapping_with_shorthands() -> None:
    m = parse_mapping(
        {**BASE, "traits": {"city": "ville", "dob": {"column": "dob", "type": "date"}}}
    )
    assert m.traits["city"].column == "ville"
    assert m.traits["dob"].type == "date"
    assert m.input_columns() == ["id", "mail", "ville", "dob"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"identifers": []}, "identifers: unknown field (check the spelling)"),
        ({"party": "fourth"}, "party: Input should be 'first', 'second' or 'third'; got 'fourth'"),
        (
            {"identifiers": [{"column": "mail", "type": "emial"}]},
            "identifiers.0: unknown identifier type 'emial'; known: user_id, email",
        ),
        ({"traits": {"dob": {"column": "dob", "type": "dat"}}}, "traits.dob.type"),
        ({"key": []}, "'key' must name at least one column"),
        ({"timezone": "Europe/Pariss"}, "unknown timezone 'Europe/Pariss'"),
        ({"format": "xlsx"}, "format: Input should be"),
        ({"source": "Bad Name"}, "source: String should match pattern"),
    ],
)
def test_mapping_errors_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping({**BASE, **change}, origin="crm.yaml")
    assert message in str(info.value)
    assert "crm.yaml" in str(info.value)


def test_event_needs_exactly_one_name() -> None:
    with pytest.raises(MappingError, match="exactly one of 'name'"):
        parse_mapping({**BASE, "event": {"timestamp": "at"}})


def test_load_mapping_resolves_paths_and_reports_bad_yaml(tmp_path: Path) -> None:
    good = tmp_path / "m.yaml"
    good.write_text(
        "source: crm\nformat: csv\npath: data/crm.csv\nkey: [id]\n"
        "identifiers: [{column: mail, type: email}]\n"
    )
    assert load_mapping(good).resolved_path() == tmp_path / "data" / "crm.csv"
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(bad)
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "nope.yaml")
