"""The personalisation API: what a web site or app may know about the person in front of it, now.

Given any identifier (``email``, ``phone``, ``user_id``, ``anonymous_id``, ``crm_id``…), answer
the traits, computed traits, segments and product recommendations that the calling key may see.
A request is one point read, through two indexes, with a query compiled once per store: the
identifier (→ profile) joined to the profile's card (:mod:`profilo.activate.cards`, precomputed by
the pipeline). The key (by the SHA-256 of its secret) and the non-personal defaults are read at
most once per :data:`KEY_CACHE_SECONDS`.

- **Keys** are created with a scope: which traits, computed traits and segments they may see
  (``["*"]`` for all) and whether they get recommendations. Only the hash of the secret is stored;
  the key is shown once, when created. A revoked or unknown key gets :class:`KeyRefused`
  (a key's state is kept :data:`KEY_CACHE_SECONDS` per store: a revocation made through another
  process is honoured within that time, one made here at once).
- **Consent**: without a granted ``personalisation`` consent the answer holds no personal data at
  all — ``personalised: false``, the reason, and the non-personal defaults (the most bought
  products) — so the site can still render something.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import ibis
import orjson

from profilo.errors import InputError, NotFound, ProfiloError
from profilo.profiles import parse_reference
from profilo.store import PreparedQuery, Store

__all__ = [
    "KEY_CACHE_SECONDS",
    "NO_CONSENT",
    "KeyRefused",
    "check_identifier",
    "create_key",
    "example_identifier",
    "forget_cached",
    "list_keys",
    "personalise",
    "revoke_key",
]

_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_VALUE = 512
NO_CONSENT = "no consent for personalisation"
KEY_CACHE_SECONDS = 5.0
_KEYS: weakref.WeakKeyDictionary[Store, dict[str, tuple[float, Any]]] = weakref.WeakKeyDictionary()
_DEFAULTS = "defaults"  # a cache entry beside the keys' (theirs are SHA-256 hex digests)


class KeyRefused(ProfiloError):
    """The personalisation key is unknown or revoked (answered 401)."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _names(kind: str, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return []
    out = sorted({str(n).strip() for n in names if str(n).strip()})
    for name in out:
        if name != "*" and not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", name):
            raise InputError(f"invalid {kind} name {name!r} in a key's scope")
    return out


def create_key(
    store: Store,
    *,
    name: str,
    traits: Sequence[str] | None = None,
    computed: Sequence[str] | None = None,
    segments: Sequence[str] | None = None,
    recommendations: bool = True,
) -> dict[str, Any]:
    """Create a key allowed to see ``traits``, ``computed`` traits and ``segments`` (names, or
    ``"*"`` for all; none when empty). Returns the key itself, shown this once, and its scope."""
    if not name.strip():
        raise InputError("a personalisation key needs a name")
    scope = {
        "traits": _names("trait", traits),
        "computed": _names("computed trait", computed),
        "segments": _names("segment", segments),
        "recommendations": bool(recommendations),
    }
    key_id = secrets.token_hex(6)
    key = f"pk_{key_id}_{secrets.token_urlsafe(24)}"
    store.upsert(
        "personalisation_keys",
        {
            "key_id": key_id,
            "key_hash": _hash(key),
            "name": name.strip(),
            "scope": scope,
            "created_at": datetime.now(UTC),
            "revoked_at": None,
        },
        ["key_id"],
    )
    return {"key_id": key_id, "key": key, "name": name.strip(), "scope": scope}


def list_keys(store: Store) -> list[dict[str, Any]]:
    """Every key's id, name, scope and state (never the secret nor its hash)."""
    keys = store.table("personalisation_keys")
    rows = store.to_arrow(
        keys.select("key_id", "name", "scope", "created_at", "revoked_at").order_by("created_at")
    ).to_pylist()
    for row in rows:
        if isinstance(row["scope"], str):
            row["scope"] = orjson.loads(row["scope"])
    return rows


def revoke_key(store: Store, key_id: str) -> dict[str, Any]:
    """Revoke a key: refused from then on (by other processes within :data:`KEY_CACHE_SECONDS`).
    Returns the key as :func:`list_keys` shows it."""
    keys = store.table("personalisation_keys")
    rows = store.to_arrow(keys.filter(keys.key_id == key_id)).to_pylist()
    if not rows:
        raise NotFound(f"no personalisation key {key_id!r}")
    row = {k: v for k, v in rows[0].items() if k != "workspace_id"}
    if row["revoked_at"] is None:
        row["revoked_at"] = datetime.now(UTC)
        store.upsert("personalisation_keys", row, ["key_id"])
    forget_cached(store)
    scope = row["scope"]
    return {
        "key_id": row["key_id"],
        "name": row["name"],
        "scope": orjson.loads(scope) if isinstance(scope, str) else scope,
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    }


def example_identifier(store: Store) -> tuple[str, str] | None:
    """An e-mail (else any identifier) of a person with a card, for examples: ``(type, value)``."""
    ids = store.table("identities")
    cards = store.table("profile_cards")
    held = ids.filter(ids.profile_id.notnull()).semi_join(cards, "profile_id")
    for kinds in (["email"], None):
        found = held if kinds is None else held.filter(held.id_type.isin(kinds))
        rows = store.to_arrow(found.select("id_type", "value").order_by("value").limit(1))
        if rows.num_rows:
            row = rows.to_pylist()[0]
            return str(row["id_type"]), str(row["value"])
    return None


