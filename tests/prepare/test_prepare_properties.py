"""Properties every kind keeps: one answer per row, and clean values stay as they are."""

from __future__ import annotations

import phonenumbers
import pyarrow as pa
import pycountry
from hypothesis import given, settings
from hypothesis import strategies as st

from profilo.prepare import VALUE_KINDS, match_key, normalise

_COUNTRIES = [None, "FR", "GB", "DE", "ES", "IT", "NL", "BE", "CH", "PT", "LU", "US", "IE", "PL"]
_MAYBE_TEXT = st.one_of(st.none(), st.text(max_size=30))
_LETTERS = st.characters(categories=["Lu", "Ll"])


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(VALUE_KINDS),
    values=st.lists(_MAYBE_TEXT, max_size=30),
    country=st.sampled_from(_COUNTRIES),
    split=st.integers(min_value=0, max_value=30),
)
def test_any_text_gets_one_answer_per_row(
    kind: str, values: list[str | None], country: str | None, split: int
) -> None:
    raw = pa.chunked_array([values[:split], values[split:]], pa.string())
    result = normalise(kind, raw, default_country=country)
    assert len(result.value) == len(result.valid) == len(values)
    assert result.valid.type == pa.bool_()
    # missing raw values are missing, never invalid
    for value, valid in zip(values, result.valid.to_pylist(), strict=True):
        if value is None or not value.strip():
            assert valid is None


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["name", "city", "address", "postal_code"]),
    values=st.lists(_MAYBE_TEXT, max_size=20),
)
def test_match_key_gets_one_answer_per_row_and_is_plain_ascii(
    kind: str, values: list[str | None]
) -> None:
    keys = match_key(kind, pa.array(values, pa.string())).to_pylist()
    assert len(keys) == len(values)
    for key in keys:
        assert key is None or (key == key.strip() and key.isascii() and "  " not in key)


def _again(kind: str, clean: list[str | None], country: str | None = None) -> list[str | None]:
    return normalise(kind, pa.array(clean, pa.string()), default_country=country).value.to_pylist()


def _assert_idempotent(kind: str, raw: list[str], country: str | None = None) -> None:
    first = normalise(kind, pa.array(raw, pa.string()), default_country=country)
    clean = [
        v if ok else None
        for v, ok in zip(first.value.to_pylist(), first.valid.to_pylist(), strict=True)
    ]
    assert _again(kind, clean, country) == clean


_LOCAL = st.text(st.sampled_from("abcXYZ019._%+-'éÉßÖ"), min_size=1, max_size=12)
_LABEL = st.text(st.sampled_from("abcXYZ019-ü"), min_size=1, max_size=10)
_EMAIL = st.builds(
    lambda pad, mailto, local, labels, top: f"{pad}{mailto}{local}@{'.'.join(labels)}.{top}{pad}",
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["", "mailto:", "MAILTO:"]),
    _LOCAL,
    st.lists(_LABEL, min_size=1, max_size=3),
    st.text(st.sampled_from("comfrUKDE"), min_size=2, max_size=4),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_EMAIL, min_size=1, max_size=20))
def test_email_is_idempotent(raw: list[str]) -> None:
    _assert_idempotent("email", raw)


_PHONE_STYLES = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
]


@st.composite
def _phone(draw: st.DrawFn) -> tuple[str, str]:
    region = draw(st.sampled_from(["FR", "GB", "US", "DE", "IT", "BE", "ES", "CA", "CH", "NL"]))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
    )
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    national = phonenumbers.national_significant_number(example)
    tail = draw(st.text("0123456789", min_size=1, max_size=4))
    number = phonenumbers.parse(national[: -len(tail)] + tail, region)
    style = draw(st.sampled_from(_PHONE_STYLES))
    return phonenumbers.format_number(number, style), region


@settings(max_examples=60, deadline=None)
@given(st.lists(_phone(), min_size=1, max_size=20))
def test_phone_is_idempotent(numbers: list[tuple[str, str]]) -> None:
    for text, region in numbers:
        _assert_idempotent("phone", [text], region)
        # a clean number is E.164, which reads the same whatever the default country
        clean = normalise("phone", pa.array([text]), default_country=region).value.to_pylist()
        assert _again("phone", clean, None) == clean


_NAME_PART = st.text(st.one_of(_LETTERS, st.sampled_from("'’-")), min_size=1, max_size=12)
_NAME = st.builds(
    lambda parts, spaces: spaces.join(parts),
    st.lists(_NAME_PART, min_size=1, max_size=4),
    st.sampled_from([" ", "  ", " \t"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_NAME, min_size=1, max_size=20), st.sampled_from(["name", "city"]))
def test_name_and_city_are_idempotent(raw: list[str], kind: str) -> None:
    _assert_idempotent(kind, raw)


_POSTAL = st.text(st.sampled_from("0123456789abcwxyzABWXYZ -"), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(st.lists(_POSTAL, min_size=1, max_size=20), st.sampled_from(_COUNTRIES))
def test_postal_code_is_idempotent(raw: list[str], country: str | None) -> None:
    _assert_idempotent("postal_code", raw, country)


_COUNTRY_TEXT = st.sampled_from(
    [c.name for c in pycountry.countries]
    + [c.alpha_3.lower() for c in pycountry.countries]
    + ["Royaume-Uni", "UK", "Deutschland", "España", "Holland"]
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_COUNTRY_TEXT, min_size=1, max_size=20))
def test_country_is_idempotent(raw: list[str]) -> None:
    _assert_idempotent("country", raw)
