"""Strings, text, names, cities, addresses and JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from profilo.prepare import normalise


def clean(
    kind: str, values: list[Any], value_type: pa.DataType | None = None, **options: Any
) -> tuple[list[Any], list[bool | None]]:
    result = normalise(kind, pa.array(values, value_type), **options)
    return result.value.to_pylist(), result.valid.to_pylist()


def test_string_is_trimmed_and_blank_is_missing() -> None:
    assert clean("string", ["  gold ", "", " \t ", None]) == (
        ["gold", None, None, None],
        [True, None, None, None],
    )


def test_string_is_one_line_and_nfc() -> None:
    values, _ = clean("string", ["Gold\r\n  tier", "Cafe\u0301", "a\u2028b"])
    assert values == ["Gold tier", "Café", "a b"]


def test_string_keeps_inner_spacing_on_one_line() -> None:
    assert clean("string", ["a  b"])[0] == ["a  b"]


def test_string_reads_other_types_as_written() -> None:
    assert clean("string", [12, None], pa.int64())[0] == ["12", None]
    assert clean("string", [75001.0, 2.5, float("nan")], pa.float64()) == (
        ["75001", "2.5", None],
        [True, True, None],
    )
    assert clean("string", [True, False], pa.bool_())[0] == ["true", "false"]
    assert clean("string", [dt.date(2024, 5, 17)], pa.date32())[0] == ["2024-05-17"]
    assert clean("string", [b"crm-1"], pa.binary())[0] == ["crm-1"]


def test_string_from_bytes_that_are_not_utf8_keeps_what_it_can() -> None:
    assert clean("string", [b"caf\xe9"], pa.binary())[0] == ["caf\ufffd"]


def test_text_keeps_inner_lines_and_unifies_line_endings() -> None:
    assert clean("text", ["\n First line\r\nsecond\rthird  \n"]) == (
        ["First line\nsecond\nthird"],
        [True],
    )


def test_text_is_nfc() -> None:
    assert clean("text", ["Noe\u0308l"])[0] == ["Noël"]


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("jean-pierre", "Jean-Pierre"),
        ("o'brien", "O'Brien"),
        ("DE LA FONTAINE", "De La Fontaine"),
        ("ÉLOÏSE", "Éloïse"),
        ("l’isle", "L’Isle"),
        ("  marie \t  claire ", "Marie Claire"),
        ("McDonald", "McDonald"),
        ("van der Berg", "van der Berg"),
        ("Noe\u0308l", "Noël"),
    ],
)
def test_name_is_cased_like_a_name(raw: str, name: str) -> None:
    assert clean("name", [raw]) == ([name], [True])


@pytest.mark.parametrize("raw", ["R2D2", "ann@example.com", "---", "'.'", "4"])
def test_name_with_digits_at_sign_or_no_letter_is_invalid(raw: str) -> None:
    values, valid = clean("name", [raw])
    assert valid == [False]
    assert values[0] is not None


def test_name_from_a_number_column_is_invalid() -> None:
    assert clean("name", [12], pa.int64()) == (["12"], [False])


@pytest.mark.parametrize(
    ("raw", "city"),
    [
        ("SAINT-ÉTIENNE", "Saint-Étienne"),
        ("paris 15e", "Paris 15e"),
        ("PARIS 15E", "Paris 15e"),
        ("new   york", "New York"),
        ("Aix-en-Provence", "Aix-en-Provence"),
        ("STRASSE", "Strasse"),
    ],
)
def test_city_is_cased_like_a_name_and_may_hold_digits(raw: str, city: str) -> None:
    assert clean("city", [raw]) == ([city], [True])


def test_city_needs_a_letter() -> None:
    assert clean("city", ["75001", "", None]) == (["75001", None, None], [False, None, None])


def test_address_is_one_line() -> None:
    assert clean("address", ["12 rue de la Paix\n75002   Paris ", "Bât. B\r\n3e étage"]) == (
        ["12 rue de la Paix 75002 Paris", "Bât. B 3e étage"],
        [True, True],
    )


def test_address_needs_a_letter() -> None:
    assert clean("address", ["123", "  "]) == (["123", None], [False, None])


def test_json_text_is_kept_and_checked() -> None:
    assert clean("json", ['{"a": [1, 2]}', "[1, 2", " 3 ", "NaN", '"x"']) == (
        ['{"a": [1, 2]}', "[1, 2", "3", "NaN", '"x"'],
        [True, False, True, False, True],
    )


def test_json_from_nested_columns_is_serialised() -> None:
    raw = pa.array([{"tier": "gold", "points": 3}, None])
    assert clean("json", raw.to_pylist(), raw.type) == (
        ['{"tier":"gold","points":3}', None],
        [True, None],
    )
    assert clean("json", [[1, 2], []], pa.list_(pa.int64()))[0] == ["[1,2]", "[]"]


def test_json_from_numbers_is_serialised() -> None:
    assert clean("json", [1.5, None], pa.float64()) == (["1.5", None], [True, None])
