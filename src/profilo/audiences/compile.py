"""Compile a segment rule into an Ibis expression: the profile ids of its members.

Each condition becomes a predicate on the profile id — mostly ``profile_id IN (subquery)`` over
one derived table (``profile_traits``, ``computed_traits``, ``identities``, ``profile_consents``,
``profile_events``, ``memberships``) — and groups become AND, OR and NOT of predicates over
``profiles``. Every value a user wrote reaches the engine as a literal Ibis binds and quotes
(never as SQL text), and every name becomes a compared value, never an identifier, so the same
expression runs on DuckDB and PostgreSQL and no input can change the query's shape.

Meanings (the Python evaluator in :mod:`profilo.audiences.evaluate` follows them exactly):

* a golden trait compares as its kind: numbers as numbers (a value that is not a number never
  matches), dates as the text of their first ten characters (the ISO day: the profiles step keeps
  valid values only, normalised), booleans as ``true``/``false``, others as text;
  ``ne`` and ``not in`` need the trait to be set (``not (trait x = 1)`` does not);
* computed traits compare their stored value; counts and sums read 0 when absent; ``days_since``
  is whole days from the last event to ``as_of``; date-valued traits compare by UTC day;
* event conditions count the profile's events that match, up to ``as_of``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

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
    _Compared,
)
from profilo.profiles.filters import event_predicate, timestamp_literal
from profilo.profiles.traits import TraitDefinition
from profilo.store import Store

__all__ = [
    "NUMBER_PATTERN",
    "Context",
    "compile_rule",
    "day_bounds",
    "days_since_bounds",
    "holds",
    "leaf_members",
    "typed_trait",
]

NUMBER_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,2})?$"
"""Text a number-kind golden trait must look like to compare as a number."""
_DAY = timedelta(days=1)
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


@dataclass
class Context:
    """What compiling needs besides the rule."""

    as_of: datetime
    traits: Mapping[str, str] = field(default_factory=dict)
    """Golden trait name → kind (string, number, date, boolean)."""
    computed: Mapping[str, TraitDefinition] = field(default_factory=dict)
    profiles: ir.Table | None = None
    """Only these profiles (a table with ``profile_id``): every table read is cut to them."""
    members: Callable[[str], ir.Table] | None = None
    """The members of another segment (default: its current ``memberships``)."""
    tables: dict[str, ir.Table] = field(default_factory=dict)
    """Table expressions already asked of the store (each ``store.table`` reads a schema)."""


def holds(op: str, value: Any, literals: Sequence[Any]) -> bool:
    """Python's reading of a comparison of a known value (used for the zero of counts)."""
    first = literals[0] if literals else None
    if op == "eq":
        return bool(value == first)
    if op == "ne":
        return bool(value != first)
    if op == "gt":
        return bool(value > first)
    if op == "gte":
        return bool(value >= first)
    if op == "lt":
        return bool(value < first)
    if op == "lte":
        return bool(value <= first)
    if op == "in":
        return value in literals
    if op == "not_in":
        return value not in literals
    if op == "contains":
        return str(first) in str(value)
    if op == "starts_with":
        return str(value).startswith(str(first))
    return op == "exists"


def _shift(moment: datetime, days: float) -> datetime:
    """``moment`` minus ``days`` days, clamped to the years 1–9999."""
    try:
        return moment - timedelta(days=days)
    except OverflowError:
        return _EARLIEST if days > 0 else _LATEST


def days_since_bounds(
    op: str, k: float, as_of: datetime
) -> list[tuple[datetime | None, datetime | None]]:
    """Time ranges ``(after, up_to)`` (``after < t <= up_to``) where ``floor((as_of - t) / 1 day)``
    compares ``op k``; an empty list means never."""
    if op == "gte":
        return [(None, _shift(as_of, math.ceil(k)))]
    if op == "gt":
        return [(None, _shift(as_of, math.floor(k) + 1))]
    if op == "lte":
        return [(_shift(as_of, math.floor(k) + 1), None)]
    if op == "lt":
        return [(_shift(as_of, math.ceil(k)), None)]
    # eq: only whole numbers of days can be equal
    if k != math.floor(k):
        return []
    return [(_shift(as_of, k + 1), _shift(as_of, k))]


