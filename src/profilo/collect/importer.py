"""Batch import: a mapped source's rows become events, observed identifiers, traits and consents.

Every row ends in exactly one place: stored (new, updated or unchanged), or quarantined with its
reason and original values. Message ids derive from the source and the row's key, so importing the
same file twice adds nothing, and a changed row replaces what it said before.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from profilo.collect.mapping import CONSENT_PURPOSES, ColumnSpec, SourceMapping
from profilo.collect.messages import messages_to_records
from profilo.collect.readers import RawBatch, Reject, read_batches, read_lines
from profilo.errors import InputError
from profilo.prepare import Normalised, match_key, normalise
from profilo.store import RecordSet, SaveCounts, Store, new_id

__all__ = ["ImportResult", "import_source", "register_source"]

_TS = pa.timestamp("us", tz="UTC")
T = TypeVar("T")

_ID_KINDS = {"email": "email", "phone": "phone"}
_MATCH_KEYED = ("name", "city", "address", "postal_code")
_COUNTRY_AWARE = ("phone", "postal_code")


@dataclass
class ImportResult:
    """What one import did."""

    import_id: str
    source: str
    location: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicate_keys: int = 0
    quarantined: int = 0
    consents: int = 0
    seconds: float = 0.0
    status: str = "running"
    error: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def register_source(store: Store, mapping: SourceMapping, origin: str = "import") -> None:
    """Record the source and its classification (first/second/third party, category)."""
    now = datetime.now(UTC)
    settings = mapping.model_dump(mode="json", exclude={"base_dir"}, exclude_none=True)
    existing = store.to_arrow(
        store.table("sources").filter(lambda t: t.source == mapping.source).select("created_at")
    )
    created = existing.column(0)[0].as_py() if existing.num_rows else now
    store.upsert(
        "sources",
        {
            "source": mapping.source,
            "party": mapping.party,
            "category": mapping.category,
            "origin": origin,
            "settings": settings,
            "created_at": created,
            "updated_at": now,
        },
        key=["source"],
    )


def _location(mapping: SourceMapping) -> str:
    if mapping.format == "sql":
        return f"{mapping.url} {mapping.table or 'query'}"
    return str(mapping.resolved_path())


class _Quarantine:
    """Collects one batch's rejected rows as quarantine records."""

    def __init__(self, mapping: SourceMapping, received_at: datetime) -> None:
        self.mapping = mapping
        self.received_at = received_at
        self.rows: list[dict[str, object]] = []

    def add(
        self, location: str, reason: str, field_name: str | None, detail: str, raw: str
    ) -> None:
        self.rows.append(
            {
                "quarantine_id": f"{self.mapping.source}:{location}:{reason}",
                "source": self.mapping.source,
                "origin": "import",
                "location": location,
                "reason": reason,
                "field": field_name,
                "detail": detail,
                "raw": raw,
                "received_at": self.received_at,
                "status": "open",
            }
        )

    def add_reject(self, reject: Reject) -> None:
        self.add(reject.location, reject.reason, None, reject.detail, reject.raw)

    def table(self) -> pa.Table | None:
        return pa.Table.from_pylist(self.rows) if self.rows else None


