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

    def send(self, batch: Sequence[Change]) -> Outcome:
        if not batch:
            return Outcome()
        table = self._table(batch)
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
        actions = (
            table.column("action").to_pylist()
            if "action" in table.column_names
            else ["row"] * len(batch)
        )
        for action in actions:
            self.counts[action] = self.counts.get(action, 0) + 1
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
