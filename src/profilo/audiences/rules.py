"""The segment rule tree: what a segment means, as data.

A rule is a JSON tree. Groups combine conditions; each condition asks one question of a profile::

    {"all": [...]}  {"any": [...]}  {"not": {...}}
    {"trait": "country", "op": "eq", "value": "FR"}          golden trait
    {"computed": "orders_count", "op": "gte", "value": 2}      computed trait
    {"identity": "email"}                                      has an identifier of this type
    {"consent": "email_marketing", "status": "granted"}        current consent for a purpose
    {"event": "Order Completed", "count": {"op": "gte", "value": 2},
     "within": {"last": 30, "unit": "days"},
     "where": [{"property": "category", "op": "eq", "value": "shoes"}]}
    {"segment": "vip"}                                         member of another segment

Event conditions count matching events: ``gte`` (at least, the default: once), ``lte`` (at most) or
``eq`` (exactly; ``0`` means "did not"). :func:`parse_rule` turns JSON into these models and every
problem into one :class:`RuleError` naming where it is (``all[1].where[0].value``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from profilo.errors import ConfigError
from profilo.profiles.filters import (
    EventFilter,
    PropertyFilter,
    Window,
    check_operand,
    value_kind,
)

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "AllOf",
    "AnyOf",
    "Computed",
    "Consent",
    "Count",
    "Event",
    "Identity",
    "InSegment",
    "Not",
    "Rule",
    "RuleError",
    "Trait",
    "conditions",
    "parse_rule",
    "rule_json",
]

MAX_DEPTH = 16
MAX_CONDITIONS = 200
MAX_LIST = 1000
MAX_TEXT = 500
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
"""Trait names, identifier types, purposes and segment names a rule may mention."""

TraitOp = Literal[
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "starts_with", "exists",
    "not_exists",
]  # fmt: skip
Scalar = str | bool | int | float


class RuleError(ConfigError):
    """A rule that does not parse or validate; ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
        super().__init__(f"invalid rule: {text}")


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: letters, digits, '_', '.', '-' (at most 128),"
            " starting with a letter or '_'"
        )
    return value


class _Compared(_Node):
    """A comparison of a profile value with literal values."""

    op: TraitOp = "eq"
    value: Scalar | tuple[Scalar, ...] | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _shape(self) -> _Compared:
        listed = check_operand(self.op, self.value)
        if listed is None:
            return self
        values = self.values
        if listed and not 1 <= len(values) <= MAX_LIST:
            raise ValueError(f"operator {self.op!r} needs 1 to {MAX_LIST} values")
        if len({value_kind(v) for v in values}) != 1:
            raise ValueError(f"the values mix types: {list(values)!r}")
        for v in values:
            if isinstance(v, str) and len(v) > MAX_TEXT:
                raise ValueError(f"a value is longer than {MAX_TEXT} characters")
            if isinstance(v, str) and "\x00" in v:
                raise ValueError("a value cannot hold the NUL character")
            if isinstance(v, float) and v != v:  # NaN compares with nothing
                raise ValueError("NaN is not a value")
        return self

    @property
    def values(self) -> tuple[Scalar, ...]:
        if self.value is None:
            return ()
        return self.value if isinstance(self.value, tuple) else (self.value,)


class Trait(_Compared):
    """A golden trait compared with a value."""

    trait: str

    @field_validator("trait")
    @classmethod
    def _trait(cls, value: str) -> str:
        return _name(value, "trait name")


class Computed(_Compared):
    """A computed trait compared with a value."""

    computed: str

    @field_validator("computed")
    @classmethod
    def _computed(cls, value: str) -> str:
        return _name(value, "computed trait name")


class Identity(_Node):
    """The profile has at least one identifier of this type."""

    identity: str

    @field_validator("identity")
    @classmethod
    def _identity(cls, value: str) -> str:
        return _name(value, "identifier type")


class Consent(_Node):
    """The profile's current consent for a purpose has this status."""

    consent: str
    status: Literal["granted", "denied"] = "granted"

    @field_validator("consent")
    @classmethod
    def _consent(cls, value: str) -> str:
        return _name(value, "consent purpose")


