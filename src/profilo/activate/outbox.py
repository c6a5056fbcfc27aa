"""The outbox and delivery log (``deliveries``): one row per change per destination.

A row's ``status`` is one of:

- ``pending``: waiting to be sent, at ``next_attempt_at`` (a retry, or behind an earlier change
  of the same profile that is not delivered yet);
- ``in_flight``: being sent now (a sync that dies leaves it so; the next pass makes it pending);
- ``delivered``: the destination took it (``delivered_at``, ``batch_id``);
- ``dead``: given up — a permanent error, or ``max_attempts`` tries — with the last ``reason``;
  :func:`replay_dead` sends it again;
- ``skipped``: never sent, with the ``reason`` (no consent);
- ``superseded``: a dead letter not replayed because a later change of the same profile and
  audience was delivered since.

Rows keep the JSON ``payload`` that was (or will be) sent, so the log answers "what did we send
about this person, where and when" (:func:`delivery_log`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import ibis
import pyarrow as pa

from profilo.errors import ConfigError, unknown_choice
from profilo.profiles import find_profile
from profilo.store import Store

__all__ = [
    "COLUMNS",
    "STATUSES",
    "blocked_profiles",
    "column",
    "delivery_counts",
    "delivery_log",
    "due_heads",
    "list_dead",
    "next_seq",
    "replay_dead",
    "reset_in_flight",
    "write_rows",
]

STATUSES = ("pending", "in_flight", "delivered", "dead", "skipped", "superseded")
OPEN = ("pending", "in_flight")
COLUMNS = (
    "destination",
    "change_id",
    "seq",
    "profile_id",
    "action",
    "audience",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "reason",
    "batch_id",
    "occurred_at",
    "created_at",
    "updated_at",
    "delivered_at",
)
_TS = pa.timestamp("us", tz="UTC")
_TYPES = {
    "seq": pa.int64(),
    "attempts": pa.int32(),
    "next_attempt_at": _TS,
    "occurred_at": _TS,
    "created_at": _TS,
    "updated_at": _TS,
    "delivered_at": _TS,
}


def column(values: list[Any], kind: pa.DataType) -> pa.Array:
    """An Arrow column; one value repeated (a chunk's destination, times, nulls) is not converted
    a million times."""
    n = len(values)
    if n and values.count(values[0]) == n:
        first = values[0]
        return pa.nulls(n, kind) if first is None else pa.repeat(pa.scalar(first, kind), n)
    return pa.array(values, kind)


def _table(rows: dict[str, list[Any]]) -> pa.Table:
    return pa.table({c: column(rows[c], _TYPES.get(c, pa.string())) for c in COLUMNS})


def write_rows(store: Store, rows: dict[str, list[Any]], *, replace: bool) -> None:
    """Insert delivery rows (column → values); ``replace`` first deletes rows of the same ids."""
    data = _table(rows)
    if not data.num_rows:
        return
    match = data.select(["destination", "change_id"]) if replace else None
    store.replace_rows("deliveries", data, match=match)


def _rows(store: Store, expr: Any) -> list[dict[str, Any]]:
    rows = store.to_arrow(expr.drop("workspace_id")).to_pylist()
    for row in rows:
        if isinstance(row.get("payload"), str):
            row["payload"] = json.loads(row["payload"])
    return list(rows)


def next_seq(store: Store, destination: str) -> int:
    table = store.table("deliveries")
    last = store.scalar(table.filter(table.destination == destination).seq.max())
    return int(last) + 1 if last is not None and last == last else 1


def reset_in_flight(store: Store, destination: str, now: datetime) -> int:
    """Make rows a dead sync left in flight pending again (their attempt count stays)."""
    table = store.table("deliveries")
    rows = store.to_arrow(
        table.filter(table.destination == destination, table.status == "in_flight").drop(
            "workspace_id"
        )
    )
    if not rows.num_rows:
        return 0
    data = rows.to_pydict()
    n = rows.num_rows
    data["status"] = ["pending"] * n
    data["next_attempt_at"] = [now] * n
    data["updated_at"] = [now] * n
    write_rows(store, data, replace=True)
    return n


def blocked_profiles(store: Store, destination: str) -> set[str]:
    """Profiles with a change not delivered yet (their later changes wait behind it)."""
    table = store.table("deliveries")
    rows = store.to_arrow(
        table.filter(table.destination == destination, table.status.isin(list(OPEN)))
        .select("profile_id")
        .distinct()
    )
    return set(rows.column("profile_id").to_pylist())


def due_heads(
    store: Store, destination: str, now: datetime, *, limit: int, exclude: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Pending rows due by ``now`` that are the oldest open change of their profile, in order."""
    table = store.table("deliveries")
    open_ = table.filter(table.destination == destination, table.status.isin(list(OPEN)))
    heads = open_.group_by("profile_id").aggregate(seq=open_.seq.min())
    due = open_.semi_join(heads, ["profile_id", "seq"]).filter(
        open_.status == "pending", open_.next_attempt_at <= ibis.literal(now)
    )
    if exclude:
        due = due.filter(~due.change_id.isin(list(exclude)))
    return _rows(store, due.order_by("seq").limit(limit))


def next_due(store: Store, destination: str) -> datetime | None:
    """When the earliest pending row is due (None when nothing is pending)."""
    table = store.table("deliveries")
    value = store.scalar(
        table.filter(
            table.destination == destination, table.status == "pending"
        ).next_attempt_at.min()
    )
    if value is None or value != value:
        return None
    stamp: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def delivery_counts(store: Store, destination: str | None = None) -> dict[str, dict[str, int]]:
    """Rows per destination and status."""
    table = store.table("deliveries")
    if destination is not None:
        table = table.filter(table.destination == destination)
    rows = store.to_arrow(table.group_by(["destination", "status"]).aggregate(n=table.count()))
    out: dict[str, dict[str, int]] = {}
    for row in rows.to_pylist():
        out.setdefault(row["destination"], {})[row["status"]] = int(row["n"])
    return out


def list_dead(store: Store, destination: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """Dead letters of a destination, oldest first, with their reason."""
    table = store.table("deliveries")
    return _rows(
        store,
        table.filter(table.destination == destination, table.status == "dead")
        .order_by("seq")
        .limit(limit),
    )


def replay_dead(
    store: Store, destination: str, now: datetime, *, change_ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Queue dead letters again (all, or some), with a fresh attempt count.

    A dead letter whose profile and audience got a later change that was delivered is not sent
    again (it would undo the later one): it becomes ``superseded``.
    """
    table = store.table("deliveries")
    dead = table.filter(table.destination == destination, table.status == "dead")
    if change_ids is not None:
        dead = dead.filter(dead.change_id.isin(list(change_ids)))
    rows = store.to_arrow(dead.drop("workspace_id"))
    if not rows.num_rows:
        return {"replayed": 0, "superseded": 0}
    done = table.filter(table.destination == destination, table.status == "delivered")
    latest = store.to_arrow(
        done.semi_join(ibis.memtable(rows.select(["profile_id"])), "profile_id")
        .group_by(["profile_id", "audience"])
        .aggregate(seq=done.seq.max())
    )
    later = {(r["profile_id"], r["audience"]): r["seq"] for r in latest.to_pylist()}
    data = rows.to_pydict()
    replayed = superseded = 0
    for i in range(rows.num_rows):
        key = (data["profile_id"][i], data["audience"][i])
        if later.get(key, -1) > data["seq"][i]:
            data["status"][i] = "superseded"
            superseded += 1
        else:
            data["status"][i] = "pending"
            data["attempts"][i] = 0
            data["next_attempt_at"][i] = now
            replayed += 1
        data["updated_at"][i] = now
    write_rows(store, data, replace=True)
    return {"replayed": replayed, "superseded": superseded}


def delivery_log(
    store: Store,
    reference: str,
    *,
    destination: str | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """What was sent (or skipped, or is waiting) about one person, newest first.

    ``reference`` is a profile id or any identifier written ``type:value``.
    """
    for status in statuses or ():
        if status not in STATUSES:
            raise ConfigError(unknown_choice("delivery status", status, STATUSES))
    profile_id = find_profile(store, reference) if ":" in reference else reference
    table = store.table("deliveries")
    rows = table.filter(table.profile_id == profile_id)
    if destination is not None:
        rows = rows.filter(rows.destination == destination)
    if statuses:
        rows = rows.filter(rows.status.isin(list(statuses)))
    rows = rows.order_by(ibis.desc("updated_at"), ibis.desc("seq")).limit(
        max(1, min(limit, 10_000))
    )
    return _rows(store, rows)
