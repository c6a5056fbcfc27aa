"""Integers, floats and booleans."""

from __future__ import annotations

import decimal
from typing import Any

import pyarrow as pa
import pytest

from profilo.prepare import normalise


def clean(
    kind: str, values: list[Any], value_type: pa.DataType | None = None, **options: Any
) -> tuple[list[Any], list[bool | None]]:
    result = normalise(kind, pa.array(values, value_type), **options)
    return result.value.to_pylist(), result.valid.to_pylist()


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("12", 12),
        (" 12 ", 12),
        ("12.0", 12),
        ("12,00", 12),
        ("1 234", 1234),
        ("1\u00a0234\u202f567", 1234567),
        ("1'234", 1234),
        ("-7", -7),
        ("+3", 3),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_integer_reads_what_people_write(raw: str, number: int) -> None:
    assert clean("integer", [raw]) == ([number], [True])


@pytest.mark.parametrize(
    "raw", ["abc", "12.5", "1e3", "0x10", "9223372036854775808", "12-3", "--1", "1 2 a"]
)
def test_integer_refuses_what_is_not_a_whole_number(raw: str) -> None:
    assert clean("integer", [raw]) == ([None], [False])


def test_integer_blank_is_missing() -> None:
    assert clean("integer", ["", " ", None, "5"]) == (
        [None, None, None, 5],
        [None, None, None, True],
    )


def test_integer_from_typed_columns() -> None:
    assert clean("integer", [1, None], pa.int8()) == ([1, None], [True, None])
    assert clean("integer", [2**64 - 1, 5], pa.uint64()) == ([None, 5], [False, True])
    assert clean("integer", [1.0, 2.5, float("nan"), None], pa.float64()) == (
        [1, None, None, None],
        [True, False, False, None],
    )
    assert clean("integer", [True], pa.bool_()) == ([1], [True])
    assert clean("integer", [decimal.Decimal("12.00"), decimal.Decimal("1.50")]) == (
        [12, None],
        [True, False],
    )


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("12.5", 12.5),
        ("12,5", 12.5),
        ("1 234,50", 1234.5),
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("1,234,567", 1234567.0),
        ("1.234.567", 1234567.0),
        ("-0,5", -0.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("12 €", 12.0),
        ("$1,200.00", 1200.0),
    ],
)
def test_float_reads_decimal_points_and_commas(raw: str, number: float) -> None:
    assert clean("float", [raw]) == ([number], [True])


@pytest.mark.parametrize(
    "raw", ["NaN", "nan", "inf", "-Infinity", "abc", "1,2,3.4.5", "1e999", "12..5"]
)
def test_float_refuses_non_numbers_and_infinities(raw: str) -> None:
    assert clean("float", [raw]) == ([None], [False])


def test_float_mixed_column_is_read_value_by_value() -> None:
    assert clean("float", ["12.5", "12,5", "abc", "", None]) == (
        [12.5, 12.5, None, None, None],
        [True, True, False, None, None],
    )


def test_float_from_typed_columns() -> None:
    assert clean("float", [1, None], pa.int32()) == ([1.0, None], [True, None])
    assert clean("float", [1.5, float("nan"), float("inf")], pa.float32()) == (
        [1.5, None, None],
        [True, False, False],
    )
    assert clean("float", [decimal.Decimal("1.25")], pa.decimal128(5, 2)) == ([1.25], [True])


@pytest.mark.parametrize(
    "raw",
    ["true", "TRUE", "yes", "Y", "1", "oui", "Vrai", "on", "opt-in", "opt_in", "Opted In",
     "subscribed", "optin"],
)  # fmt: skip
def test_boolean_true_words(raw: str) -> None:
    assert clean("boolean", [raw]) == ([True], [True])


@pytest.mark.parametrize(
    "raw",
    ["false", "No", "n", "0", "NON", "faux", "OFF", "opt-out", "opt_out", "opted out",
     "Unsubscribed"],
)  # fmt: skip
def test_boolean_false_words(raw: str) -> None:
    assert clean("boolean", [raw]) == ([False], [True])


def test_boolean_unknown_word_is_invalid_and_blank_missing() -> None:
    assert clean("boolean", ["maybe", "2", "", None]) == (
        [None, None, None, None],
        [False, False, None, None],
    )


def test_boolean_from_typed_columns() -> None:
    assert clean("boolean", [True, None], pa.bool_()) == ([True, None], [True, None])
    assert clean("boolean", [1, 0, 2, None], pa.int64()) == (
        [True, False, None, None],
        [True, True, False, None],
    )
    assert clean("boolean", [1.0, 0.5], pa.float64()) == ([True, None], [True, False])