def _text(array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Any clean value as text for the long tables (dates as ISO 8601)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_timestamp(array.type):
        return pc.strftime(array, format="%Y-%m-%dT%H:%M:%S.%fZ".replace(".%f", ""))
    return array.cast(pa.string())


class _BatchMapper:
    """Applies one mapping to one batch of raw rows."""

    def __init__(self, mapping: SourceMapping, received_at: datetime) -> None:
        self.m = mapping
        self.received_at = received_at
        self._countries: pa.Array | None = None

    def _norm(self, spec: ColumnSpec, raw: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
        if spec.type in _COUNTRY_AWARE and self._countries is not None:
            return self._norm_per_country(spec.type, raw, spec.format)
        result = normalise(
            spec.type,
            raw,
            default_country=self.m.default_country,
            fmt=spec.format,
            timezone=self.m.timezone,
        )
        return result.value, result.valid

    def _norm_per_country(
        self, kind: str, raw: pa.ChunkedArray | pa.Array, fmt: str | None = None
    ) -> tuple[pa.Array, pa.Array]:
        """Phones and postal codes read with each row's own country, when the source has one.

        A CRM of French, Belgian and British customers writes each number in its own national
        format; the source's ``default_country`` only serves rows whose country is unknown.
        """
        countries = self._countries
        assert countries is not None
        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        groups = pc.fill_null(countries, self.m.default_country or "")
        values, valids, order = [], [], []
        for country in pc.unique(groups).to_pylist():
            index = pc.indices_nonzero(pc.equal(groups, country))
            result = normalise(
                kind,
                pc.take(raw, index),
                default_country=country or None,
                fmt=fmt,
                timezone=self.m.timezone,
            )
            values.append(result.value)
            valids.append(result.valid)
            order.append(index)
        back = pc.sort_indices(pa.concat_arrays(order))
        return (
            pc.take(pa.concat_arrays(values), back),
            pc.take(pa.concat_arrays(valids), back),
        )

    def _row_countries(self, table: pa.Table) -> pa.Array | None:
        """Each row's ISO country from the source's country trait, if it maps one."""
        for spec in self.m.traits.values():
            if spec.type == "country":
                result = normalise("country", table.column(spec.column))
                return pc.if_else(pc.fill_null(result.valid, False), result.value, None)
        return None

    def map(self, batch: RawBatch, quarantine: _Quarantine) -> RecordSet | None:
        m = self.m
        table = batch.table
        for reject in batch.rejects:
            quarantine.add_reject(reject)
        n = table.num_rows
        if n == 0:
            return None
        self._countries = self._row_countries(table)
        lines = None
        if "__line" in table.column_names:
            lines = table.column("__line")
            table = table.drop_columns(["__line"])

        def where(i: int) -> str:
            return f"line {lines[i].as_py()}" if lines is not None else f"row {batch.first_row + i}"

        # the first reason found for each rejected row: (reason, field, detail)
        bad: dict[int, tuple[str, str, str]] = {}
        rejected = pa.repeat(pa.scalar(False), n)

        def reject_where(mask: pa.Array, reason: str, field_name: str, detail: str) -> None:
            nonlocal rejected
            mask = pc.fill_null(mask, False)
            if not pc.any(mask).as_py():
                return
            rejected = pc.or_(rejected, mask)
            for i in pc.indices_nonzero(mask).to_pylist():
                bad.setdefault(i, (reason, field_name, detail))

        # the record key: every key column must be present
        key_parts = [normalise("string", table.column(c)).value for c in m.key]
        for col, part in zip(m.key, key_parts, strict=True):
            reject_where(pc.is_null(part), "missing_key", col, f"key column {col!r} is empty")
        record_key = (
            key_parts[0]
            if len(key_parts) == 1
            else pc.binary_join_element_wise(
                *key_parts, "|", null_handling="replace", null_replacement=""
            )
        )

        # when the row was true
        timestamp: pa.Array = pa.nulls(n, _TS)
        if m.event is not None:
            ts_spec = m.event.timestamp
            value, valid = self._norm(
                ts_spec.model_copy(update={"type": "datetime"})
                if ts_spec.type == "string"
                else ts_spec,
                table.column(ts_spec.column),
            )
            reject_where(
                pc.is_null(valid), "missing_timestamp", ts_spec.column, "the event has no timestamp"
            )
            reject_where(
                pc.invert(pc.fill_null(valid, True)),
                "invalid_timestamp",
                ts_spec.column,
                "the timestamp cannot be read as a date and time",
            )
            timestamp = value
        elif m.updated_at is not None:
            spec = m.updated_at
            value, valid = self._norm(
                spec.model_copy(update={"type": "datetime"}) if spec.type == "string" else spec,
                table.column(spec.column),
            )
            timestamp = pc.if_else(pc.fill_null(valid, False), value, pa.nulls(n, _TS))
        observed_at = pc.fill_null(timestamp.cast(_TS), pa.scalar(self.received_at, _TS))

        # required columns and typed event properties: a bad value rejects the row
        typed = ("integer", "float", "boolean", "date", "datetime", "json")
        properties: dict[str, pa.Array] = {}
        if m.event is not None:
            for name, spec in m.event.properties.items():
                value, valid = self._norm(spec, table.column(spec.column))
                if spec.type in typed or spec.required:
                    reject_where(
                        pc.invert(pc.fill_null(valid, True)),
                        "invalid_value",
                        spec.column,
                        f"{spec.column!r} is not a valid {spec.type}",
                    )
                if spec.required:
                    reject_where(
                        pc.is_null(valid),
                        "missing_value",
                        spec.column,
                        f"{spec.column!r} is required",
                    )
                properties[name] = value.cast(pa.string()) if spec.type == "json" else value
        trait_values: dict[str, tuple[ColumnSpec, pa.Array, pa.Array]] = {}
        for name, spec in m.traits.items():
            value, valid = self._norm(spec, table.column(spec.column))
            if spec.required:
                reject_where(
                    pc.invert(pc.fill_null(valid, False)),
                    "invalid_value",
                    spec.column,
                    f"{spec.column!r} is required and must be a valid {spec.type}",
                )
            trait_values[name] = (spec, value, valid)

        keep = pc.invert(rejected)
        if bad:
            rows = sorted(bad)
            raw_rows = table.take(pa.array(rows, pa.int64())).to_pylist()
            for i, raw_row in zip(rows, raw_rows, strict=True):
                reason, field_name, detail = bad[i]
                quarantine.add(
                    where(i) if not m.key else f"key {raw_row.get(m.key[0])!s}@{where(i)}",
                    reason,
                    field_name,
                    detail,
                    orjson.dumps(raw_row, default=str).decode(),
                )
        message_id = pc.binary_join_element_wise(
            pa.scalar(m.source), pc.cast(record_key, pa.string()), ":"
        )
        # A key repeated in the batch: its last row wins, whole (event, identifiers, traits,
        # consents); the earlier ones are counted as duplicate keys.
        keep, duplicates = _last_of_each_key(message_id, keep)

        def kept(array: pa.Array) -> pa.Array:
            return pc.filter(array, keep)

        events = self._events(
            table, message_id, record_key, timestamp, properties, trait_values, kept
        )
        identifiers = self._identifiers(table, message_id, record_key, observed_at, keep)
        traits = self._traits(table, message_id, record_key, observed_at, trait_values, keep)
        consents = self._consents(
            table, message_id, record_key, timestamp.cast(_TS), observed_at, keep
        )
        return RecordSet(
            events=events,
            identifiers=identifiers,
            traits=traits,
            consents=consents,
            duplicate_keys=duplicates,
        )

    def _events(
        self,
        table: pa.Table,
        message_id: pa.Array,
        record_key: pa.Array,
        timestamp: pa.Array,
        properties: dict[str, pa.Array],
        trait_values: dict[str, tuple[ColumnSpec, pa.Array, pa.Array]],
        kept: Callable[[pa.Array], pa.Array],
    ) -> pa.Table:
        m = self.m
        n = len(kept(message_id))
        if m.event is not None:
            kind = "track"
            if m.event.name_column:
                name = kept(normalise("string", table.column(m.event.name_column)).value)
            else:
                name = _repeat(m.event.name, pa.string(), n)
        else:
            kind, name = "record", pa.nulls(n, pa.string())
        ids = {i.type: i.column for i in m.identifiers}
        columns = {
            "message_id": kept(message_id),
            "source": _repeat(m.source, pa.string(), n),
            "type": _repeat(kind, pa.string(), n),
            "event": name,
            "record_key": kept(record_key),
            "anonymous_id": kept(normalise("string", table.column(ids["anonymous_id"])).value)
            if "anonymous_id" in ids
            else pa.nulls(n, pa.string()),
            "user_id": kept(normalise("string", table.column(ids["user_id"])).value)
            if "user_id" in ids
            else pa.nulls(n, pa.string()),
            "timestamp": kept(timestamp.cast(_TS)),
            "received_at": _repeat(self.received_at, _TS, n),
        }
        if properties:
            columns["properties"] = pa.StructArray.from_arrays(
                [kept(v) for v in properties.values()], list(properties)
            )
        if trait_values:
            columns["traits"] = pa.StructArray.from_arrays(
                [kept(_text(v)) for _, v, _ in trait_values.values()], list(trait_values)
            )
        # Identifiers and traits keep their raw values in the observation tables; the raw text of
        # the timestamp and of typed properties (numbers, dates, JSON) is kept here, beside the clean.
        raw_cols = self._raw_context_columns()
        if raw_cols:
            raw = pa.StructArray.from_arrays(
                [kept(_text(table.column(c))) for c in raw_cols], raw_cols
            )
            columns["context"] = pa.StructArray.from_arrays([raw], ["raw"])
        # The identifiers' raw text, stored once (in observed_identifiers), still counts in the
        # row's content hash: a row whose identifier changes is rewritten with its observations.
        id_cols = list(dict.fromkeys(i.column for i in self.m.identifiers))
        if id_cols:
            columns["fingerprint"] = pa.StructArray.from_arrays(
                [kept(_text(table.column(c))) for c in id_cols], id_cols
            )
        return pa.table(columns)

    def _raw_context_columns(self) -> list[str]:
        """Columns whose raw text the event row keeps: time and typed properties.

        With the clean traits and properties beside them (and the identifiers' raw text in the
        row's fingerprint), they make the row's content hash change whenever the source row
        changes in a way that matters.
        """
        m = self.m
        cols: list[str] = []
        if m.event is not None:
            cols.append(m.event.timestamp.column)
            cols += [
                p.column for p in m.event.properties.values() if p.type not in ("string", "text")
            ]
        elif m.updated_at is not None:
            cols.append(m.updated_at.column)
        return list(dict.fromkeys(cols))

    def _identifiers(
        self,
        table: pa.Table,
        message_id: pa.Array,
        record_key: pa.Array,
        observed_at: pa.Array,
        keep: pa.Array,
    ) -> pa.Table | None:
        parts = []
        for spec in self.m.identifiers:
            raw = table.column(spec.column)
            if spec.type == "email_sha256":
                value, valid = _sha256_hex(raw)
            else:
                kind = _ID_KINDS.get(spec.type, "string")
                if kind in _COUNTRY_AWARE and self._countries is not None:
                    value, valid = self._norm_per_country(kind, raw)
                else:
                    result = normalise(kind, raw, default_country=self.m.default_country)
                    value, valid = result.value, result.valid
            present = pc.and_(keep, pc.is_valid(valid))
            count = pc.sum(present).as_py() or 0
            parts.append(
                pa.table(
                    {
                        "message_id": pc.filter(message_id, present),
                        "source": _repeat(self.m.source, pa.string(), count),
                        "record_key": pc.filter(record_key, present),
                        "id_type": _repeat(spec.type, pa.string(), count),
                        "raw_value": pc.filter(_text(raw), present),
                        "value": pc.filter(_text(value), present),
                        "is_valid": pc.filter(valid, present),
                        "observed_at": pc.filter(observed_at, present),
                    }
                )
            )
        return pa.concat_tables(parts) if parts else None

    def _traits(
        self,
        table: pa.Table,
        message_id: pa.Array,
        record_key: pa.Array,
        observed_at: pa.Array,
        trait_values: dict[str, tuple[ColumnSpec, pa.Array, pa.Array]],
        keep: pa.Array,
    ) -> pa.Table | None:
        parts = []
        for name, (spec, value, valid) in trait_values.items():
            present = pc.and_(keep, pc.is_valid(valid))
            count = pc.sum(present).as_py() or 0
            text_value = _text(value)
            key = (
                match_key(spec.type, value)
                if spec.type in _MATCH_KEYED
                else pa.nulls(len(value), pa.string())
            )
            parts.append(
                pa.table(
                    {
                        "message_id": pc.filter(message_id, present),
                        "source": _repeat(self.m.source, pa.string(), count),
                        "record_key": pc.filter(record_key, present),
                        "trait": _repeat(name, pa.string(), count),
                        "value_type": _repeat(spec.type, pa.string(), count),
                        "raw_value": pc.filter(_text(table.column(spec.column)), present),
                        "value": pc.filter(text_value, present),
                        "match_key": pc.filter(key, present),
                        "is_valid": pc.filter(valid, present),
                        "observed_at": pc.filter(observed_at, present),
                    }
                )
            )
        return pa.concat_tables(parts) if parts else None

    def _consents(
        self,
        table: pa.Table,
        message_id: pa.Array,
        record_key: pa.Array,
        record_time: pa.Array,
        observed_at: pa.Array,
        keep: pa.Array,
    ) -> pa.Table | None:
        parts = []
        for spec in self.m.consents:
            given = _consent_status(table.column(spec.column))
            if spec.purpose_column is not None:
                purposes = pc.utf8_lower(
                    normalise("string", table.column(spec.purpose_column)).value
                )
                known = pc.is_in(purposes, pa.array(CONSENT_PURPOSES))
                given = Normalised(given.value, pc.and_(given.valid, known))
            else:
                purposes = _repeat(spec.purpose, pa.string(), table.num_rows)
            present = pc.and_(keep, pc.fill_null(given.valid, False))
            count = pc.sum(present).as_py() or 0
            if not count:
                continue
            # The time the data gives (the consent's own column, else the row's time) is part of
            # the consent's identity, so a later change is a new record; without one, the same
            # status seen again is the same record, whenever it was imported.
            stated = record_time
            if spec.time:
                at = normalise("datetime", table.column(spec.time), timezone=self.m.timezone)
                stated = pc.if_else(pc.fill_null(at.valid, False), at.value.cast(_TS), record_time)
            when = pc.fill_null(stated, observed_at)
            status = pc.if_else(given.value, "granted", "denied")
            mid = pc.filter(message_id, present)
            st = pc.filter(status, present)
            at_text = pc.fill_null(pc.filter(_text(stated), present), "")
            purpose = pc.filter(purposes, present)
            consent_id = pc.binary_join_element_wise(mid, purpose, st, at_text, ":")
            parts.append(
                pa.table(
                    {
                        "consent_id": consent_id,
                        "message_id": mid,
                        "source": _repeat(self.m.source, pa.string(), count),
                        "record_key": pc.filter(record_key, present),
                        "purpose": purpose,
                        "status": st,
                        "legal_basis": _repeat(spec.legal_basis, pa.string(), count),
                        "consented_at": pc.filter(when, present),
                        "recorded_at": _repeat(self.received_at, _TS, count),
                    }
                )
            )
        return pa.concat_tables(parts) if parts else None


def _repeat(value: object, type_: pa.DataType, length: int) -> pa.Array:
    """One value ``length`` times (built by Arrow, not from a Python list)."""
    return pa.repeat(pa.scalar(value, type_), length)


def _last_of_each_key(keys: pa.Array, keep: pa.Array) -> tuple[pa.Array, int]:
    """``keep`` narrowed to the last kept row of each key, and how many rows that drops."""
    kept = int(pc.sum(keep).as_py() or 0)
    rows = pc.indices_nonzero(keep)
    kept_keys = pc.take(keys, rows)
    if len(pc.unique(kept_keys)) == kept:  # unique: a fifth of count_distinct's time
        return keep, 0
    last = (
        pa.table({"key": kept_keys, "row": rows})
        .group_by("key", use_threads=False)
        .aggregate([("row", "max")])
        .column("row_max")
    )
    narrowed = pc.is_in(pa.array(range(len(keys)), pa.uint64()), value_set=last.cast(pa.uint64()))
    return narrowed, kept - len(last)


_CONSENT_WORDS = {
    "granted": True,
    "given": True,
    "accepted": True,
    "opted_in": True,
    "optin": True,
    "withdrawn": False,
    "revoked": False,
    "denied": False,
    "refused": False,
    "declined": False,
    "rejected": False,
    "opted_out": False,
    "optout": False,
}


def _consent_status(raw: pa.ChunkedArray) -> Normalised:
    """A consent status: the words of consent logs, then any yes/no a boolean column may hold."""
    words = pc.replace_substring(
        pc.utf8_lower(normalise("string", raw).value), pattern="-", replacement="_"
    )
    words = pc.replace_substring(words, pattern=" ", replacement="_")
    known = pc.is_in(words, pa.array(list(_CONSENT_WORDS)))
    as_word = pc.index_in(words, pa.array(list(_CONSENT_WORDS)))
    word_value = pc.take(pa.array(list(_CONSENT_WORDS.values()), pa.bool_()), as_word)
    fallback = normalise("boolean", raw)
    value = pc.if_else(known, word_value, fallback.value)
    valid = pc.if_else(known, pa.scalar(True), fallback.valid)
    return Normalised(value, valid)


def _sha256_hex(raw: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """A SHA-256 identifier: 64 hex digits, lower-cased."""
    value = normalise("string", raw).value
    value = pc.utf8_lower(value)
    valid = pc.if_else(
        pc.is_null(value),
        pa.scalar(None, pa.bool_()),
        pc.match_substring_regex(value, r"^[0-9a-f]{64}$"),
    )
    return value, valid


def _segment_batches(
    mapping: SourceMapping, batch_rows: int
) -> Iterator[tuple[list[tuple[int, object]], list[Reject]]]:
    for _, objects, rejects in read_lines(mapping.resolved_path(), batch_rows):
        yield objects, rejects


def import_source(
    store: Store,
    mapping: SourceMapping,
    *,
    batch_rows: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import every row of a mapped source into the store; returns what happened.

    Rows are read, mapped and saved ``batch_rows`` at a time (by default the size the store's
    engine writes best, about 200,000 rows), so memory stays bounded whatever the source's size.

    A source that cannot be read at all (missing file, truncated Parquet) raises
    :class:`~profilo.errors.InputError` after recording the failed run and a quarantine entry.
    """
    started = time.perf_counter()
    batch_rows = batch_rows or store.batch_rows
    received_at = datetime.now(UTC).replace(microsecond=0)
    result = ImportResult(import_id=new_id(), source=mapping.source, location=_location(mapping))
    register_source(store, mapping)
    _record_run(store, result, received_at)
    totals = SaveCounts()
    try:
        for records, read in _prefetch(_mapped_batches(mapping, batch_rows, received_at)):
            result.rows_read += read
            totals.add(store.save(records))
            _count_reasons(result, records)
            if on_progress:
                on_progress(read)
    except InputError as exc:
        result.status, result.error = "failed", str(exc)
        quarantine = _Quarantine(mapping, received_at)
        quarantine.add(result.location, "unreadable_source", None, str(exc), result.location)
        store.save(
            RecordSet(
                events=pa.table({"message_id": pa.array([], pa.string())}),
                quarantine=quarantine.table(),
            )
        )
        _finish(store, result, totals, started, received_at)
        raise
    result.status = "succeeded"
    _finish(store, result, totals, started, received_at)
    return result


def _mapped_batches(
    mapping: SourceMapping, batch_rows: int, received_at: datetime
) -> Iterator[tuple[RecordSet, int]]:
    """Read and map a source batch by batch: (records to save, rows read)."""
    if mapping.format == "segment":
        for objects, rejects in _segment_batches(mapping, batch_rows):
            quarantine = _Quarantine(mapping, received_at)
            for reject in rejects:
                quarantine.add_reject(reject)
            records = messages_to_records(
                [obj for _, obj in objects],
                source=mapping.source,
                received_at=received_at,
                locations=[f"line {n}" for n, _ in objects],
                origin="import",
                default_country=mapping.default_country,
            )
            _add_quarantine(records, quarantine)
            yield records, len(objects) + len(rejects)
        return
    mapper = _BatchMapper(mapping, received_at)
    for batch in _first_halved(read_batches(mapping, batch_rows)):
        quarantine = _Quarantine(mapping, received_at)
        mapped = mapper.map(batch, quarantine)
        records = mapped or RecordSet(events=pa.table({"message_id": pa.array([], pa.string())}))
        _add_quarantine(records, quarantine)
        yield records, batch.table.num_rows + len(batch.rejects)


def _first_halved(batches: Iterator[RawBatch]) -> Iterator[RawBatch]:
    """The first batch in two halves, then the others as they come.

    Nothing is written before the first batch is read and mapped; a smaller one gets the store
    writing (and the two halves of the pipeline overlapping) sooner.
    """
    for position, batch in enumerate(batches):
        half = batch.table.num_rows // 2
        if position or not half:
            yield batch
            continue
        yield RawBatch(batch.table.slice(0, half), batch.first_row, batch.rejects)
        yield RawBatch(batch.table.slice(half), batch.first_row + half)


_DONE = object()


def _prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Produce ``items`` in a thread, ``depth`` ahead of the consumer.

    Reading and normalising the next batch (Arrow and Python) overlaps with the store writing the
    current one (the engine releases the GIL), which keeps both cores busy.
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises
            slots.put(exc)

    worker = threading.Thread(target=produce, name="profilo-import-read", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)


def _add_quarantine(records: RecordSet, quarantine: _Quarantine) -> None:
    extra = quarantine.table()
    if extra is None:
        return
    records.quarantine = (
        extra
        if records.quarantine is None
        else pa.concat_tables([records.quarantine, extra], promote_options="default")
    )


def _count_reasons(result: ImportResult, records: RecordSet) -> None:
    if records.quarantine is None:
        return
    for reason in records.quarantine.column("reason").to_pylist():
        result.quarantine_reasons[reason] = result.quarantine_reasons.get(reason, 0) + 1


def _record_run(store: Store, result: ImportResult, started_at: datetime) -> None:
    store.upsert(
        "imports",
        {
            "import_id": result.import_id,
            "source": result.source,
            "location": result.location,
            "started_at": started_at,
            "status": result.status,
        },
        key=["import_id"],
    )


def _finish(
    store: Store, result: ImportResult, totals: SaveCounts, started: float, started_at: datetime
) -> None:
    result.inserted, result.updated, result.unchanged = (
        totals.inserted,
        totals.updated,
        totals.unchanged,
    )
    result.duplicate_keys, result.consents = totals.duplicate_keys, totals.consents
    result.quarantined = sum(result.quarantine_reasons.values())
    result.seconds = round(time.perf_counter() - started, 3)
    store.upsert(
        "imports",
        {
            "import_id": result.import_id,
            "source": result.source,
            "location": result.location,
            "started_at": started_at,
            "finished_at": datetime.now(UTC),
            "status": result.status,
            "rows_read": result.rows_read,
            "rows_inserted": result.inserted,
            "rows_updated": result.updated,
            "rows_unchanged": result.unchanged,
            "rows_quarantined": result.quarantined,
            "rows_duplicate_key": result.duplicate_keys,
            "error": result.error,
        },
        key=["import_id"],
    )
