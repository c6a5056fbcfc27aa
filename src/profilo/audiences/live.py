"""Live segments: membership kept in memory and moved by each incoming event, at stream rates.

:class:`~profilo.audiences.realtime.RealtimeSegments` reads a profile's data from the store on
every pass: exact for every rule and trait, and right for an identify or a merge, but a columnar
engine answers point reads in milliseconds, so it cannot follow hundreds of events per second.
:class:`LiveSegments` is the stream-rate path. :meth:`LiveSegments.warm` reads, once and in bulk,
what the segments' rules ask about:

* each condition that events do not change (traits, identities, consents, and computed traits
  that cannot be updated event by event) becomes the set of profile ids the batch compiler's own
  query selects for it, so it means exactly what it means in batch;
* each event condition becomes, per profile, the times of its matching events inside its window
  (or their count when it has no window): windows then move with ``as_of`` without a query;
* computed traits that one event updates exactly (``count``, ``sum``, ``min``, ``max``,
  ``first``, ``last``, ``days_since``) keep their stored values and follow each event (the windows
  of computed traits age at the next batch refresh);
* current memberships.

:meth:`LiveSegments.ingest` then takes events (already attributed to profiles), updates that
state, re-evaluates only those profiles' segments in dependency order and writes every entry and
exit to the history and the outbox at once, in one transaction; the events themselves
(``profile_events``), the ``memberships`` table and computed trait values follow at most every
``flush_seconds`` (see :meth:`LiveSegments.flush`). After an identify or a merge, :meth:`LiveSegments.reload` reads
those profiles again.
"""

from __future__ import annotations

import bisect
import gc
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from profilo.audiences.compile import Context, holds, leaf_members
from profilo.audiences.evaluate import matches
from profilo.audiences.memberships import Change, record_changes
from profilo.audiences.realtime import Definitions, load_states, read_definitions
from profilo.audiences.rules import AllOf, AnyOf, Computed, Event, InSegment, Not, Rule, rule_json
from profilo.audiences.validate import leaves
from profilo.profiles.filters import EventFilter, event_matches, event_predicate, parse_properties
from profilo.profiles.traits import EventRow, TraitDefinition, days_between
from profilo.store import Store, new_id

__all__ = ["LiveSegments"]

_TS = pa.timestamp("us", tz="UTC")
_INCREMENTAL = frozenset({"count", "sum", "min", "max", "first", "last", "days_since"})
_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
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


def _key(leaf: Rule) -> str:
    return json.dumps(rule_json(leaf), sort_keys=True)


def _unwindowed(spec: EventFilter) -> EventFilter:
    return EventFilter(events=spec.events, type=spec.type, where=spec.where)


@dataclass
class _EventState:
    """Times of one event condition's matching events per profile (or counts, without window)."""

    spec: EventFilter
    any_time: EventFilter
    times: dict[str, list[datetime]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, pid: str, stamp: datetime) -> None:
        if self.spec.within is None:
            self.counts[pid] = self.counts.get(pid, 0) + 1
        else:
            bisect.insort(self.times.setdefault(pid, []), stamp)

    def count(self, pid: str, as_of: datetime) -> int:
        if self.spec.within is None:
            return self.counts.get(pid, 0)
        stamps = self.times.get(pid)
        if not stamps:
            return 0
        start = self.spec.within.start(as_of)
        if stamps[0] < start:  # forget what has left the window
            del stamps[: bisect.bisect_left(stamps, start)]
        return bisect.bisect_right(stamps, as_of) - bisect.bisect_left(stamps, start)


@dataclass
class LiveReport:
    """What one :meth:`LiveSegments.ingest` did."""

    events: int
    profiles: int
    changes: list[Change]
    seconds: float


