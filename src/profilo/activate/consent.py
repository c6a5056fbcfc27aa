"""Consent enforcement: may this profile be sent to a destination serving these purposes?

A profile's consent for a purpose is its latest consent record (a tie goes to ``denied``), read
from the ``consents`` log at the moment of sending — not from the profiles step's summary — so a
withdrawal recorded a second ago already stops the next batch. Records reach a profile two ways:
through the identity graph (the record's source and key belong to the profile), or, for a record
the identity step has not resolved yet (a consent sent through the API or a tracked message a
moment ago), through the identifiers seen on its message.

- **strict**: every purpose needs a ``granted`` record; no record means no.
- **lenient**: only a ``denied`` record for one of the purposes stops the send.

Consents come from imports (mapped consent columns), from tracked messages (Segment's
``context.consent.categoryPreferences`` and the ``Consent Updated`` event, see
:mod:`profilo.collect.messages`) and from :func:`record_consent` (the API), each with its time,
source and legal basis.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.collect import CONSENT_PURPOSES
from profilo.collect.mapping import CONSENT_LEGAL_BASES
from profilo.errors import InputError, NotFound, unknown_choice
from profilo.profiles import parse_reference
from profilo.store import RecordSet, Store

__all__ = [
    "CONSENT_SOURCE",
    "ConsentSnapshot",
    "consent_decisions",
    "consent_mark",
    "consent_profiles_since",
    "consent_snapshot",
    "current_consents",
    "record_consent",
    "snapshot_decisions",
]

CONSENT_SOURCE = "consent_api"
"""The source of consents recorded through the API or the CLI."""

_TS = pa.timestamp("us", tz="UTC")
_STATUS_WORDS = {
    "granted": "granted",
    "given": "granted",
    "opted_in": "granted",
    "denied": "denied",
    "withdrawn": "denied",
    "revoked": "denied",
    "opted_out": "denied",
}
# identifier types worth recording a consent against when the caller names a profile by id
_STRONG_IDS = ("user_id", "crm_id", "email", "phone", "customer_id")


_Range = tuple[str, str] | None


def _among(table: ir.Table, profiles: ir.Table, within: _Range) -> ir.Table:
    # the ids' range lets DuckDB skip row groups outside it before the join
    if within is not None:
        table = table.filter(table.profile_id.between(*within))
    return table.semi_join(profiles, "profile_id")


def _by_graph(store: Store, profiles: ir.Table | None, within: _Range = None) -> ir.Table:
    consents = store.table("consents")
    graph = store.table("identity_records")
    if profiles is not None:
        graph = _among(graph, profiles, within)
    joined = consents.join(
        graph, [consents.source == graph.source, consents.record_key == graph.record_key]
    )
    return joined.select(
        profile_id=graph.profile_id,
        purpose=consents.purpose,
        status=consents.status,
        changed_at=ibis.coalesce(consents.consented_at, consents.recorded_at),
        recorded_at=consents.recorded_at,
    )


def _by_identifiers(store: Store, profiles: ir.Table | None, within: _Range = None) -> ir.Table:
    """Consents whose record the graph has not resolved yet, through their message's identifiers."""
    consents = store.table("consents")
    graph = store.table("identity_records")
    loose = consents.anti_join(
        graph, [consents.source == graph.source, consents.record_key == graph.record_key]
    )
    seen = store.table("observed_identifiers")
    ids = store.table("identities")
    ids = ids.filter(ids.profile_id.notnull(), ids.status == "linked")
    if profiles is not None:
        ids = _among(ids, profiles, within)
    joined = loose.join(seen, loose.message_id == seen.message_id).join(
        ids, [seen.id_type == ids.id_type, seen.value == ids.value]
    )
    return joined.select(
        profile_id=ids.profile_id,
        purpose=loose.purpose,
        status=loose.status,
        changed_at=ibis.coalesce(loose.consented_at, loose.recorded_at),
        recorded_at=loose.recorded_at,
    )


