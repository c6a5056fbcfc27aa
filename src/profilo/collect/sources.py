"""Tracking sources: each has its own write key, its classification, and optionally a plan or mapping.

A write key is public by design (it lives in web pages and apps) and can only send data to its
source: it reads nothing. It is stored as issued so ``source list`` can show it again, as
Segment's UI does.

The HTTP process does not open the store: it gets the sources as a :class:`Registry` built from
:func:`registry_rows`, and reloads it when a source changes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from profilo.collect.plans import PlanChecker, TrackingPlan, parse_plan
from profilo.collect.webhooks import WebhookMapping, parse_webhook_mapping
from profilo.errors import ConfigError, NotFound, unknown_choice
from profilo.store import Store

__all__ = [
    "PARTIES",
    "SOURCE_KINDS",
    "CollectSource",
    "Registry",
    "add_source",
    "get_plan",
    "list_sources",
    "registry_rows",
    "set_plan",
]

SOURCE_KINDS = (
    "web",
    "app",
    "server",
    "shop",
    "webhook",
    "crm",
    "ecommerce",
    "email",
    "helpdesk",
    "survey",
    "partner",
    "other",
)
"""What a source is; stored as the source's category."""

PARTIES = ("first", "second", "third")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return orjson.loads(value)
    return value


def _source_rows(store: Store, name: str | None = None) -> list[dict[str, Any]]:
    sources = store.table("sources")
    if name is not None:
        sources = sources.filter(sources.source == name)
    rows: list[dict[str, Any]] = store.to_arrow(sources.order_by("source")).to_pylist()
    for row in rows:
        row["settings"] = _json(row.get("settings")) or {}
    return rows


def _plans(store: Store) -> dict[str, dict[str, Any]]:
    plans = store.table("tracking_plans")
    rows = store.to_arrow(plans.select("source", "plan")).to_pylist()
    return {row["source"]: _json(row["plan"]) for row in rows}


def add_source(
    store: Store,
    name: str,
    *,
    kind: str = "server",
    party: str = "first",
    rate_limit: float | None = None,
    webhook: dict[str, Any] | None = None,
    rotate_key: bool = False,
) -> dict[str, Any]:
    """Create a tracking source and issue its write key; returns the source with its key.

    An existing import source gains a write key; an existing tracking source keeps its key
    unless ``rotate_key``. ``rate_limit`` is messages per second for its write key (None: the
    server's default; 0: none).
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"invalid source name {name!r}: up to 64 letters, digits, '_', '-' and '.'"
        )
    if kind not in SOURCE_KINDS:
        raise ConfigError(unknown_choice("source kind", kind, SOURCE_KINDS))
    if party not in PARTIES:
        raise ConfigError(unknown_choice("party", party, PARTIES))
    if rate_limit is not None and rate_limit < 0:
        raise ConfigError(
            f"rate limit must be 0 (none) or more messages per second; got {rate_limit}"
        )
    mapping = parse_webhook_mapping(webhook) if webhook is not None else None
    if kind == "webhook" and mapping is None:
        raise ConfigError("a webhook source needs a mapping (--mapping FILE)")
    existing = _source_rows(store, name)
    now = _now()
    write_key = existing[0].get("write_key") if existing else None
    if write_key and not rotate_key:
        old = existing[0]["settings"]
        same = (
            existing[0]["category"] == kind
            and existing[0]["party"] == party
            and old.get("rate_limit") == rate_limit
            and old.get("webhook") == (mapping.model_dump(exclude_none=True) if mapping else None)
        )
        if not same:
            raise ConfigError(
                f"source {name!r} exists with other settings; remove --kind/--party/…"
                " differences, or pass --rotate-key to reissue it"
            )
    if not write_key or rotate_key:
        write_key = secrets.token_hex(16)
    settings: dict[str, Any] = {"kind": kind, "rate_limit": rate_limit}
    if mapping is not None:
        settings["webhook"] = mapping.model_dump(exclude_none=True)
    store.upsert(
        "sources",
        {
            "source": name,
            "party": party,
            "category": kind,
            "origin": "webhook" if mapping is not None else "api",
            "write_key": write_key,
            "settings": settings,
            "created_at": existing[0]["created_at"] if existing else now,
            "updated_at": now,
        },
        key=["source"],
    )
    return {
        "source": name,
        "kind": kind,
        "party": party,
        "write_key": write_key,
        "rate_limit": rate_limit,
        "webhook": settings.get("webhook"),
    }


def list_sources(store: Store) -> list[dict[str, Any]]:
    """Every source of the workspace, tracking or imported, with its key (tracking ones) and plan."""
    plans = _plans(store)
    out = []
    for row in _source_rows(store):
        settings = row["settings"]
        out.append(
            {
                "source": row["source"],
                "kind": row["category"],
                "party": row["party"],
                "origin": row["origin"],
                "write_key": row.get("write_key"),
                "rate_limit": settings.get("rate_limit") if row.get("write_key") else None,
                "tracking_plan": row["source"] in plans,
                "webhook": settings.get("webhook") if row.get("write_key") else None,
                "created_at": row["created_at"].isoformat() if row.get("created_at") else None,
            }
        )
    return out


def set_plan(store: Store, source: str, plan: Any) -> TrackingPlan:
    """Attach (or replace) a source's tracking plan; ``None`` removes it."""
    if not _source_rows(store, source):
        raise NotFound(f"unknown source {source!r}; create it with `profilo source add`")
    if plan is None:
        store.replace_rows("tracking_plans", None, match=_match(source))
        return TrackingPlan()
    parsed = parse_plan(plan)
    store.upsert(
        "tracking_plans",
        {"source": source, "plan": parsed.model_dump(exclude_none=True), "updated_at": _now()},
        key=["source"],
    )
    return parsed


