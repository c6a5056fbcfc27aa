"""The public face of prepare: kinds, options, shapes of the answer, match keys."""

from __future__ import annotations

import doctest
import importlib

import pyarrow as pa
import pytest

import profilo.prepare
from profilo.errors import ConfigError, unknown_choice
from profilo.prepare import VALUE_KINDS, Normalised, match_key, normalise

_MODULES = (
    "profilo.prepare",
    "profilo.prepare.normalise",
    "profilo.prepare._columns",
    "profilo.prepare.text",
    "profilo.prepare.numbers",
    "profilo.prepare.temporal",
    "profilo.prepare.emails",
    "profilo.prepare.phones",
    "profilo.prepare.postal_codes",
    "profilo.prepare.countries",
)

# one typical raw value per kind, read the way a CSV reader delivers it
_SAMPLES: dict[str, str] = {
    "string": " Gold ",
    "text": "Line one\nline two",
    "integer": "42",
    "float": "4,5",
    "boolean": "oui",
    "date": "2024-05-17",
    "datetime": "2024-05-17T10:00:00Z",
    "email": "ann@example.com",
    "phone": "06 12 34 56 78",
    "name": "ann",
    "postal_code": "75001",
    "city": "PARIS",
    "country": "France",
    "address": "1 rue de Rivoli",
    "json": '{"tier": "gold"}',
}


def test_package_exports_exactly_its_public_names() -> None:
    assert sorted(profilo.prepare.__all__) == [
        "Normalised",
        "VALUE_KINDS",
        "match_key",
        "normalise",
    ]


def test_value_kinds_are_the_mapping_value_types() -> None:
    mapping = importlib.import_module("profilo.collect.mapping")
    assert VALUE_KINDS == mapping.VALUE_TYPES


def test_every_kind_has_a_sample() -> None:
    assert set(_SAMPLES) == set(VALUE_KINDS)


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        normalise("emial", pa.array(["a@b.co"]))
    assert str(raised.value) == unknown_choice("value type", "emial", VALUE_KINDS)
    assert "'emial'" in str(raised.value)
    assert "email" in str(raised.value)


def test_match_key_refuses_an_unknown_kind() -> None:
    with pytest.raises(ConfigError, match="unknown value type 'nmae'"):
        match_key("nmae", pa.array(["Ann"]))


def test_unknown_default_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown country 'Atlantis'"):
        normalise("phone", pa.array(["0612345678"]), default_country="Atlantis")


def test_default_country_may_be_a_name_or_lower_case() -> None:
    by_name = normalise("phone", pa.array(["06 12 34 56 78"]), default_country="France")
    by_code = normalise("phone", pa.array(["06 12 34 56 78"]), default_country="fr")
    assert by_name.value.to_pylist() == by_code.value.to_pylist() == ["+33612345678"]


def test_unknown_timezone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown time zone 'Europe/Pariss'"):
        normalise("datetime", pa.array(["2024-01-01T10:00"]), timezone="Europe/Pariss")


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_each_kind_keeps_length_and_marks_missing_as_null(kind: str) -> None:
    raw = pa.array([_SAMPLES[kind], None, "", "   ", _SAMPLES[kind]])
    result = normalise(kind, raw, default_country="FR")
    assert isinstance(result, Normalised)
    assert len(result.value) == len(result.valid) == len(raw)
    assert result.valid.type == pa.bool_()
    assert result.valid.to_pylist() == [True, None, None, None, True]
    assert result.value.to_pylist()[1:4] == [None, None, None]


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_each_kind_reads_chunked_and_dictionary_columns_alike(kind: str) -> None:
    values = [_SAMPLES[kind], None, "???", _SAMPLES[kind], "  "]
    plain = normalise(kind, pa.array(values), default_country="FR")
    chunked = normalise(kind, pa.chunked_array([values[:2], [], values[2:]]), default_country="FR")
    encoded = normalise(kind, pa.array(values).dictionary_encode(), default_country="FR")
    for other in (chunked, encoded):
        assert other.value.equals(plain.value)
        assert other.valid.equals(plain.valid)


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_each_kind_accepts_an_empty_column(kind: str) -> None:
    result = normalise(kind, pa.array([], pa.string()))
    assert len(result.value) == len(result.valid) == 0


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_each_kind_accepts_an_all_null_column_of_null_type(kind: str) -> None:
    result = normalise(kind, pa.nulls(3))
    assert result.valid.to_pylist() == [None, None, None]
    assert result.value.null_count == 3


@pytest.mark.parametrize(
    ("kind", "value_type"),
    [
        ("string", pa.string()),
        ("text", pa.string()),
        ("integer", pa.int64()),
        ("float", pa.float64()),
        ("boolean", pa.bool_()),
        ("date", pa.date32()),
        ("datetime", pa.timestamp("us", tz="UTC")),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("name", pa.string()),
        ("postal_code", pa.string()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("address", pa.string()),
        ("json", pa.string()),
    ],
)
def test_each_kind_has_one_value_type(kind: str, value_type: pa.DataType) -> None:
    assert normalise(kind, pa.array([_SAMPLES[kind]])).value.type == value_type
    assert normalise(kind, pa.array([None], pa.string())).value.type == value_type


def test_large_string_and_string_view_columns_are_read() -> None:
    for text_type in (pa.large_string(), pa.string_view()):
        result = normalise("email", pa.array([" Ann@Example.com"], text_type))
        assert result.value.to_pylist() == ["ann@example.com"]


def test_format_is_ignored_by_kinds_without_one() -> None:
    result = normalise("email", pa.array(["ann@example.com"]), fmt="%d/%m/%Y")
    assert result.valid.to_pylist() == [True]


@pytest.mark.parametrize(
    ("kind", "clean", "key"),
    [
        ("name", "Éloïse-Marie ", "eloise marie"),
        ("name", "O'Brien", "o brien"),
        ("name", "Straße", "strasse"),
        ("city", "Saint-Étienne", "saint etienne"),
        ("address", "12, Rue de l'Église", "12 rue de l eglise"),
        ("postal_code", "SW1A 1AA", "sw1a 1aa"),
        ("name", "Юлия", "iuliia"),
    ],
)
def test_match_key_folds_people_and_places(kind: str, clean: str, key: str) -> None:
    assert match_key(kind, pa.array([clean])).to_pylist() == [key]


def test_match_key_is_null_when_nothing_is_left() -> None:
    assert match_key("name", pa.array(["--", None, "  "])).to_pylist() == [None, None, None]


def test_match_key_keeps_canonical_kinds_as_they_are() -> None:
    assert match_key("email", pa.array(["ann@example.com", None])).to_pylist() == [
        "ann@example.com",
        None,
    ]
    assert match_key("phone", pa.chunked_array([["+33612345678"]])).to_pylist() == ["+33612345678"]


def test_match_key_keeps_length_for_chunked_input() -> None:
    clean = pa.chunked_array([["Ann", "ANN"], [], ["Anne", None, "Ann"]])
    assert match_key("name", clean).to_pylist() == ["ann", "ann", "anne", None, "ann"]


@pytest.mark.parametrize("module", _MODULES)
def test_docstring_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
