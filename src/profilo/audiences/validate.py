"""Check a parsed rule against what the workspace holds: names, kinds, segment references.

Every problem is reported with the path of the condition it is in, e.g.
``rule.all[0].trait: unknown trait 'contry'; did you mean country? known: city, country, …``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping

from profilo.audiences.rules import (
    AllOf,
    AnyOf,
    Computed,
    Consent,
    Identity,
    InSegment,
    Not,
    Rule,
    RuleError,
    Trait,
    _Compared,
    is_date,
)
from profilo.profiles.catalogue import Catalogue
from profilo.profiles.filters import value_kind

__all__ = ["OPS_BY_KIND", "leaves", "segment_references", "validate_rule"]

OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "string": ("eq", "ne", "in", "not_in", "contains", "starts_with", "exists", "not_exists"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "not_exists"),
    "date": ("eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists"),
    "boolean": ("eq", "ne", "exists", "not_exists"),
}


def leaves(rule: Rule, path: str = "rule") -> Iterator[tuple[str, Rule]]:
    """Every leaf condition with its path."""
    if isinstance(rule, AllOf):
        for i, child in enumerate(rule.all):
            yield from leaves(child, f"{path}.all[{i}]")
    elif isinstance(rule, AnyOf):
        for i, child in enumerate(rule.any):
            yield from leaves(child, f"{path}.any[{i}]")
    elif isinstance(rule, Not):
        yield from leaves(rule.not_, f"{path}.not")
    else:
        yield path, rule


def segment_references(rule: Rule) -> set[str]:
    """The segments a rule refers to."""
    return {leaf.segment for _, leaf in leaves(rule) if isinstance(leaf, InSegment)}


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    shown = ", ".join(names[:40]) + (", …" if len(names) > 40 else "") if names else "none"
    return f"unknown {kind} {name!r}{hint} known: {shown}"


def _compare(leaf: _Compared, what: str, kind: str) -> str | None:
    ops = OPS_BY_KIND[kind]
    if leaf.op not in ops:
        return f"operator {leaf.op!r} does not apply to {kind} {what}; valid: {', '.join(ops)}"
    for value in leaf.values:
        if kind == "date":
            if not is_date(value):
                return f"{what} is a date: compare it with a date written YYYY-MM-DD, not {value!r}"
        elif value_kind(value) != kind:
            return f"{what} is a {kind}: {value!r} is a {value_kind(value)}"
    return None


def validate_rule(
    rule: Rule,
    catalogue: Catalogue,
    *,
    computed_kinds: Mapping[str, str] | None = None,
    segment: str | None = None,
) -> None:
    """Raise :class:`RuleError` listing every condition that names something unknown or compares
    it wrongly. ``segment`` is the rule's own name (a segment cannot contain itself)."""
    computed = dict(catalogue.computed if computed_kinds is None else computed_kinds)
    problems: list[tuple[str, str]] = []
    for path, leaf in leaves(rule):
        kind: str | None
        if isinstance(leaf, Trait):
            kind = catalogue.traits.get(leaf.trait)
            if kind is None:
                problems.append((f"{path}.trait", _unknown("trait", leaf.trait, catalogue.traits)))
                continue
            problem = _compare(leaf, f"trait {leaf.trait!r}", kind)
            if problem:
                problems.append((f"{path}.{'op' if 'operator' in problem else 'value'}", problem))
        elif isinstance(leaf, Computed):
            kind = computed.get(leaf.computed)
            if kind is None:
                problems.append(
                    (f"{path}.computed", _unknown("computed trait", leaf.computed, computed))
                )
                continue
            problem = _compare(leaf, f"computed trait {leaf.computed!r}", kind)
            if problem:
                problems.append((f"{path}.{'op' if 'operator' in problem else 'value'}", problem))
        elif isinstance(leaf, Identity):
            if leaf.identity not in catalogue.identifier_types:
                problems.append(
                    (
                        f"{path}.identity",
                        _unknown("identifier type", leaf.identity, catalogue.identifier_types),
                    )
                )
        elif isinstance(leaf, Consent):
            if leaf.consent not in catalogue.purposes:
                problems.append(
                    (
                        f"{path}.consent",
                        _unknown("consent purpose", leaf.consent, catalogue.purposes),
                    )
                )
        elif isinstance(leaf, InSegment):
            if leaf.segment == segment:
                problems.append((f"{path}.segment", f"segment {segment!r} cannot contain itself"))
            elif leaf.segment not in catalogue.segments:
                problems.append(
                    (f"{path}.segment", _unknown("segment", leaf.segment, catalogue.segments))
                )
    if problems:
        raise RuleError(problems)