class LiveSegments:
    """Segment membership held in memory, moved by events (see the module's docstring)."""

    def __init__(
        self,
        store: Store,
        definitions: Definitions | None = None,
        *,
        flush_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._pending: set[tuple[str, str]] = set()
        self._moved: dict[tuple[str, str], datetime | None] = {}
        self._arrived: list[pa.Table] = []
        self._next_position = 1
        self._keys: dict[int, str] = {}
        self._flushed = time.monotonic()
        self.definitions = definitions or read_definitions(store)
        self.static: dict[str, tuple[set[str], bool]] = {}
        self.events: dict[str, _EventState] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}
        self.warmed_at: datetime | None = None
        self.warm_seconds = 0.0

    # -- loading -----------------------------------------------------------------------------

    def _computed_live(self, name: str) -> TraitDefinition | None:
        definition = self.definitions.traits.get(name)
        return definition if definition and definition.aggregate in _INCREMENTAL else None

    def warm(self, *, as_of: datetime | None = None) -> None:
        """Read what every segment asks about, for every profile (a few bulk queries)."""
        started = time.perf_counter()
        as_of = as_of or datetime.now(UTC)
        defs = self.definitions
        ctx = Context(as_of=as_of, traits=defs.kinds, computed=defs.traits)
        store = self.store
        for _, rule in defs.segments:
            for _, leaf in leaves(rule):
                key = _key(leaf)
                if key in self.static or key in self.events or isinstance(leaf, InSegment):
                    continue
                if isinstance(leaf, Event):
                    self.events[key] = self._load_event(leaf.filter, as_of)
                elif isinstance(leaf, Computed) and self._computed_live(leaf.computed):
                    self._load_values(leaf.computed)
                else:
                    ids, positive = leaf_members(store, leaf, ctx)
                    found = store.to_arrow(ids).column("profile_id").to_pylist()
                    self.static[key] = (set(found), positive)
        memberships = store.to_arrow(store.table("memberships").select("segment", "profile_id"))
        self.members = {name: set() for name, _ in defs.segments}
        for segment, pid in zip(
            memberships.column("segment").to_pylist(),
            memberships.column("profile_id").to_pylist(),
            strict=True,
        ):
            if segment in self.members:
                self.members[segment].add(pid)
        last = store.scalar(store.table("membership_outbox").position.max())
        self._next_position = int(last) + 1 if last is not None and last == last else 1
        self.warmed_at = as_of
        # the state is millions of long-lived objects: without this, each full collection of
        # Python's cyclic garbage collector walks them all and stalls a pass for a few hundred ms
        gc.collect()
        gc.freeze()
        self.warm_seconds = round(time.perf_counter() - started, 3)

    def _load_event(self, spec: EventFilter, as_of: datetime) -> _EventState:
        state = _EventState(spec=spec, any_time=_unwindowed(spec))
        events = self.store.table("profile_events")
        matched = events.filter(event_predicate(events, spec, as_of))
        if spec.within is None:
            rows = self.store.to_arrow(matched.group_by("profile_id").aggregate(n=matched.count()))
            state.counts = dict(
                zip(
                    rows.column("profile_id").to_pylist(), rows.column("n").to_pylist(), strict=True
                )
            )
        else:
            rows = self.store.to_arrow(matched.select("profile_id", "timestamp"))
            for pid, stamp in zip(
                rows.column("profile_id").to_pylist(),
                rows.column("timestamp").to_pylist(),
                strict=True,
            ):
                state.times.setdefault(pid, []).append(stamp)
            for stamps in state.times.values():
                stamps.sort()
        return state

    def _load_values(self, name: str, profile_ids: Sequence[str] | None = None) -> None:
        definition = self.definitions.traits[name]
        table = self.store.table("computed_traits")
        rows = table.filter(table.trait == name)
        if profile_ids is not None:
            rows = rows.filter(rows.profile_id.isin(list(profile_ids)))
        data = self.store.to_arrow(rows.select("profile_id", definition.column))
        values = self.values.setdefault(name, {})
        for pid in profile_ids or ():
            values.pop(pid, None)
        values.update(
            zip(
                data.column("profile_id").to_pylist(),
                data.column(definition.column).to_pylist(),
                strict=True,
            )
        )

    def reload(self, profile_ids: Iterable[str], *, as_of: datetime | None = None) -> None:
        """Read some profiles again (after an identify, a merge or a batch refresh of them)."""
        self.flush()  # the store's memberships must be current before they are read again
        as_of = as_of or datetime.now(UTC)
        ids = sorted(set(profile_ids))
        defs = self.definitions
        full = Definitions(
            segments=defs.segments,
            traits=defs.traits,
            kinds=defs.kinds,
            trait_names=defs.trait_names,
            event_names=defs.event_names,
            event_types=defs.event_types,
            lookback=None,
        )
        states = load_states(self.store, ids, full, as_of=as_of)
        for name in self.values:
            self._load_values(name, ids)
        for _, rule in defs.segments:
            for _, leaf in leaves(rule):
                key = _key(leaf)
                for pid, state in states.items():
                    if key in self.events:
                        found = self.events[key]
                        found.times.pop(pid, None)
                        found.counts.pop(pid, None)
                        for e in state.events:
                            if e.timestamp is not None and event_matches(
                                e.event, e.type, e.timestamp, e.properties, found.spec, as_of
                            ):
                                found.add(pid, e.timestamp)
                    elif key in self.static:
                        ids_set, positive = self.static[key]
                        inside = matches(
                            leaf, state, as_of=as_of, traits=defs.kinds, computed=defs.traits
                        )
                        if inside == positive:
                            ids_set.add(pid)
                        else:
                            ids_set.discard(pid)
        for pid, state in states.items():
            for name in self.members:
                if name in state.segments:
                    self.members[name].add(pid)
                else:
                    self.members[name].discard(pid)

    # -- evaluating --------------------------------------------------------------------------

    def _key(self, leaf: Rule) -> str:
        # rules are frozen and live as long as the definitions: their ids are stable keys
        key = self._keys.get(id(leaf))
        if key is None:
            key = self._keys[id(leaf)] = _key(leaf)
        return key

    def _test(self, node: Rule, pid: str, as_of: datetime) -> bool:
        if isinstance(node, AllOf):
            return all(self._test(c, pid, as_of) for c in node.all)
        if isinstance(node, AnyOf):
            return any(self._test(c, pid, as_of) for c in node.any)
        if isinstance(node, Not):
            return not self._test(node.not_, pid, as_of)
        if isinstance(node, InSegment):
            return pid in self.members.get(node.segment, ())
        if isinstance(node, Event):
            n = self.events[self._key(node)].count(pid, as_of)
            return holds(node.count.op, n, (node.count.value,))
        if isinstance(node, Computed) and node.computed in self.values:
            return self._computed(node, pid, as_of)
        ids, positive = self.static[self._key(node)]
        return (pid in ids) == positive

    def _computed(self, node: Computed, pid: str, as_of: datetime) -> bool:
        definition = self.definitions.traits[node.computed]
        value = self.values[node.computed].get(pid)
        if node.op in ("exists", "not_exists"):
            return (value is not None) == (node.op == "exists")
        if value is None:
            return definition.zero_when_absent and holds(node.op, 0.0, node.values)
        if definition.aggregate == "days_since":
            return holds(node.op, days_between(as_of, value), node.values)
        if definition.value_kind == "date":
            day = value.astimezone(UTC).date()
            return holds(node.op, day, tuple(date.fromisoformat(str(v)) for v in node.values))
        return holds(node.op, value, node.values)

    def _follow(self, pid: str, event: EventRow) -> None:
        stamp = event.timestamp
        if stamp is None:
            return
        for state in self.events.values():
            if event_matches(
                event.event, event.type, stamp, event.properties, state.any_time, _FOREVER
            ):
                state.add(pid, stamp)
        for name, values in self.values.items():
            definition = self.definitions.traits[name]
            if not event_matches(
                event.event,
                event.type,
                stamp,
                event.properties,
                _unwindowed(definition.filter),
                _FOREVER,
            ):
                continue
            values[pid] = _updated(definition, values.get(pid), event)

    def ingest(self, events: pa.Table, *, as_of: datetime | None = None) -> LiveReport:
        """Append events (``profile_events`` columns) and move their profiles' memberships."""
        started = time.perf_counter()
        if self.warmed_at is None:
            self.warm(as_of=as_of)
        as_of = as_of or datetime.now(UTC)
        data = events.select(_EVENT_SCHEMA.names).cast(_EVENT_SCHEMA)
        touched_traits: set[tuple[str, str]] = set()
        pids = data.column("profile_id").to_pylist()
        for pid, mid, type_, name, stamp, props in zip(
            pids,
            data.column("message_id").to_pylist(),
            data.column("type").to_pylist(),
            data.column("event").to_pylist(),
            data.column("timestamp").to_pylist(),
            data.column("properties").to_pylist(),
            strict=True,
        ):
            before = {n: v.get(pid) for n, v in self.values.items()}
            self._follow(pid, EventRow(mid, name, type_, stamp, parse_properties(props)))
            touched_traits |= {(pid, n) for n, v in self.values.items() if v.get(pid) != before[n]}
        changes: dict[str, tuple[list[str], list[str]]] = {}
        report: list[Change] = []
        profiles = sorted(set(pids))
        for name, rule in self.definitions.segments:
            members = self.members[name]
            entered, exited = [], []
            for pid in profiles:
                now_in = self._test(rule, pid, as_of)
                if now_in and pid not in members:
                    members.add(pid)
                    entered.append(pid)
                    report.append(Change(name, pid, "enter"))
                elif not now_in and pid in members:
                    members.discard(pid)
                    exited.append(pid)
                    report.append(Change(name, pid, "exit"))
            if entered or exited:
                changes[name] = (entered, exited)
        self._pending |= touched_traits
        stamp = datetime.now(UTC)
        for segment, (entered, exited) in changes.items():
            for pid in exited:
                self._moved[(segment, pid)] = None
            for pid in entered:
                self._moved[(segment, pid)] = stamp
        self._arrived.append(data)
        flush = time.monotonic() - self._flushed >= self.flush_seconds
        if not changes:
            if flush:
                self.flush()
            return LiveReport(
                len(pids), len(profiles), report, round(time.perf_counter() - started, 4)
            )
        with self.store.transaction():
            # positions from the microsecond clock: above those stored (no query to find the
            # highest), and still in order if a batch run writes in between
            first = max(self._next_position, time.time_ns() // 1000)
            n = record_changes(
                self.store,
                new_id(),
                changes,
                trigger="realtime",
                first_position=first,
                apply=False,
            )
            self._next_position = first + n
            if flush:
                self.flush()
        return LiveReport(len(pids), len(profiles), report, round(time.perf_counter() - started, 4))

    def _take(
        self,
    ) -> tuple[dict[tuple[str, str], datetime | None], list[tuple[str, str, Any]], list[pa.Table]]:
        moved, self._moved = self._moved, {}
        pairs = [(pid, name, self.values[name][pid]) for pid, name in sorted(self._pending)]
        self._pending = set()
        arrived, self._arrived = self._arrived, []
        self._flushed = time.monotonic()
        return moved, pairs, arrived

    def flush(self) -> None:
        """Write the events ``ingest`` took and bring ``memberships`` and the computed trait values
        up to date with them. ``ingest`` writes every entry and exit (history and outbox) at once,
        and the rest at most every ``flush_seconds`` (the events are in the raw log already, and
        a refresh of profiles writes them too); call this before a batch run."""
        self._apply(self.store, *self._take())

    def _apply(
        self,
        store: Store,
        moved: dict[tuple[str, str], datetime | None],
        pairs: list[tuple[str, str, Any]],
        arrived: list[pa.Table],
    ) -> None:
        with store.transaction():
            if arrived:
                store.replace_rows("profile_events", pa.concat_tables(arrived))
            if moved:
                keys = sorted(moved)
                match = pa.table(
                    {
                        "segment": pa.array([k[0] for k in keys], pa.string()),
                        "profile_id": pa.array([k[1] for k in keys], pa.string()),
                    }
                )
                inside = [k for k in keys if moved[k] is not None]
                entries = pa.table(
                    {
                        "segment": pa.array([k[0] for k in inside], pa.string()),
                        "profile_id": pa.array([k[1] for k in inside], pa.string()),
                        "entered_at": pa.array([moved[k] for k in inside], _TS),
                    }
                )
                store.replace_rows("memberships", entries, match=match)
            self._write_values(store, pairs)

    def _write_values(self, store: Store, pairs: Sequence[tuple[str, str, Any]]) -> None:
        if not pairs:
            return
        now = datetime.now(UTC)
        rows = []
        for pid, name, value in pairs:
            definition = self.definitions.traits[name]
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
        data = pa.Table.from_pylist(rows, schema=schema)
        store.replace_rows("computed_traits", data, match=data.select(["profile_id", "trait"]))


def _updated(definition: TraitDefinition, old: Any, event: EventRow) -> Any:
    """A computed trait's value after one more matching event (the newest so far)."""
    agg = definition.aggregate
    if agg == "count":
        return (old or 0.0) + 1.0
    if definition.property is None:  # first/last/min/max/days_since of the time
        stamp = event.timestamp
        if old is None:
            return stamp
        return min(old, stamp) if agg in ("min", "first") else max(old, stamp)
    raw = event.properties.get(definition.property)
    if definition.kind_of_property == "number":
        value: Any = (
            None if isinstance(raw, bool) or not isinstance(raw, int | float) else float(raw)
        )
    else:
        value = raw if isinstance(raw, str) else None
    if value is None:
        return old
    if agg == "sum":
        return (old or 0.0) + value
    if old is None:
        return value
    if agg == "min":
        return min(old, value)
    if agg == "max":
        return max(old, value)
    return old if agg == "first" else value
