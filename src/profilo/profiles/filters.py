"""Which events count: event names, message type, property filters and a time window.

Computed traits and segment conditions share this vocabulary. Each filter has two readings with
one meaning: an Ibis predicate over ``profile_events`` (:func:`event_predicate`, for batch work on
any engine) and a Python test of one event (:func:`event_matches`, for re-evaluating one profile
in real time). Tests hold the two to the same answers.

Property filters read top-level keys of an event's ``properties`` and compare by JSON type: a
string value matches JSON strings only, a number matches JSON numbers only (``42`` and ``42.0``
alike, never ``"42"`` nor ``true``), a boolean matches JSON booleans only. An event lacking the
key, or holding another type, fails every comparison (``ne`` and ``not_in`` included) and passes
``not_exists``. Windows count back from an ``as_of`` time (now by default); events after it, or
without a time, never count.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "PROPERTY_NAME",
    "EventFilter",
    "PropertyFilter",
    "Window",
    "check_operand",
    "event_matches",
    "event_predicate",
    "property_predicate",
    "timestamp_literal",
]


def check_operand(op: str, value: object) -> bool | None:
    """Check that a comparison's value fits its operator: none for ``exists`` and ``not_exists``
    (returns None), a list (a tuple) for ``in`` and ``not_in`` (True), one value otherwise (False).

    >>> check_operand("in", ("a", "b"))
    True
    """
    if op in ("exists", "not_exists"):
        if value is not None:
            raise ValueError(f"operator {op!r} takes no value")
        return None
    if value is None:
        raise ValueError(f"operator {op!r} needs a value")
    listed = op in ("in", "not_in")
    if listed != isinstance(value, tuple):
        raise ValueError(
            f"operator {op!r} needs {'a list of values' if listed else 'a single value'}"
        )
    return listed


PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""Property keys a filter may name: letters, digits and underscores (they become a JSON path)."""

PropertyOp = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "starts_with", "exists",
    "not_exists",
]  # fmt: skip
Scalar = str | bool | int | float

_OPS_BY_KIND: dict[str, frozenset[str]] = {
    "string": frozenset({"eq", "ne", "in", "not_in", "contains", "starts_with"}),
    "number": frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"}),
    "boolean": frozenset({"eq", "ne"}),
}
_UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}
_TS = dt.Timestamp(timezone="UTC")


