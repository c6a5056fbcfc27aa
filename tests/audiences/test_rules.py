"""The rule tree: parsing, errors that name the offending part, and the JSON form round trip."""

from __future__ import annotations

from typing import Any

import pytest

from profilo.audiences import RuleError, parse_rule, rule_json
from profilo.audiences.rules import MAX_CONDITIONS, MAX_DEPTH, AllOf, Event, Trait


def _problems(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(RuleError) as info:
        parse_rule(data)
    return info.value.problems


def test_a_rule_parses_into_typed_nodes() -> None:
    rule = parse_rule(
        {
            "all": [
                {"trait": "country", "value": "FR"},
                {
                    "event": "Order Completed",
                    "count": {"op": "gte", "value": 2},
                    "within": {"last": 30, "unit": "days"},
                    "where": [{"property": "category", "op": "eq", "value": "shoes"}],
                },
            ]
        }
    )
    assert isinstance(rule, AllOf)
    trait, event = rule.all
    assert isinstance(trait, Trait) and trait.op == "eq"
    assert isinstance(event, Event) and event.event == ("Order Completed",)
    assert event.within is not None and event.within.seconds == 30 * 86400


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"trait": "country", "op": "bigger", "value": 1}, "rule.op", "must be"),
        ({"trait": "country", "op": "eq"}, "rule", "needs a value"),
        ({"trait": "country", "op": "in", "value": "FR"}, "rule", "list of values"),
        ({"trait": "country", "op": "in", "value": ["FR", 2]}, "rule", "mix types"),
        ({"trait": "country", "op": "exists", "value": 1}, "rule", "takes no value"),
        ({"trait": "country", "value": "FR", "colour": "red"}, "rule.colour", "unknown key"),
        ({"trait": "bad name!", "value": 1}, "rule.trait", "invalid trait name"),
        ({"all": []}, "rule.all", "non-empty list"),
        ({"all": [{"trait": "a", "value": 1}, {"nothing": 1}]}, "rule.all[1]", "exactly one of"),
        ({"any": [{"not": {"segment": "x y"}}]}, "rule.any[0].not.segment", "invalid segment"),
        ({"event": "x", "within": {"last": 0}}, "rule.within.last", "greater than or equal"),
        ({"event": "x", "within": {"last": 3, "unit": "years"}}, "rule.within.unit", "must be"),
        ({"event": "x", "count": {"op": "gte", "value": 0}}, "rule.count", "always true"),
        ({"event": "x", "count": {"op": "eq", "value": -1}}, "rule.count.value", "greater"),
        ({"event": [], "type": None}, "rule", "at least one event"),
        ({"event": "x", "where": [{"property": "a.b", "value": 1}]}, "rule.where[0].property", "invalid property"),
        ({"event": "x", "where": [{"property": "a", "op": "gt", "value": "z"}]}, "rule.where[0]", "does not apply"),
        ({"consent": "email", "status": "maybe"}, "rule.status", "must be"),
        ({"trait": "a", "value": float("nan")}, "rule", "NaN"),
        ({"trait": "a", "value": "x\x00y"}, "rule", "NUL"),
        ({"trait": "a", "value": "x" * 501}, "rule", "longer than"),
        ([1, 2], "rule", "expected an object"),
    ],
)  # fmt: skip
def test_errors_name_the_offending_part(data: Any, path: str, words: str) -> None:
    problems = _problems(data)
    assert any(p == path and words in m for p, m in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems({"all": [{"trait": "a", "op": "nope", "value": 1}, {"identity": "b c"}]})
    assert [p for p, _ in problems] == ["rule.all[0].op", "rule.all[1].identity"]


def test_size_and_depth_are_bounded() -> None:
    deep: dict[str, Any] = {"trait": "a", "value": 1}
    for _ in range(MAX_DEPTH + 1):
        deep = {"not": deep}
    assert any("levels deep" in m for _, m in _problems(deep))
    wide = {"any": [{"trait": "a", "value": i} for i in range(MAX_CONDITIONS + 1)]}
    assert any("at most" in m for _, m in _problems(wide))


def test_type_alone_is_an_event_condition() -> None:
    rule = parse_rule({"type": "page", "within": {"last": 7}})
    assert isinstance(rule, Event) and rule.type == "page" and rule.event == ()


@pytest.mark.parametrize(
    "data",
    [
        {"trait": "country", "value": "FR"},
        {"computed": "spend", "op": "gte", "value": 100.5},
        {"not": {"identity": "email"}},
        {"consent": "email_marketing", "status": "denied"},
        {"segment": "vip"},
        {"type": "screen", "event": ["Cart", "Home"], "count": {"op": "lte", "value": 3}},
        {"any": [{"event": "opened", "count": {"op": "eq", "value": 0}, "within": {"last": 90}},
                 {"trait": "vip", "op": "ne", "value": True}]},
    ],
)  # fmt: skip
def test_the_json_form_reads_back_to_the_same_rule(data: dict[str, Any]) -> None:
    rule = parse_rule(data)
    assert parse_rule(rule_json(rule)) == rule
