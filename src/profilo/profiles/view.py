"""The 360° view of a profile: look it up, see it whole, page through its timeline, search.

A profile is found by its id (``prf_…``) or by any identifier written ``type:value``
(``email:ana@x.fr``, ``phone:+33612345678``, ``user_id:U123``); e-mails and phones are normalised
the way imports normalise them, so ``email: Ana@X.fr `` finds the same person. The view gathers
the golden traits with their lineage, every identity with its source, current consents and
their history, computed traits, segment memberships and the first page of the timeline: every
event of every source, newest first, paged with an opaque cursor.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

from profilo.errors import InputError, NotFound
from profilo.prepare import normalise
from profilo.profiles.filters import parse_properties, timestamp_literal
from profilo.profiles.traits import days_between, list_traits
from profilo.store import PreparedQuery, Store

__all__ = [
    "find_profile",
    "lookup_profile",
    "parse_reference",
    "profile_view",
    "search_profiles",
    "timeline",
]

_NAME_TRAITS = ("first_name", "last_name", "name")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_reference(text: str, *, country: str | None = None) -> tuple[str | None, str]:
    """``(identifier type, normalised value)`` from ``type:value``, or ``(None, id)`` for an id.

    >>> parse_reference("email: Ana@X.fr ")
    ('email', 'ana@x.fr')
    >>> parse_reference("prf_5e4a0d6fbd6b2e7e")
    (None, 'prf_5e4a0d6fbd6b2e7e')
    """
    text = text.strip()
    if not text:
        raise InputError("an empty profile reference; give a profile id or type:value")
    if ":" not in text:
        return None, text
    kind, value = text.split(":", 1)
    kind, value = kind.strip(), value.strip()
    if not kind or not value:
        raise InputError(f"invalid profile reference {text!r}; write type:value, e.g. email:a@b.fr")
    if kind == "email" and value.isascii() and value.isprintable():
        # what the e-mail normaliser does to plain ASCII, without its column machinery
        value = value.strip(" ").lower()
        value = value[len("mailto:") :].strip(" ") if value.startswith("mailto:") else value
    elif kind == "phone" and _E164.match(value):
        pass  # already international: the phone normaliser keeps it as it is
    elif kind in ("email", "phone"):
        clean = normalise(kind, pa.array([value]), default_country=country).value[0].as_py()
        value = clean or value
    elif kind.endswith("_sha256"):
        value = value.lower()
    return kind, value


def _profile_by_identifier(store: Store) -> PreparedQuery:
    kind, value = ibis.param("string"), ibis.param("string")
    ids = store.table("identities")
    hit = ids.filter(ids.id_type == kind, ids.value == value, ids.profile_id.notnull())
    return store.prepare(hit.select("profile_id").limit(1), kind=kind, value=value)


def _profile_head(store: Store) -> PreparedQuery:
    profile_id = ibis.param("string")
    profiles = store.table("profiles")
    return store.prepare(
        profiles.filter(profiles.profile_id == profile_id)
        .select("profile_id", "traits", "sources", "records", "first_seen", "last_seen")
        .limit(1),
        profile_id=profile_id,
    )


def _profile_id_of(store: Store, kind: str, value: str) -> str | None:
    """The profile holding an identifier: one indexed point read, compiled once per store."""
    hit = store.prepared("profiles.by_identifier", _profile_by_identifier).first(
        kind=kind, value=value
    )
    return None if hit is None else str(hit["profile_id"])


def find_profile(store: Store, reference: str, *, country: str | None = None) -> str:
    """The id of the profile a reference names; :class:`NotFound` when none."""
    kind, value = parse_reference(reference, country=country)
    if kind is None:
        head = store.prepared("profiles.head", _profile_head).first(profile_id=value)
        found = None if head is None else str(head["profile_id"])
    else:
        found = _profile_id_of(store, kind, value)
    if found is None:
        raise NotFound(f"no profile for {reference!r}")
    return found


def lookup_profile(store: Store, reference: str, *, country: str | None = None) -> dict[str, Any]:
    """The golden record of the profile a reference names: id, traits, sources, first and last
    seen, in one or two indexed point reads. :func:`profile_view` gives everything."""
    kind, value = parse_reference(reference, country=country)
    profile_id = value if kind is None else _profile_id_of(store, kind, value)
    row = (
        None
        if profile_id is None
        else store.prepared("profiles.head", _profile_head).first(profile_id=profile_id)
    )
    if row is None:
        raise NotFound(f"no profile for {reference!r}")
    row["traits"] = _json(row["traits"])
    row["sources"] = [s for s in (row["sources"] or "").split(",") if s]
    return row


def _json(value: object) -> Any:
    if isinstance(value, str):
        return json.loads(value)
    return value if value is not None else {}


def _rows(store: Store, table: str, profile_id: str, *order: str) -> list[dict[str, Any]]:
    def build(store: Store) -> PreparedQuery:
        param = ibis.param("string")
        t = store.table(table)
        expr = t.filter(t.profile_id == param).drop("workspace_id")
        return store.prepare(expr.order_by(*order) if order else expr, profile_id=param)

    query = store.prepared(f"profiles.rows:{table}:{','.join(order)}", build)
    return query(profile_id=profile_id)


def _computed(store: Store, profile_id: str, now: datetime) -> dict[str, Any]:
    definitions = {d.name: d for d in list_traits(store)}
    out: dict[str, Any] = {}
    for row in _rows(store, "computed_traits", profile_id, "trait"):
        definition = definitions.get(row["trait"])
        if definition is None:
            continue
        value = row[definition.column]
        if definition.aggregate == "days_since" and value is not None:
            value = days_between(now, value)
        out[row["trait"]] = {"value": value, "computed_at": row["computed_at"]}
    for name, definition in definitions.items():
        if name not in out and definition.zero_when_absent:
            out[name] = {"value": 0.0, "computed_at": None}
    return out


def _consent_history(store: Store, profile_id: str) -> list[dict[str, Any]]:
    graph = store.table("identity_records")
    mine = graph.filter(graph.profile_id == profile_id).select("source", "record_key")
    consents = store.table("consents")
    rows = consents.semi_join(mine, ["source", "record_key"]).select(
        "purpose", "status", "legal_basis", "consented_at", "recorded_at", "source", "record_key"
    )
    return list(
        store.to_arrow(rows.order_by(ibis.desc("consented_at"), "purpose", "source")).to_pylist()
    )


def profile_view(
    store: Store, profile_id: str, *, timeline_limit: int = 20, now: datetime | None = None
) -> dict[str, Any]:
    """Everything known about one profile (see the module's docstring)."""
    now = now or datetime.now(UTC)
    profiles = _rows(store, "profiles", profile_id)
    if not profiles:
        raise NotFound(f"unknown profile {profile_id!r}")
    head = profiles[0]
    traits = {
        row["trait"]: {
            "value": row["value"],
            "source": row["source"],
            "record_key": row["record_key"],
            "observed_at": row["observed_at"],
            "rule": row["rule"],
            "candidates": row["candidates"],
            "conflict": row["conflict"],
        }
        for row in _rows(store, "profile_traits", profile_id, "trait")
    }
    identities = [
        {
            k: row[k]
            for k in ("id_type", "value", "status", "source", "records", "first_seen", "last_seen")
        }
        for row in _rows(store, "identities", profile_id, "id_type", "value")
    ]
    consents = {
        row["purpose"]: {
            "status": row["status"],
            "changed_at": row["changed_at"],
            "source": row["source"],
        }
        for row in _rows(store, "profile_consents", profile_id, "purpose")
    }
    segments = [
        {"segment": row["segment"], "entered_at": row["entered_at"]}
        for row in _rows(store, "memberships", profile_id, "segment")
    ]
    return {
        "profile_id": profile_id,
        "records": head["records"],
        "sources": [s for s in (head["sources"] or "").split(",") if s],
        "first_seen": head["first_seen"],
        "last_seen": head["last_seen"],
        "updated_at": head["updated_at"],
        "traits": traits,
        "identities": identities,
        "consents": consents,
        "consent_history": _consent_history(store, profile_id),
        "computed_traits": _computed(store, profile_id, now),
        "segments": segments,
        "timeline": timeline(store, profile_id, limit=timeline_limit),
    }


def _cursor(stamp: datetime, message_id: str) -> str:
    raw = json.dumps([stamp.isoformat(), message_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, message_id = json.loads(raw)
        return datetime.fromisoformat(stamp), str(message_id)
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid timeline cursor {cursor!r}") from exc


def timeline(
    store: Store,
    profile_id: str,
    *,
    limit: int = 50,
    before: str | None = None,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """A page of the profile's events, newest first; ``next`` is the cursor of the page after.

    Events without a time come last.
    """
    limit = max(1, min(limit, 1000))
    events = store.table("profile_events")
    events = events.filter(events.profile_id == profile_id)
    if sources:
        events = events.filter(events.source.isin(sources))
    at = events.timestamp.fill_null(timestamp_literal(_EPOCH))
    events = events.mutate(at=at)
    if before is not None:
        stamp, message_id = _uncursor(before)
        mark = timestamp_literal(stamp)
        events = events.filter(
            (events.at < mark) | ((events.at == mark) & (events.message_id < message_id))
        )
    page = store.to_arrow(
        events.order_by(ibis.desc("at"), ibis.desc("message_id"))
        .limit(limit + 1)
        .select("message_id", "source", "type", "event", "timestamp", "properties", "at")
    ).to_pylist()
    more = len(page) > limit
    page = page[:limit]
    items = [
        {
            "message_id": row["message_id"],
            "source": row["source"],
            "type": row["type"],
            "event": row["event"],
            "timestamp": row["timestamp"],
            "properties": parse_properties(row["properties"]),
        }
        for row in page
    ]
    cursor = _cursor(page[-1]["at"], page[-1]["message_id"]) if more and page else None
    return {"events": items, "next": cursor}


def search_profiles(
    store: Store, query: str, *, limit: int = 20, country: str | None = None
) -> list[dict[str, Any]]:
    """Profiles whose name, e-mail or phone starts with ``query`` (case-insensitive for names
    and e-mails), with what matched."""
    text = query.strip()
    if len(text) < 2:
        raise InputError("search for at least 2 characters")
    limit = max(1, min(limit, 200))
    lowered = text.lower()
    ids = store.table("identities")
    email = ids.filter(
        ids.id_type == "email", ids.value.startswith(lowered), ids.profile_id.notnull()
    )
    hits = [email.select("profile_id", matched=ids.value, field=ibis.literal("email"))]
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if len(digits.lstrip("+")) >= 2:
        prefixes = {digits}
        if country and digits.startswith("0"):
            full = normalise("phone", pa.array([digits + "0" * 6]), default_country=country)
            number = full.value[0].as_py()
            if number:  # the national prefix 0 becomes the country's calling code
                prefixes.add(number[: len(number) - 6])
        phone = ids.filter(
            ids.id_type == "phone",
            ibis.or_(*(ids.value.startswith(p) for p in sorted(prefixes))),
            ids.profile_id.notnull(),
        )
        hits.append(phone.select("profile_id", matched=ids.value, field=ibis.literal("phone")))
    traits = store.table("profile_traits")
    names = traits.filter(
        traits.trait.isin(list(_NAME_TRAITS)), traits.value.lower().startswith(lowered)
    )
    hits.append(names.select("profile_id", matched=traits.value, field=traits.trait))
    text_type = dt.String(nullable=True)
    union = ibis.union(*(h.cast({c: text_type for c in h.columns}) for h in hits), distinct=True)
    found = store.to_arrow(
        union.order_by("profile_id", "field", "matched").limit(limit * 4)
    ).to_pylist()
    by_profile: dict[str, dict[str, Any]] = {}
    for row in found:
        entry = by_profile.setdefault(
            row["profile_id"], {"profile_id": row["profile_id"], "matches": []}
        )
        entry["matches"].append({"field": row["field"], "value": row["matched"]})
    chosen = sorted(by_profile)[:limit]
    if not chosen:
        return []
    profiles = store.table("profiles")
    heads = store.to_arrow(
        profiles.filter(profiles.profile_id.isin(chosen)).select("profile_id", "traits")
    ).to_pylist()
    for head in heads:
        traits_of = _json(head["traits"])
        entry = by_profile[head["profile_id"]]
        entry["name"] = " ".join(
            str(traits_of[k]) for k in ("first_name", "last_name") if traits_of.get(k)
        ) or traits_of.get("name")
        entry["email"] = traits_of.get("email")
    return [by_profile[pid] for pid in chosen]
