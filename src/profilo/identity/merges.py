"""Un-merge: a person splits a wrongly merged profile or says two records are never the same.

Both are stored as *never-same* overrides in ``identity_overrides`` and logged in ``merges`` with who
decided and why; every later run — incremental or full — keeps the records apart.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pyarrow as pa

from profilo.errors import ConfigError, NotFound
from profilo.identity.resolve import ResolveReport, resolve_identities
from profilo.identity.rules import IdentityRules
from profilo.store import Store, new_id

__all__ = ["RecordRef", "mark_never_same", "parse_record", "split_record"]

RecordRef = tuple[str, str]
"""A record: (source, record key)."""

MAX_SPLIT = 10_000


def parse_record(text: str) -> RecordRef:
    """``"crm:C42"`` → ``("crm", "C42")`` (the key may itself hold colons).

    >>> parse_record("web:msg:1")
    ('web', 'msg:1')
    """
    source, sep, key = text.partition(":")
    if not sep or not source or not key:
        raise ConfigError(f"record {text!r} is not SOURCE:RECORD_KEY, e.g. crm:C42")
    return source, key


def _override_id(a: RecordRef, b: RecordRef) -> str:
    first, second = sorted([a, b])
    text = "\x1f".join([*first, *second])
    return "ns_" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _profile_of(store: Store, record: RecordRef) -> str:
    graph = store.table("identity_records")
    found = store.to_arrow(
        graph.filter(graph.source == record[0], graph.record_key == record[1]).select("profile_id")
    )
    if not found.num_rows:
        raise NotFound(f"record {record[0]}:{record[1]} is not in the identity graph; run it first")
    return str(found.column(0)[0].as_py())


def _save_pairs(
    store: Store, record: RecordRef, others: list[RecordRef], reason: str | None, by: str
) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "override_id": _override_id(record, other),
            "kind": "never_same",
            "source_l": record[0],
            "record_key_l": record[1],
            "source_r": other[0],
            "record_key_r": other[1],
            "reason": reason,
            "created_at": now,
            "created_by": by,
        }
        for other in others
        if other != record
    ]
    if not rows:
        return
    table = pa.Table.from_pylist(rows)
    store.replace_rows("identity_overrides", table, match=table.select(["override_id"]))


def _log(
    store: Store,
    kind: str,
    profile: str,
    record: RecordRef,
    others: list[RecordRef],
    by: str,
    reason: str | None,
) -> None:
    row = {
        "merge_id": new_id(),
        "run_id": "manual",
        "kind": kind,
        "profile_id": profile,
        "other_profile_id": None,
        "rule": "manual",
        "score": None,
        "evidence": {
            "record": f"{record[0]}:{record[1]}",
            "apart_from": [f"{s}:{k}" for s, k in others[:20]],
            "pairs": len(others),
            "reason": reason,
        },
        "created_at": datetime.now(UTC),
        "created_by": by,
    }
    store.replace_rows("merges", pa.Table.from_pylist([row]))


def _touched(records: list[RecordRef]) -> pa.Table:
    return pa.table(
        {"source": [s for s, _ in records], "record_key": [k for _, k in records]},
        schema=pa.schema([("source", pa.string()), ("record_key", pa.string())]),
    )


def mark_never_same(
    store: Store,
    left: RecordRef,
    right: RecordRef,
    *,
    reason: str | None = None,
    by: str = "cli",
    rules: IdentityRules | None = None,
) -> ResolveReport:
    """Record that two records are different people, then resolve their profiles again."""
    if left == right:
        raise ConfigError("a record cannot be marked as different from itself")
    profile = _profile_of(store, left)
    _profile_of(store, right)
    _save_pairs(store, left, [right], reason, by)
    _log(store, "never_same", profile, left, [right], by, reason)
    return resolve_identities(store, rules, touched=_touched([left, right]))


def split_record(
    store: Store,
    record: RecordRef,
    *,
    reason: str | None = None,
    by: str = "cli",
    rules: IdentityRules | None = None,
) -> ResolveReport:
    """Take a record out of its profile: it becomes never-same with every other record there."""
    profile = _profile_of(store, record)
    graph = store.table("identity_records")
    members = store.to_arrow(
        graph.filter(graph.profile_id == profile)
        .select("source", "record_key")
        .limit(MAX_SPLIT + 1)
    )
    others = [
        (s, k)
        for s, k in zip(
            members.column("source").to_pylist(),
            members.column("record_key").to_pylist(),
            strict=True,
        )
        if (s, k) != record
    ]
    if not others:
        raise ConfigError(f"record {record[0]}:{record[1]} is alone in its profile {profile}")
    if len(others) > MAX_SPLIT:
        raise ConfigError(f"profile {profile} has more than {MAX_SPLIT} records; split by pairs")
    _save_pairs(store, record, others, reason, by)
    _log(store, "split", profile, record, others, by, reason)
    return resolve_identities(store, rules, touched=_touched([record, *others]))
