"""Readers turn a source (CSV, JSON Lines, Parquet, SQL table or query) into bounded Arrow batches.

Each reader streams: memory stays bounded by the batch size whatever the file's size. Lines that
cannot be read at all (a CSV line with the wrong number of fields, a JSON line that does not parse)
come out as :class:`Reject` beside the batch, with their text, so the importer quarantines them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from profilo.collect.mapping import SourceMapping
from profilo.errors import InputError, MappingError

__all__ = ["RawBatch", "Reject", "read_batches", "read_lines"]


@dataclass(frozen=True)
class Reject:
    """A line or row that could not be read; it goes to quarantine with its text."""

    location: str
    reason: str
    detail: str
    raw: str


@dataclass
class RawBatch:
    """Rows as read (strings for text formats), with what could not be read beside them."""

    table: pa.Table
    first_row: int
    """1-based position of the batch's first row in the source (data rows, header excluded)."""
    rejects: list[Reject] = field(default_factory=list)


def _missing_columns(mapping: SourceMapping, available: list[str], origin: str) -> None:
    wanted = mapping.input_columns()
    missing = [c for c in wanted if c not in available]
    if missing:
        raise MappingError(
            f"source {mapping.source!r}: column(s) {', '.join(map(repr, missing))} named by the"
            f" mapping are not in {origin}; its columns are: {', '.join(available)}"
        )


def _read_csv(mapping: SourceMapping, path: Path, batch_rows: int) -> Iterator[RawBatch]:
    opts = mapping.csv
    rejects: list[Reject] = []

    def on_invalid(row: Any) -> str:
        where = f"line {row.number}" if row.number is not None else "a line"
        rejects.append(
            Reject(
                location=where,
                reason="malformed_row",
                detail=f"expected {row.expected_columns} fields, found {row.actual_columns}",
                raw=row.text,
            )
        )
        return "skip"

    def open_reader(
        columns: list[str] | None, block_size: int = 8 << 20
    ) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding=opts.encoding,
                block_size=block_size,
                autogenerate_column_names=not opts.header,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=opts.delimiter,
                quote_char=opts.quote,
                newlines_in_values=True,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()) if columns else None,
                include_columns=columns,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        try:
            # the probe only wants the header, but reads (and types) a first block to get it
            probe = open_reader(None, block_size=1 << 20)
        except pa.ArrowInvalid:  # a first row longer than the small block
            probe = open_reader(None)
        available = probe.schema.names
        probe.close()
        rejects.clear()  # the probe read the first block too; the real reader reports it again
        _missing_columns(mapping, available, str(path))
        reader = open_reader(mapping.input_columns())
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read CSV file {path}: {exc}") from None
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    # Batches of exactly ``batch_rows`` rows (the last one shorter), whatever the block size:
    # the store writes whole row groups when the batch size is a multiple of them.
    position = 1
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise InputError(f"cannot read CSV file {path} after row {position}: {exc}") from None
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= batch_rows:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield RawBatch(table.slice(0, batch_rows), position, rejects.copy())
            rejects.clear()
            position += batch_rows
            rest = table.slice(batch_rows)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows or rejects:
        table = (
            pa.Table.from_batches(pending, schema=reader.schema)
            if pending
            else reader.schema.empty_table()
        )
        yield RawBatch(table, position, rejects.copy())


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()


def _dig(obj: dict[str, Any], path: str) -> Any:
    """Value at a dotted path (``customer.email``) of a JSON object; None when absent."""
    if path in obj:
        return obj[path]
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def read_lines(
    path: Path, batch_rows: int
) -> Iterator[tuple[int, list[tuple[int, Any]], list[Reject]]]:
    """Parse a JSON Lines file in batches: (first line number, [(line number, object)], rejects)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    with handle:
        objects: list[tuple[int, Any]] = []
        rejects: list[Reject] = []
        first = 1
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                text = line.decode("utf-8", errors="replace").rstrip("\n")
                rejects.append(Reject(f"line {number}", "invalid_json", str(exc), text))
                continue
            if not isinstance(obj, dict):
                text = line.decode("utf-8", errors="replace").rstrip("\n")
                rejects.append(
                    Reject(
                        f"line {number}", "not_an_object", "a line must hold a JSON object", text
                    )
                )
                continue
            objects.append((number, obj))
            if len(objects) >= batch_rows:
                yield first, objects, rejects
                first = number + 1
                objects, rejects = [], []
        if objects or rejects:
            yield first, objects, rejects


def _read_jsonl(mapping: SourceMapping, path: Path, batch_rows: int) -> Iterator[RawBatch]:
    columns = mapping.input_columns()
    for first, objects, rejects in read_lines(path, batch_rows):
        arrays = {
            col: pa.array([_as_text(_dig(obj, col)) for _, obj in objects], pa.string())
            for col in columns
        }
        table = pa.table(arrays) if columns else pa.table({})
        table = table.append_column("__line", pa.array([n for n, _ in objects], pa.int64()))
        yield RawBatch(table, first, rejects)


def _read_parquet(mapping: SourceMapping, path: Path, batch_rows: int) -> Iterator[RawBatch]:
    try:
        parquet = pq.ParquetFile(path)
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"cannot read Parquet file {path} (truncated or not Parquet): {exc}"
        ) from None
    _missing_columns(mapping, parquet.schema_arrow.names, str(path))
    position = 1
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=mapping.input_columns()):
            table = pa.Table.from_batches([batch])
            yield RawBatch(table, position)
            position += table.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read Parquet file {path} after row {position}: {exc}") from None


def _read_sql(mapping: SourceMapping, batch_rows: int) -> Iterator[RawBatch]:
    import ibis

    try:
        con = ibis.connect(mapping.url or "")
    except Exception as exc:  # noqa: BLE001 - any driver's connection error becomes one clear error
        raise InputError(f"cannot connect to {mapping.url}: {exc}") from None
    try:
        expr = con.table(mapping.table) if mapping.table else con.sql(mapping.query or "")
    except Exception as exc:  # noqa: BLE001 - the driver's own message says what is wrong
        raise InputError(
            f"cannot read {mapping.table or 'the query'} from {mapping.url}: {exc}"
        ) from None
    _missing_columns(mapping, list(expr.columns), mapping.table or "the query")
    expr = expr.select(*mapping.input_columns())
    position = 1
    for batch in expr.to_pyarrow_batches(chunk_size=batch_rows):
        table = pa.Table.from_batches([batch])
        yield RawBatch(table, position)
        position += table.num_rows
    con.disconnect()


def read_batches(mapping: SourceMapping, batch_rows: int = 200_000) -> Iterator[RawBatch]:
    """Stream a mapped source's rows in batches of about ``batch_rows``."""
    if mapping.format == "csv":
        return _read_csv(mapping, mapping.resolved_path(), batch_rows)
    if mapping.format == "jsonl":
        return _read_jsonl(mapping, mapping.resolved_path(), batch_rows)
    if mapping.format == "parquet":
        return _read_parquet(mapping, mapping.resolved_path(), batch_rows)
    if mapping.format == "sql":
        return _read_sql(mapping, batch_rows)
    raise InputError(f"format {mapping.format!r} is not read row by row")
