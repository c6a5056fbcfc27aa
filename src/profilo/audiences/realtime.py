"""Real-time re-evaluation: when a profile's data changes, its traits and segments follow at once.

:class:`RealtimeSegments` holds the definitions (segments in dependency order, computed traits,
trait kinds) and, for a handful of profiles (those a new event, an identify or a merge touched),
loads what rules ask about in a few small queries, recomputes their computed traits and segments
in memory with the same meanings as the batch compiler, and writes only the differences:
computed trait values, memberships, history and outbox. :meth:`RealtimeSegments.ingest` first
appends new events to ``profile_events``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from profilo.audiences.evaluate import ProfileState, matches
from profilo.audiences.memberships import Change, record_changes
from profilo.audiences.rules import Event, Rule, Trait
from profilo.audiences.segments import dependency_order, list_segments
from profilo.audiences.validate import leaves
from profilo.profiles.catalogue import read_catalogue
from profilo.profiles.filters import EventFilter, parse_properties, timestamp_literal
from profilo.profiles.traits import EventRow, TraitDefinition, compute_value, list_traits
from profilo.store import Store, new_id

__all__ = ["Definitions", "RealtimeSegments", "Reevaluation", "load_states", "read_definitions"]

_TS = pa.timestamp("us", tz="UTC")
_EVENT_SCHEMA = pa.schema(
    [
        ("profile_id", pa.string()),
        ("message_id", pa.string()),
        ("source", pa.string()),
        ("record_key", pa.string()),
        ("type", pa.string()),
        ("event", pa.string()),
        ("timestamp", _TS),
        ("properties", pa.string()),
    ]
)


@dataclass
class Definitions:
    """Everything real-time evaluation needs to know before looking at a profile."""

    segments: list[tuple[str, Rule]] = field(default_factory=list)
    traits: dict[str, TraitDefinition] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    trait_names: set[str] = field(default_factory=set)
    event_names: set[str] = field(default_factory=set)
    event_types: set[str] = field(default_factory=set)
    lookback: timedelta | None = None
    """How far back events can matter (None: for ever)."""


def read_definitions(store: Store) -> Definitions:
    """Segments, computed traits and trait kinds, and what they need from a profile."""
    stored = {s.name: s.rule for s in list_segments(store) if s.archived_at is None}
    order = dependency_order(stored)
    traits = {d.name: d for d in list_traits(store)}
    defs = Definitions(
        segments=[(name, stored[name]) for name in order],
        traits=traits,
        kinds=dict(read_catalogue(store).traits),
    )
    filters: list[EventFilter] = []
    for definition in traits.values():
        filters.append(definition.filter)
        if definition.aggregate == "ratio":
            filters.append(definition.per_filter)
    for _, rule in defs.segments:
        for _, leaf in leaves(rule):
            if isinstance(leaf, Trait):
                defs.trait_names.add(leaf.trait)
            elif isinstance(leaf, Event):
                filters.append(leaf.filter)
    unbounded = False
    longest = 0
    for spec in filters:
        if spec.events:
            defs.event_names.update(spec.events)
        elif spec.type is not None:
            defs.event_types.add(spec.type)
        if spec.within is None:
            unbounded = True
        else:
            longest = max(longest, spec.within.seconds)
    defs.lookback = None if unbounded or not filters else timedelta(seconds=longest)
    return defs


def _scope(table: ir.Table, profile_ids: Sequence[str]) -> ir.Table:
    if len(profile_ids) <= 500:
        return table.filter(table.profile_id.isin(list(profile_ids)))
    ids = ibis.memtable(pa.table({"profile_id": pa.array(list(profile_ids), pa.string())}))
    return table.semi_join(ids, "profile_id")


def load_states(
    store: Store,
    profile_ids: Sequence[str],
    definitions: Definitions,
    *,
    as_of: datetime,
    computed: bool = True,
    tables: Callable[[str], ir.Table] | None = None,
) -> dict[str, ProfileState]:
    """What rules ask of each profile, read in one query per table.

    ``computed`` reads the stored computed trait values (the real-time path computes them
    itself instead).
    """
    states = {pid: ProfileState(profile_id=pid) for pid in profile_ids}
    if not states:
        return states
    ids = list(states)
    table = tables or store.table
    if definitions.trait_names:
        rows = _scope(table("profile_traits"), ids)
        rows = rows.filter(rows.trait.isin(sorted(definitions.trait_names)))
        data = store.to_arrow(rows.select("profile_id", "trait", "value"))
        for pid, trait, value in zip(*(data.column(i).to_pylist() for i in range(3)), strict=True):
            states[pid].traits[trait] = value
    identities = _scope(table("identities"), ids)
    identities = identities.filter(identities.status == "linked")
    data = store.to_arrow(identities.select("profile_id", "id_type").distinct())
    for pid, kind in zip(*(data.column(i).to_pylist() for i in range(2)), strict=True):
        states[pid].identities.add(kind)
    consents = _scope(table("profile_consents"), ids)
    data = store.to_arrow(consents.select("profile_id", "purpose", "status"))
    for pid, purpose, status in zip(*(data.column(i).to_pylist() for i in range(3)), strict=True):
        states[pid].consents[purpose] = status
    members = _scope(table("memberships"), ids)
    data = store.to_arrow(members.select("profile_id", "segment"))
    for pid, segment in zip(*(data.column(i).to_pylist() for i in range(2)), strict=True):
        states[pid].segments.add(segment)
    if definitions.event_names or definitions.event_types:
        events = _scope(table("profile_events"), ids)
        wanted = []
        if definitions.event_names:
            wanted.append(events.event.isin(sorted(definitions.event_names)))
        if definitions.event_types:
            wanted.append(events.type.isin(sorted(definitions.event_types)))
        events = events.filter(ibis.or_(*wanted))
        if definitions.lookback is not None:
            events = events.filter(
                events.timestamp >= timestamp_literal(as_of - definitions.lookback)
            )
        data = store.to_arrow(
            events.select("profile_id", "message_id", "event", "type", "timestamp", "properties")
        )
        columns = [data.column(i).to_pylist() for i in range(6)]
        for pid, mid, name, type_, stamp, props in zip(*columns, strict=True):
            states[pid].events.append(EventRow(mid, name, type_, stamp, parse_properties(props)))
    if computed and definitions.traits:
        rows = _scope(table("computed_traits"), ids)
        data = store.to_arrow(
            rows.select("profile_id", "trait", "number_value", "text_value", "time_value")
        )
        for row in data.to_pylist():
            definition = definitions.traits.get(row["trait"])
            if definition is not None:
                states[row["profile_id"]].computed[row["trait"]] = row[definition.column]
    return states


@dataclass
class Reevaluation:
    """What one real-time pass did."""

    profiles: int
    changes: list[Change]
    seconds: float


class RealtimeSegments:
    """Re-evaluates the segments of a few profiles at a time (see the module's docstring)."""

    def __init__(self, store: Store, definitions: Definitions | None = None) -> None:
        self.store = store
        self.definitions = definitions or read_definitions(store)
        self._tables: dict[str, ir.Table] = {}

    def _table(self, name: str) -> ir.Table:
        # each store.table() asks the engine for the schema: once per table is enough
        if name not in self._tables:
            self._tables[name] = self.store.table(name)
        return self._tables[name]

    def reload(self) -> None:
        """Read the definitions again (after a segment or trait changed)."""
        self.definitions = read_definitions(self.store)

    def evaluate(
        self, profile_ids: Iterable[str], *, as_of: datetime | None = None
    ) -> tuple[dict[str, ProfileState], dict[str, set[str]]]:
        """States with freshly computed traits, and the segments each profile belongs in now."""
        states, answer, _ = self._evaluate(sorted(set(profile_ids)), as_of or datetime.now(UTC))
        return states, answer

    def _evaluate(
        self, ids: list[str], as_of: datetime
    ) -> tuple[dict[str, ProfileState], dict[str, set[str]], dict[str, set[str]]]:
        defs = self.definitions
        known = {name for name, _ in defs.segments}
        states = load_states(self.store, ids, defs, as_of=as_of, computed=False, tables=self._table)
        before = {pid: state.segments & known for pid, state in states.items()}
        answer: dict[str, set[str]] = {}
        for pid, state in states.items():
            for name, definition in defs.traits.items():
                value = compute_value(definition, state.events, as_of)
                if value is not None:
                    state.computed[name] = value
            now_in = set(before[pid])
            for name, rule in defs.segments:
                state.segments = now_in
                if matches(rule, state, as_of=as_of, traits=defs.kinds, computed=defs.traits):
                    now_in.add(name)
                else:
                    now_in.discard(name)
            answer[pid] = now_in
        return states, answer, before

    def reevaluate(
        self,
        profile_ids: Iterable[str],
        *,
        as_of: datetime | None = None,
        trigger: str = "realtime",
    ) -> Reevaluation:
        """Recompute the profiles' traits and segments; write what changed."""
        started = time.perf_counter()
        as_of = as_of or datetime.now(UTC)
        ids = sorted(set(profile_ids))
        states, after, before = self._evaluate(ids, as_of)
        changes: list[Change] = []
        entered: dict[str, list[str]] = {}
        exited: dict[str, list[str]] = {}
        for pid in ids:
            old, new = before.get(pid, set()), after.get(pid, set())
            for name in sorted(new - old):
                entered.setdefault(name, []).append(pid)
                changes.append(Change(name, pid, "enter"))
            for name in sorted(old - new):
                exited.setdefault(name, []).append(pid)
                changes.append(Change(name, pid, "exit"))
        with self.store.transaction():
            self._write_traits(ids, states)
            record_changes(
                self.store,
                new_id(),
                {
                    name: (entered.get(name, []), exited.get(name, []))
                    for name, _ in self.definitions.segments
                    if name in entered or name in exited
                },
                trigger=trigger,
            )
        return Reevaluation(len(ids), changes, round(time.perf_counter() - started, 4))

    def ingest(self, events: pa.Table, *, as_of: datetime | None = None) -> Reevaluation:
        """Append events (``profile_events`` columns, profile ids resolved) and re-evaluate their
        profiles."""
        data = events.select(_EVENT_SCHEMA.names).cast(_EVENT_SCHEMA)
        with self.store.transaction():
            self.store.replace_rows("profile_events", data)
            return self.reevaluate(data.column("profile_id").to_pylist(), as_of=as_of)

    def _write_traits(self, ids: Sequence[str], states: dict[str, ProfileState]) -> None:
        traits = self.definitions.traits
        if not traits or not ids:
            return
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for pid in ids:
            for name, value in states[pid].computed.items():
                definition = traits[name]
                row: dict[str, Any] = {
                    "profile_id": pid,
                    "trait": name,
                    "number_value": None,
                    "text_value": None,
                    "time_value": None,
                    "computed_at": now,
                }
                row[definition.column] = value
                rows.append(row)
        match = pa.table(
            {
                "profile_id": pa.array([p for p in ids for _ in traits], pa.string()),
                "trait": pa.array([t for _ in ids for t in traits], pa.string()),
            }
        )
        schema = pa.schema(
            [
                ("profile_id", pa.string()),
                ("trait", pa.string()),
                ("number_value", pa.float64()),
                ("text_value", pa.string()),
                ("time_value", _TS),
                ("computed_at", _TS),
            ]
        )
        data = pa.Table.from_pylist(rows, schema=schema) if rows else None
        self.store.replace_rows("computed_traits", data, match=match)
