"""Segments as stored definitions: write, read, check, size, preview and overlap.

A segment is a name, a rule (stored in its JSON form beside its text form) and a description.
Saving checks the rule against the workspace (names, kinds, references) and refuses a reference
cycle. Sizes and previews compile the rule and run it, with an ``as_of`` time for reproducible
answers on fixed data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from profilo.audiences.compile import Context, compile_rule
from profilo.audiences.rules import Rule, RuleError, parse_rule, rule_json
from profilo.audiences.text import parse_text, rule_text
from profilo.audiences.validate import segment_references, validate_rule
from profilo.errors import ConfigError, NotFound
from profilo.profiles.catalogue import Catalogue, read_catalogue
from profilo.profiles.traits import NAME, list_traits
from profilo.store import Store

__all__ = [
    "Segment",
    "archive_segment",
    "compile_context",
    "dependency_order",
    "estimate_size",
    "get_segment",
    "list_segments",
    "overlap",
    "preview_members",
    "read_rule",
    "remove_segment",
    "rename_segment",
    "save_segment",
    "segment_catalogue",
]


@dataclass(frozen=True)
class Segment:
    """A stored segment."""

    name: str
    rule: Rule
    text: str
    description: str
    created_at: datetime
    updated_at: datetime
    evaluated_at: datetime | None
    members: int | None
    title: str = ""
    """What people read (defaults to the name); :func:`rename_segment` changes it."""
    archived_at: datetime | None = None
    """When it was archived: kept, no longer evaluated (see :func:`archive_segment`)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "archived_at": self.archived_at,
            "rule": rule_json(self.rule),
            "text": self.text,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "evaluated_at": self.evaluated_at,
            "members": self.members,
        }


def read_rule(source: str | dict[str, Any]) -> Rule:
    """A rule from its JSON form (a mapping, or text starting with ``{``) or its text form."""
    if isinstance(source, dict):
        return parse_rule(source)
    text = source.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RuleError([("json", f"invalid JSON: {exc}")]) from None
        return parse_rule(data)
    return parse_text(text)


