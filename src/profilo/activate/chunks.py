"""A chunk of new changes on its way to a destination, held as columns.

The sync engine plans new changes a chunk (up to 250,000) at a time. A :class:`Chunk` keeps them
as Arrow columns — change id, profile, action, audience, time, then the mapped fields, the
identifiers and the payload, aligned with :func:`profilo.activate.fields.gather_columns` — and
what happened to each in NumPy arrays (status, attempts, reason, next attempt, batch), so that
consent, ordering, sending and writing the outcome cost no Python object per change:

- consent is applied per profile (:meth:`Chunk.skip`), then mapped to the rows by profile code;
- :meth:`Chunk.rounds` puts each profile's changes in successive rounds (its first change in the
  first round, its second in the second…), so a batch never holds two changes of one person and
  a change is sent only after the one before it: order per profile holds by construction;
- :meth:`Chunk.part` is the Arrow table of one batch (what ``send_table`` receives),
  :func:`changes_of` the same as :class:`Change` objects for destinations that only ``send``;
- :meth:`Chunk.deliveries` and :meth:`Chunk.holdings` are the rows written once, in bulk, when
  the chunk is done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.destinations.base import Change, identifier_rows, struct_rows
from profilo.activate.fields import ProfileColumns

__all__ = [
    "CHANGE_COLUMNS",
    "DEAD",
    "DELIVERED",
    "EPOCH",
    "PENDING",
    "SKIPPED",
    "Chunk",
    "changes_of",
    "micros",
    "planned_table",
]

PENDING, DELIVERED, DEAD, SKIPPED = 0, 1, 2, 3
_STATUS = pa.array(["pending", "delivered", "dead", "skipped"], pa.string())
TS = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PLANNED_SCHEMA = pa.schema(
    [
        ("change_id", pa.string()),
        ("profile_id", pa.string()),
        ("action", pa.string()),
        ("audience", pa.string()),
        ("occurred_at", TS),
    ]
)
CHANGE_COLUMNS = (
    "change_id",
    "action",
    "profile_id",
    "audience",
    "occurred_at",
    "fields",
    "identifiers",
)
"""The columns of the table a destination's ``send_table`` receives (see ``base.Destination``)."""


