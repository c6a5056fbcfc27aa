"""The files destination: CSV or Parquet in a folder, one folder per sync run, with a manifest.

- ``mode: incremental`` writes the changes of the run: one row per change with ``action``
  ``add`` (entered an audience), ``remove`` (left it, or withdrew consent) or ``change`` (traits
  changed), then the mapped fields and identifiers;
- ``mode: full`` writes the whole current audience each run (the engine sends every member,
  see ``snapshot``), one row per member and audience.

Layout: ``<folder>/<run id>/part-00001.<csv|parquet>`` (a part holds up to ``max_rows_per_file``
rows; each is written under a temporary name and renamed when complete, before the engine records
its rows as delivered) and ``<folder>/<run id>/manifest.json`` (mode, format, files with their rows
and SHA-256, counts per action), written when the run ends. Identifier lists are Parquet lists,
and ``;``-joined text in CSV.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from profilo.activate.destinations.base import Change, DeliveryError, Outcome, register
from profilo.activate.ssrf import NETWORK_SETTING
from profilo.errors import ConfigError

__all__ = ["FilesDestination", "FilesSettings"]


class FilesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str
    format: Literal["csv", "parquet"] = "parquet"
    mode: Literal["full", "incremental"] = "incremental"
    max_rows_per_file: int = Field(default=1_000_000, ge=1, le=10_000_000)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _typed(values: pa.Array) -> pa.Array:
    """A field column typed as the row path infers it from the values it sends: whole doubles
    as integers, a column of nulls only as Arrow's null type."""
    if values.null_count == len(values):
        return pa.nulls(len(values))
    if pa.types.is_floating(values.type):
        present = values.drop_null()
        whole = pc.all(
            pc.and_(pc.equal(pc.floor(present), present), pc.less(pc.abs(present), 2.0**53))
        )
        if whole.as_py():
            return values.cast(pa.int64())
    return values


class FilesDestination:
    """Writes each batch as a part file of the run's folder."""

    kind: ClassVar[str] = "files"

    def __init__(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        values = {k: v for k, v in settings.items() if k != NETWORK_SETTING}
        try:
            self.settings = FilesSettings.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"invalid files settings: {where}: {first['msg']}") from None
        if credentials:
            raise ConfigError("the files destination takes no credentials")
        self.folder = Path(self.settings.folder)
        self.purposes: tuple[str, ...] = ()
        self.max_batch = self.settings.max_rows_per_file
        self.snapshot = self.settings.mode == "full"
        """Full mode: the engine sends the whole current audience every run."""
        now = datetime.now(UTC)
        self.run_id = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
        self.started_at = now
        self.files: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}

    @property
    def run_folder(self) -> Path:
        return self.folder / self.run_id

    def _table(self, batch: Sequence[Change]) -> pa.Table:
        csv = self.settings.format == "csv"
        names = sorted({k for c in batch for k in c.fields})
        kinds = sorted({k for c in batch for k in c.identifiers})
        columns: dict[str, Any] = {}
        if not self.snapshot:
            columns["change_id"] = pa.array([c.change_id for c in batch], pa.string())
            columns["action"] = pa.array(
                [
                    "remove" if c.action == "remove" else ("add" if c.audience else "change")
                    for c in batch
                ],
                pa.string(),
            )
            columns["occurred_at"] = pa.array(
                [c.occurred_at for c in batch], pa.timestamp("us", tz="UTC")
            )
        columns["profile_id"] = pa.array([c.profile_id for c in batch], pa.string())
        columns["audience"] = pa.array([c.audience for c in batch], pa.string())
        for name in names:
            columns[name] = _column([c.fields.get(name) for c in batch])
        for kind in kinds:
            values = [list(c.identifiers.get(kind) or []) for c in batch]
            columns[f"id_{kind}"] = (
                pa.array([";".join(v) or None for v in values], pa.string())
                if csv
                else pa.array(values, pa.list_(pa.string()))
            )
        return pa.table(columns)

    def _arrow_table(self, part: pa.Table) -> pa.Table:
        """The rows of a batch given as a table (``send_table``): what ``_table`` writes for
        the same changes, built from the columns."""
        csv = self.settings.format == "csv"
        action = part.column("action").combine_chunks()
        audience = part.column("audience").combine_chunks()
        columns: dict[str, Any] = {}
        if not self.snapshot:
            named = pc.fill_null(pc.not_equal(audience, ""), False)
            columns["change_id"] = part.column("change_id")
            columns["action"] = pc.if_else(
                pc.equal(action, "remove"), "remove", pc.if_else(named, "add", "change")
            )
            columns["occurred_at"] = part.column("occurred_at")
        columns["profile_id"] = part.column("profile_id")
        columns["audience"] = audience
        fields = part.column("fields").combine_chunks()
        if pc.any(pc.equal(action, "upsert")).as_py():  # removes carry no fields
            children = dict(zip([f.name for f in fields.type], fields.flatten(), strict=True))
            for name in sorted(children):
                columns[name] = _typed(children[name])
        identifiers = part.column("identifiers").combine_chunks()
        for kind, values in sorted(
            zip([f.name for f in identifiers.type], identifiers.flatten(), strict=True)
        ):
            lengths = pc.fill_null(pc.list_value_length(values), 0)
            if not pc.any(pc.greater(lengths, 0)).as_py():
                continue
            if csv:
                text = pc.binary_join(values, ";")
                columns[f"id_{kind}"] = pc.if_else(pc.equal(text, ""), None, text)
            else:
                columns[f"id_{kind}"] = pc.fill_null(values, pa.scalar([], values.type))
        return pa.table(columns)

    def send(self, batch: Sequence[Change]) -> Outcome:
        if not batch:
            return Outcome()
        return self._write(self._table(batch))

    def send_table(self, part: pa.Table) -> Outcome:
        """Write a batch given as an Arrow table (the engine's columnar path)."""
        if not part.num_rows:
            return Outcome()
        return self._write(self._arrow_table(part))

    def _write(self, table: pa.Table) -> Outcome:
        part = len(self.files) + 1
        name = f"part-{part:05d}.{self.settings.format}"
        try:
            self.run_folder.mkdir(parents=True, exist_ok=True)
            final = self.run_folder / name
            temporary = self.run_folder / f".{name}.tmp"
            if self.settings.format == "parquet":
                pq.write_table(table, temporary, compression="zstd")
            else:
                pacsv.write_csv(table, temporary)
            with open(temporary, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {name}: {exc.strerror or exc}", retryable=True
            ) from None
        if "action" in table.column_names:
            for entry in pc.value_counts(table.column("action")).to_pylist():
                action, count = entry["values"], entry["counts"]
                self.counts[action] = self.counts.get(action, 0) + count
        else:
            self.counts["row"] = self.counts.get("row", 0) + table.num_rows
        self.files.append({"name": name, "rows": table.num_rows, "sha256": digest})
        return Outcome(details={"file": str(final), "rows": table.num_rows})

    def close(self) -> None:
        """Write the run's manifest (a run that wrote nothing leaves nothing)."""
        if not self.files:
            return
        manifest = {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "mode": self.settings.mode,
            "format": self.settings.format,
            "rows": sum(f["rows"] for f in self.files),
            "counts": self.counts,
            "files": self.files,
        }
        temporary = self.run_folder / ".manifest.json.tmp"
        temporary.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.replace(temporary, self.run_folder / "manifest.json")


@register("files")
def make_files(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> FilesDestination:
    return FilesDestination(settings, credentials)