def day_bounds(op: str, day: date) -> tuple[datetime | None, datetime | None]:
    """The time range ``[start, end)`` of instants whose UTC day compares ``op day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        end = start + _DAY
    except OverflowError:
        end = _LATEST
    return {
        "eq": (start, end),
        "gt": (end, None),
        "gte": (start, None),
        "lt": (None, start),
        "lte": (None, end),
    }[op]


def _compare(value: Any, op: str, literals: Sequence[Any]) -> ir.BooleanValue:
    """A value compared with bound literals. An unknown (NULL) value never passes: in a WHERE
    clause a comparison with NULL is not true, so no separate test is needed."""
    first = literals[0] if literals else None
    if op == "eq":
        return value == first  # type: ignore[no-any-return]
    if op == "ne":
        return value != first  # type: ignore[no-any-return]
    if op == "gt":
        return value > first  # type: ignore[no-any-return]
    if op == "gte":
        return value >= first  # type: ignore[no-any-return]
    if op == "lt":
        return value < first  # type: ignore[no-any-return]
    if op == "lte":
        return value <= first  # type: ignore[no-any-return]
    if op == "in":
        return value.isin(list(literals))  # type: ignore[no-any-return]
    if op == "not_in":
        return value.notin(list(literals))  # type: ignore[no-any-return]
    if op == "contains":
        return value.contains(str(first))  # type: ignore[no-any-return]
    if op == "starts_with":
        return value.startswith(str(first))  # type: ignore[no-any-return]
    if op == "exists":
        return value.notnull()  # type: ignore[no-any-return]
    return value.isnull()  # type: ignore[no-any-return]


def typed_trait(text: Any, kind: str) -> Any:
    """A golden trait's text as the kind it compares as (NULL when it does not read as one)."""
    if kind == "number":
        return ibis.ifelse(
            text.re_search(NUMBER_PATTERN), text.cast("float64"), ibis.null("float64")
        )
    if kind == "date":  # the profiles step keeps valid values only, normalised to ISO
        return text.substr(0, 10)
    if kind == "boolean":
        return text.lower()
    return text


def _between(column: Any, after: datetime | None, up_to: datetime | None) -> ir.BooleanValue:
    parts = [column.notnull()]
    if after is not None:
        parts.append(column > timestamp_literal(after))
    if up_to is not None:
        parts.append(column <= timestamp_literal(up_to))
    return ibis.and_(*parts)


def _in_range(column: Any, start: datetime | None, end: datetime | None) -> ir.BooleanValue:
    parts = [column.notnull()]
    if start is not None:
        parts.append(column >= timestamp_literal(start))
    if end is not None:
        parts.append(column < timestamp_literal(end))
    return ibis.and_(*parts)


@dataclass(frozen=True)
class _Set:
    """What one leaf condition selects: ``ids`` (positive) or everyone but ``ids``; ``unique``
    when each profile appears at most once in ``ids`` (so it can drive a query by itself)."""

    ids: ir.Table
    positive: bool
    unique: bool