def _rows(store: Store, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    table = store.table("segments")
    if names is not None:
        table = table.filter(table.name.isin(list(names)))
    return list(store.to_arrow(table.order_by("name")).to_pylist())


def _segment(row: dict[str, Any]) -> Segment:
    rule = row["rule"]
    return Segment(
        name=row["name"],
        rule=parse_rule(json.loads(rule) if isinstance(rule, str) else rule),
        text=row["rule_text"],
        description=row["description"] or "",
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        evaluated_at=row["evaluated_at"],
        members=row["members"],
        title=row.get("title") or row["name"],
        archived_at=row.get("archived_at"),
    )


def list_segments(store: Store) -> list[Segment]:
    """Every segment of the workspace, by name."""
    return [_segment(row) for row in _rows(store)]


def get_segment(store: Store, name: str) -> Segment:
    """One segment; :class:`NotFound` lists the known ones."""
    rows = _rows(store, [name])
    if not rows:
        known = ", ".join(r["name"] for r in _rows(store)) or "none"
        raise NotFound(f"unknown segment {name!r}; known: {known}")
    return _segment(rows[0])


def segment_catalogue(store: Store) -> Catalogue:
    """The workspace's catalogue, with its segments."""
    catalogue = read_catalogue(store)
    catalogue.segments = {row["name"] for row in _rows(store) if row.get("archived_at") is None}
    return catalogue


def dependency_order(rules: dict[str, Rule]) -> list[str]:
    """Segment names so that each comes after the segments it refers to.

    Raises :class:`ConfigError` naming a cycle.
    """
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " → ".join([*trail[trail.index(name) :], name])
            raise ConfigError(f"segments refer to each other in a cycle: {cycle}")
        state[name] = 1
        for ref in sorted(segment_references(rules[name])):
            if ref in rules:
                visit(ref, [*trail, name])
        state[name] = 2
        order.append(name)

    for name in sorted(rules):
        visit(name, [])
    return order


def save_segment(
    store: Store, name: str, rule: Rule | str | dict[str, Any], *, description: str = ""
) -> Segment:
    """Create or replace a segment after checking its rule (memberships follow at the next run)."""
    if not NAME.match(name):
        raise ConfigError(
            f"invalid segment name {name!r}: lower-case letters, digits and _ (at most 63),"
            " starting with a letter"
        )
    parsed = rule if not isinstance(rule, str | dict) else read_rule(rule)
    catalogue = segment_catalogue(store)
    validate_rule(parsed, catalogue, segment=name)
    others = {s.name: s.rule for s in list_segments(store) if s.name != name}
    dependency_order({**others, name: parsed})
    now = datetime.now(UTC)
    old = _rows(store, [name])
    data = rule_json(parsed)
    fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    same = bool(old) and old[0]["fingerprint"] == fingerprint
    store.upsert(
        "segments",
        {
            "name": name,
            "rule": json.dumps(data, sort_keys=True),
            "rule_text": rule_text(parsed),
            "description": description,
            "fingerprint": fingerprint,
            "created_at": old[0]["created_at"] if old else now,
            "updated_at": now,
            "evaluated_at": old[0]["evaluated_at"] if same else None,
            "members": old[0]["members"] if same else None,
        },
        key=["name"],
    )
    return get_segment(store, name)


def remove_segment(store: Store, name: str) -> None:
    """Delete a segment and its current memberships (the history stays); refused while another
    segment refers to it."""
    get_segment(store, name)
    users = sorted(s.name for s in list_segments(store) if name in segment_references(s.rule))
    if users:
        raise ConfigError(f"segment {name!r} is used by {', '.join(users)}; change those first")
    with store.transaction():
        store.replace_rows("memberships", None, match=pa.table({"segment": [name]}))
        store.replace_rows("segments", None, match=pa.table({"name": [name]}))


def compile_context(store: Store, as_of: datetime | None = None) -> Context:
    """What compiling needs: trait kinds and computed trait definitions, and the ``as_of`` time."""
    catalogue = read_catalogue(store)
    computed = {d.name: d for d in list_traits(store)}
    return Context(as_of=as_of or datetime.now(UTC), traits=catalogue.traits, computed=computed)


def _checked(store: Store, rule: Rule | str | dict[str, Any]) -> Rule:
    parsed = rule if not isinstance(rule, str | dict) else read_rule(rule)
    validate_rule(parsed, segment_catalogue(store))
    return parsed


def estimate_size(
    store: Store, rule: Rule | str | dict[str, Any], *, as_of: datetime | None = None
) -> int:
    """How many profiles a rule selects now (exact: a count runs as fast as a sample here)."""
    parsed = _checked(store, rule)
    expr = compile_rule(store, parsed, compile_context(store, as_of))
    return int(store.scalar(expr.count()))


def preview_members(
    store: Store,
    rule: Rule | str | dict[str, Any],
    *,
    limit: int = 20,
    as_of: datetime | None = None,
) -> pa.Table:
    """Some members of a rule with their golden traits, to see who a rule is about."""
    parsed = _checked(store, rule)
    members = compile_rule(store, parsed, compile_context(store, as_of))
    members = members.order_by("profile_id").limit(max(0, min(limit, 10_000)))
    profiles = store.table("profiles")
    joined = members.join(profiles, "profile_id").select(
        "profile_id", "traits", "sources", "first_seen", "last_seen"
    )
    return store.to_arrow(joined.order_by("profile_id"))


def overlap(
    store: Store, first: str, second: str, *, as_of: datetime | None = None, stored: bool = True
) -> dict[str, Any]:
    """Members in each of two segments, in both, and in one only.

    ``stored`` reads the memberships of the last run; otherwise both rules run now.
    """
    a, b = get_segment(store, first), get_segment(store, second)
    if stored:
        table = store.table("memberships")
        left = table.filter(table.segment == a.name).select("profile_id")
        right = table.filter(table.segment == b.name).select("profile_id")
    else:
        ctx = compile_context(store, as_of)
        left = compile_rule(store, a.rule, ctx)
        right = compile_rule(store, b.rule, ctx)
    n_left = int(store.scalar(left.count()))
    n_right = int(store.scalar(right.count()))
    both = int(store.scalar(left.semi_join(right, "profile_id").count()))
    union = n_left + n_right - both
    return {
        "first": {"segment": a.name, "members": n_left},
        "second": {"segment": b.name, "members": n_right},
        "both": both,
        "only_first": n_left - both,
        "only_second": n_right - both,
        "jaccard": round(both / union, 4) if union else 0.0,
    }


def rename_segment(store: Store, name: str, title: str) -> Segment:
    """Give a segment a new title. Its name, which rules, the API and destinations use, stays."""
    title = title.strip()
    if not title or len(title) > 200:
        raise ConfigError("a segment title needs 1 to 200 characters")
    get_segment(store, name)
    row = _rows(store, [name])[0]
    row.pop("workspace_id", None)
    store.upsert("segments", {**row, "title": title, "updated_at": datetime.now(UTC)}, key=["name"])
    return get_segment(store, name)


def archive_segment(store: Store, name: str, *, archived: bool = True) -> Segment:
    """Archive a segment (or restore it with ``archived=False``).

    An archived segment keeps its definition and history but is no longer evaluated: its members
    leave it now (each exit is recorded and sent to the outbox, so destinations drop them), and
    a restored segment gets its members back at the next run. Refused while an active segment
    refers to it.
    """
    from profilo.audiences.memberships import record_changes

    segment = get_segment(store, name)
    if archived == (segment.archived_at is not None):
        return segment
    row = _rows(store, [name])[0]
    row.pop("workspace_id", None)
    now = datetime.now(UTC)
    if not archived:
        store.upsert("segments", {**row, "archived_at": None, "updated_at": now}, key=["name"])
        return get_segment(store, name)
    users = sorted(
        s.name
        for s in list_segments(store)
        if s.archived_at is None and name in segment_references(s.rule)
    )
    if users:
        raise ConfigError(f"segment {name!r} is used by {', '.join(users)}; change those first")
    memberships = store.table("memberships")
    members = store.to_arrow(memberships.filter(memberships.segment == name).select("profile_id"))
    with store.transaction():
        record_changes(
            store,
            f"archive:{name}:{now.isoformat()}",
            {name: (pa.array([], pa.string()), members.column("profile_id").combine_chunks())},
            trigger="batch",
            at=now,
        )
        store.upsert(
            "segments",
            {**row, "archived_at": now, "updated_at": now, "members": 0, "evaluated_at": now},
            key=["name"],
        )
    return get_segment(store, name)
