"""Postal codes, with and without a country."""

from __future__ import annotations

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
    ("country", "raw", "code", "valid"),
    [
        ("FR", "75001", "75001", True),
        ("FR", " 75 001 ", "75001", True),
        ("FR", "1000", "01000", True),
        ("FR", "F-75001", "75001", True),
        ("FR", "750011", "750011", False),
        ("FR", "99000", "99000", False),
        ("FR", "SW1A 1AA", "SW1A 1AA", False),
        ("DE", "10115", "10115", True),
        ("DE", "1067", "01067", True),
        ("ES", "28013", "28013", True),
        ("ES", "60000", "60000", False),
        ("IT", "184", "00184", True),
        ("BE", "1000", "1000", True),
        ("BE", "B-1000", "1000", True),
        ("BE", "0999", "0999", False),
        ("CH", "8001", "8001", True),
        ("CH", "CH-8001", "8001", True),
        ("LU", "L-1234", "1234", True),
        ("NL", "1234ab", "1234 AB", True),
        ("NL", "1234 AB", "1234 AB", True),
        ("NL", "0123 AB", "0123 AB", False),
        ("PT", "1000001", "1000-001", True),
        ("PT", "1000 001", "1000-001", True),
        ("PT", "1000-001", "1000-001", True),
        ("US", "02139", "02139", True),
        ("US", "2139", "02139", True),
        ("US", "123456789", "12345-6789", True),
        ("US", "12345 6789", "12345-6789", True),
        ("GB", "sw1a1aa", "SW1A 1AA", True),
        ("GB", "SW1A 1AA", "SW1A 1AA", True),
        ("GB", "ec1a  1bb", "EC1A 1BB", True),
        ("GB", "m11ae", "M1 1AE", True),
        ("GB", "gir0aa", "GIR 0AA", True),
        ("GB", "12345", "12345", False),
        ("IE", "d02x285", "D02 X285", True),
        ("IE", "D6W 1234", "D6W 1234", True),
    ],
)
def test_postal_code_in_its_country(country: str, raw: str, code: str, valid: bool) -> None:
    assert clean("postal_code", [raw], default_country=country) == ([code], [valid])


@pytest.mark.parametrize(
    ("raw", "code", "valid"),
    [
        ("75001", "75001", True),
        ("sw1a1aa", "SW1A 1AA", True),
        ("k1a 0b1", "K1A 0B1", True),
        ("1234  ab", "1234 AB", True),
        ("00-950", "00-950", True),
        ("X", "X", False),
        ("12345678901", "12345678901", False),
        ("75001!", "75001!", False),
        ("-7500", "-7500", False),
    ],
)
def test_postal_code_without_a_country(raw: str, code: str, valid: bool) -> None:
    assert clean("postal_code", [raw]) == ([code], [valid])


def test_postal_code_of_a_country_without_a_format() -> None:
    assert clean("postal_code", ["00-950", "sw1a1aa"], default_country="PL") == (
        ["00-950", "SW1A1AA"],
        [True, True],
    )


def test_postal_code_from_a_spreadsheet_number_column() -> None:
    assert clean("postal_code", [1000, 75001, None], pa.int64(), default_country="FR") == (
        ["01000", "75001", None],
        [True, True, None],
    )
    assert clean("postal_code", [1000.0], pa.float64(), default_country="FR") == (["01000"], [True])


def test_postal_code_missing_and_blank() -> None:
    assert clean("postal_code", [None, "", "  "], default_country="FR") == ([None] * 3, [None] * 3)
