"""Computed traits: aggregates over each profile's events, declared as data.

A definition names the events that count (names, message type, property filters, a window) and
one aggregate::

    name: total_spend_365d
    aggregate: sum
    events: [Order Completed, In-Store Purchase]
    property: revenue
    within: {last: 365, unit: days}

Aggregates: ``count``, ``sum``, ``avg``, ``min``, ``max``, ``first``, ``last``, ``most_frequent``,
``distinct_count`` (of a property), ``days_since`` (the last matching event) and ``ratio`` (matching
events per event of ``per_events``, e.g. clicks per e-mail sent). ``min``/``max``/``first``/
``last`` without a property give the time of the event. Ties go to the earlier message id
(``first``), the later one (``last``), the smaller value (``most_frequent``).

Values are stored typed, one row per profile and trait, only for profiles with matching events;
``count``, ``distinct_count`` and ``sum`` read as 0 for the others. ``days_since`` stores the time
of the last event and is turned into days when read, so it never goes stale. Each aggregate has
an Ibis form (:func:`trait_values`, batch on any engine) and a Python form (:func:`compute_value`,
one profile in real time) with the same meaning.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from profilo.errors import ConfigError, NotFound
from profilo.profiles.filters import (
    PROPERTY_NAME,
    EventFilter,
    PropertyFilter,
    Window,
    event_matches,
    event_predicate,
)
from profilo.store import Store

__all__ = [
    "AGGREGATES",
    "NAME",
    "EventRow",
    "TraitDefinition",
    "TraitRefresh",
    "compute_value",
    "get_trait",
    "list_traits",
    "load_trait_file",
    "refresh_traits",
    "remove_trait",
    "save_trait",
    "trait_values",
]

Aggregate = Literal[
    "count", "sum", "avg", "min", "max", "first", "last", "most_frequent", "distinct_count",
    "days_since", "ratio",
]  # fmt: skip
AGGREGATES: tuple[str, ...] = Aggregate.__args__  # type: ignore[attr-defined]
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
"""Names of traits and segments: lower-case letters, digits and _, starting with a letter."""

_NEEDS_PROPERTY = frozenset({"sum", "avg", "most_frequent", "distinct_count"})
_MAY_TAKE_PROPERTY = _NEEDS_PROPERTY | {"min", "max", "first", "last"}
_ZERO_WHEN_ABSENT = frozenset({"count", "distinct_count", "sum"})
_DAY = timedelta(days=1)
_TS = pa.timestamp("us", tz="UTC")


class TraitDefinition(BaseModel):
    """One computed trait (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    aggregate: Aggregate
    events: tuple[str, ...] = ()
    type: Literal["track", "page", "screen", "identify", "group", "alias", "record"] | None = None
    property: str | None = None
    property_type: Literal["number", "string"] | None = None
    where: tuple[PropertyFilter, ...] = ()
    within: Window | None = None
    per_events: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not NAME.match(name):
            raise ValueError(
                f"invalid trait name {name!r}: lower-case letters, digits and _ (at most 63),"
                " starting with a letter"
            )
        return name

    @field_validator("events", "per_events", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("property")
    @classmethod
    def _property(cls, name: str | None) -> str | None:
        if name is not None and not PROPERTY_NAME.match(name):
            raise ValueError(f"invalid property name {name!r}: use letters, digits and _")
        return name

    @model_validator(mode="after")
    def _consistent(self) -> TraitDefinition:
        agg = self.aggregate
        if agg in _NEEDS_PROPERTY and self.property is None:
            raise ValueError(f"aggregate {agg!r} needs a 'property'")
        if agg not in _MAY_TAKE_PROPERTY and self.property is not None:
            raise ValueError(f"aggregate {agg!r} takes no 'property'")
        if self.property_type is not None and self.property is None:
            raise ValueError("'property_type' goes with a 'property'")
        if agg in ("sum", "avg") and self.property_type == "string":
            raise ValueError(f"aggregate {agg!r} needs a number property")
        if (agg == "ratio") != bool(self.per_events):
            raise ValueError(
                "aggregate 'ratio' needs 'per_events' (the events it divides by)"
                if agg == "ratio"
                else "'per_events' goes with aggregate 'ratio'"
            )
        EventFilter(events=self.events, type=self.type, where=self.where, within=self.within)
        return self

    @builtins.property
    def filter(self) -> EventFilter:
        return EventFilter(events=self.events, type=self.type, where=self.where, within=self.within)

    @builtins.property
    def per_filter(self) -> EventFilter:
        return EventFilter(events=self.per_events, type=self.type, within=self.within)

    @builtins.property
    def kind_of_property(self) -> str:
        if self.property_type is not None:
            return self.property_type
        return "string" if self.aggregate in ("most_frequent", "distinct_count") else "number"

    @builtins.property
    def value_kind(self) -> Literal["number", "string", "date"]:
        """How rules compare the trait: as a number, a string or a date."""
        agg = self.aggregate
        if agg in ("count", "distinct_count", "days_since", "sum", "avg", "ratio"):
            return "number"
        if agg in ("min", "max", "first", "last") and self.property is None:
            return "date"
        return "number" if self.kind_of_property == "number" else "string"

    @builtins.property
    def column(self) -> str:
        """The column of ``computed_traits`` holding the value."""
        if self.aggregate == "days_since" or self.value_kind == "date":
            return "time_value"
        return "number_value" if self.value_kind == "number" else "text_value"

    @builtins.property
    def zero_when_absent(self) -> bool:
        """Profiles without matching events read as 0 (counts and sums)."""
        return self.aggregate in _ZERO_WHEN_ABSENT

    @builtins.property
    def fingerprint(self) -> str:
        text = json.dumps(self.model_dump(mode="json", exclude={"description"}), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- the Ibis form -----------------------------------------------------------------------------


def _typed(table: ir.Table, name: str, kind: str) -> ir.Value:
    value = table.properties[name]
    return value.float if kind == "number" else value.str


def trait_values(
    store: Store, definition: TraitDefinition, as_of: datetime, profiles: ir.Table | None = None
) -> ir.Table:
    """``profile_id`` and the trait's value column, for profiles with matching events."""
    events = store.table("profile_events")
    if profiles is not None:
        events = events.semi_join(profiles, "profile_id")
    d = definition
    rows = events.filter(event_predicate(events, d.filter, as_of))
    col = d.column
    agg = d.aggregate
    if agg == "count":
        return rows.group_by("profile_id").aggregate(**{col: rows.count().cast("float64")})
    if agg == "ratio":
        per = events.filter(event_predicate(events, d.per_filter, as_of))
        den = per.group_by("profile_id").aggregate(den=per.count())
        num = rows.group_by(num_id="profile_id").aggregate(num=rows.count())
        joined = den.left_join(num, den.profile_id == num.num_id)
        return joined.select(
            "profile_id",
            **{col: ibis.coalesce(joined.num, 0).cast("float64") / joined.den.cast("float64")},
        )
    if d.property is None:  # the time of the first or last event
        stamp = rows.timestamp
        latest = agg in ("max", "last", "days_since")
        return rows.group_by("profile_id").aggregate(
            **{col: stamp.max() if latest else stamp.min()}
        )
    value = _typed(rows, d.property, d.kind_of_property)
    valued = rows.select("profile_id", "timestamp", "message_id", value=value)
    valued = valued.filter(valued.value.notnull())
    column: Any = valued.value
    if agg == "sum":
        return valued.group_by("profile_id").aggregate(**{col: column.sum()})
    if agg == "avg":
        return valued.group_by("profile_id").aggregate(**{col: column.mean()})
    if agg == "min":
        return valued.group_by("profile_id").aggregate(**{col: column.min()})
    if agg == "max":
        return valued.group_by("profile_id").aggregate(**{col: column.max()})
    if agg == "distinct_count":
        return valued.group_by("profile_id").aggregate(**{col: column.nunique().cast("float64")})
    if agg in ("first", "last"):
        order = ["timestamp", "message_id"]
        rank = ibis.row_number().over(
            group_by="profile_id",
            order_by=order if agg == "first" else [ibis.desc(c) for c in order],
        )
        ranked = valued.mutate(rank=rank)
        return ranked.filter(ranked.rank == 0).select("profile_id", **{col: ranked.value})
    # most_frequent
    counted = valued.group_by("profile_id", "value").aggregate(n=valued.count())
    rank = ibis.row_number().over(group_by="profile_id", order_by=[ibis.desc("n"), counted.value])
    ranked = counted.mutate(rank=rank)
    return ranked.filter(ranked.rank == 0).select("profile_id", **{col: ranked.value})


# -- the Python form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    """One event of one profile, as the real-time path holds it."""

    message_id: str
    event: str | None
    type: str
    timestamp: datetime | None
    properties: dict[str, Any] = field(default_factory=dict)


def _json_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def compute_value(
    definition: TraitDefinition, events: Sequence[EventRow], as_of: datetime
) -> float | str | datetime | None:
    """The trait's stored value for one profile's events (None: no row), as :func:`trait_values`."""
    d = definition
    spec = d.filter
    rows = [
        e for e in events if event_matches(e.event, e.type, e.timestamp, e.properties, spec, as_of)
    ]
    agg = d.aggregate
    if agg == "count":
        return float(len(rows)) if rows else None
    if agg == "ratio":
        per = d.per_filter
        den = sum(
            1
            for e in events
            if event_matches(e.event, e.type, e.timestamp, e.properties, per, as_of)
        )
        return len(rows) / den if den else None
    if not rows:
        return None
    if d.property is None:
        stamps = [e.timestamp for e in rows if e.timestamp is not None]
        return max(stamps) if agg in ("max", "last", "days_since") else min(stamps)
    kind = d.kind_of_property
    valued: list[tuple[datetime, str, Any]] = []
    for e in rows:
        raw = e.properties.get(d.property)
        value = _json_number(raw) if kind == "number" else (raw if isinstance(raw, str) else None)
        if value is not None and e.timestamp is not None:
            valued.append((e.timestamp, e.message_id, value))
    if not valued:
        return None
    values = [v for _, _, v in valued]
    if agg == "sum":
        return float(sum(values))
    if agg == "avg":
        return float(sum(values)) / len(values)
    if agg == "min":
        return min(values)  # type: ignore[no-any-return]
    if agg == "max":
        return max(values)  # type: ignore[no-any-return]
    if agg == "distinct_count":
        return float(len(set(values)))
    if agg == "first":
        return min(valued, key=lambda r: (r[0], r[1]))[2]  # type: ignore[no-any-return]
    if agg == "last":
        return max(valued, key=lambda r: (r[0], r[1]))[2]  # type: ignore[no-any-return]
    counts = Counter(values)
    best = max(counts.values())
    return min(v for v, n in counts.items() if n == best)  # type: ignore[no-any-return]


def days_between(as_of: datetime, then: datetime) -> int:
    """Whole days from ``then`` to ``as_of`` (floor), as ``days_since`` reads."""
    return (as_of - then) // _DAY


# -- definitions and refresh -------------------------------------------------------------------


@dataclass
class TraitRefresh:
    """What a refresh of computed traits wrote: rows per trait."""

    rows: dict[str, int] = field(default_factory=dict)
    profiles: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "profiles": self.profiles, "seconds": self.seconds}


def _definition_error(exc: ValidationError, where: str) -> ConfigError:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return ConfigError(f"invalid trait definition {where}: " + "; ".join(parts))


def parse_trait(data: dict[str, Any], *, name: str | None = None) -> TraitDefinition:
    """A definition from a mapping (``name`` fills in or overrides the mapping's own)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a trait definition is a mapping, not {type(data).__name__}")
    if name is not None:
        data = {**data, "name": name}
    try:
        return TraitDefinition.model_validate(data)
    except ValidationError as exc:
        raise _definition_error(exc, repr(data.get("name", "?"))) from None


def load_trait_file(path: Path, *, name: str | None = None) -> list[TraitDefinition]:
    """Definitions from a YAML or JSON file: one mapping, a list, or ``{traits: [...]}``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read trait definitions from {path}: {exc}") from None
    if isinstance(data, dict) and "traits" in data and "aggregate" not in data:
        data = data["traits"]
    items = data if isinstance(data, list) else [data]
    if name is not None and len(items) != 1:
        raise ConfigError(f"{path} holds {len(items)} definitions; a NAME fits only one")
    return [parse_trait(item, name=name) for item in items]


def _rows(store: Store, names: Iterable[str] | None = None) -> pa.Table:
    table = store.table("trait_definitions")
    if names is not None:
        table = table.filter(table.name.isin(list(names)))
    return store.to_arrow(table.order_by("name"))


def list_traits(store: Store) -> list[TraitDefinition]:
    """Every computed trait of the workspace, by name."""
    rows = _rows(store)
    return [
        TraitDefinition.model_validate(json.loads(text))
        for text in rows.column("definition").to_pylist()
    ]


def get_trait(store: Store, name: str) -> TraitDefinition:
    """One computed trait; :class:`NotFound` names the known ones."""
    for definition in list_traits(store):
        if definition.name == name:
            return definition
    known = ", ".join(d.name for d in list_traits(store)) or "none"
    raise NotFound(f"unknown computed trait {name!r}; known: {known}")


def save_trait(
    store: Store,
    definition: TraitDefinition,
    *,
    refresh: bool = True,
    as_of: datetime | None = None,
) -> bool:
    """Store a definition; when it is new or changed (and ``refresh``), compute that trait only.

    A definition never computed yet (a refresh that failed) is computed again. Returns whether the
    definition changed.
    """
    now = datetime.now(UTC)
    old = _rows(store, [definition.name])
    changed = not old.num_rows or old.column("fingerprint")[0].as_py() != definition.fingerprint
    created = old.column("created_at")[0].as_py() if old.num_rows else now
    computed = old.column("computed_at")[0].as_py() if old.num_rows and not changed else None
    store.upsert(
        "trait_definitions",
        {
            "name": definition.name,
            "definition": json.dumps(definition.model_dump(mode="json"), sort_keys=True),
            "value_kind": definition.value_kind,
            "fingerprint": definition.fingerprint,
            "created_at": created,
            "updated_at": now,
            "computed_at": computed,
        },
        key=["name"],
    )
    if (changed or computed is None) and refresh:
        refresh_traits(store, [definition.name], as_of=as_of)
    return changed


def remove_trait(store: Store, name: str) -> None:
    """Delete a computed trait and its values."""
    get_trait(store, name)
    with store.transaction():
        store.replace_rows("computed_traits", None, match=pa.table({"trait": [name]}))
        store.replace_rows("trait_definitions", None, match=pa.table({"name": [name]}))


def _as_rows(data: pa.Table, definition: TraitDefinition, now: datetime) -> pa.Table:
    n = data.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "profile_id": data.column("profile_id"),
        "trait": pa.array([definition.name] * n, pa.string()),
        "number_value": pa.nulls(n, pa.float64()),
        "text_value": pa.nulls(n, pa.string()),
        "time_value": pa.nulls(n, _TS),
        "computed_at": pa.array([now] * n, _TS),
    }
    value = data.column(definition.column)
    columns[definition.column] = value.cast(
        {"number_value": pa.float64(), "text_value": pa.string(), "time_value": _TS}[
            definition.column
        ]
    )
    return pa.table(columns)


def refresh_traits(
    store: Store,
    names: Sequence[str] | None = None,
    *,
    profiles: pa.Table | None = None,
    as_of: datetime | None = None,
) -> TraitRefresh:
    """Compute traits (all, or ``names``) for every profile, or only for ``profiles``.

    ``profiles`` is a table with a ``profile_id`` column (those touched by new data): their rows
    are replaced and no other. Windows count back from ``as_of`` (now by default).
    """
    started = time.perf_counter()
    as_of = as_of or datetime.now(UTC)
    definitions = list_traits(store)
    if names is not None:
        known = {d.name for d in definitions}
        for name in names:
            if name not in known:
                raise NotFound(
                    f"unknown computed trait {name!r}; known: {', '.join(sorted(known)) or 'none'}"
                )
        definitions = [d for d in definitions if d.name in set(names)]
    report = TraitRefresh(profiles=None if profiles is None else profiles.num_rows)
    scope = None
    if profiles is not None:
        ids = profiles.select(["profile_id"]).cast(pa.schema([("profile_id", pa.string())]))
        if not ids.num_rows:
            return report
        scope = ibis.memtable(ids)
    now = datetime.now(UTC)
    for definition in definitions:
        data = store.to_arrow(trait_values(store, definition, as_of, scope))
        rows = _as_rows(data, definition, now)
        with store.transaction():
            if profiles is None:
                store.replace_rows(
                    "computed_traits", rows, match=pa.table({"trait": [definition.name]})
                )
                store.upsert(
                    "trait_definitions",
                    {**_definition_row(store, definition.name), "computed_at": now},
                    key=["name"],
                )
            else:
                match = pa.table(
                    {
                        "profile_id": ids.column("profile_id"),
                        "trait": pa.array([definition.name] * ids.num_rows, pa.string()),
                    }
                )
                store.replace_rows("computed_traits", rows, match=match)
        report.rows[definition.name] = rows.num_rows
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _definition_row(store: Store, name: str) -> dict[str, Any]:
    row = _rows(store, [name]).to_pylist()[0]
    row.pop("workspace_id", None)
    return dict(row)
