"""Countries to ISO 3166-1 alpha-2."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pycountry
import pytest

from profilo.prepare import normalise


def clean(
    kind: str, values: list[Any], value_type: pa.DataType | None = None, **options: Any
) -> tuple[list[Any], list[bool | None]]:
    result = normalise(kind, pa.array(values, value_type), **options)
    return result.value.to_pylist(), result.valid.to_pylist()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("France", "FR"),
        ("FRANCE", "FR"),
        ("fr", "FR"),
        ("FRA", "FR"),
        ("250", "FR"),
        ("Royaume-Uni", "GB"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("Allemagne", "DE"),
        ("Deutschland", "DE"),
        ("Belgique", "BE"),
        ("België", "BE"),
        ("España", "ES"),
        ("Espagne", "ES"),
        ("Suisse", "CH"),
        ("Schweiz", "CH"),
        ("Pays-Bas", "NL"),
        ("Holland", "NL"),
        ("États-Unis", "US"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("Côte d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("  italie ", "IT"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("Russia", "RU"),
    ],
)
def test_country_from_codes_and_names(raw: str, code: str) -> None:
    assert clean("country", [raw]) == ([code], [True])


def test_every_iso_code_and_name_is_known() -> None:
    countries = list(pycountry.countries)
    for field in ("alpha_2", "alpha_3", "name"):
        raw = [getattr(c, field) for c in countries]
        values, valid = clean("country", raw)
        assert values == [c.alpha_2 for c in countries], field
        assert all(valid)


def test_unknown_country_keeps_its_text() -> None:
    assert clean("country", ["Narnia", " Atlantis "]) == (["Narnia", "Atlantis"], [False, False])


def test_country_missing_and_blank() -> None:
    assert clean("country", [None, "", " "]) == ([None] * 3, [None] * 3)


def test_country_from_numeric_codes() -> None:
    assert clean("country", [250, 826, 4, 999], pa.int64()) == (
        ["FR", "GB", "AF", "999"],
        [True, True, True, False],
    )
