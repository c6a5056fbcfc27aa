"""Audience files: Google Customer Match CSV and Meta's schema'd JSON payload, adds apart from removes.

Each batch writes at most two files per segment, ``<platform>-<segment>-adds-<key>.<ext>`` and
``…-removes-…``, where ``key`` is a digest of the batch's change ids: sending the same batch
again rewrites the same files instead of adding new ones. Files appear whole (written aside,
then renamed).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from profilo.activate.destinations.ads.members import (
    GOOGLE_CSV_HEADER,
    META_SCHEMA,
    Member,
    google_csv_row,
    meta_rows,
)
from profilo.activate.destinations.base import DeliveryError, ItemFailure, Outcome

__all__ = ["write_files"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _write(path: Path, text: str) -> None:
    aside = path.with_name(f".{path.name}.part")
    aside.write_text(text, encoding="utf-8", newline="")
    os.replace(aside, path)


def _google_csv(rows: list[dict[str, list[str]]]) -> str:
    width = {name: max([len(row[name]) for row in rows] + [1]) for name in GOOGLE_CSV_HEADER}
    header = [name for name in GOOGLE_CSV_HEADER for _ in range(width[name])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        line: list[str] = []
        for name in GOOGLE_CSV_HEADER:
            values = row[name]
            line.extend(values + [""] * (width[name] - len(values)))
        writer.writerow(line)
    return out.getvalue()


def _meta_json(rows: list[list[str]]) -> str:
    payload = {"payload": {"schema": list(META_SCHEMA), "data": rows}}
    return json.dumps(payload, indent=None, separators=(",", ":")) + "\n"


def write_files(
    platform: str,
    folder: Path,
    members: Sequence[Member],
    region: str | None,
    outcome: Outcome,
) -> None:
    """Write the batch's members as files in ``folder``; members without identifiers fail."""
    key = hashlib.sha256(
        "\n".join(cid for m in members for cid in m.change_ids).encode()
    ).hexdigest()[:16]
    groups: dict[tuple[str, str], list[Member]] = {}
    for member in members:
        kind = "adds" if member.action == "upsert" else "removes"
        groups.setdefault((member.target, kind), []).append(member)
    written: list[str] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for (audience, kind), group in sorted(groups.items()):
            name = f"{platform}-{_UNSAFE.sub('_', audience)}-{kind}-{key}"
            if platform == "google":
                rows = []
                for member in group:
                    row = google_csv_row(member, region)
                    if row is None:
                        _no_identifier(member, outcome)
                    else:
                        rows.append(row)
                if rows:
                    path = folder / f"{name}.csv"
                    _write(path, _google_csv(rows))
                    written.append(str(path))
            else:
                data: list[list[str]] = []
                for member in group:
                    member_rows = meta_rows(member, region)
                    if not member_rows:
                        _no_identifier(member, outcome)
                    data.extend(member_rows)
                if data:
                    path = folder / f"{name}.json"
                    _write(path, _meta_json(data))
                    written.append(str(path))
    except OSError as exc:
        raise DeliveryError(
            f"cannot write audience files in {folder}: {exc}", retryable=True
        ) from exc
    outcome.details["files"] = written


def _no_identifier(member: Member, outcome: Outcome) -> None:
    for change_id in member.change_ids:
        outcome.failed[change_id] = ItemFailure(
            "no e-mail, phone or full address to match on", retryable=False
        )