def current_consents(
    store: Store,
    profiles: ir.Table | None = None,
    purposes: Sequence[str] | None = None,
    *,
    within: tuple[str, str] | None = None,
) -> ir.Table:
    """Each profile's latest consent record per purpose (a tie goes to ``denied``); ``within``
    is the (lowest, highest) id of ``profiles``, when known."""
    # a record reached through two identifiers comes twice; ranking keeps one row anyway, so
    # no distinct (which would hash every row of both branches)
    both = _by_graph(store, profiles, within).union(
        _by_identifiers(store, profiles, within), distinct=False
    )
    if purposes is not None:
        both = both.filter(both.purpose.isin(list(purposes)))
    rank = ibis.row_number().over(
        group_by=["profile_id", "purpose"], order_by=[ibis.desc("changed_at"), "status"]
    )
    ranked = both.mutate(rank=rank)
    return ranked.filter(ranked.rank == 0).select("profile_id", "purpose", "status", "changed_at")


def consent_decisions(
    store: Store, profile_ids: pa.Array, purposes: Sequence[str], *, strict: bool
) -> tuple[pa.Array, pa.Array]:
    """For each profile id: may it be sent (bool array), and why not (string array, null if yes)."""
    n = len(profile_ids)
    if not n or not purposes:
        return pa.array([True] * n, pa.bool_()), pa.nulls(n, pa.string())
    ids = profile_ids.cast(pa.string())
    low, high = pc.min_max(ids).values()
    temp = store.temporary(pa.table({"profile_id": ids, "pos": pa.array(np.arange(n))}))
    current = current_consents(store, temp, purposes, within=(low.as_py(), high.as_py()))
    # each record comes back with its profile's position: no matching of ids in Python
    rows = store.to_arrow(current.join(temp, "profile_id").select("pos", "purpose", "status"))
    store.drop_temporaries()
    return _decide(n, rows, purposes, strict)


