"""No text a user writes into a rule can change a query: every string field, both engines.

A string either is refused with a :class:`RuleError` naming its field (names are allow-listed), or
reaches the engine as a value, matching exactly the rows that hold that very text. Afterwards
every table is intact.
"""

from __future__ import annotations

from typing import Any

import pytest

from profilo.audiences import (
    Context,
    RuleError,
    compile_rule,
    estimate_size,
    evaluate_segments,
    parse_text,
    preview_members,
    rule_text,
    save_segment,
)
from profilo.audiences.segments import compile_context, get_segment
from profilo.errors import ConfigError
from profilo.store import Store

from .conftest import AS_OF, Person, write_world

PAYLOADS = [
    "'; DROP TABLE profiles; --",
    "x' OR '1'='1",
    "\\'; DELETE FROM memberships; --",
    "$$; DROP TABLE profiles; $$",
    '") OR 1=1 --',
    "%' OR 1=1 --",
    "' UNION SELECT profile_id FROM profiles --",
    "\u02bc OR 1=1 --",
    "$.category' || '",
    "a\nb\r\tc",
]


@pytest.fixture
def loaded(store: Store) -> Store:
    people = [
        Person(
            f"p{i}",
            traits={"note": payload, "country": "FR"},
            events=[(payload, "track", AS_OF, {"category": payload, "n": i})],
        )
        for i, payload in enumerate(PAYLOADS)
    ]
    people.append(Person("bystander", traits={"note": "plain", "country": "FR"}))
    write_world(store, people)
    return store


def _intact(store: Store) -> None:
    counts = store.count_rows()
    assert counts["profiles"] == len(PAYLOADS) + 1
    assert counts["profile_events"] == len(PAYLOADS)


def _members(store: Store, rule: dict[str, Any], ctx: Context | None = None) -> set[str]:
    if ctx is None:  # the public path: checked, compiled, joined to the golden records
        table = preview_members(store, rule, limit=1000, as_of=AS_OF)
        return set(table.column("profile_id").to_pylist())
    return set(
        store.to_arrow(compile_rule(store, read(rule), ctx)).column("profile_id").to_pylist()
    )


def test_values_are_data(loaded: Store) -> None:
    ctx = compile_context(loaded, AS_OF)
    for i, payload in enumerate(PAYLOADS):
        _check_value(loaded, i, payload, ctx)
    _intact(loaded)


def _check_value(loaded: Store, i: int, payload: str, ctx: Context) -> None:
    expected = {f"p{i}"}
    rules: list[dict[str, Any]] = [
        {"trait": "note", "value": payload},
        {"trait": "note", "op": "in", "value": [payload, "nothing"]},
        {"trait": "note", "op": "starts_with", "value": payload},
        {"trait": "note", "op": "contains", "value": payload},
        {"event": payload},
        {"event": [payload, "other"]},
        {"event": payload, "where": [{"property": "category", "value": payload}]},
        {
            "event": payload,
            "where": [{"property": "category", "op": "starts_with", "value": payload}],
        },
        {"event": payload, "where": [{"property": "category", "op": "in", "value": [payload]}]},
    ]
    assert _members(loaded, rules[-1]) == expected
    for rule in rules:
        assert _members(loaded, rule, ctx) == expected, rule
        assert parse_text(rule_text(read(rule))) == read(rule)
    assert _members(loaded, {"not": {"trait": "note", "value": payload}}, ctx) == {
        f"p{j}" for j in range(len(PAYLOADS)) if j != i
    } | {"bystander"}


def read(rule: dict[str, Any]) -> Any:
    from profilo.audiences import parse_rule

    return parse_rule(rule)


def test_names_are_refused(loaded: Store) -> None:
    for payload in PAYLOADS:
        _check_name(loaded, payload)
    _intact(loaded)


def _check_name(loaded: Store, payload: str) -> None:
    for rule, field in [
        ({"trait": payload, "value": 1}, "rule.trait"),
        ({"computed": payload, "op": "exists"}, "rule.computed"),
        ({"identity": payload}, "rule.identity"),
        ({"consent": payload}, "rule.consent"),
        ({"segment": payload}, "rule.segment"),
        ({"event": "x", "where": [{"property": payload, "value": 1}]}, "rule.where[0].property"),
        ({"event": "x", "type": payload}, "rule.type"),
        ({"consent": "email_marketing", "status": payload}, "rule.status"),
        ({"trait": "note", "op": payload, "value": 1}, "rule.op"),
    ]:
        with pytest.raises(RuleError) as info:
            estimate_size(loaded, rule, as_of=AS_OF)
        assert any(path == field for path, _ in info.value.problems), (rule, info.value.problems)
    with pytest.raises(ConfigError, match="invalid segment name"):
        save_segment(loaded, payload, "has email")


def test_text_form_and_stored_fields_keep_payloads(loaded: Store) -> None:
    for i, payload in enumerate(PAYLOADS):
        rule = {"all": [{"trait": "note", "value": payload}, {"event": payload}]}
        name = f"seg_{i}"
        save_segment(loaded, name, rule_text(read(rule)), description=payload)
        stored = get_segment(loaded, name)
        assert stored.description == payload
        assert stored.rule == read(rule)
    run = evaluate_segments(loaded, as_of=AS_OF)
    assert {name: s["members"] for name, s in run.segments.items()} == {
        f"seg_{i}": 1 for i in range(len(PAYLOADS))
    }
    _intact(loaded)
