"""Field mapping: the values a destination receives for each profile, gathered in bulk.

For a list of profile ids, :func:`gather_fields` reads the golden traits, computed traits and
identifiers a definition maps (one query per table, whatever the number of profiles), aligns them
to the ids with Arrow, and builds each profile's ``fields`` and ``identifiers`` once, with the JSON
payload stored in the outbox and a fingerprint of it (a trait change is a changed fingerprint).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.definitions import DestinationDefinition
from profilo.profiles import list_traits
from profilo.store import Store

__all__ = ["ProfileFields", "gather_fields", "payload_of"]


@dataclass
class ProfileFields:
    """Per profile (aligned with the ids asked for): mapped fields, identifiers, payload, print."""

    fields: list[dict[str, Any]]
    identifiers: list[dict[str, list[str]]]
    payloads: list[str]
    fingerprints: list[str]


def _aligned(ids: pa.Array, keys: pa.Array, values: pa.Array) -> list[Any]:
    """``values`` (keyed by ``keys``) in the order of ``ids``; None where a key is missing."""
    if not len(keys):
        return [None] * len(ids)
    where = pc.index_in(ids, value_set=keys)
    return pc.take(values, where).to_pylist()  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _golden(store: Store, ids: pa.Array, temp: Any, names: list[str]) -> dict[str, list[Any]]:
    if not names:
        return {}
    traits = store.table("profile_traits")
    rows = store.to_arrow(
        traits.filter(traits.trait.isin(names))
        .semi_join(temp, "profile_id")
        .select("profile_id", "trait", "value")
    )
    out = {}
    for name in names:
        mine = rows.filter(pc.equal(rows.column("trait"), name))
        out[name] = _aligned(ids, mine.column("profile_id"), mine.column("value"))
    return out


def _computed(store: Store, ids: pa.Array, temp: Any, names: list[str]) -> dict[str, list[Any]]:
    if not names:
        return {}
    columns = {d.name: d.column for d in list_traits(store) if d.name in names}
    values = store.table("computed_traits")
    rows = store.to_arrow(
        values.filter(values.trait.isin(names))
        .semi_join(temp, "profile_id")
        .select("profile_id", "trait", "number_value", "text_value", "time_value")
    )
    out = {}
    for name in names:
        mine = rows.filter(pc.equal(rows.column("trait"), name))
        column = columns.get(name, "text_value")
        out[name] = [
            _plain(v) for v in _aligned(ids, mine.column("profile_id"), mine.column(column))
        ]
    return out


def _identifiers(
    store: Store, ids: pa.Array, temp: Any, types: list[str]
) -> dict[str, list[list[str] | None]]:
    if not types:
        return {}
    table = store.table("identities")
    rows = store.to_arrow(
        table.filter(table.id_type.isin(types), table.status == "linked")
        .semi_join(temp, "profile_id")
        .select("profile_id", "id_type", "value")
    )
    rows = rows.sort_by(
        [("profile_id", "ascending"), ("id_type", "ascending"), ("value", "ascending")]
    )
    grouped = rows.group_by(["profile_id", "id_type"], use_threads=False).aggregate(
        [("value", "list")]
    )
    out = {}
    for kind in types:
        mine = grouped.filter(pc.equal(grouped.column("id_type"), kind))
        out[kind] = _aligned(ids, mine.column("profile_id"), mine.column("value_list"))
    return out


def payload_of(fields: dict[str, Any], identifiers: dict[str, list[str]]) -> str:
    """The JSON text kept in the outbox for one change (keys sorted, so equal data prints equal)."""
    return orjson.dumps(
        {"fields": fields, "identifiers": identifiers}, option=orjson.OPT_SORT_KEYS
    ).decode()


def gather_fields(
    store: Store, definition: DestinationDefinition, profile_ids: Sequence[str]
) -> ProfileFields:
    """Fields and identifiers of ``profile_ids`` as ``definition`` maps them."""
    result = ProfileFields([], [], [], [])
    if not profile_ids:
        return result
    ids = pa.array(profile_ids, pa.string())
    sources = definition.field_sources
    types = sorted(
        set(definition.identifiers) | {s.name for s in sources.values() if s.kind == "identifier"}
    )
    temp = store.temporary(pa.table({"profile_id": ids}))
    golden = _golden(
        store, ids, temp, sorted({s.name for s in sources.values() if s.kind == "trait"})
    )
    computed = _computed(
        store, ids, temp, sorted({s.name for s in sources.values() if s.kind == "computed"})
    )
    found = _identifiers(store, ids, temp, types)
    store.drop_temporaries()
    columns: dict[str, list[Any]] = {}
    for out, source in sources.items():
        if source.kind == "trait":
            columns[out] = golden[source.name]
        elif source.kind == "computed":
            columns[out] = computed[source.name]
        elif source.kind == "identifier":
            columns[out] = [v[0] if v else None for v in found[source.name]]
        else:
            columns[out] = list(profile_ids)
    sent_types = [t for t in sorted(definition.identifiers) if t in found]
    names = list(columns)
    dumps, option, blake = orjson.dumps, orjson.OPT_SORT_KEYS, hashlib.blake2b
    add_fields, add_ids = result.fields.append, result.identifiers.append
    add_payload, add_print = result.payloads.append, result.fingerprints.append
    id_columns = [found[t] for t in sent_types]
    for values, id_values in zip(
        zip(*(columns[n] for n in names), strict=True) if names else ((),) * len(ids),
        zip(*id_columns, strict=True) if id_columns else ((),) * len(ids),
        strict=True,
    ):
        fields = dict(zip(names, values, strict=True))
        idents = {t: v for t, v in zip(sent_types, id_values, strict=True) if v}
        payload = dumps({"fields": fields, "identifiers": idents}, option=option)
        add_fields(fields)
        add_ids(idents)
        add_payload(payload.decode())
        add_print(blake(payload, digest_size=10).hexdigest())
    return result