def value_kind(value: object) -> str:
    """The JSON kind a literal compares against: string, number or boolean."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    raise ValueError(f"unsupported value {value!r}: use a string, a number or true/false")


class PropertyFilter(BaseModel):
    """``{"property": "category", "op": "eq", "value": "shoes"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: str
    op: PropertyOp = "eq"
    value: Scalar | tuple[Scalar, ...] | None = None

    @field_validator("property")
    @classmethod
    def _name(cls, name: str) -> str:
        if not PROPERTY_NAME.match(name):
            raise ValueError(
                f"invalid property name {name!r}: use letters, digits and _ (at most 64),"
                " starting with a letter or _"
            )
        return name

    @field_validator("value", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consistent(self) -> PropertyFilter:
        listed = check_operand(self.op, self.value)
        if listed is None:
            return self
        for v in self.values:
            if isinstance(v, str) and ("\x00" in v or len(v) > 500):
                raise ValueError("a value is at most 500 characters, without NUL")
            if isinstance(v, float) and v != v:
                raise ValueError("NaN is not a value")
        kinds = {value_kind(v) for v in self.values}
        if len(kinds) != 1:
            raise ValueError(f"the values of {self.op!r} mix types: {list(self.values)!r}")
        kind = kinds.pop()
        if self.op not in _OPS_BY_KIND[kind]:
            raise ValueError(
                f"operator {self.op!r} does not apply to a {kind};"
                f" valid: {', '.join(sorted(_OPS_BY_KIND[kind] | {'exists', 'not_exists'}))}"
            )
        if listed and not self.values:
            raise ValueError(f"operator {self.op!r} needs at least one value")
        return self

    @builtins.property
    def values(self) -> tuple[Scalar, ...]:
        if self.value is None:
            return ()
        return self.value if isinstance(self.value, tuple) else (self.value,)

    @builtins.property
    def kind(self) -> str | None:
        return value_kind(self.values[0]) if self.values else None


class Window(BaseModel):
    """The last ``last`` units before the ``as_of`` time: ``{"last": 90, "unit": "days"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    last: int = Field(ge=1, le=100 * 366)
    unit: Literal["minutes", "hours", "days", "weeks"] = "days"

    @property
    def seconds(self) -> int:
        return self.last * _UNITS[self.unit]

    def start(self, as_of: datetime) -> datetime:
        return as_of - timedelta(seconds=self.seconds)

    def text(self) -> str:
        unit = self.unit if self.last != 1 else self.unit[:-1]
        return f"in last {self.last} {unit}"


class EventFilter(BaseModel):
    """Events by name (any of ``events``) and/or message ``type``, property filters, a window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: tuple[str, ...] = ()
    type: Literal["track", "page", "screen", "identify", "group", "alias", "record"] | None = None
    where: tuple[PropertyFilter, ...] = ()
    within: Window | None = None

    @field_validator("events", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> EventFilter:
        if not self.events and self.type is None:
            raise ValueError("name at least one event or a message type")
        for name in self.events:
            if not name or len(name) > 200 or "\x00" in name:
                raise ValueError(f"invalid event name {name!r}: 1 to 200 characters, no NUL")
        return self


def timestamp_literal(value: datetime) -> ir.TimestampScalar:
    """A UTC timestamp as a bound literal."""
    return ibis.literal(value, type=_TS)


def _typed(props: Any, name: str, kind: str) -> ir.Value:
    """The key ``name`` of a JSON column as ``kind`` (NULL when absent or of another type)."""
    field = props[name]
    if kind == "number":
        return field.float
    if kind == "boolean":
        return field.bool
    return field.str


def property_predicate(props: Any, flt: PropertyFilter) -> ir.BooleanValue:
    """The Ibis form of one property filter over a JSON column (values are bound literals)."""
    if flt.op in ("exists", "not_exists"):
        # present and not JSON null: a string, a number or a boolean
        present = ibis.or_(
            _typed(props, flt.property, "string").notnull(),
            _typed(props, flt.property, "number").notnull(),
            _typed(props, flt.property, "boolean").notnull(),
        )
        return present if flt.op == "exists" else ~present
    kind = flt.kind
    assert kind is not None
    value: Any = _typed(props, flt.property, kind)
    literal = flt.values[0]
    # a missing key, or a value of another JSON type, extracts as NULL: no comparison passes
    if flt.op == "eq":
        return value == literal  # type: ignore[no-any-return]
    if flt.op == "ne":
        return value != literal  # type: ignore[no-any-return]
    if flt.op == "gt":
        return value > literal  # type: ignore[no-any-return]
    if flt.op == "gte":
        return value >= literal  # type: ignore[no-any-return]
    if flt.op == "lt":
        return value < literal  # type: ignore[no-any-return]
    if flt.op == "lte":
        return value <= literal  # type: ignore[no-any-return]
    if flt.op == "in":
        return value.isin(list(flt.values))  # type: ignore[no-any-return]
    if flt.op == "not_in":
        return value.notin(list(flt.values))  # type: ignore[no-any-return]
    if flt.op == "contains":
        return value.contains(str(literal))  # type: ignore[no-any-return]
    # starts_with compiles to the engines' STARTS_WITH (no LIKE: % and _ are plain characters)
    return value.startswith(str(literal))  # type: ignore[no-any-return]


def event_predicate(table: ir.Table, spec: EventFilter, as_of: datetime) -> ir.BooleanValue:
    """Which rows of a ``profile_events``-shaped table ``spec`` selects, as of ``as_of``."""
    conditions: list[ir.BooleanValue] = []
    if len(spec.events) == 1:
        conditions.append(table.event == spec.events[0])
    elif spec.events:
        conditions.append(table.event.isin(list(spec.events)))
    if spec.type is not None:
        conditions.append(table.type == spec.type)
    if spec.within is not None:
        conditions.append(table.timestamp >= timestamp_literal(spec.within.start(as_of)))
    conditions.append(table.timestamp <= timestamp_literal(as_of))
    for flt in spec.where:
        conditions.append(property_predicate(table.properties, flt))
    return ibis.and_(*conditions)


# -- the same meaning in Python, for one profile's events -------------------------------------


def _json_kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def property_matches(properties: dict[str, Any] | None, flt: PropertyFilter) -> bool:
    """The Python reading of :func:`property_predicate` for one event's properties."""
    value = (properties or {}).get(flt.property)
    kind = _json_kind(value)
    if flt.op in ("exists", "not_exists"):
        return (kind is not None) == (flt.op == "exists")
    if kind != flt.kind:
        return False
    literal = flt.values[0]
    if flt.op == "eq":
        return bool(value == literal)
    if flt.op == "ne":
        return bool(value != literal)
    if flt.op == "gt":
        return bool(value > literal)  # type: ignore[operator]
    if flt.op == "gte":
        return bool(value >= literal)  # type: ignore[operator]
    if flt.op == "lt":
        return bool(value < literal)  # type: ignore[operator]
    if flt.op == "lte":
        return bool(value <= literal)  # type: ignore[operator]
    if flt.op == "in":
        return value in flt.values
    if flt.op == "not_in":
        return value not in flt.values
    if flt.op == "contains":
        return str(literal) in str(value)
    return str(value).startswith(str(literal))


def parse_properties(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """An event's properties as a dict, whether the store handed out JSON text or a mapping."""
    if text is None:
        return {}
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def event_matches(
    event: str | None,
    type_: str,
    timestamp: datetime | None,
    properties: dict[str, Any],
    spec: EventFilter,
    as_of: datetime,
) -> bool:
    """The Python reading of :func:`event_predicate` for one event."""
    if spec.events and event not in spec.events:
        return False
    if spec.type is not None and type_ != spec.type:
        return False
    if timestamp is None or timestamp > as_of:
        return False
    if spec.within is not None and timestamp < spec.within.start(as_of):
        return False
    return all(property_matches(properties, flt) for flt in spec.where)


def names_of(filters: Sequence[EventFilter]) -> set[str]:
    """Every event name the filters mention."""
    return {name for f in filters for name in f.events}