def _decide(
    n: int, rows: pa.Table, purposes: Sequence[str], strict: bool
) -> tuple[pa.Array, pa.Array]:
    """Decisions for ``n`` profiles from their latest records (``pos``, ``purpose``, ``status``)."""
    allowed = np.ones(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    for purpose in sorted(purposes):
        mine = rows.filter(pc.equal(rows.column("purpose"), purpose))
        pos = mine.column("pos").to_numpy()
        status = mine.column("status")
        denied = np.zeros(n, dtype=bool)
        denied[pos[pc.equal(status, "denied").to_numpy(zero_copy_only=False)]] = True
        granted = np.zeros(n, dtype=bool)
        granted[pos[pc.equal(status, "granted").to_numpy(zero_copy_only=False)]] = True
        fails = denied | ~granted if strict else denied
        first = fails & (reason == None)  # noqa: E711 - an element-wise test
        reason[first & denied] = f"consent for {purpose} denied"
        reason[first & ~denied] = f"no consent for {purpose}"
        allowed &= ~fails
    return pa.array(allowed, pa.bool_()), pa.array(reason, pa.string())


@dataclass
class ConsentSnapshot:
    """The latest consent records of many profiles, read in one query (a first sync's whole
    audience), to decide chunk after chunk without asking the store again; ``mark`` says which
    state of the ``consents`` log it reflects (see :func:`consent_mark`)."""

    profiles: pa.Array
    """The profiles covered, in order (bytewise, as Arrow sorts)."""
    rows: pa.Table
    """``profile_id``, ``purpose``, ``status`` of their latest records, in profile order."""
    purposes: tuple[str, ...]
    mark: tuple[int, Any]


def consent_mark(store: Store) -> tuple[int, Any]:
    """How many consent records there are and the latest recording time: a record added since
    changes it."""
    consents = store.table("consents")
    row = store.to_arrow(
        consents.aggregate(n=consents.count(), at=consents.recorded_at.max())
    ).to_pylist()[0]
    return int(row["n"]), row["at"]


def consent_snapshot(
    store: Store, profiles: ir.Table, purposes: Sequence[str], *, more_than: int = 0
) -> ConsentSnapshot | None:
    """The latest records for ``purposes`` of the profiles of ``profiles`` (a table of distinct
    ``profile_id``), read at once; None when there are not more than ``more_than`` profiles."""
    mark = consent_mark(store)
    covered = store.to_arrow(profiles.select("profile_id").order_by("profile_id"))
    if covered.num_rows <= more_than:
        return None
    current = current_consents(store, profiles, purposes)
    rows = store.to_arrow(current.select("profile_id", "purpose", "status").order_by("profile_id"))
    return ConsentSnapshot(
        profiles=_in_order(covered.column(0).combine_chunks().cast(pa.string())),
        rows=_rows_in_order(rows.combine_chunks()),
        purposes=tuple(purposes),
        mark=mark,
    )


def _sorted(values: pa.Array) -> bool:
    if len(values) < 2:
        return True
    return bool(pc.all(pc.less_equal(values[:-1], values[1:])).as_py())


def _in_order(values: pa.Array) -> pa.Array:
    """``values`` in bytewise order (an engine's collation may order text otherwise)."""
    return values if _sorted(values) else values.take(pc.sort_indices(values))


def _rows_in_order(rows: pa.Table) -> pa.Table:
    ids = rows.column("profile_id").combine_chunks().cast(pa.string())
    rows = rows.set_column(rows.column_names.index("profile_id"), "profile_id", ids)
    return rows if _sorted(ids) else rows.take(pc.sort_indices(ids))


def _span(values: pa.Array, low: str, high: str) -> tuple[int, int]:
    """Where the values from ``low`` to ``high`` (inclusive) are in ``values`` (in order): a
    binary search, a few dozen lookups, where a filter would compare every value."""

    def first(above: bool, value: str) -> int:
        start, end = 0, len(values)
        while start < end:
            middle = (start + end) // 2
            seen = values[middle].as_py()
            if seen < value or (above and seen == value):
                start = middle + 1
            else:
                end = middle
        return start

    return first(False, low), first(True, high)


def snapshot_decisions(
    snapshot: ConsentSnapshot, profile_ids: pa.Array, *, strict: bool
) -> tuple[pa.Array, pa.Array] | None:
    """:func:`consent_decisions` for profiles the snapshot covers, without a query: the records
    in the ids' range are matched to the ids by hash, in Arrow. None when the snapshot does not
    cover every id (a profile that joined the audience since: ask the store)."""
    n = len(profile_ids)
    if not n or not snapshot.purposes:
        return pa.array([True] * n, pa.bool_()), pa.nulls(n, pa.string())
    ids = profile_ids.cast(pa.string())
    low, high = (v.as_py() for v in pc.min_max(ids).values())
    start, end = _span(snapshot.profiles, low, high)
    covered = snapshot.profiles.slice(start, end - start)
    same = len(covered) == len(ids) and pc.all(pc.equal(covered, ids)).as_py()
    if not same and not pc.all(pc.is_in(ids, value_set=covered)).as_py():
        return None
    column = snapshot.rows.column("profile_id")
    start, end = _span(
        column.chunk(0) if column.num_chunks == 1 else column.combine_chunks(), low, high
    )
    rows = snapshot.rows.slice(start, end - start)
    pos = pc.index_in(rows.column("profile_id"), value_set=ids)
    rows = pa.table(
        {"pos": pos, "purpose": rows.column("purpose"), "status": rows.column("status")}
    ).filter(pc.is_valid(pos))
    return _decide(n, rows, snapshot.purposes, strict)


def consent_profiles_since(
    store: Store, since: datetime | None, purposes: Sequence[str]
) -> tuple[list[str], datetime | None]:
    """Profiles with a consent record for one of ``purposes`` recorded after ``since``, and the
    latest recording time seen (the next watermark)."""
    consents = store.table("consents")
    latest = store.scalar(consents.recorded_at.max())
    if latest is None or latest != latest:
        return [], since
    if hasattr(latest, "to_pydatetime"):
        latest = latest.to_pydatetime()
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    if since is not None and latest <= since:
        return [], since
    both = _by_graph(store, None).union(_by_identifiers(store, None), distinct=False)
    both = both.filter(both.purpose.isin(list(purposes)), both.recorded_at <= latest)
    if since is not None:
        both = both.filter(both.recorded_at > since)
    found = store.to_arrow(both.select("profile_id").distinct().order_by("profile_id"))
    return [str(p) for p in found.column("profile_id").to_pylist()], latest


def _identifier_for(store: Store, profile_id: str) -> tuple[str, str]:
    ids = store.table("identities")
    rows = store.to_arrow(
        ids.filter(ids.profile_id == profile_id, ids.id_type.isin(list(_STRONG_IDS))).select(
            "id_type", "value"
        )
    ).to_pylist()
    if not rows:
        raise NotFound(
            f"profile {profile_id!r} has no identifier to hold a consent; name the person by"
            f" one of {', '.join(_STRONG_IDS)} (type:value)"
        )
    rows.sort(key=lambda r: (_STRONG_IDS.index(r["id_type"]), r["value"]))
    return str(rows[0]["id_type"]), str(rows[0]["value"])


def record_consent(
    store: Store,
    *,
    reference: str,
    purpose: str,
    status: str,
    legal_basis: str = "consent",
    at: datetime | None = None,
    source: str = CONSENT_SOURCE,
) -> dict[str, Any]:
    """Record one consent change for the person a reference names (``type:value`` or a profile
    id), effective for the next send at once.

    It is stored like any collected consent: a ``Consent Updated`` event of ``source`` with the
    identifier on it (so the identity step attaches it to the person for good) and a consent row
    with its time, source and legal basis.
    """
    if purpose not in CONSENT_PURPOSES:
        raise InputError(unknown_choice("consent purpose", purpose, CONSENT_PURPOSES))
    if status not in _STATUS_WORDS:
        raise InputError(unknown_choice("consent status", status, _STATUS_WORDS))
    if legal_basis not in CONSENT_LEGAL_BASES:
        raise InputError(unknown_choice("legal basis", legal_basis, CONSENT_LEGAL_BASES))
    kind, value = parse_reference(reference)
    if kind is None:
        kind, value = _identifier_for(store, value)
    now = datetime.now(UTC)
    at = at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    stored_status = _STATUS_WORDS[status]
    message_id = f"consent:{uuid.uuid4().hex}"
    properties = {
        "purpose": purpose,
        "status": stored_status,
        "legal_basis": legal_basis,
        "identifier": {"type": kind, "value": value},
    }
    events = pa.table(
        {
            "message_id": [message_id],
            "source": [source],
            "type": ["track"],
            "event": ["Consent Updated"],
            "record_key": [message_id],
            "anonymous_id": pa.array([None], pa.string()),
            "user_id": [value if kind == "user_id" else None],
            "timestamp": pa.array([at], _TS),
            "received_at": pa.array([now], _TS),
            "properties": [json.dumps(properties)],
            "traits": pa.array([None], pa.string()),
            "context": [json.dumps({"library": {"name": "profilo-consent-api"}})],
        }
    )
    identifiers = pa.table(
        {
            "message_id": [message_id],
            "source": [source],
            "record_key": [message_id],
            "id_type": [kind],
            "raw_value": [value],
            "value": [value],
            "is_valid": [True],
            "observed_at": pa.array([at], _TS),
        }
    )
    consent_id = f"{message_id}:{purpose}:{stored_status}"
    consents = pa.table(
        {
            "consent_id": [consent_id],
            "message_id": [message_id],
            "source": [source],
            "record_key": [message_id],
            "purpose": [purpose],
            "status": [stored_status],
            "legal_basis": [legal_basis],
            "consented_at": pa.array([at], _TS),
            "recorded_at": pa.array([now], _TS),
        }
    )
    store.save(RecordSet(events=events, identifiers=identifiers, consents=consents))
    ids = store.table("identities")
    owner = store.to_arrow(
        ids.filter(ids.id_type == kind, ids.value == value, ids.profile_id.notnull()).select(
            "profile_id"
        )
    )
    return {
        "consent_id": consent_id,
        "profile_id": owner.column(0)[0].as_py() if owner.num_rows else None,
        "identifier": f"{kind}:{value}",
        "purpose": purpose,
        "status": stored_status,
        "legal_basis": legal_basis,
        "consented_at": at,
        "recorded_at": now,
        "source": source,
    }
