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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.definitions import DestinationDefinition
from profilo.activate.jsontext import json_list, json_object, json_values
from profilo.activate.jsontext import plain_value as _plain
from profilo.profiles import list_traits
from profilo.store import Store

__all__ = [
    "ProfileColumns",
    "ProfileRows",
    "fingerprint_of",
    "gather_columns",
    "profile_columns",
    "read_profiles",
]


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
    identifiers_json: pa.Array
    """The identifiers sent as a JSON object (types sorted, those a profile has none of left
    out)."""
    field_texts: dict[str, pa.Array]
    """Each mapped field's values as JSON text, in the definition's order."""

    @property
    def remove_payload(self) -> pa.Array:
        """The payload without fields: what a remove keeps."""
        return pc.binary_join_element_wise(
            '{"fields":{},"identifiers":', self.identifiers_json, "}", ""
        )

    @property
    def fields_json(self) -> pa.Array:
        """The mapped fields as a JSON object in the definition's order (as a request lists
        them)."""
        if not self.field_texts:
            return _repeat("{}", len(self.profile_id))
        return json_object(self.field_texts)


def _aligned(n: int, positions: pa.ChunkedArray | pa.Array, values: Any) -> pa.Array:
    """``values`` put at their ``positions`` among ``n`` profiles; null where none came."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    at = np.full(n, -1, dtype=np.int64)
    if len(positions):
        where = positions.to_numpy() if isinstance(positions, pa.ChunkedArray) else positions
        at[np.asarray(where, dtype=np.int64)] = np.arange(len(values))
    return values.take(pa.array(at, pa.int64(), mask=at < 0))


def _among(table: Any, temp: Any, ids: pa.Array) -> Any:
    """Rows of ``table`` for the profiles of ``temp``, with each profile's position (``pos``);
    the range of the ids lets DuckDB skip the row groups outside it (tables written in
    profile order) before joining."""
    low, high = pc.min_max(ids).values()
    table = table.filter(table.profile_id.between(low.as_py(), high.as_py()))
    return table.join(temp, "profile_id")


def _golden_rows(store: Store, ids: pa.Array, temp: Any, names: list[str]) -> pa.Table | None:
    if not names:
        return None
    traits = store.table("profile_traits")
    return store.to_arrow(
        _among(traits.filter(traits.trait.isin(names)), temp, ids).select("pos", "trait", "value")
    )


def _golden(n: int, rows: pa.Table | None, names: list[str]) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    if rows is None:
        return out
    for name in names:
        mine = rows.filter(pc.equal(rows.column("trait"), name)) if len(names) > 1 else rows
        out[name] = _aligned(n, mine.column("pos"), mine.column("value").cast(pa.string()))
    return out


def _computed_rows(
    store: Store, ids: pa.Array, temp: Any, names: list[str]
) -> tuple[pa.Table | None, dict[str, str]]:
    if not names:
        return None, {}
    columns = {d.name: d.column for d in list_traits(store) if d.name in names}
    values = store.table("computed_traits")
    rows = store.to_arrow(
        _among(values.filter(values.trait.isin(names)), temp, ids).select(
            "pos", "trait", "number_value", "text_value", "time_value"
        )
    )
    return rows, columns


def _computed(
    n: int, rows: pa.Table | None, columns: dict[str, str], names: list[str]
) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    if rows is None:
        return out
    for name in names:
        mine = rows.filter(pc.equal(rows.column("trait"), name))
        column = columns.get(name, "text_value")
        found = _aligned(n, mine.column("pos"), mine.column(column))
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


def _identifier_rows(store: Store, ids: pa.Array, temp: Any, types: list[str]) -> pa.Table | None:
    if not types:
        return None
    table = store.table("identities")
    linked = _among(table.filter(table.id_type.isin(types), table.status == "linked"), temp, ids)
    return store.to_arrow(linked.select("pos", "id_type", "value"))


def _identifiers(n: int, rows: pa.Table | None, types: list[str]) -> dict[str, pa.Array]:
    """Each profile's linked values of each type, as a sorted list (null where none)."""
    out: dict[str, pa.Array] = {}
    if rows is None:
        return out
    for kind in types:
        mine = rows.filter(pc.equal(rows.column("id_type"), kind)) if len(types) > 1 else rows
        pos = mine.column("pos").to_numpy()
        if len(pos) and np.bincount(pos, minlength=n).max() == 1:
            # one value per profile (the common case): one-value lists, nothing to order
            values = mine.column("value").combine_chunks().cast(pa.string())
            single = pa.array(np.arange(len(pos) + 1, dtype=np.int32))
            out[kind] = _aligned(n, pos, pa.ListArray.from_arrays(single, values))
            continue
        # sorted here rather than by the engine, so every engine orders values alike (bytewise)
        mine = mine.sort_by([("pos", "ascending"), ("value", "ascending")])
        pos = mine.column("pos").to_numpy()
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]]) if len(pos) else pos
        offsets = pa.array(np.r_[starts, len(pos)].astype(np.int32))
        values = mine.column("value").combine_chunks().cast(pa.string())
        out[kind] = _aligned(n, pos[starts], pa.ListArray.from_arrays(offsets, values))
    return out