def _match(source: str) -> Any:
    import pyarrow as pa

    return pa.table({"source": [source]})


def get_plan(store: Store, source: str) -> dict[str, Any] | None:
    """A source's tracking plan as stored, or None."""
    return _plans(store).get(source)


def registry_rows(store: Store) -> list[dict[str, Any]]:
    """What the HTTP process needs to know of each tracking source (plain data, sent between
    processes): name, write key, rate limit, webhook mapping and tracking plan."""
    plans = _plans(store)
    rows = []
    for row in _source_rows(store):
        if not row.get("write_key"):
            continue
        settings = row["settings"]
        rows.append(
            {
                "source": row["source"],
                "write_key": row["write_key"],
                "kind": row["category"],
                "party": row["party"],
                "rate_limit": settings.get("rate_limit"),
                "webhook": settings.get("webhook"),
                "plan": plans.get(row["source"]),
            }
        )
    return rows


def _plan_key(plan: dict[str, Any]) -> str:
    return hashlib.md5(
        orjson.dumps(plan, option=orjson.OPT_SORT_KEYS), usedforsecurity=False
    ).hexdigest()


@dataclass(frozen=True)
class CollectSource:
    """A tracking source as the HTTP process holds it: its plan compiled, its mapping parsed."""

    source: str
    write_key: str
    kind: str
    party: str
    rate_limit: float | None
    webhook: WebhookMapping | None
    plan: PlanChecker | None
    plan_document: dict[str, Any] | None = None
    """The plan as stored (checker processes compile their own copy)."""
    plan_key: str | None = None
    """A hash of the plan document: changes when the plan does."""


class Registry:
    """Tracking sources by write key."""

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.rows = list(rows or [])
        self.by_key: dict[str, CollectSource] = {}
        for row in self.rows:
            plan = row.get("plan")
            webhook = row.get("webhook")
            self.by_key[row["write_key"]] = CollectSource(
                source=row["source"],
                write_key=row["write_key"],
                kind=row["kind"],
                party=row["party"],
                rate_limit=row.get("rate_limit"),
                webhook=parse_webhook_mapping(webhook) if webhook else None,
                plan=PlanChecker(parse_plan(plan)) if plan else None,
                plan_document=plan or None,
                plan_key=_plan_key(plan) if plan else None,
            )

    def get(self, write_key: str | None) -> CollectSource | None:
        if not write_key:
            return None
        return self.by_key.get(write_key)

    def __len__(self) -> int:
        return len(self.by_key)
