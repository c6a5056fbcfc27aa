"""Phone numbers, and the bulk path checked against phonenumbers itself."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profilo.prepare import normalise


def clean(
    kind: str, values: list[Any], value_type: pa.DataType | None = None, **options: Any
) -> tuple[list[Any], list[bool | None]]:
    result = normalise(kind, pa.array(values, value_type), **options)
    return result.value.to_pylist(), result.valid.to_pylist()


@pytest.mark.parametrize(
    "raw",
    [
        "06 12 34 56 78",
        "0612345678",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "+33 6 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "0033612345678",
        "00 33 6 12 34 56 78",
        "+33612345678",
        "612345678",
        "33612345678",
        "tel: 06 12 34 56 78",
        "06\t12 34 56 78",
    ],
)
def test_french_mobile_in_every_spelling(raw: str) -> None:
    assert clean("phone", [raw], default_country="FR") == (["+33612345678"], [True])


def test_british_numbers_read_in_great_britain() -> None:
    # 07700 900xxx is Ofcom's range for drama: a well-formed number that is never valid
    assert clean(
        "phone", ["07700 900123", "020 7946 0958", "+44 7911 123456"], default_country="GB"
    ) == (
        ["+447700900123", "+442079460958", "+447911123456"],
        [False, True, True],
    )


def test_numbers_of_other_countries_keep_their_calling_code() -> None:
    values, valid = clean(
        "phone", ["+1 415 555 2671", "+49 30 901820", "+39 06 6982"], default_country="FR"
    )
    assert values == ["+14155552671", "+4930901820", "+39066982"]
    assert valid == [True, True, True]


def test_without_a_country_only_international_numbers_parse() -> None:
    assert clean("phone", ["+33 6 12 34 56 78", "0033 6 12 34 56 78", "06 12 34 56 78"]) == (
        ["+33612345678", "+33612345678", "0612345678"],
        [True, True, False],
    )


def test_unparseable_number_keeps_its_digits() -> None:
    assert clean("phone", ["n/a", "call me", "+0 12", "1"], default_country="FR") == (
        [None, None, "012", "1"],
        [False, False, False, False],
    )


def test_parsed_but_invalid_number_is_in_e164() -> None:
    assert clean("phone", ["0612"], default_country="FR") == (["+330612"], [False])


def test_phone_missing_and_blank() -> None:
    assert clean("phone", [None, "", " "], default_country="FR") == ([None] * 3, [None] * 3)


def test_phone_from_number_columns() -> None:
    assert clean("phone", [33612345678, 612345678, None], pa.int64(), default_country="FR") == (
        ["+33612345678", "+33612345678", None],
        [True, True, None],
    )
    assert clean("phone", [33612345678.0], pa.float64(), default_country="FR") == (
        ["+33612345678"],
        [True],
    )


@pytest.mark.parametrize(
    ("region", "home"),
    [("GB", "JE"), ("GB", "IM"), ("US", "CA"), ("US", "PR"), ("RU", "KZ"), ("IT", "VA")],
)
def test_numbers_of_a_shared_calling_code_are_valid_for_their_own_region(
    region: str, home: str
) -> None:
    example = phonenumbers.example_number_for_type(home, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    assert clean("phone", [e164, international], default_country=region) == (
        [e164, e164],
        [True, True],
    )


def test_phone_region_without_iso_code() -> None:
    assert clean("phone", ["044 123 456"], default_country="XK")[1] == [True]


def _phonenumbers_answer(text: str, region: str | None) -> tuple[str | None, bool]:
    text = re.sub(r"\s+", " ", text.strip())
    if region is None:
        text = re.sub(r"^00((?:[ \u00a0\u3000().\-/])*[1-9])", r"+\1", text)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return re.sub(r"[^0-9]", "", text) or None, False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.is_valid_number(number)


_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_NUMBER_TYPES = list(range(11))


@st.composite
def _written_number(draw: st.DrawFn, region: str | None) -> str:
    """A number as someone might type it: mostly near-real numbers, some noise."""
    digits = st.text("0123456789", min_size=1, max_size=15)
    example = None
    if region is not None and draw(st.booleans()):
        example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(_NUMBER_TYPES)))
    if example is None:
        prefix = draw(
            st.sampled_from(["", "+", "00", "0", "+1", "+44", "+33", "+7", "011", "+0", "1"])
        )
        body = prefix + draw(digits)
    else:
        national = phonenumbers.national_significant_number(example)
        tail = draw(st.text("0123456789", min_size=0, max_size=3))
        national = national[: len(national) - len(tail)] + tail
        style = draw(st.sampled_from(["national", "plus", "idd", "bare", "formatted"]))
        code = str(example.country_code)
        body = {
            "national": "0" + national,
            "plus": f"+{code} {national}",
            "idd": f"00{code}{national}",
            "bare": national,
            "formatted": phonenumbers.format_number(
                example, phonenumbers.PhoneNumberFormat.NATIONAL
            ),
        }[style]
    separator = draw(st.sampled_from(["", " ", ".", "-", "/", "\u00a0", "  ", "\t", "()"]))
    if separator == "()" and len(body) > 6:
        body = f"({body[:3]}) {body[3:]}"
    elif separator and len(body) > 6:
        body = separator.join([body[:4], body[4:7], body[7:]])
    return body


@settings(max_examples=150, deadline=None)
@given(data=st.data(), region=st.sampled_from([*_REGIONS, None]))
def test_bulk_path_gives_the_answer_of_phonenumbers(
    data: st.DataObject, region: str | None
) -> None:
    numbers = data.draw(st.lists(_written_number(region), min_size=1, max_size=40))
    values, valid = clean("phone", numbers, default_country=region)
    expected = [_phonenumbers_answer(n, region) for n in numbers]
    assert list(zip(values, valid, strict=True)) == expected