def micros(at: datetime) -> int:
    """A time as microseconds since the epoch (Arrow's ``timestamp[us]``)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def planned_table(
    change_id: Any, profile_id: Any, action: Any, audience: Any, occurred_at: Any
) -> pa.Table:
    """Planned changes (arrays or lists) as a table of :data:`PLANNED_SCHEMA`."""
    return pa.table(
        [change_id, profile_id, action, audience, occurred_at], schema=PLANNED_SCHEMA
    ).combine_chunks()


class Chunk:
    """New changes of one chunk and what happened to each (see the module's docstring)."""

    def __init__(self, planned: pa.Table, *, first_seq: int) -> None:
        planned = planned.combine_chunks()
        self.planned = planned
        n = self.n = planned.num_rows
        self.seq = np.arange(first_seq, first_seq + n, dtype=np.int64)
        encoded = pc.dictionary_encode(planned.column("profile_id")).combine_chunks()
        self.profiles: pa.Array = encoded.dictionary
        """Each profile once; ``codes`` index it."""
        self.codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.upsert = pc.equal(planned.column("action"), "upsert").to_numpy(zero_copy_only=False)
        self.status = np.full(n, PENDING, dtype=np.int8)
        self.attempts = np.zeros(n, dtype=np.int32)
        self.reason = np.full(n, None, dtype=object)
        self.next_attempt = np.full(n, -1, dtype=np.int64)
        """Microseconds since the epoch; -1 for none."""
        self.batch = np.full(n, -1, dtype=np.int32)
        self.batch_ids: list[str] = []
        self.batch_times: list[int] = []
        self.changes: pa.Table | None = None
        """The changes to send (rows not skipped when attached), as ``send_table`` takes them."""
        self.compact = np.full(n, -1, dtype=np.int64)
        """Each row's place in :attr:`changes` (-1 if it has none)."""
        self.texts: tuple[pa.Array, pa.Array] | None = None
        """The fields' and the identifiers' JSON objects of each change (``{}`` for none)."""
        self.payload: pa.Array = pa.nulls(n, pa.string())
        self.skips: dict[str, int] = {}
        """Upserts skipped for want of consent, per reason."""
        self.consent_mark: tuple[int, Any] | None = None
        """The state of the consent log its consents were decided at, when kept."""

    # -- consent and fields ------------------------------------------------------------------

    def upsert_profiles(self) -> tuple[pa.Array, np.ndarray]:
        """Profiles with a pending upsert (ids and their codes): those whose consent counts."""
        codes = _distinct(self.codes[self.upsert & (self.status == PENDING)], len(self.profiles))
        return self.profiles.take(pa.array(codes)), codes

    def skip(self, codes: np.ndarray, allowed: pa.Array, reason: pa.Array) -> dict[str, int]:
        """Skip the pending upserts of the profiles (``codes``) not ``allowed``, with their
        ``reason``; returns how many per reason (also added to :attr:`skips`)."""
        refused = ~allowed.to_numpy(zero_copy_only=False).astype(bool)
        if not refused.any():
            return {}
        why = reason.filter(pa.array(refused))
        at = np.full(len(self.profiles), -1, dtype=np.int64)
        at[codes[refused]] = np.arange(len(why))
        where = at[self.codes]
        rows = np.flatnonzero(self.upsert & (self.status == PENDING) & (where >= 0))
        reasons = why.take(pa.array(where[rows]))
        self.status[rows] = SKIPPED
        self.reason[rows] = reasons.to_pylist()
        if self.changes is not None and len(rows):  # skipped after attach: it keeps only the id
            skipped = np.zeros(self.n, dtype=bool)
            skipped[rows] = True
            self.payload = pc.if_else(pa.array(skipped), pa.scalar(None, pa.string()), self.payload)
        found = {
            str(entry["values"]): int(entry["counts"])
            for entry in pc.value_counts(reasons).to_pylist()
        }
        for text, count in found.items():
            self.skips[text] = self.skips.get(text, 0) + count
        return found

    def sendable_profiles(self) -> tuple[pa.Array, np.ndarray]:
        """Profiles with a change that is not skipped (ids and their codes)."""
        codes = _distinct(self.codes[self.status != SKIPPED], len(self.profiles))
        return self.profiles.take(pa.array(codes)), codes

    def attach(self, gathered: ProfileColumns, codes: np.ndarray, *, texts: bool = False) -> None:
        """Take fields, identifiers and payloads from ``gathered`` (aligned with ``codes``), and
        their JSON objects with ``texts`` (for :meth:`encode`). Payloads are kept for every row
        (a skip's is null: it keeps nothing but the id); the changes to send only for the rows
        not skipped, in order (see :meth:`part`)."""
        at = np.full(len(self.profiles), -1, dtype=np.int64)
        at[codes] = np.arange(len(codes))
        where = at[self.codes]
        kept = (where >= 0) & (self.status != SKIPPED)
        rows = pa.array(where, pa.int64(), mask=~kept)
        if self.upsert.all():
            self.payload = gathered.payload.take(rows)
        else:
            upsert = pa.array(self.upsert, pa.bool_())
            self.payload = pc.if_else(
                upsert, gathered.payload.take(rows), gathered.remove_payload.take(rows)
            )
        sendable = np.flatnonzero(kept)
        self.compact = np.full(self.n, -1, dtype=np.int64)
        self.compact[sendable] = np.arange(len(sendable))
        everyone = len(sendable) == self.n
        planned = self.planned if everyone else self.planned.take(pa.array(sendable))
        profiles = pa.array(where[sendable], pa.int64())
        upserts = pa.array(where[sendable], pa.int64(), mask=~self.upsert[sendable])
        self.changes = pa.table(
            {
                "change_id": planned.column("change_id"),
                "action": planned.column("action"),
                "profile_id": planned.column("profile_id"),
                "audience": planned.column("audience"),
                "occurred_at": planned.column("occurred_at"),
                "fields": gathered.fields.take(upserts),
                "identifiers": gathered.identifiers.take(profiles),
            }
        )
        if texts:
            self.texts = (
                pc.fill_null(gathered.fields_json.take(upserts), "{}"),
                gathered.identifiers_json.take(profiles),
            )

    def encode(self, change_texts: Callable[[pa.Table], pa.Array]) -> None:
        """Each change's text as the destination will send it (column ``text``, in place of
        ``fields`` and ``identifiers``), made by its ``change_texts`` from the changes and their
        ``fields_json`` and ``identifiers_json``."""
        assert self.changes is not None and self.texts is not None, "attach(texts=True) first"
        fields, identifiers = self.texts
        changes = self.changes.append_column("fields_json", fields)
        changes = changes.append_column("identifiers_json", identifiers)
        texts = change_texts(changes)
        kept = [c for c in self.changes.column_names if c not in ("fields", "identifiers")]
        self.changes = self.changes.select(kept).append_column("text", texts)
        self.texts = None

    # -- sending -----------------------------------------------------------------------------

    def rounds(self, blocked: np.ndarray) -> list[np.ndarray]:
        """Rows to send, by round: each pending change of a profile not ``blocked`` (a mask over
        profile codes) in the round of its rank among the profile's changes, in chunk order."""
        rows = np.flatnonzero((self.status == PENDING) & ~blocked[self.codes])
        if not len(rows):
            return []
        codes = self.codes[rows]
        if len(_distinct(codes, len(self.profiles))) == len(codes):  # one change per profile
            return [rows]
        order = np.argsort(codes, kind="stable")
        ordered = codes[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        sizes = np.diff(np.r_[starts, len(ordered)])
        rank = np.empty(len(rows), dtype=np.int64)
        rank[order] = np.arange(len(ordered)) - np.repeat(starts, sizes)
        return [rows[rank == level] for level in range(int(rank.max()) + 1)]

    def waiting(self, rows: np.ndarray, at: int) -> None:
        """Rows held back behind an open change of their profile: due ``at`` unless already due."""
        unset = rows[self.next_attempt[rows] < 0]
        self.next_attempt[unset] = at

    def part(self, rows: np.ndarray) -> pa.Table:
        """The changes of ``rows`` (a batch or a round; rows not skipped when attached) as a
        table of :data:`CHANGE_COLUMNS`: a slice, without a copy, when they are all the rows
        attached between the first and the last."""
        assert self.changes is not None, "attach() first"
        at = self.compact[rows]
        first, count = int(at[0]), len(at)
        if int(at[-1]) - first + 1 == count:
            return self.changes.slice(first, count)
        return self.changes.take(pa.array(at))

    def delivered(self, rows: np.ndarray, batch_id: str, at: int) -> None:
        self.batch_ids.append(batch_id)
        self.batch_times.append(at)
        self.status[rows] = DELIVERED
        self.attempts[rows] += 1
        self.batch[rows] = len(self.batch_ids) - 1
        self.reason[rows] = None
        self.next_attempt[rows] = -1

    # -- writing -----------------------------------------------------------------------------

    def deliveries(self, destination: str, created_at: datetime) -> pa.Table:
        """The chunk's rows of ``deliveries`` (the outbox and delivery log)."""
        n, planned = self.n, self.planned
        created = pa.scalar(created_at, TS)
        batch = pa.array(self.batch, pa.int32(), mask=self.batch < 0)
        times = pa.array(self.batch_times, pa.int64()).cast(TS)
        return pa.table(
            {
                "destination": pa.repeat(pa.scalar(destination, pa.string()), n),
                "change_id": planned.column("change_id"),
                "seq": pa.array(self.seq, pa.int64()),
                "profile_id": planned.column("profile_id"),
                "action": planned.column("action"),
                "audience": planned.column("audience"),
                "payload": self.payload,
                "status": _STATUS.take(pa.array(self.status, pa.int8())),
                "attempts": pa.array(self.attempts, pa.int32()),
                "next_attempt_at": pa.array(
                    self.next_attempt, pa.int64(), mask=self.next_attempt < 0
                ).cast(TS),
                "reason": pa.array(self.reason, pa.string()),
                "batch_id": pa.array(self.batch_ids, pa.string()).take(batch),
                "occurred_at": planned.column("occurred_at"),
                "created_at": pa.repeat(created, n),
                "updated_at": pa.repeat(created, n),
                "delivered_at": times.take(batch),
            }
        )

    def holdings(self, *, traits: bool) -> tuple[pa.Table, pa.Table]:
        """What the destination holds after the chunk, as planned (skips aside): the
        ``(audience, profile)`` keys the chunk decides and the members among them (``audience``
        '' is a trait sync's)."""
        kept = np.flatnonzero(self.status != SKIPPED)
        audience = pc.fill_null(self.planned.column("audience"), "").take(pa.array(kept))
        encoded = pc.dictionary_encode(audience).combine_chunks()
        audiences = encoded.dictionary
        audience_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        key = audience_codes * max(1, len(self.profiles)) + self.codes[kept]
        # the last change of each (audience, profile) decides whether the destination holds it
        _, last = np.unique(key[::-1], return_index=True)
        last = np.sort(len(key) - 1 - last)
        rows = kept[last]
        upsert = self.upsert[rows]
        named = (audience_codes[last] >= 0) & pc.not_equal(
            audiences.take(pa.array(audience_codes[last])), ""
        ).to_numpy(zero_copy_only=False)
        held = upsert & (named | traits)
        decided = held | ~upsert
        keys = pa.table(
            {
                "audience": audiences.take(pa.array(audience_codes[last][decided])),
                "profile_id": self.profiles.take(pa.array(self.codes[rows][decided])),
            }
        )
        members = pa.table(
            {
                "audience": audiences.take(pa.array(audience_codes[last][held])),
                "profile_id": self.profiles.take(pa.array(self.codes[rows][held])),
            }
        )
        return keys, members


def _distinct(codes: np.ndarray, size: int) -> np.ndarray:
    """The distinct values of ``codes`` (each in ``[0, size)``), ascending: one mark per value
    (``np.unique`` hashes or sorts, a hundred times slower for a chunk's codes)."""
    seen = np.zeros(size, dtype=bool)
    seen[codes] = True
    return np.flatnonzero(seen)


def changes_of(part: pa.Table) -> list[Change]:
    """A batch's table as :class:`Change` objects, for destinations without ``send_table``."""
    new = object.__new__
    fields = struct_rows(part.column("fields"))
    identifiers = identifier_rows(part.column("identifiers"))
    changes = []
    for change_id, action, profile_id, audience, at, values, ids in zip(
        part.column("change_id").to_pylist(),
        part.column("action").to_pylist(),
        part.column("profile_id").to_pylist(),
        part.column("audience").to_pylist(),
        part.column("occurred_at").to_pylist(),
        fields,
        identifiers,
        strict=True,
    ):
        change = new(Change)
        # a frozen dataclass: filling __dict__ skips the frozen __setattr__ of each field
        change.__dict__.update(
            change_id=change_id,
            profile_id=profile_id,
            action=action,
            audience=audience,
            fields=values,
            identifiers=ids,
            occurred_at=at,
        )
        changes.append(change)
    return changes
