"""The shortcuts in prepare's Arrow plumbing give the answer of the plain computation."""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from profilo.prepare._columns import as_text, collapse_spaces, nfc, regex_class
from profilo.prepare.emails import _folded

# text where NFC has work to do: letters with and without accents, combining marks, Hangul jamo,
# compatibility and singleton characters, anything else
_TRICKY = st.text(
    st.one_of(
        st.sampled_from("aeiouAEIOUß éÅ\u0301\u0308\u0327\u1100\u1161\u11a8\u212b\u2126\u0344Σς"),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), _TRICKY), max_size=20))
def test_nfc_shortcut_matches_arrow_normaliser(values: list[str | None]) -> None:
    text = pa.array(values, pa.string())
    assert nfc(text).equals(pc.utf8_normalize(text, "NFC"))


@settings(max_examples=300, deadline=None)
@given(st.lists(_TRICKY, min_size=1, max_size=20))
def test_email_folding_is_python_case_folding(values: list[str]) -> None:
    expected = [unicodedata.normalize("NFC", v.casefold()) for v in values]
    assert _folded(pa.array(values, pa.string())).to_pylist() == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(st.sampled_from(" a\t\n\u00a0\u2009b"))), max_size=20))
def test_collapse_spaces_matches_rewriting_every_value(values: list[str | None]) -> None:
    text = pa.array(values, pa.string())
    assert collapse_spaces(text).equals(pc.replace_substring_regex(text, r"[\s\pZ]+", " "))


def test_regex_class_writes_ranges() -> None:
    assert regex_class([0x41, 0x42, 0x43, 0x46, 0x300]) == "[\\x{41}-\\x{43}\\x{46}\\x{300}]"
    assert regex_class([0x41], also=r"\pM") == "[\\pM\\x{41}]"


def test_as_text_writes_whole_floats_without_a_fraction() -> None:
    values = [75001.0, 1.5, -3.0, 1e20, float("nan"), float("inf"), None]
    assert as_text(pa.array(values)).to_pylist() == [
        "75001",
        "1.5",
        "-3",
        "1e+20",
        None,
        "inf",
        None,
    ]
