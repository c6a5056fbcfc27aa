"""Sending changes to a destination: batches, the token bucket, retries, dead letters, order.

A :class:`Sender` serves one pass over one destination. It sends either rows (:class:`Item`, the
retries read back from the outbox) or a columnar :class:`~profilo.activate.chunks.Chunk` of new
changes; both follow the same rules:

- a profile appears at most once per batch, and a change waits while an earlier change of the
  same profile is open (``blocked``): each person's changes arrive in order;
- a batch failing as a whole fails each of its changes with one wait (exponential backoff with
  full jitter, at least the destination's ``Retry-After``); a retryable whole-batch failure means
  the destination is down, and nothing more is sent to it in this pass (``halted_until``);
- a change fails for good (a dead letter with its reason) when the failure is permanent or after
  ``max_attempts`` tries.

A destination that can take an Arrow table (``send_table``) gets each batch of a chunk as one,
with no Python object per change; others get :class:`Change` objects through ``send``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.chunks import DEAD, DELIVERED, EPOCH, PENDING, Chunk, changes_of, micros
from profilo.activate.definitions import DestinationDefinition
from profilo.activate.destinations.base import Change, DeliveryError, Destination, Outcome
from profilo.activate.pacing import Clock, RetryPolicy, TokenBucket

__all__ = ["Item", "Sender", "SyncReport", "table_sender"]

_NO_FIELDS: dict[str, Any] = {}


def table_sender(destination: Destination) -> Callable[[pa.Table], Outcome] | None:
    """The destination's ``send_table`` if it has one (it is optional in the protocol)."""
    send_table = getattr(destination, "send_table", None)
    return send_table if callable(send_table) else None


class Item:
    """One change on its way, read back from the outbox (a delivery row in the making)."""

    batch_id: str | None = None
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    reason: str | None = None
    payload: str | None = None
    fields: dict[str, Any] = _NO_FIELDS
    identifiers: dict[str, Any] = _NO_FIELDS

    def __init__(
        self,
        *,
        change_id: str,
        profile_id: str,
        action: Literal["upsert", "remove"],
        audience: str | None,
        occurred_at: datetime,
        seq: int,
        attempts: int,
        created_at: datetime,
        status: str,
    ) -> None:
        self.change_id = change_id
        self.profile_id = profile_id
        self.action: Literal["upsert", "remove"] = action
        self.audience = audience
        self.occurred_at = occurred_at
        self.seq = seq
        self.attempts = attempts
        self.created_at = created_at
        self.status = status

    def change(self) -> Change:
        return Change(
            change_id=self.change_id,
            profile_id=self.profile_id,
            action=self.action,
            audience=self.audience,
            fields=self.fields,
            identifiers=self.identifiers,
            occurred_at=self.occurred_at,
        )


