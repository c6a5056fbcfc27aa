"""E-mail addresses."""

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
    ("raw", "email"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("mailto:bob@example.fr", "bob@example.fr"),
        ("MAILTO: bob@example.fr", "bob@example.fr"),
        ("o'neil+news@mail.example.co.uk", "o'neil+news@mail.example.co.uk"),
        ("zoe@münchen.de", "zoe@münchen.de"),
        ("ZOË@EXAMPLE.COM", "zoë@example.com"),
        ("Zoe\u0308@example.com", "zoë@example.com"),
        ("STRASSE@Straße.de", "strasse@strasse.de"),
        ("ann@example.xn--p1ai", "ann@example.xn--p1ai"),
    ],
)
def test_email_is_cleaned_and_valid(raw: str, email: str) -> None:
    assert clean("email", [raw]) == ([email], [True])


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("ann@example", "ann@example"),
        ("ann@example.c", "ann@example.c"),
        ("ann@example.123", "ann@example.123"),
        ("ann@@example.com", "ann@@example.com"),
        ("ann@bob@example.com", "ann@bob@example.com"),
        ("ann lee@example.com", "ann lee@example.com"),
        ("ann..lee@example.com", "ann..lee@example.com"),
        ("ann@example..com", "ann@example..com"),
        (".ann@example.com", ".ann@example.com"),
        ("ann.@example.com", "ann.@example.com"),
        ("ann@-example.com", "ann@-example.com"),
        ("annexample.com", "annexample.com"),
        ("@example.com", "@example.com"),
        ("Ann <ann@example.com>", "ann <ann@example.com>"),
    ],
)
def test_invalid_email_keeps_its_cleaned_text(raw: str, kept: str) -> None:
    assert clean("email", [raw]) == ([kept], [False])


def test_email_longer_than_254_characters_is_invalid() -> None:
    local = "a" * 64
    longest = f"{local}@{'b' * 63}.{'c' * 63}.{'d' * 58}.fr"
    assert len(longest) == 254
    assert clean("email", [longest, longest + "x"])[1] == [True, False]


def test_email_missing_and_blank() -> None:
    assert clean("email", [None, "", "  "]) == ([None, None, None], [None, None, None])


def test_email_many_rows_few_addresses_keep_order() -> None:
    raw = ["B@x.fr", "a@x.fr", "bad", "B@x.fr", None, "a@x.fr"] * 1000
    values, valid = clean("email", raw)
    assert values[:6] == ["b@x.fr", "a@x.fr", "bad", "b@x.fr", None, "a@x.fr"]
    assert values == values[:6] * 1000
    assert valid == [True, True, False, True, None, True] * 1000


def test_email_from_a_non_text_column_is_invalid() -> None:
    assert clean("email", [42], pa.int64()) == (["42"], [False])
