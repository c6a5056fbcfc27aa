"""The one-line text form: what it reads, where it says it goes wrong, and printing it back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profilo.audiences import RuleError, parse_rule, parse_text, rule_json, rule_text

from .strategies import RULES


@pytest.mark.parametrize(
    ("text", "json"),
    [
        ('trait country = "FR"', {"trait": "country", "value": "FR"}),
        ("trait household_size >= 3", {"trait": "household_size", "op": "gte", "value": 3}),
        ('trait city in ["Paris", \'Lyon\']', {"trait": "city", "op": "in", "value": ["Paris", "Lyon"]}),
        ("trait city not in (\"Paris\")", {"trait": "city", "op": "not_in", "value": ["Paris"]}),
        ('trait email contains "@gmail"', {"trait": "email", "op": "contains", "value": "@gmail"}),
        ('trait name starts with "Zo"', {"trait": "name", "op": "starts_with", "value": "Zo"}),
        ("trait phone is set", {"trait": "phone", "op": "exists"}),
        ("TRAIT phone IS NOT SET", {"trait": "phone", "op": "not_exists"}),
        ("computed spend > 99.5", {"computed": "spend", "op": "gt", "value": 99.5}),
        ("trait vip = true", {"trait": "vip", "value": True}),
        ("has email", {"identity": "email"}),
        ("consent sms_marketing denied", {"consent": "sms_marketing", "status": "denied"}),
        ("in segment vip", {"segment": "vip"}),
        ('did "opened"', {"event": "opened"}),
        ('did not "opened" in the last 90 days',
         {"event": "opened", "count": {"op": "eq", "value": 0}, "within": {"last": 90}}),
        ('did "Order Completed" at least 2 times in last 30 days where category = "shoes"',
         {"event": "Order Completed", "count": {"op": "gte", "value": 2}, "within": {"last": 30},
          "where": [{"property": "category", "value": "shoes"}]}),
        ('did "x" where (a > 1 and b is set) within 12 hours',
         {"event": "x", "within": {"last": 12, "unit": "hours"},
          "where": [{"property": "a", "op": "gt", "value": 1}, {"property": "b", "op": "exists"}]}),
        ("did page in last 1 week", {"type": "page", "within": {"last": 1, "unit": "weeks"}}),
        ('did screen "Cart" exactly 1 time', {"type": "screen", "event": "Cart",
                                              "count": {"op": "eq", "value": 1}}),
        ('did ["a", "b"] at most 3 times', {"event": ["a", "b"], "count": {"op": "lte", "value": 3}}),
        ("has email and has phone or has user_id",
         {"any": [{"all": [{"identity": "email"}, {"identity": "phone"}]}, {"identity": "user_id"}]}),
        ("has email and (has phone or not has user_id)",
         {"all": [{"identity": "email"},
                  {"any": [{"identity": "phone"}, {"not": {"identity": "user_id"}}]}]}),
        ('trait "odd name" = -2.5e3', {"trait": "odd name", "value": -2500.0}),
    ],
)  # fmt: skip
def test_text_reads_as_its_json(text: str, json: dict[str, Any]) -> None:
    # "odd name" is not a valid name: the JSON form says so too
    if "odd name" in text:
        with pytest.raises(RuleError, match="invalid trait name"):
            parse_text(text)
        return
    assert parse_text(text) == parse_rule(json)


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ('trait country = "FR" and', "text at 25", "expected a condition"),
        ("trait country", "text at 14", "expected a comparison"),
        ("trait country >= ", "text at 18", "expected a value"),
        ('did "x" at least two times', "text at 18", "whole number"),
        ('did "x" in last 3 fortnights', "text at 19", "'minute'"),
        ('did "x" where category = "a" and b = 1', "text at 34", "expected a condition"),
        ('did not "x" at least 2 times', "text at 13", "one count"),
        ("has email)", "text at 10", "the end of the rule"),
        ('trait a = "unterminated', "text at 11", "unexpected character"),
        ("trait a = 1 ; drop", "text at 13", "unexpected character"),
        ("", "text", "empty"),
    ],
)
def test_text_errors_say_where(text: str, where: str, words: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_text(text)
    ((path, message),) = info.value.problems
    assert path == where and words in message, info.value.problems


def test_the_done_when_sentence() -> None:
    rule = parse_text(
        'trait country = "FR" and did ["Order Completed", "In-Store Purchase"] at least 2 times'
        ' in last 90 days and did "opened" in last 30 days and consent email_marketing'
    )
    assert rule_json(rule) == {
        "all": [
            {"trait": "country", "value": "FR"},
            {
                "event": ["Order Completed", "In-Store Purchase"],
                "count": {"value": 2},
                "within": {"last": 90},
            },
            {"event": "opened", "within": {"last": 30}},
            {"consent": "email_marketing"},
        ]
    }


@settings(max_examples=300, derandomize=True, deadline=None)
@given(RULES)
def test_printed_rules_read_back_the_same(data: dict[str, Any]) -> None:
    rule = parse_rule(data)
    assert parse_text(rule_text(rule)) == rule


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,12}", fullmatch=True)
ANY_TEXT = st.text(st.characters(blacklist_characters="\x00"), max_size=30)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    NAMES,
    st.one_of(
        ANY_TEXT,
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
    ),
    ANY_TEXT.filter(bool),
)
def test_any_name_and_value_survive_printing(name: str, value: Any, event: str) -> None:
    rule = parse_rule(
        {
            "all": [
                {"trait": name, "op": "eq", "value": value},
                {"event": event, "where": [{"property": "p_1", "op": "ne", "value": value}]},
                {"consent": name},
            ]
        }
    )
    assert parse_text(rule_text(rule)) == rule
