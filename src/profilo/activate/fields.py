"""Field mapping: the values a destination receives for each profile, gathered in bulk.

For a list of profile ids, :func:`gather_columns` reads the golden traits, computed traits and
identifiers a definition maps (one query per table, whatever the number of profiles) and aligns
them to the ids with Arrow: the mapped ``fields`` (a struct column in the definition's order), the
``identifiers`` (a struct of string lists, by type) and the JSON payload kept in the outbox (keys
sorted, so equal values print equal) — all columns, with no Python object per profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.definitions import DestinationDefinition
from profilo.activate.jsontext import json_list, json_object, json_values
from profilo.activate.jsontext import plain_value as _plain
from profilo.profiles import list_traits
from profilo.store import Store

__all__ = ["ProfileColumns", "fingerprint_of", "gather_columns"]


@dataclass
class ProfileColumns:
    """Per profile, aligned with the ids asked for, as Arrow columns."""

    profile_id: pa.Array
    fields: pa.StructArray
    """The mapped fields, one child per output name, in the definition's order (strings, whole
    numbers as int64, other numbers as double, times as ISO text)."""
    identifiers: pa.StructArray
    """One ``list<string>`` child per identifier type sent (sorted), null where the profile has
    none."""
    payload: pa.Array
    """``{"fields": …, "identifiers": …}`` as JSON text with sorted keys: what an upsert keeps."""
    remove_payload: pa.Array
    """The same without fields: what a remove keeps."""


def _aligned(ids: pa.Array, keys: pa.Array, values: pa.Array) -> pa.Array:
    """``values`` (keyed by ``keys``) in the order of ``ids``; null where a key is missing."""
    if not len(keys):
        return pa.nulls(len(ids), values.type)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return pc.take(values, pc.index_in(ids, value_set=keys))


def _golden(store: Store, ids: pa.Array, temp: Any, names: list[str]) -> dict[str, pa.Array]:
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
        value = mine.column("value").cast(pa.string())
        out[name] = _aligned(ids, mine.column("profile_id"), value)
    return out


def _computed(store: Store, ids: pa.Array, temp: Any, names: list[str]) -> dict[str, pa.Array]:
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
        found = _aligned(ids, mine.column("profile_id"), mine.column(column))
        if pa.types.is_timestamp(found.type) or pa.types.is_date(found.type):
            found = pa.array([_plain(v) for v in found.to_pylist()], pa.string())
        elif pa.types.is_floating(found.type) and _whole(found):
            found = found.cast(pa.int64())
        out[name] = found
    return out


def _whole(values: pa.Array) -> bool:
    """Whether every number is whole (and exact as a double): the row path sends those as ints."""
    present = values.drop_null()
    if not len(present):
        return False
    exact = pc.and_(pc.equal(pc.floor(present), present), pc.less(pc.abs(present), float(2**53)))
    return bool(pc.all(exact).as_py())


def _identifiers(store: Store, ids: pa.Array, temp: Any, types: list[str]) -> dict[str, pa.Array]:
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
        values = mine.column("value_list").cast(pa.list_(pa.string()))
        out[kind] = _aligned(ids, mine.column("profile_id"), values)
    return out


def _struct(columns: dict[str, pa.Array], n: int) -> pa.StructArray:
    if not columns:
        return pa.array([{}] * n, pa.struct([]))
    return pa.StructArray.from_arrays(list(columns.values()), names=list(columns))


def fingerprint_of(payload: str) -> str:
    """A short digest of a payload (part of a trait change's id)."""
    return hashlib.blake2b(payload.encode(), digest_size=10).hexdigest()


def gather_columns(
    store: Store, definition: DestinationDefinition, profile_ids: pa.Array
) -> ProfileColumns:
    """Fields, identifiers, payloads and fingerprints of ``profile_ids`` as ``definition`` maps
    them, as columns aligned with the ids."""
    ids = profile_ids.cast(pa.string())
    n = len(ids)
    sources = definition.field_sources
    types = sorted(
        set(definition.identifiers) | {s.name for s in sources.values() if s.kind == "identifier"}
    )
    found: dict[str, pa.Array] = {}
    golden: dict[str, pa.Array] = {}
    computed: dict[str, pa.Array] = {}
    if n:
        temp = store.temporary(pa.table({"profile_id": ids}))
        golden = _golden(
            store, ids, temp, sorted({s.name for s in sources.values() if s.kind == "trait"})
        )
        computed = _computed(
            store, ids, temp, sorted({s.name for s in sources.values() if s.kind == "computed"})
        )
        found = _identifiers(store, ids, temp, types)
        store.drop_temporaries()
    else:
        found = {t: pa.nulls(0, pa.list_(pa.string())) for t in types}
    columns: dict[str, pa.Array] = {}
    for out, source in sources.items():
        if source.kind == "trait":
            columns[out] = golden[source.name] if n else pa.nulls(0, pa.string())
        elif source.kind == "computed":
            columns[out] = computed[source.name] if n else pa.nulls(0, pa.string())
        elif source.kind == "identifier":
            columns[out] = pc.list_element(found[source.name], 0)
        else:
            columns[out] = ids
    sent = {t: found[t] for t in sorted(definition.identifiers)}
    texts = {name: json_values(values) for name, values in columns.items()}
    fields_json = json_object(dict(sorted(texts.items()))) if texts else _repeat("{}", n)
    ids_json = (
        json_object({t: json_list(v) for t, v in sent.items()}, skip_nulls=True)
        if sent
        else _repeat("{}", n)
    )
    payload = pc.binary_join_element_wise(
        '{"fields":', fields_json, ',"identifiers":', ids_json, "}", ""
    )
    remove = pc.binary_join_element_wise('{"fields":{},"identifiers":', ids_json, "}", "")
    return ProfileColumns(
        profile_id=ids,
        fields=_struct(columns, n),
        identifiers=_struct(sent, n),
        payload=payload,
        remove_payload=remove,
    )


def _repeat(text: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(text, pa.string()), n)
