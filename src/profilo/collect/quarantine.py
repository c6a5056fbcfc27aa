"""Quarantined messages: list them, fix them, replay them.

Every message the tracking API or the loader would not store waits in the ``quarantine`` table with
its reason, the field at fault and its original JSON (batch fields already applied). Fixing one
replaces its JSON; replaying checks it again, exactly as the API would (the source's current
tracking plan included), stores the ones that now pass (once per messageId, like any message) and
marks them ``replayed``; the others stay ``open`` with their new reason.

Rows from file imports are listed too, but are fixed at their source and imported again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from profilo.collect.messages import messages_to_records
from profilo.collect.plans import PlanChecker, parse_plan
from profilo.collect.sources import get_plan
from profilo.collect.tracking import Limits, as_received, fingerprint, message_problem
from profilo.errors import ConfigError, NotFound
from profilo.store import RecordSet, Store

__all__ = ["REPLAYABLE_ORIGINS", "fix_quarantined", "list_quarantine", "replay_quarantined"]

REPLAYABLE_ORIGINS = ("api", "webhook")
_COLUMNS = (
    "quarantine_id",
    "source",
    "origin",
    "location",
    "reason",
    "field",
    "detail",
    "raw",
    "received_at",
    "status",
)


def _rows(
    store: Store,
    *,
    ids: Sequence[str] | None = None,
    source: str | None = None,
    reason: str | None = None,
    status: str | None = "open",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    table = store.table("quarantine")
    if ids is not None:
        table = table.filter(table.quarantine_id.isin(list(ids)))
    if source is not None:
        table = table.filter(table.source == source)
    if reason is not None:
        table = table.filter(table.reason == reason)
    if status is not None:
        table = table.filter(table.status == status)
    table = table.select(*_COLUMNS).order_by(["received_at", "quarantine_id"])
    if limit is not None:
        table = table.limit(limit)
    rows: list[dict[str, Any]] = store.to_arrow(table).to_pylist()
    return rows


def list_quarantine(
    store: Store,
    *,
    source: str | None = None,
    reason: str | None = None,
    status: str | None = "open",
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Quarantined messages, oldest first (``status=None`` for every status)."""
    rows = _rows(store, source=source, reason=reason, status=status, limit=limit)
    for row in rows:
        row["received_at"] = row["received_at"].isoformat() if row["received_at"] else None
    return rows


def fix_quarantined(store: Store, quarantine_id: str, raw: str | dict[str, Any]) -> dict[str, Any]:
    """Replace a quarantined message's JSON (it is checked again when replayed)."""
    rows = _rows(store, ids=[quarantine_id], status=None)
    if not rows:
        raise NotFound(f"no quarantined message {quarantine_id!r}")
    row = rows[0]
    if row["origin"] not in REPLAYABLE_ORIGINS:
        raise ConfigError(
            f"quarantined row {quarantine_id!r} came from a file import: fix the file and import"
            " it again"
        )
    if isinstance(raw, str):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"the fixed message is not valid JSON: {exc}") from None
    else:
        parsed = raw
    if not isinstance(parsed, dict):
        raise ConfigError("the fixed message must be a JSON object")
    row["raw"] = orjson.dumps(parsed).decode()
    row["detail"] = f"fixed; was: {row['detail']}"
    row["status"] = "open"
    store.upsert("quarantine", row, key=["quarantine_id"])
    row["received_at"] = row["received_at"].isoformat() if row["received_at"] else None
    return row


def replay_quarantined(
    store: Store,
    *,
    ids: Sequence[str] | None = None,
    source: str | None = None,
    reason: str | None = None,
    limits: Limits = Limits(),  # noqa: B008 - immutable
) -> dict[str, Any]:
    """Check open quarantined messages again and store those that pass; returns the counts."""
    rows = [
        r
        for r in _rows(store, ids=ids, source=source, reason=reason, status="open")
        if r["origin"] in REPLAYABLE_ORIGINS
    ]
    if ids is not None and not rows:
        raise NotFound("none of the given ids is an open quarantined message from the API")
    plans: dict[str, PlanChecker | None] = {}
    passed: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    still: list[dict[str, Any]] = []
    for row in rows:
        if row["source"] not in plans:
            plan = get_plan(store, row["source"])
            plans[row["source"]] = PlanChecker(parse_plan(plan)) if plan else None
        problem, message = _check(row["raw"], plans[row["source"]], limits, row["quarantine_id"])
        if problem is None:
            passed.setdefault(row["source"], []).append((row, message))
        else:
            row["reason"], row["field"], row["detail"] = problem
            still.append(row)
    stored = duplicates = 0
    with store.transaction():
        for src, items in passed.items():
            prints = {m["messageId"]: fingerprint(m) for _, m in items}
            messages = [as_received(message, {}) for _, message in items]
            records = messages_to_records(
                messages,
                source=src,
                received_at=items[0][0]["received_at"],
                received_ats=[row["received_at"] for row, _ in items],
                origin="api",
            )
            events = records.events.append_column(
                "payload_hash",
                [[prints[i] for i in records.events.column("message_id").to_pylist()]],
            )
            counts = store.append(
                RecordSet(
                    events=events,
                    identifiers=records.identifiers,
                    traits=records.traits,
                    consents=records.consents,
                )
            )
            stored += counts.inserted
            duplicates += counts.duplicates
            store.add_to(
                "collect_stats",
                {"source": src},
                {
                    "stored": counts.inserted,
                    "duplicates": counts.duplicates,
                    "quarantined": -len(items),
                },
            )
            for row, _ in items:
                row["status"] = "replayed"
                store.upsert("quarantine", row, key=["quarantine_id"])
        for row in still:
            store.upsert("quarantine", row, key=["quarantine_id"])
    return {
        "checked": len(rows),
        "replayed": sum(len(items) for items in passed.values()),
        "stored": stored,
        "duplicates": duplicates,
        "still_invalid": len(still),
        "reasons": _reasons(still),
    }


def _reasons(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        out[row["reason"]] = out.get(row["reason"], 0) + 1
    return out


def _check(
    raw: str, plan: PlanChecker | None, limits: Limits, default_id: str
) -> tuple[tuple[str, str | None, str] | None, dict[str, Any]]:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return ("invalid_json", None, f"not valid JSON: {exc}"), {}
    if isinstance(message, dict) and message.get("messageId") in (None, ""):
        message["messageId"] = default_id  # replaying twice finds the same id
    problem = message_problem(message)
    if problem is None and plan is not None:
        problem = plan(message)
    if problem is None:
        encoded = orjson.dumps(message)
        if len(encoded) > limits.max_message_bytes:
            problem = (
                "message_too_large",
                None,
                f"a message is at most {limits.max_message_bytes} bytes as JSON",
            )
        elif b"\\u0000" in encoded:
            problem = ("invalid_character", None, "a message may not hold the NUL character")
    return problem, message