def forget_cached(store: Store) -> None:
    """Drop what this process keeps of ``store``'s keys and defaults (after changing them here)."""
    _KEYS.pop(store, None)


# -- the request path: one prepared point read (and a cached key) ----------------------------


def _key_query(store: Store) -> PreparedQuery:
    digest = ibis.param("string")
    keys = store.table("personalisation_keys")
    return store.prepare(
        keys.filter(keys.key_hash == digest).select("key_id", "scope", "revoked_at").limit(1),
        key_hash=digest,
    )


def _card_query(store: Store) -> PreparedQuery:
    """identifier → profile → card in one statement: each side answered by its index (on DuckDB
    the card's through the join's dynamic filter), no card (None columns) when not prepared."""
    kind, value = ibis.param("string"), ibis.param("string")
    ids = store.table("identities")
    hit = (
        ids.filter(ids.value == value, ids.id_type == kind, ids.profile_id.notnull())
        .select("profile_id")
        .limit(1)
    )
    cards = store.table("profile_cards")
    joined = hit.left_join(cards, hit.profile_id == cards.profile_id)
    return store.prepare(
        joined.select(
            hit.profile_id,
            has_card=cards.profile_id.notnull(),
            consented=cards.consented,
            traits=cards.traits,
            computed=cards.computed,
            segments=cards.segments,
            recommendations=cards.recommendations,
            updated_at=cards.updated_at,
        ),
        kind=kind,
        value=value,
    )


def _defaults_query(store: Store) -> PreparedQuery:
    name = ibis.param("string")
    defaults = store.table("personalisation_defaults")
    return store.prepare(defaults.filter(defaults.name == name).select("value").limit(1), name=name)


def _scope_of(store: Store, key: str) -> dict[str, Any] | None:
    """The scope of a valid key, or None; kept a few seconds per store (a key is read on every
    request, and changes seldom: a revoked key is refused within :data:`KEY_CACHE_SECONDS`)."""
    digest = _hash(key)
    cache = _KEYS.setdefault(store, {})
    now = time.monotonic()
    kept = cache.get(digest)
    if kept is not None and kept[0] > now:
        return kept[1]
    row = store.prepared("activate.personalise.key", _key_query).first(key_hash=digest)
    scope = row["scope"] if row is not None and row["revoked_at"] is None else None
    if len(cache) > 10_000:  # unknown keys must not grow it without bound
        cache.clear()
    cache[digest] = (now + KEY_CACHE_SECONDS, scope)
    return scope


def _allowed(values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if "*" in names:
        return values
    return {name: values[name] for name in names if name in values}


def _defaults(store: Store) -> list[Any]:
    """The non-personal recommendations, kept like a key's state (they change once per run)."""
    cache = _KEYS.setdefault(store, {})
    now = time.monotonic()
    kept = cache.get(_DEFAULTS)
    if kept is not None and kept[0] > now:
        return list(kept[1] or [])
    row = store.prepared("activate.personalise.defaults", _defaults_query).first(
        name="recommendations"
    )
    found = list(row["value"]) if row else []
    cache[_DEFAULTS] = (now + KEY_CACHE_SECONDS, found)
    return list(found)


def check_identifier(id_type: str, value: str) -> None:
    """Refuse an identifier that cannot be one (:class:`InputError`, answered 422)."""
    if not _TYPE.match(id_type):
        raise InputError(
            f"invalid identifier type {id_type!r}; e.g. email, phone, user_id, anonymous_id,"
            " crm_id (lower-case letters, digits and _)"
        )
    if not value.strip():
        raise InputError("an empty identifier value")
    if len(value) > _MAX_VALUE:
        raise InputError(f"identifier value longer than {_MAX_VALUE} characters")


def personalise(
    store: Store, *, key: str, id_type: str, value: str, country: str | None = None
) -> dict[str, Any]:
    """What the key may see about the person an identifier names (see the module's docstring).

    Raises :class:`KeyRefused` (bad key), :class:`InputError` (bad identifier), :class:`NotFound`
    (no profile holds the identifier).
    """
    found = _scope_of(store, key)
    if found is None:
        raise KeyRefused("unknown or revoked personalisation key")
    check_identifier(id_type, value)
    kind, clean = parse_reference(f"{id_type}:{value}", country=country)
    assert kind is not None
    card = store.prepared("activate.personalise.card", _card_query).first(kind=kind, value=clean)
    if card is None:
        raise NotFound(f"no profile for {id_type}:{value}")
    scope = found
    if not card["has_card"] or not card["consented"]:
        return {
            "personalised": False,
            "reason": NO_CONSENT if card["has_card"] else "profile not prepared yet",
            "traits": {},
            "computed_traits": {},
            "segments": [],
            "recommendations": _defaults(store) if scope.get("recommendations") else [],
        }
    segments = card["segments"] or []
    allowed_segments = scope.get("segments", [])
    return {
        "personalised": True,
        "profile_id": card["profile_id"],
        "traits": _allowed(card["traits"] or {}, scope.get("traits", [])),
        "computed_traits": _allowed(card["computed"] or {}, scope.get("computed", [])),
        "segments": segments
        if "*" in allowed_segments
        else [s for s in segments if s in allowed_segments],
        "recommendations": card["recommendations"] or [] if scope.get("recommendations") else [],
        "updated_at": card["updated_at"],
    }