def _struct(columns: dict[str, pa.Array], n: int) -> pa.StructArray:
    if not columns:
        return pa.array([{}] * n, pa.struct([]))
    return pa.StructArray.from_arrays(list(columns.values()), names=list(columns))


def fingerprint_of(payload: str) -> str:
    """A short digest of a payload (part of a trait change's id)."""
    return hashlib.blake2b(payload.encode(), digest_size=10).hexdigest()


@dataclass
class ProfileRows:
    """What the store holds for some profiles, as read by :func:`read_profiles`: the rows of
    each table a definition maps, each row with its profile's position among the ids."""

    ids: pa.Array
    golden: pa.Table | None
    """``pos``, ``trait``, ``value``."""
    computed: pa.Table | None
    """``pos``, ``trait`` and its value columns."""
    computed_columns: dict[str, str]
    """The value column of each computed trait."""
    identifiers: pa.Table | None
    """``pos``, ``id_type``, ``value`` (linked identifiers only)."""


def _names(definition: DestinationDefinition, kind: str) -> list[str]:
    return sorted({s.name for s in definition.field_sources.values() if s.kind == kind})


def _types(definition: DestinationDefinition) -> list[str]:
    return sorted(set(definition.identifiers) | set(_names(definition, "identifier")))


def read_profiles(
    store: Store, definition: DestinationDefinition, profile_ids: pa.Array
) -> ProfileRows:
    """The rows of the golden traits, computed traits and identifiers ``definition`` maps, for
    ``profile_ids`` (one query per table): the reading half of :func:`gather_columns`."""
    ids = profile_ids.cast(pa.string())
    n = len(ids)
    if not n:
        return ProfileRows(ids, None, None, {}, None)
    temp = store.temporary(
        pa.table({"profile_id": ids, "pos": pa.array(np.arange(n, dtype=np.int64))})
    )
    golden = _golden_rows(store, ids, temp, _names(definition, "trait"))
    computed, columns = _computed_rows(store, ids, temp, _names(definition, "computed"))
    found = _identifier_rows(store, ids, temp, _types(definition))
    store.drop_temporaries()
    return ProfileRows(ids, golden, computed, columns, found)


def gather_columns(
    store: Store, definition: DestinationDefinition, profile_ids: pa.Array
) -> ProfileColumns:
    """Fields, identifiers, payloads and fingerprints of ``profile_ids`` as ``definition`` maps
    them, as columns aligned with the ids."""
    return profile_columns(definition, read_profiles(store, definition, profile_ids))


def profile_columns(definition: DestinationDefinition, rows: ProfileRows) -> ProfileColumns:
    """:func:`gather_columns` from rows already read (:func:`read_profiles`): Arrow work only."""
    ids = rows.ids
    n = len(ids)
    sources = definition.field_sources
    types = _types(definition)
    if n:
        golden = _golden(n, rows.golden, _names(definition, "trait"))
        computed = _computed(
            n, rows.computed, rows.computed_columns, _names(definition, "computed")
        )
        found = _identifiers(n, rows.identifiers, types)
    else:
        golden, computed = {}, {}
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
    return ProfileColumns(
        profile_id=ids,
        fields=_struct(columns, n),
        identifiers=_struct(sent, n),
        payload=payload,
        identifiers_json=ids_json,
        field_texts=texts,
    )


def _repeat(text: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(text, pa.string()), n)
