"""The compiled query and the in-memory evaluator give the same members, on DuckDB and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from profilo.audiences import (
    compile_rule,
    evaluate_segments,
    matches,
    parse_rule,
    save_segment,
    validate_rule,
)
from profilo.audiences.realtime import load_states, read_definitions
from profilo.audiences.segments import compile_context, segment_catalogue
from profilo.profiles.traits import parse_trait, save_trait
from profilo.store import Store

from .conftest import AS_OF, EVENT_NAMES, random_people, write_world
from .strategies import GOLDEN, RULES, TRAITS


def _prepare(store: Store, seed: int) -> None:
    write_world(store, random_people(seed))
    for data in TRAITS:
        save_trait(store, parse_trait(data), as_of=AS_OF)
    save_segment(store, "base", 'trait country = "FR" or did "opened" in last 30 days')
    evaluate_segments(store, as_of=AS_OF)


def _compiled(store: Store, rule: dict[str, Any], setup: Any = None) -> set[str]:
    catalogue, ctx = setup or (segment_catalogue(store), compile_context(store, AS_OF))
    parsed = parse_rule(rule)
    validate_rule(parsed, catalogue)
    expr = compile_rule(store, parsed, ctx)
    return set(store.to_arrow(expr).column("profile_id").to_pylist())


def _evaluated(store: Store, rule: dict[str, Any], states: dict[str, Any], defs: Any) -> set[str]:
    parsed = parse_rule(rule)
    return {
        pid
        for pid, state in states.items()
        if matches(parsed, state, as_of=AS_OF, traits=defs.kinds, computed=defs.traits)
    }


@pytest.mark.parametrize("seed", [7])
def test_compiled_rules_match_the_evaluator(store: Store, seed: int) -> None:
    _prepare(store, seed)
    defs = read_definitions(store)
    # the rules here are not stored segments: load everything they may ask about
    defs.trait_names = set(GOLDEN)
    defs.event_names = set(EVENT_NAMES)
    defs.event_types = {"page", "track", "screen"}
    defs.lookback = None
    ids = [f"prf_{i:04d}" for i in range(80)]
    states = load_states(store, ids, defs, as_of=AS_OF)
    examples = 100 if store.engine == "duckdb" else 50
    setup = (segment_catalogue(store), compile_context(store, AS_OF))

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(RULES)
    def check(rule: dict[str, Any]) -> None:
        assert _compiled(store, rule, setup) == _evaluated(store, rule, states, defs), rule

    check()


def test_the_world_is_varied(store: Store) -> None:
    """Guard against a generator that makes every rule trivially empty or full."""
    _prepare(store, 7)
    sizes = {
        text: len(_compiled(store, rule))
        for text, rule in {
            "fr": {"trait": "country", "value": "FR"},
            "orders2": {"event": "Order Completed", "count": {"op": "gte", "value": 2}},
            "no_open": {
                "event": "opened",
                "within": {"last": 30},
                "count": {"op": "eq", "value": 0},
            },
            "since": {"computed": "since_order", "op": "lte", "value": 30},
            "shoes": {"event": EVENT_NAMES, "where": [{"property": "category", "value": "shoes"}]},
        }.items()
    }
    assert all(0 < n < 80 for n in sizes.values()), sizes


def test_computed_traits_in_python_equal_the_stored_ones(store: Store) -> None:
    """Each aggregate's Python form gives, on the random world, the value SQL computed."""
    from profilo.audiences.realtime import RealtimeSegments
    from profilo.profiles.traits import compute_value

    _prepare(store, 11)
    defs = read_definitions(store)
    defs.event_names = set(EVENT_NAMES)
    defs.event_types = {"page", "track", "screen"}
    defs.lookback = None
    ids = [f"prf_{i:04d}" for i in range(80)]
    stored = load_states(store, ids, defs, as_of=AS_OF)
    for pid, state in stored.items():
        for name, definition in defs.traits.items():
            python = compute_value(definition, state.events, AS_OF)
            sql = state.computed.get(name)
            if isinstance(sql, float) and isinstance(python, float):
                assert python == pytest.approx(sql), (pid, name)
            else:
                assert python == sql, (pid, name)
    assert RealtimeSegments(store).definitions.traits.keys() == defs.traits.keys()