class _Compiler:
    def __init__(self, store: Store, ctx: Context) -> None:
        self.store = store
        self.ctx = ctx
        self._tables: dict[str, ir.Table] = {}

    def table(self, name: str) -> ir.Table:
        if name not in self._tables:  # each store.table() asks the engine for the schema
            if name not in self.ctx.tables:
                self.ctx.tables[name] = self.store.table(name)
            table = self.ctx.tables[name]
            if self.ctx.profiles is not None:
                table = table.semi_join(self.ctx.profiles, "profile_id")
            self._tables[name] = table
        return self._tables[name]

    def base(self) -> ir.Table:
        return self.table("profiles").select("profile_id")

    def members(self, rule: Rule) -> ir.Table:
        """The members, shaped like a hand-written query: the most selective-looking condition
        that lists each profile once drives; other conditions of the same AND become semi-joins
        (anti-joins when negative); OR and nested groups become predicates."""
        children = list(rule.all) if isinstance(rule, AllOf) else [rule]
        sets: dict[int, _Set] = {}
        for i, child in enumerate(children):
            leaf = child.not_ if isinstance(child, Not) and _is_leaf(child.not_) else child
            if _is_leaf(leaf):
                found = self.leaf(leaf)
                if leaf is not child:
                    found = _Set(found.ids, not found.positive, False)
                sets[i] = found
        driver = next((i for i, found in sets.items() if found.positive and found.unique), None)
        if driver is None:  # a set with repeats drives once made distinct: still no full scan
            driver = next((i for i, found in sets.items() if found.positive), None)
            if driver is not None:
                sets[driver] = _Set(sets[driver].ids.distinct(), True, True)
        base = sets[driver].ids if driver is not None else self.base()
        for i, child in enumerate(children):
            if i == driver:
                continue
            if i in sets:
                found = sets[i]
                join = base.semi_join if found.positive else base.anti_join
                base = join(found.ids, "profile_id")
            else:
                base = base.filter(self.predicate(child, base.profile_id))
        return base.select("profile_id")

    def predicate(self, rule: Rule, pid: ir.StringColumn) -> ir.BooleanValue:
        if isinstance(rule, AllOf):
            return ibis.and_(*(self.predicate(c, pid) for c in rule.all))
        if isinstance(rule, AnyOf):
            return ibis.or_(*(self.predicate(c, pid) for c in rule.any))
        if isinstance(rule, Not):
            return ~self.predicate(rule.not_, pid)
        found = self.leaf(rule)
        inside = pid.isin(found.ids.profile_id)
        return inside if found.positive else ~inside

    def leaf(self, rule: Rule) -> _Set:
        if isinstance(rule, Trait):
            return self.trait(rule)
        if isinstance(rule, Computed):
            return self.computed(rule)
        if isinstance(rule, Identity):
            ids = self.table("identities")
            ids = ids.filter(
                ids.id_type == rule.identity, ids.status == "linked", ids.profile_id.notnull()
            )
            return _Set(ids.select("profile_id"), True, False)
        if isinstance(rule, Consent):
            consents = self.table("profile_consents")
            consents = consents.filter(
                consents.purpose == rule.consent, consents.status == rule.status
            )
            return _Set(consents.select("profile_id"), True, True)
        if isinstance(rule, Event):
            return self.event(rule)
        assert isinstance(rule, InSegment)
        if self.ctx.members is not None:
            return _Set(self.ctx.members(rule.segment).select("profile_id"), True, True)
        members = self.table("memberships")
        return _Set(
            members.filter(members.segment == rule.segment).select("profile_id"), True, True
        )

    def trait(self, rule: Trait) -> _Set:
        kind = self.ctx.traits.get(rule.trait, "string")
        rows = self.table("profile_traits")
        rows = rows.filter(rows.trait == rule.trait)
        value = typed_trait(rows.value, kind)
        literals: list[Any] = list(rule.values)
        if kind == "boolean":
            literals = ["true" if v else "false" for v in literals]
        if rule.op in ("exists", "not_exists"):
            have = rows.filter(value.notnull()).select("profile_id")
            return _Set(have, rule.op == "exists", True)
        return _Set(
            rows.filter(_compare(value, rule.op, literals)).select("profile_id"), True, True
        )

    def computed(self, rule: Computed) -> _Set:
        definition = self.ctx.computed[rule.computed]
        rows = self.table("computed_traits")
        rows = rows.filter(rows.trait == rule.computed)
        column = rows[definition.column]
        if rule.op in ("exists", "not_exists"):
            have = rows.filter(column.notnull()).select("profile_id")
            return _Set(have, rule.op == "exists", True)
        matches = self.computed_match(rule, definition, rows)
        if definition.zero_when_absent and holds(rule.op, 0.0, rule.values):
            # absent reads as 0, which passes: members are all but those whose value fails
            return _Set(rows.filter(column.notnull() & ~matches).select("profile_id"), False, True)
        return _Set(rows.filter(matches).select("profile_id"), True, True)

    def computed_match(
        self, rule: _Compared, definition: TraitDefinition, rows: ir.Table
    ) -> ir.BooleanValue:
        values = rule.values
        if definition.aggregate == "days_since":
            stamp = rows.time_value
            if rule.op in ("eq", "ne", "in", "not_in"):
                ranges = [
                    r for v in values for r in days_since_bounds("eq", float(v), self.ctx.as_of)
                ]
                inside = (
                    ibis.or_(*(_between(stamp, a, b) for a, b in ranges))
                    if ranges
                    else ibis.literal(False)
                )
                if rule.op in ("eq", "in"):
                    return stamp.notnull() & inside
                return stamp.notnull() & ~inside
            (after, up_to) = days_since_bounds(rule.op, float(values[0]), self.ctx.as_of)[0]
            return _between(stamp, after, up_to)
        if definition.value_kind == "date":
            stamp = rows.time_value
            day = date.fromisoformat(str(values[0]))
            if rule.op == "ne":
                start, end = day_bounds("eq", day)
                return stamp.notnull() & ~_in_range(stamp, start, end)
            start, end = day_bounds(rule.op, day)
            return _in_range(stamp, start, end)
        column = rows.number_value if definition.column == "number_value" else rows.text_value
        return _compare(column, rule.op, list(values))

    def event(self, rule: Event) -> _Set:
        events = self.table("profile_events")
        matched = events.filter(event_predicate(events, rule.filter, self.ctx.as_of))
        op, n = rule.count.op, rule.count.value
        if op == "gte" and n == 1:
            return _Set(matched.select("profile_id"), True, False)
        if op == "eq" and n == 0:
            return _Set(matched.select("profile_id"), False, False)
        counts = matched.group_by("profile_id").aggregate(n=matched.count())
        if op == "gte":
            return _Set(counts.filter(counts.n >= n).select("profile_id"), True, True)
        if op == "lte":  # at most n: all but those with more (none counts as 0)
            return _Set(counts.filter(counts.n > n).select("profile_id"), False, True)
        return _Set(counts.filter(counts.n == n).select("profile_id"), True, True)


def _is_leaf(rule: Rule) -> bool:
    return not isinstance(rule, AllOf | AnyOf | Not)


def leaf_members(store: Store, leaf: Rule, ctx: Context) -> tuple[ir.Table, bool]:
    """One leaf condition as ``(ids, positive)``: its members are ``ids`` (distinct), or everyone
    but ``ids`` when not ``positive``. The real-time path holds these sets in memory."""
    found = _Compiler(store, ctx).leaf(leaf)
    ids = found.ids if found.unique else found.ids.distinct()
    return ids, found.positive


def compile_rule(store: Store, rule: Rule, ctx: Context) -> ir.Table:
    """The members of ``rule`` as an expression with one column, ``profile_id``.

    >>> from profilo.store import open_store
    >>> from profilo.audiences.rules import parse_rule
    >>> store = open_store("duckdb://:memory:", migrate=True)
    >>> expr = compile_rule(store, parse_rule({"identity": "email"}), Context(as_of=datetime.now(UTC)))
    >>> store.to_arrow(expr).num_rows
    0
    """
    return _Compiler(store, ctx).members(rule)
