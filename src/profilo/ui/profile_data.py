"""What the profile pages show: search, the 360° view, merge history, and the split action.

Module-level functions of a store and plain keyword arguments, run through the store runner. With
``masked`` every personal value (names, e-mails, phones, addresses, and e-mails or phones inside
event properties) is masked here, before the data leaves for the page.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from profilo.access import mask_identifier, mask_trait, mask_tree
from profilo.errors import InputError, NotFound
from profilo.identity import explain_profile, parse_record, split_record
from profilo.identity.survivorship import build_profiles
from profilo.profiles import find_profile, profile_view, search_profiles, timeline
from profilo.profiles.events import refresh_profiles
from profilo.store import Store
from profilo.ui._tables import table

__all__ = ["profile_page", "search_page", "split_profile_record"]


def _masked_hit(hit: dict[str, Any]) -> dict[str, Any]:
    return {
        **hit,
        "name": mask_trait("name", hit.get("name")),
        "email": mask_trait("email", hit.get("email")),
        "matches": [
            {"field": m["field"], "value": mask_trait(m["field"], m["value"])}
            for m in hit.get("matches", [])
        ],
    }


def search_page(store: Store, *, query: str, masked: bool, limit: int = 25) -> list[dict[str, Any]]:
    """Profiles whose name, e-mail or phone starts with ``query``, or that hold ``query`` as any
    identifier (``crm_id``, ``loyalty_id``… or ``type:value``), or whose id it is."""
    text = query.strip()
    if len(text) < 2:
        raise InputError("search for at least 2 characters")
    hits: list[dict[str, Any]] = []
    exact: list[str] = []
    with contextlib.suppress(NotFound, InputError):
        exact.append(find_profile(store, text, country="FR"))
    ids = table(store, "identities")
    for row in store.to_arrow(
        ids.filter(ids.value == text, ids.profile_id.notnull())
        .select("profile_id", "id_type", "value")
        .limit(limit)
    ).to_pylist():
        exact.append(row["profile_id"])
    if ":" not in text:
        hits = search_profiles(store, text, limit=limit, country="FR")
    seen = {h["profile_id"] for h in hits}
    missing = [p for p in dict.fromkeys(exact) if p not in seen]
    if missing:
        profiles = table(store, "profiles")
        for row in store.to_arrow(
            profiles.filter(profiles.profile_id.isin(missing)).select("profile_id", "traits")
        ).to_pylist():
            traits = json.loads(row["traits"]) if isinstance(row["traits"], str) else {}
            name = " ".join(
                str(traits[k]) for k in ("first_name", "last_name") if traits.get(k)
            ) or traits.get("name")
            hits.insert(
                0,
                {
                    "profile_id": row["profile_id"],
                    "name": name,
                    "email": traits.get("email"),
                    "matches": [{"field": "identifier", "value": text}],
                },
            )
    hits = hits[:limit]
    return [_masked_hit(h) for h in hits] if masked else hits


def _mask_view(view: dict[str, Any]) -> dict[str, Any]:
    for name, trait in view["traits"].items():
        trait["value"] = mask_trait(name, trait["value"])
    for identity in view["identities"]:
        identity["value"] = mask_identifier(identity["id_type"], identity["value"])
    return view


def _history(store: Store, profile_id: str, limit: int = 200) -> dict[str, Any]:
    """Why the profile holds its records (each record's link), and its merges and splits.

    The same facts :func:`profilo.identity.explain_profile` gathers, minus its match search
    (which scans every scored pair): matches are read only when a record joined by one.
    """
    graph = table(store, "identity_records")
    records = store.to_arrow(
        graph.filter(graph.profile_id == profile_id)
        .select("source", "record_key", "linked_by", "link_type", "link_value", "first_seen")
        .order_by(["first_seen", "source", "record_key"])
        .limit(limit)
    ).to_pylist()
    merges = table(store, "merges")
    merged = store.to_arrow(
        merges.filter((merges.profile_id == profile_id) | (merges.other_profile_id == profile_id))
        .order_by("created_at")
        .drop("workspace_id")
        .limit(limit)
    ).to_pylist()
    for row in merged:
        if isinstance(row.get("evidence"), str):
            row["evidence"] = json.loads(row["evidence"])
    matches: list[dict[str, Any]] = []
    if any("match" in (r["linked_by"] or "") for r in records):
        matches = explain_profile(store, profile_id)["matches"]
    return {"records_shown": records, "merges": merged, "matches": matches}


def profile_page(
    store: Store,
    *,
    profile_id: str,
    masked: bool,
    sources: list[str] | None = None,
    before: str | None = None,
    limit: int = 25,
) -> dict[str, Any]:
    """The 360° view of a profile, a page of its timeline (filtered on sources), its records and
    the merges and splits it went through, with their evidence."""
    plain = not sources and before is None
    view = profile_view(store, profile_id, timeline_limit=limit if plain else 1)
    if not plain:
        view["timeline"] = timeline(store, profile_id, limit=limit, before=before, sources=sources)
    view.update(_history(store, profile_id))
    if masked:
        _mask_view(view)
        view["timeline"] = mask_tree(view["timeline"])
        view["merges"] = mask_tree(view["merges"])
        view["matches"] = mask_tree(view["matches"])
        view["records_shown"] = [
            {
                **row,
                "link_value": mask_identifier(row["link_type"] or "", row["link_value"])
                if row["link_value"]
                else row["link_value"],
            }
            for row in view["records_shown"]
        ]
    return view


def split_profile_record(store: Store, *, record: str, reason: str, by: str) -> dict[str, Any]:
    """Take a record out of its profile (kept apart in every later run), then rebuild the golden
    records and events of the profiles that changed. Returns the record's new profile."""
    ref = parse_record(record)
    report = split_record(store, ref, reason=reason or None, by=by)
    if report.profile_ids is not None and report.profile_ids.num_rows:
        build_profiles(store, None, profile_ids=report.profile_ids)
    refresh_profiles(store)
    graph = table(store, "identity_records")
    found = store.to_arrow(
        graph.filter(graph.source == ref[0], graph.record_key == ref[1]).select("profile_id")
    )
    return {"profile_id": found.column("profile_id")[0].as_py() if found.num_rows else None}