class Count(_Node):
    op: Literal["gte", "lte", "eq"] = "gte"
    value: int = Field(default=1, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _meaningful(self) -> Count:
        if self.op == "gte" and self.value == 0:
            raise ValueError("'at least 0 times' is always true; use at least 1")
        return self


class Event(_Node):
    """How many matching events the profile has (in a window, with property filters)."""

    event: tuple[str, ...] = ()
    type: Literal["track", "page", "screen", "identify", "group", "alias", "record"] | None = None
    count: Count = Count()
    where: tuple[PropertyFilter, ...] = ()
    within: Window | None = None

    @field_validator("event", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("event")
    @classmethod
    def _lengths(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(names) > MAX_LIST:
            raise ValueError(f"at most {MAX_LIST} event names")
        for name in names:
            if not 1 <= len(name) <= 200 or "\x00" in name:
                raise ValueError(f"invalid event name {name!r}: 1 to 200 characters, no NUL")
        return names

    @model_validator(mode="after")
    def _something(self) -> Event:
        if not self.event and self.type is None:
            raise ValueError("name at least one event or a message type")
        return self

    @property
    def filter(self) -> EventFilter:
        return EventFilter(events=self.event, type=self.type, where=self.where, within=self.within)


class InSegment(_Node):
    """The profile is a member of another segment."""

    segment: str

    @field_validator("segment")
    @classmethod
    def _segment(cls, value: str) -> str:
        return _name(value, "segment name")


class AllOf(_Node):
    all: tuple[Rule, ...]


class AnyOf(_Node):
    any: tuple[Rule, ...]


class Not(_Node):
    not_: Rule = Field(alias="not")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


Rule = AllOf | AnyOf | Not | Trait | Computed | Identity | Consent | Event | InSegment
_LEAVES: dict[str, type[_Node]] = {
    "trait": Trait,
    "computed": Computed,
    "identity": Identity,
    "consent": Consent,
    "event": Event,
    "segment": InSegment,
}
_KINDS = ("all", "any", "not", *_LEAVES)


def _message(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "literal_error":
        return msg.replace("Input should be", "must be")
    return msg


class _Parser:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.count = 0

    def node(self, data: object, path: str, depth: int) -> Rule | None:
        self.count += 1
        if self.count > MAX_CONDITIONS:
            if self.count == MAX_CONDITIONS + 1:
                self.problems.append((path, f"a rule holds at most {MAX_CONDITIONS} conditions"))
            return None
        if depth > MAX_DEPTH:
            self.problems.append((path, f"a rule nests at most {MAX_DEPTH} levels deep"))
            return None
        if not isinstance(data, dict):
            self.problems.append((path, f"expected an object, got {type(data).__name__}"))
            return None
        kinds = [k for k in _KINDS if k in data]
        if not kinds and "type" in data:  # an event condition on the message type alone
            kinds = ["event"]
        if len(kinds) != 1:
            found = ", ".join(repr(k) for k in kinds) if kinds else "none"
            self.problems.append(
                (path, f"a condition has exactly one of {', '.join(_KINDS)}; found {found}")
            )
            return None
        kind = kinds[0]
        if kind in ("all", "any"):
            return self.group(kind, data, path, depth)
        if kind == "not":
            extra = set(data) - {"not"}
            if extra:
                self.problems.append((f"{path}.{sorted(extra)[0]}", "unknown key"))
            inner = self.node(data["not"], f"{path}.not", depth + 1)
            return None if inner is None else Not(**{"not": inner})
        try:
            return _LEAVES[kind].model_validate(data)  # type: ignore[return-value]
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(_step(p) for p in err["loc"])
                where = f"{path}.{loc}".replace(".[", "[") if loc else path
                self.problems.append((where, _message(err)))
            return None

    def group(self, kind: str, data: dict[str, Any], path: str, depth: int) -> Rule | None:
        extra = set(data) - {kind}
        if extra:
            self.problems.append((f"{path}.{sorted(extra)[0]}", "unknown key"))
        items = data[kind]
        if not isinstance(items, list) or not items:
            self.problems.append((f"{path}.{kind}", "expected a non-empty list of conditions"))
            return None
        children = [self.node(c, f"{path}.{kind}[{i}]", depth + 1) for i, c in enumerate(items)]
        if any(c is None for c in children):
            return None
        kept = tuple(c for c in children if c is not None)
        if len(kept) == 1:  # a group of one is its condition (and prints as it)
            return kept[0]
        return AllOf(all=kept) if kind == "all" else AnyOf(any=kept)


def _step(part: object) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)


def parse_rule(data: object) -> Rule:
    """A rule tree from its JSON form; :class:`RuleError` lists every problem with its path.

    >>> parse_rule({"trait": "country", "value": "FR"})
    Trait(op='eq', value='FR', trait='country')
    """
    parser = _Parser()
    rule = parser.node(data, "rule", 0)
    if parser.problems or rule is None:
        raise RuleError(parser.problems or [("rule", "empty rule")])
    return rule


def rule_json(rule: Rule) -> dict[str, Any]:
    """The JSON form of a rule (what :func:`parse_rule` reads back to the same rule)."""
    if isinstance(rule, AllOf):
        return {"all": [rule_json(c) for c in rule.all]}
    if isinstance(rule, AnyOf):
        return {"any": [rule_json(c) for c in rule.any]}
    if isinstance(rule, Not):
        return {"not": rule_json(rule.not_)}
    data = rule.model_dump(mode="json", exclude_defaults=True)
    if isinstance(rule, Event):
        data["event"] = list(rule.event) if len(rule.event) != 1 else rule.event[0]
        if not rule.event:
            data.pop("event", None)
    for key, kind in (("trait", Trait), ("computed", Computed)):
        if isinstance(rule, kind):
            data[key] = getattr(rule, key)
    if isinstance(rule, Identity | Consent | InSegment):
        data.update(rule.model_dump(mode="json", include={"identity", "consent", "segment"}))
    return data


def conditions(rule: Rule) -> Iterator[Rule]:
    """Every leaf condition of a rule, depth first."""
    if isinstance(rule, AllOf):
        for child in rule.all:
            yield from conditions(child)
    elif isinstance(rule, AnyOf):
        for child in rule.any:
            yield from conditions(child)
    elif isinstance(rule, Not):
        yield from conditions(rule.not_)
    else:
        yield rule


def is_date(value: object) -> bool:
    """Whether a value is an ISO date ``YYYY-MM-DD`` (how rules write dates)."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()
