"""Evaluate a rule for one profile held in memory: the real-time reading of the compiler.

:func:`matches` gives, for one :class:`ProfileState`, the answer the compiled query gives for
that profile (see :mod:`profilo.audiences.compile` for the meanings); tests run both on the same
data and compare. Re-evaluating one profile this way costs microseconds, not a query per segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from profilo.audiences.compile import NUMBER_PATTERN, holds
from profilo.audiences.rules import (
    AllOf,
    AnyOf,
    Computed,
    Consent,
    Event,
    Identity,
    InSegment,
    Not,
    Rule,
    Trait,
)
from profilo.profiles.filters import event_matches
from profilo.profiles.traits import EventRow, TraitDefinition, days_between

__all__ = ["ProfileState", "matches", "typed_trait_value"]

_NUMBER = re.compile(NUMBER_PATTERN)


@dataclass
class ProfileState:
    """What rules can ask of one profile."""

    profile_id: str
    traits: dict[str, str] = field(default_factory=dict)
    computed: dict[str, float | str | datetime] = field(default_factory=dict)
    identities: set[str] = field(default_factory=set)
    consents: dict[str, str] = field(default_factory=dict)
    events: list[EventRow] = field(default_factory=list)
    segments: set[str] = field(default_factory=set)


def typed_trait_value(text: str | None, kind: str) -> Any:
    """A golden trait's text as the kind it compares as (None when it does not read as one)."""
    if text is None:
        return None
    if kind == "number":
        return float(text) if _NUMBER.search(text) and "\n" not in text else None
    if kind == "date":
        return text[:10]
    if kind == "boolean":
        return text.lower()
    return text


def _compare(value: Any, op: str, literals: tuple[Any, ...]) -> bool:
    if op == "exists":
        return value is not None
    if op == "not_exists":
        return value is None
    if value is None:
        return False
    return holds(op, value, literals)


def _computed(rule: Computed, definition: TraitDefinition, value: Any, as_of: datetime) -> bool:
    if definition.aggregate == "days_since":
        days = days_between(as_of, value)
        return holds(rule.op, days, rule.values)
    if definition.value_kind == "date":
        day = value.astimezone(UTC).date()
        return holds(rule.op, day, tuple(date.fromisoformat(str(v)) for v in rule.values))
    return holds(rule.op, value, rule.values)


def matches(
    rule: Rule,
    state: ProfileState,
    *,
    as_of: datetime,
    traits: Mapping[str, str],
    computed: Mapping[str, TraitDefinition],
) -> bool:
    """Whether the profile meets the rule, as of ``as_of``."""

    def test(node: Rule) -> bool:
        if isinstance(node, AllOf):
            return all(test(c) for c in node.all)
        if isinstance(node, AnyOf):
            return any(test(c) for c in node.any)
        if isinstance(node, Not):
            return not test(node.not_)
        if isinstance(node, Trait):
            kind = traits.get(node.trait, "string")
            value = typed_trait_value(state.traits.get(node.trait), kind)
            literals = node.values
            if kind == "boolean":
                literals = tuple("true" if v else "false" for v in literals)
            return _compare(value, node.op, literals)
        if isinstance(node, Computed):
            definition = computed[node.computed]
            value = state.computed.get(node.computed)
            if node.op in ("exists", "not_exists"):
                return (value is not None) == (node.op == "exists")
            if value is None:
                return definition.zero_when_absent and holds(node.op, 0.0, node.values)
            return _computed(node, definition, value, as_of)
        if isinstance(node, Identity):
            return node.identity in state.identities
        if isinstance(node, Consent):
            return state.consents.get(node.consent) == node.status
        if isinstance(node, Event):
            spec = node.filter
            n = sum(
                1
                for e in state.events
                if event_matches(e.event, e.type, e.timestamp, e.properties, spec, as_of)
            )
            return holds(node.count.op, n, (node.count.value,))
        assert isinstance(node, InSegment)
        return node.segment in state.segments

    return test(rule)
