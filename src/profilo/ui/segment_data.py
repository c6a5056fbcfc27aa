"""What the segment pages show and do: the builder's catalogue, live size and preview, save,
rename, archive, and each segment's size over time.

The builder sends the rule as the same JSON tree the segments API takes
(:mod:`profilo.audiences.rules`); an invalid rule comes back as its problems, each with its path,
never as an error page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import ibis

from profilo.access import mask_trait
from profilo.audiences import (
    Context,
    RuleError,
    archive_segment,
    compile_rule,
    evaluate_segments,
    get_segment,
    list_segments,
    read_rule,
    rename_segment,
    rule_text,
    save_segment,
    validate_rule,
)
from profilo.profiles import list_traits
from profilo.store import Store
from profilo.ui._tables import catalogue as cached_catalogue
from profilo.ui._tables import table

__all__ = [
    "archive",
    "builder_catalogue",
    "estimate",
    "rename",
    "save",
    "segment_detail",
    "segments_list",
    "size_history",
]

_PREVIEW_TRAITS = ("first_name", "last_name", "email", "city", "country")


def builder_catalogue(store: Store) -> dict[str, Any]:
    """Names the builder offers: traits (with their kinds), computed traits, identifier types,
    consent purposes, segments and the event names seen most."""
    catalogue = cached_catalogue(store)
    events = table(store, "profile_events")
    named = events.filter(events.event.notnull())
    top = (
        named.group_by("event")
        .aggregate(n=named.count())
        .order_by([ibis.desc("n"), "event"])
        .limit(200)
    )
    event_names = sorted(store.to_arrow(top).column("event").to_pylist())
    return {
        "traits": dict(sorted(catalogue.traits.items())),
        "computed": {d.name: d.value_kind for d in list_traits(store)},
        "identifiers": sorted(catalogue.identifier_types),
        "purposes": sorted(catalogue.purposes),
        "segments": [
            {"name": s.name, "title": s.title}
            for s in list_segments(store)
            if s.archived_at is None
        ],
        "events": event_names,
    }


def estimate(
    store: Store, *, rule: dict[str, Any] | str, masked: bool, limit: int = 10
) -> dict[str, Any]:
    """Size and first members of a rule being built, or its problems.

    The same checks and compiler as :func:`profilo.audiences.estimate_size` and
    :func:`~profilo.audiences.preview_members`, with the workspace's catalogue read once.
    """
    try:
        parsed = read_rule(rule)
        catalogue = cached_catalogue(store)
        validate_rule(parsed, catalogue)
    except RuleError as exc:
        return {"ok": False, "problems": [list(p) for p in exc.problems]}
    context = Context(
        as_of=datetime.now(UTC),
        traits=catalogue.traits,
        computed={d.name: d for d in list_traits(store)},
        tables=_compiled_tables(store),
    )
    members_of = compile_rule(store, parsed, context)
    size = int(store.scalar(members_of.count()))
    first = members_of.order_by("profile_id").limit(limit)
    profiles = table(store, "profiles")
    rows = store.to_arrow(
        first.join(profiles, "profile_id").select("profile_id", "traits").order_by("profile_id")
    )
    members = []
    for row in rows.to_pylist():
        traits = json.loads(row["traits"] or "{}") if isinstance(row["traits"], str) else {}
        shown = {k: traits.get(k) for k in _PREVIEW_TRAITS if traits.get(k) is not None}
        if masked:
            shown = {k: mask_trait(k, v) for k, v in shown.items()}
        members.append({"profile_id": row["profile_id"], "traits": shown})
    return {"ok": True, "size": size, "text": rule_text(parsed), "members": members}


def _compiled_tables(store: Store) -> dict[str, Any]:
    """The table expressions the compiler reads, asked of the store once."""
    return {
        name: table(store, name)
        for name in (
            "profiles",
            "profile_traits",
            "computed_traits",
            "identities",
            "profile_consents",
            "profile_events",
            "memberships",
        )
    }


def size_history(store: Store, name: str) -> list[dict[str, Any]]:
    """Members after each run that changed them, oldest first (from entries and exits)."""
    changes = table(store, "membership_changes")
    mine = changes.filter(changes.segment == name)
    per_run = (
        mine.group_by("changed_at")
        .aggregate(
            entered=(mine.change == "enter").ifelse(1, 0).sum(),
            exited=(mine.change == "exit").ifelse(1, 0).sum(),
        )
        .order_by("changed_at")
    )
    running = 0
    out = []
    for row in store.to_arrow(per_run).to_pylist():
        running += int(row["entered"]) - int(row["exited"])
        out.append(
            {
                "at": row["changed_at"],
                "members": running,
                "entered": int(row["entered"]),
                "exited": int(row["exited"]),
            }
        )
    return out


def segments_list(store: Store) -> list[dict[str, Any]]:
    """Every segment, active first, with its size."""
    rows = [s.as_dict() for s in list_segments(store)]
    return sorted(rows, key=lambda r: (r["archived_at"] is not None, r["title"].lower()))


def segment_detail(store: Store, *, name: str) -> dict[str, Any]:
    """One segment with its rule and size history."""
    data = get_segment(store, name).as_dict()
    data["history"] = size_history(store, name)
    return data


def save(
    store: Store, *, name: str, rule: dict[str, Any] | str, description: str, title: str
) -> dict[str, Any]:
    """Create or change a segment and evaluate it now (its members are recorded and sent on);
    returns the segment, or the rule's problems."""
    try:
        save_segment(store, name, rule, description=description)
    except RuleError as exc:
        return {"ok": False, "problems": [list(p) for p in exc.problems]}
    if title.strip():
        rename_segment(store, name, title)
    evaluate_segments(store, [name])
    return {"ok": True, "segment": get_segment(store, name).as_dict()}


def rename(store: Store, *, name: str, title: str) -> dict[str, Any]:
    """Give a segment a new title (its name stays)."""
    return rename_segment(store, name, title).as_dict()


def archive(store: Store, *, name: str, archived: bool) -> dict[str, Any]:
    """Archive a segment, or restore it (and evaluate it again)."""
    segment = archive_segment(store, name, archived=archived)
    if not archived:
        evaluate_segments(store, [name])
        segment = get_segment(store, name)
    return segment.as_dict()