@dataclass
class SyncReport:
    """What one pass did for one destination."""

    destination: str
    delivered: int = 0
    upserts: int = 0
    removes: int = 0
    skipped: int = 0
    dead: int = 0
    retried: int = 0
    failures: int = 0
    batches: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    pending: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Sender:
    """Sends one destination's changes during one pass (see the module's docstring)."""

    def __init__(
        self,
        destination: Destination,
        definition: DestinationDefinition,
        clock: Clock,
        report: SyncReport,
        *,
        seed: int | None = None,
        tables: bool = True,
    ) -> None:
        self.destination = destination
        self.clock = clock
        self.report = report
        self.policy = RetryPolicy(
            max_attempts=definition.max_attempts,
            base_seconds=definition.retry_base_seconds,
            max_seconds=definition.retry_max_seconds,
            rng=random.Random(seed),
        )
        limit = destination.max_batch
        self.batch = min(definition.batch_size or limit, limit)
        self.bucket = TokenBucket(definition.rate_limit, clock)
        self.blocked: set[str] = set()
        """Profiles with an open change: their later changes wait."""
        self.halted_until: datetime | None = None
        """Set when the destination is down: nothing more is sent in this pass."""
        self.send_table = table_sender(destination) if tables else None
        texts = getattr(destination, "change_texts", None)
        self.change_texts: Callable[[pa.Table], pa.Array] | None = (
            texts if self.send_table is not None and callable(texts) else None
        )
        """The destination's ``change_texts``, when batches go as tables (see ``Chunk.encode``)."""

    def _count_delivered(self, upserts: int, total: int) -> None:
        self.report.delivered += total
        self.report.upserts += upserts
        self.report.removes += total - upserts

    # -- rows (retries) ----------------------------------------------------------------------

    def _fail(
        self,
        item: Item,
        reason: str,
        retryable: bool,
        retry_after: float | None,
        wait: float | None = None,
    ) -> None:
        item.attempts += 1
        self.report.failures += 1
        if not retryable or self.policy.gives_up(item.attempts):
            item.status = "dead"
            item.reason = reason if not retryable else f"{reason} (gave up after {item.attempts})"
            item.next_attempt_at = None
            self.report.dead += 1
            return
        item.status = "pending"
        item.reason = reason
        if wait is None:
            wait = self.policy.delay(item.attempts, retry_after)
        item.next_attempt_at = self.clock.now() + timedelta(seconds=wait)
        self.blocked.add(item.profile_id)

    def _send_items(self, items: list[Item]) -> None:
        if self.halted_until is not None:
            for item in items:
                item.status, item.next_attempt_at = "pending", self.halted_until
                self.blocked.add(item.profile_id)
            return
        self.bucket.take()
        self.report.batches += 1
        try:
            outcome = self.destination.send([item.change() for item in items])
        except DeliveryError as exc:
            # the batch failed as one: it is retried as one, after one wait
            wait = self.policy.delay(max(i.attempts for i in items) + 1, exc.retry_after)
            for item in items:
                self._fail(item, exc.reason, exc.retryable, exc.retry_after, wait)
            if exc.retryable:
                self.halted_until = min(
                    (i.next_attempt_at for i in items if i.next_attempt_at is not None),
                    default=self.clock.now(),
                )
            self.report.errors.append(exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - a destination's own bug: retry, then dead-letter
            reason = f"{type(exc).__name__}: {exc}"
            wait = self.policy.delay(max(i.attempts for i in items) + 1)
            for item in items:
                self._fail(item, reason, True, None, wait)
            self.report.errors.append(reason)
            return
        now = self.clock.now()
        batch_id = uuid.uuid4().hex[:16]
        upserts = total = 0
        for item in items:
            failed = outcome.failed.get(item.change_id)
            if failed is not None:
                self._fail(item, failed.reason, failed.retryable, None)
                continue
            item.attempts += 1
            item.status, item.batch_id, item.delivered_at = "delivered", batch_id, now
            item.reason = item.next_attempt_at = None
            total += 1
            upserts += item.action == "upsert"
        self._count_delivered(upserts, total)

    def send_items(self, items: Sequence[Item]) -> None:
        """Send items in order: one change per profile per batch, none behind an open one."""
        rounds: list[list[Item]] = []
        depth: dict[str, int] = {}
        for item in items:
            if item.status != "pending":
                continue
            if item.profile_id in self.blocked:
                item.next_attempt_at = item.next_attempt_at or self.clock.now()
                continue
            level = depth.get(item.profile_id, 0)
            depth[item.profile_id] = level + 1
            if level == len(rounds):
                rounds.append([])
            rounds[level].append(item)
        for chosen in rounds:
            ready = []
            for item in chosen:
                if item.profile_id in self.blocked:
                    item.next_attempt_at = item.next_attempt_at or self.clock.now()
                else:
                    ready.append(item)
            for start in range(0, len(ready), self.batch):
                self._send_items(ready[start : start + self.batch])
            # a profile whose change did not go blocks its later changes in this chunk
            for item in ready:
                if item.status != "delivered":
                    self.blocked.add(item.profile_id)

    # -- a chunk (new changes) ---------------------------------------------------------------

    def send_chunk(self, chunk: Chunk) -> None:
        """Send a chunk's pending changes in order (the same rules as :meth:`send_items`)."""
        if not chunk.n:
            return
        blocked = np.zeros(len(chunk.profiles), dtype=bool)
        if self.blocked:
            known = pa.array(sorted(self.blocked), pa.string())
            blocked = pc.is_in(chunk.profiles, value_set=known).to_numpy(zero_copy_only=False)
        before = blocked.copy()
        now = micros(self.clock.now())
        waiting = np.flatnonzero((chunk.status == PENDING) & blocked[chunk.codes])
        chunk.waiting(waiting, now)
        for level, rows in enumerate(chunk.rounds(blocked)):
            if level:  # a profile whose earlier change did not go waits
                late = blocked[chunk.codes[rows]]
                chunk.waiting(rows[late], micros(self.clock.now()))
                rows = rows[~late]
            if not len(rows):
                continue
            table = chunk.part(rows)  # one take per round; each batch is a slice of it
            for start in range(0, len(rows), self.batch):
                part = table.slice(start, self.batch)
                self._send_rows(chunk, rows[start : start + self.batch], blocked, part)
            failed = rows[chunk.status[rows] != DELIVERED]
            blocked[chunk.codes[failed]] = True
        new = np.flatnonzero(blocked & ~before)
        if len(new):
            self.blocked.update(chunk.profiles.take(pa.array(new)).to_pylist())

    def _send_rows(
        self, chunk: Chunk, rows: np.ndarray, blocked: np.ndarray, part: pa.Table
    ) -> None:
        if self.halted_until is not None:
            chunk.status[rows] = PENDING
            chunk.next_attempt[rows] = micros(self.halted_until)
            blocked[chunk.codes[rows]] = True
            return
        self.bucket.take()
        self.report.batches += 1
        try:
            if self.send_table is not None:
                outcome = self.send_table(part)
            else:
                outcome = self.destination.send(changes_of(part))
        except DeliveryError as exc:
            wait = self.policy.delay(int(chunk.attempts[rows].max()) + 1, exc.retry_after)
            self._fail_rows(chunk, rows, exc.reason, exc.retryable, wait)
            if exc.retryable:
                due = chunk.next_attempt[rows]
                due = due[due >= 0]
                self.halted_until = _from_micros(int(due.min())) if len(due) else self.clock.now()
            self.report.errors.append(exc.reason)
            blocked[chunk.codes[rows[chunk.status[rows] == PENDING]]] = True
            return
        except Exception as exc:  # noqa: BLE001 - a destination's own bug: retry, then dead-letter
            reason = f"{type(exc).__name__}: {exc}"
            wait = self.policy.delay(int(chunk.attempts[rows].max()) + 1)
            self._fail_rows(chunk, rows, reason, True, wait)
            self.report.errors.append(reason)
            blocked[chunk.codes[rows[chunk.status[rows] == PENDING]]] = True
            return
        now = self.clock.now()
        batch_id = uuid.uuid4().hex[:16]
        good = rows
        if outcome.failed:
            ids = part.column("change_id").to_pylist()
            bad = np.array([i for i, c in enumerate(ids) if c in outcome.failed], dtype=np.int64)
            for position in bad:
                failed = outcome.failed[ids[position]]
                row = rows[position : position + 1]
                self._fail_rows(chunk, row, failed.reason, failed.retryable, None)
                if chunk.status[row[0]] == PENDING:
                    blocked[chunk.codes[row]] = True
            good = np.delete(rows, bad)
        chunk.delivered(good, batch_id, micros(now))
        self._count_delivered(int(chunk.upsert[good].sum()), len(good))

    def _fail_rows(
        self, chunk: Chunk, rows: np.ndarray, reason: str, retryable: bool, wait: float | None
    ) -> None:
        """Each row failed once: a dead letter, or pending after ``wait`` (per row if None)."""
        chunk.attempts[rows] += 1
        attempts = chunk.attempts[rows]
        self.report.failures += len(rows)
        dead = np.full(len(rows), not retryable) | (attempts >= self.policy.max_attempts)
        gone = rows[dead]
        chunk.status[gone] = DEAD
        chunk.next_attempt[gone] = -1
        if retryable:
            chunk.reason[gone] = [f"{reason} (gave up after {a})" for a in attempts[dead]]
        else:
            chunk.reason[gone] = reason
        self.report.dead += len(gone)
        alive = rows[~dead]
        if not len(alive):
            return
        chunk.status[alive] = PENDING
        chunk.reason[alive] = reason
        now = self.clock.now()
        if wait is None:
            chunk.next_attempt[alive] = [
                micros(now + timedelta(seconds=self.policy.delay(int(a))))
                for a in chunk.attempts[alive]
            ]
        else:
            chunk.next_attempt[alive] = micros(now + timedelta(seconds=wait))


def _from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)
