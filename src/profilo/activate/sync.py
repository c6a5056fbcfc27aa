"""The sync engine: from segment entries and exits, consents and trait changes to destinations.

One pass over a destination (:func:`sync_destination`):

1. rows a dead sync left ``in_flight`` become ``pending`` again;
2. **retries**: pending changes that are due and are the oldest open change of their profile are
   sent again (consent is checked again first: a withdrawal turns a waiting upsert into a skip);
3. **new changes** from the feeds (:mod:`profilo.activate.feeds`), a chunk at a time: consent
   is checked for every upsert (a skip is logged with its reason, never sent), fields are
   gathered in bulk, and changes are sent in batches of ``batch_size`` through a token bucket;
   a profile with an undelivered change waits (its later changes are queued behind it), and a
   profile appears at most once per batch, so each person's changes arrive in order;
4. each chunk's outcome — delivery rows, what the destination now holds, the feed cursor — is
   written in one transaction.

A first sync (or a full snapshot) runs these steps side by side on threads of their own — the
next chunk checked and gathered, this one sent, the last one written (:mod:`.overlap`,
:attr:`SyncOptions.overlap`); chunks are still sent and written one after the other, in order.

A failure the destination calls retryable is retried after exponential backoff with full jitter
(at least its ``Retry-After``), until ``max_attempts`` tries; a permanent one (a 4xx) goes to the
dead letters at once with its reason. A whole batch failing retryably means the destination is
down: nothing more is sent to it in this pass, and what was not sent waits for the next.

Delivery is at least once: a sync killed between sending a batch and writing its outcome sends it
again, with the same change ids, which receivers use to drop repeats.
"""

from __future__ import annotations

import contextlib
import gc
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.activate.chunks import Chunk
from profilo.activate.consent import (
    ConsentSnapshot,
    consent_decisions,
    consent_mark,
    consent_profiles_since,
    consent_snapshot,
    snapshot_decisions,
)
from profilo.activate.definitions import (
    StoredDestination,
    destination_credentials,
    get_destination,
    list_destinations,
    open_destination,
)
from profilo.activate.feeds import (
    TRAIT_SYNC,
    Planned,
    audience_members,
    changed_profiles,
    initial_changes,
    initial_profiles,
    last_payloads,
    last_position,
    latest,
    member_pairs,
    membership_changes,
    read_cursors,
    write_cursor,
)
from profilo.activate.fields import (
    ProfileRows,
    fingerprint_of,
    gather_columns,
    profile_columns,
    read_profiles,
)
from profilo.activate.outbox import (
    blocked_profiles,
    due_heads,
    next_due,
    next_seq,
    reset_in_flight,
    write_rows,
)
from profilo.activate.overlap import ahead, overlapped
from profilo.activate.pacing import Clock, SystemClock
from profilo.activate.secrets import Keyring
from profilo.activate.sending import Item, Sender, SyncReport
from profilo.errors import ProfiloError
from profilo.store import Store

__all__ = ["SyncOptions", "SyncReport", "follow", "sync_all", "sync_destination"]


@dataclass
class SyncOptions:
    """How a pass runs: the clock, the operator's network allow list, keys, sizes."""

    clock: Clock = field(default_factory=SystemClock)
    keyring: Keyring | None = None
    allow_networks: tuple[str, ...] = ()
    chunk: int = 250_000
    """New changes planned, sent and written at a time."""
    drain: bool = False
    """Keep going (waiting through the clock) until nothing is pending, or only dead letters."""
    seed: int | None = None
    """Seed of the retry jitter (tests)."""
    tables: bool = True
    """Hand batches as Arrow tables to destinations that take them (``send_table``); False sends
    ``Change`` objects to every destination (the row path, for comparison)."""
    overlap: bool = True
    """A first sync (or a full snapshot) prepares the next chunk and writes the last one on
    threads of their own, each with its own connection, while a chunk is sent
    (:mod:`profilo.activate.overlap`); False does one chunk after the other."""


class _Pass:
    """One pass over one destination."""

    def __init__(self, store: Store, stored: StoredDestination, options: SyncOptions) -> None:
        self.store = store
        self.definition = stored.definition
        self.name = stored.definition.name
        self.options = options
        self.clock = options.clock
        credentials = destination_credentials(store, self.name, options.keyring)
        self.destination = open_destination(
            self.definition, credentials, allow_networks=options.allow_networks
        )
        self.report = SyncReport(destination=self.name)
        self.sender = Sender(
            self.destination,
            self.definition,
            self.clock,
            self.report,
            seed=options.seed,
            tables=options.tables,
        )
        self.seq = 0
        self.consents: ConsentSnapshot | None = None
        """The consents of a first sync's whole audience, read once (see :meth:`_decisions`)."""

    # -- writing ---------------------------------------------------------------------------

    def _write_items(self, items: Sequence[Item]) -> None:
        """Rewrite the delivery rows of retried items (one delete and one insert)."""
        now = self.clock.now()
        for item in items:
            if item.status == "in_flight":
                item.status = "pending"
        n = len(items)
        rows: dict[str, list[Any]] = {
            "destination": [self.name] * n,
            "change_id": [i.change_id for i in items],
            "seq": [i.seq for i in items],
            "profile_id": [i.profile_id for i in items],
            "action": [i.action for i in items],
            "audience": [i.audience for i in items],
            "payload": [i.payload for i in items],
            "status": [i.status for i in items],
            "attempts": [i.attempts for i in items],
            "next_attempt_at": [i.next_attempt_at for i in items],
            "reason": [i.reason for i in items],
            "batch_id": [i.batch_id for i in items],
            "occurred_at": [i.occurred_at for i in items],
            "created_at": [i.created_at for i in items],
            "updated_at": [now] * n,
            "delivered_at": [i.delivered_at for i in items],
        }
        with self.store.transaction():
            write_rows(self.store, rows, replace=True)

    def _write_chunk(
        self,
        store: Store,
        sent: tuple[Chunk, datetime],
        cursor: tuple[str, int | None, datetime | None],
    ) -> None:
        """A chunk's outcome in one transaction: its delivery rows (one bulk insert, each row
        written once, after sending, stamped with the time sending ended), what the destination
        now holds, and the feed's cursor."""
        chunk, now = sent
        name = self.name
        with store.transaction():
            if chunk.n:
                store.replace_rows("deliveries", chunk.deliveries(name, now))
                # a first sync's changes are each the first about its (audience, person): the
                # destination holds none of them yet, so there is nothing to replace
                self._hold(store, chunk, now, fresh=cursor[0] == "initial")
            feed, position, watermark = cursor
            write_cursor(store, name, feed, position=position, watermark=watermark)

    def _hold(self, store: Store, chunk: Chunk, now: datetime, *, fresh: bool) -> None:
        """Record what the destination holds after a chunk (as planned, skips aside)."""
        keys, members = chunk.holdings(traits=self.definition.traits)
        if keys.num_rows:
            store.replace_rows(
                "destination_members",
                _with(members, self.name, added_at=now),
                match=None if fresh else _with(keys, self.name),
            )

    # -- the phases ------------------------------------------------------------------------

    def _consent(self, items: list[Item], why_prefix: str = "") -> None:
        """Turn upserts of profiles without the consent the destination needs into skips."""
        upserts = [i for i in items if i.action == "upsert" and i.status == "pending"]
        if not upserts:
            return
        ids = sorted({i.profile_id for i in upserts})
        allowed, reason = consent_decisions(
            self.store,
            pa.array(ids, pa.string()),
            self.definition.purposes,
            strict=self.definition.strict,
        )
        refused = {
            pid: why
            for pid, ok, why in zip(ids, allowed.to_pylist(), reason.to_pylist(), strict=True)
            if not ok
        }
        for item in upserts:
            why = refused.get(item.profile_id)
            if why is not None:
                item.status, item.reason = "skipped", why_prefix + why
                item.next_attempt_at = None
                self._skipped({why: 1})

    def _decide(self, store: Store, chunk: Chunk, *, marked: bool) -> None:
        """Skip the chunk's upserts without consent: decided from the pass's snapshot while no
        consent was recorded since it was read and it covers them all, else by the store;
        ``marked`` keeps the state of the consent log they were decided at (see :meth:`send`)."""
        ids, codes = chunk.upsert_profiles()
        if not len(ids):
            return
        definition, snapshot = self.definition, self.consents
        mark = consent_mark(store) if marked or snapshot is not None else None
        decided = None
        if snapshot is not None and mark == snapshot.mark:
            decided = snapshot_decisions(snapshot, ids, strict=definition.strict)
        if decided is None:
            decided = consent_decisions(store, ids, definition.purposes, strict=definition.strict)
        chunk.consent_mark = mark
        chunk.skip(codes, *decided)

    def _decide_again(self, chunk: Chunk) -> None:
        """A chunk prepared ahead: if a consent was recorded since its consents were decided,
        decide again now, just before it is sent (a withdrawal counts at once; a new consent is
        the consent feed's, as always)."""
        if chunk.consent_mark is None or consent_mark(self.store) == chunk.consent_mark:
            return
        chunk.consent_mark = None
        self._decide(self.store, chunk, marked=False)

    def _skipped(self, reasons: dict[str, int]) -> None:
        for why, count in reasons.items():
            self.report.skipped += count
            self.report.skip_reasons[why] = self.report.skip_reasons.get(why, 0) + count

    def retry(self) -> None:
        """Send the pending changes that are due and head their profile's queue (row by row)."""
        tried: list[str] = []
        sender = self.sender
        while True:
            rows = due_heads(
                self.store, self.name, self.clock.now(), limit=self.options.chunk, exclude=tried
            )
            if not rows:
                return
            items = [Item(**{k: row[k] for k in _ROW_KEYS}) for row in rows]
            for item, row in zip(items, rows, strict=True):
                payload = row["payload"] or {}
                item.payload = json.dumps(payload, sort_keys=True)
                item.fields = payload.get("fields", {})
                item.identifiers = payload.get("identifiers", {})
                tried.append(item.change_id)
            self._consent(items, why_prefix="before retry: ")
            for item in items:
                sender.blocked.discard(item.profile_id)  # each is the head of its profile
            self.report.retried += sum(1 for i in items if i.status == "pending")
            sender.send_items(items)
            self._write_items(items)
            if sender.halted_until is not None:
                return

    def check(
        self, store: Store, planned: pa.Table, *, ahead: bool = False, known: bool = True
    ) -> _Checked:
        """One chunk of new changes, checked: those already in the outbox dropped (unless not
        ``known``: none can be), consent decided, and the rows of the fields and identifiers of
        the profiles to send read. It only reads, from ``store``; ``ahead``: on a thread of its
        own, before the chunk's turn to be sent (the consent log's state is kept, see
        :meth:`send`)."""
        if planned.num_rows and known:
            found = _known_ids(store, self.name, planned.column("change_id"))
            if found:
                planned = planned.filter(
                    pc.invert(pc.is_in(planned.column("change_id"), value_set=found))
                )
        chunk = Chunk(planned, first_seq=self.seq)
        self.seq += chunk.n
        if not chunk.n:
            return _Checked(chunk)
        self._decide(store, chunk, marked=ahead)
        ids, codes = chunk.sendable_profiles()
        return _Checked(chunk, codes, read_profiles(store, self.definition, ids))

    def gather(self, checked: _Checked) -> Chunk:
        """A checked chunk with the fields and identifiers of its profiles attached (and the
        texts of its changes, for a destination that makes them ahead): Arrow work only."""
        chunk = checked.chunk
        if checked.rows is not None and checked.codes is not None:
            encode = self.sender.change_texts
            columns = profile_columns(self.definition, checked.rows)
            chunk.attach(columns, checked.codes, texts=encode is not None)
            if encode is not None:
                chunk.encode(encode)
        return chunk

    def send(self, chunk: Chunk) -> tuple[Chunk, datetime]:
        """Send a prepared chunk (deciding its consents again if a consent was recorded since
        they were); returns it with the time sending ended, the time its outcome is written at."""
        self._decide_again(chunk)
        self._skipped(chunk.skips)
        if chunk.n:
            self.sender.send_chunk(chunk)
        chunk.changes = None  # sent: only its outcome is written (a chunk is large)
        return chunk, self.clock.now()

    def plan(self, planned: pa.Table, cursor: tuple[str, int | None, datetime | None]) -> None:
        """Check, gather, send and write one chunk of new changes, column-wise."""
        chunk = self.gather(self.check(self.store, planned))
        self._write_chunk(self.store, self.send(chunk), cursor)

    def plan_first(
        self,
        changes: Callable[[Store], Iterator[pa.Table]],
        cursor: tuple[str, int | None, datetime | None],
    ) -> None:
        """Every chunk of a first sync or a full snapshot (``changes`` reads them from the store
        it is given), after reading the consents of everyone it covers; overlapped (see
        :attr:`SyncOptions.overlap`) unless told otherwise."""
        if not self.options.overlap:
            self._read_consents(self.store)
            for planned in changes(self.store):
                self.plan(planned, cursor)
            self.consents = None
            return
        # a destination with nothing in the outbox yet: none of a first sync's chunks (each of
        # other profiles) can be there, and no chunk needs asking
        known = next_seq(self.store, self.name) > 1
        with self.store.sibling() as checker, self.store.sibling() as writer:

            def checked() -> Iterator[_Checked]:
                self._read_consents(checker)
                for planned in changes(checker):
                    yield self.check(checker, planned, ahead=True, known=known)

            def gathered() -> Iterator[Chunk]:
                with contextlib.closing(ahead(checked(), name="profilo-sync-check")) as chunks:
                    for chunk in chunks:
                        yield self.gather(chunk)

            try:
                overlapped(
                    gathered(), self.send, lambda sent: self._write_chunk(writer, sent, cursor)
                )
            finally:
                self.consents = None

    def _read_consents(self, store: Store) -> None:
        """Before a first sync (or a snapshot) of more than one chunk: the consents of everyone it
        covers, in one query rather than one per chunk (each of which reads every consent
        record)."""
        definition = self.definition
        if not definition.purposes:
            return
        profiles = initial_profiles(store, definition)
        self.consents = consent_snapshot(
            store, profiles, definition.purposes, more_than=self.options.chunk
        )


@dataclass
class _Checked:
    """A chunk checked (:meth:`_Pass.check`), with the codes of the profiles to send and what the
    store holds for them, on its way to :meth:`_Pass.gather`."""

    chunk: Chunk
    codes: np.ndarray | None = None
    rows: ProfileRows | None = None


def _with(table: pa.Table, destination: str, **stamps: datetime) -> pa.Table:
    """``table`` with the destination's name first and constant time columns after."""
    n = table.num_rows
    columns = {"destination": pa.repeat(pa.scalar(destination, pa.string()), n)}
    columns.update({c: table.column(c) for c in table.column_names})
    for name, at in stamps.items():
        columns[name] = pa.repeat(pa.scalar(at, pa.timestamp("us", tz="UTC")), n)
    return pa.table(columns)


_ROW_KEYS = (
    "change_id",
    "seq",
    "profile_id",
    "action",
    "audience",
    "attempts",
    "occurred_at",
    "created_at",
    "status",
)


def _known_ids(store: Store, destination: str, change_ids: Any) -> pa.Array | None:
    """Which of ``change_ids`` the outbox already has (None when none)."""
    table = store.table("deliveries")
    ids = store.temporary(pa.table({"change_id": change_ids}))
    low, high = pc.min_max(change_ids).values()
    rows = store.to_arrow(
        table.filter(
            table.destination == destination,
            table.change_id.between(low.as_py(), high.as_py()),  # zone maps skip the rest
        )
        .semi_join(ids, "change_id")
        .select("change_id")
    )
    store.drop_temporaries()
    return rows.column(0).combine_chunks() if rows.num_rows else None


def _snapshot(work: _Pass, cursors: dict[str, dict[str, Any]]) -> None:
    """Full mode (``snapshot`` destinations): everyone, again, whenever anything moved."""
    store, name = work.store, work.name
    position = last_position(store)
    consents_at = latest(store, "consents", "recorded_at")
    traits_at = _traits_latest(store)
    seen = cursors.get("snapshot")
    if seen is not None:
        moved = (
            position > int(seen["position"] or 0)
            or _later(consents_at, cursors.get("consents", {}).get("watermark"))
            or _later(traits_at, cursors.get("traits", {}).get("watermark"))
        )
        if not moved:
            return
    now = work.clock.now()
    tag = f"snapshot:{getattr(work.destination, 'run_id', None) or uuid.uuid4().hex}"
    definition, chunk = work.definition, work.options.chunk
    work.plan_first(
        lambda reader: initial_changes(reader, definition, now, chunk=chunk, tag=tag),
        ("snapshot", position, now),
    )
    with store.transaction():
        write_cursor(store, name, "snapshot", position=position, watermark=now)
        write_cursor(store, name, "consents", watermark=consents_at)
        write_cursor(store, name, "traits", watermark=traits_at)


def _later(value: datetime | None, than: datetime | None) -> bool:
    return value is not None and (than is None or value > than)


def _new_changes(work: _Pass) -> None:
    store, definition, name, chunk = work.store, work.definition, work.name, work.options.chunk
    cursors = read_cursors(store, name)
    if getattr(work.destination, "snapshot", False):
        _snapshot(work, cursors)
        return
    now = work.clock.now()
    if "memberships" not in cursors:
        position = last_position(store)
        consents_at = latest(store, "consents", "recorded_at")
        traits_at = _traits_latest(store)
        work.plan_first(
            lambda reader: initial_changes(reader, definition, now, chunk=chunk, tag="initial"),
            ("initial", None, now),
        )
        with store.transaction():
            write_cursor(store, name, "memberships", position=position)
            write_cursor(store, name, "consents", watermark=consents_at)
            write_cursor(store, name, "traits", watermark=traits_at)
        return
    position = int(cursors["memberships"]["position"] or 0)
    target = last_position(store)
    while definition.audiences and position < target:
        planned, last = membership_changes(store, definition, position, chunk=chunk)
        position = last if len(planned) or last > position else target
        work.plan(planned.table(), ("memberships", position, None))
        if not len(planned) and last == position:
            break
    if position < target:
        write_cursor(store, name, "memberships", position=target)
    _consent_changes(work, cursors.get("consents", {}).get("watermark"))
    _trait_changes(work, cursors.get("traits", {}).get("watermark"))


def _consent_changes(work: _Pass, since: datetime | None) -> None:
    store, definition = work.store, work.definition
    profiles, until = consent_profiles_since(store, since, definition.purposes)
    if not profiles:
        return
    tag = until.isoformat() if until else "none"
    allowed, _ = consent_decisions(
        store, pa.array(profiles, pa.string()), definition.purposes, strict=definition.strict
    )
    held = member_pairs(store, definition.name, profiles)
    inside = audience_members(store, definition.audiences, profiles)
    planned = Planned.empty()
    now = work.clock.now()
    for pid, ok in zip(profiles, allowed.to_pylist(), strict=True):
        mine = sorted(a for a, p in held if p == pid)
        if not ok:
            for audience in mine:
                label = audience or None
                planned.add(
                    f"{definition.name}:withdrawn:{audience}:{pid}:{tag}", pid, "remove", label, now
                )
            continue
        for audience in definition.audiences:
            if (audience, pid) in inside and audience not in mine:
                planned.add(
                    f"{definition.name}:granted:{audience}:{pid}:{tag}",
                    pid,
                    "upsert",
                    audience,
                    now,
                )
        if definition.traits and TRAIT_SYNC not in mine:
            planned.add(f"{definition.name}:granted::{pid}:{tag}", pid, "upsert", None, now)
    work.plan(planned.table(), ("consents", None, until))


def _traits_latest(store: Store) -> datetime | None:
    """The latest write to golden records or computed traits (the trait feed's watermark)."""
    until = latest(store, "profiles", "updated_at")
    computed = latest(store, "computed_traits", "computed_at")
    return computed if computed is not None and (until is None or computed > until) else until


def _trait_changes(work: _Pass, since: datetime | None) -> None:
    store, definition, chunk = work.store, work.definition, work.options.chunk
    until = _traits_latest(store)
    if until is None or (since is not None and until <= since):
        return
    profiles = changed_profiles(store, definition, since, until)
    tag = until.isoformat()
    now = work.clock.now()
    for start in range(0, max(len(profiles), 1), chunk):
        ids = profiles[start : start + chunk]
        last_sent = last_payloads(store, definition.name, ids)
        current = gather_columns(store, definition, pa.array(ids, pa.string()))
        planned = Planned.empty()
        for pid, payload in zip(ids, current.payload.to_pylist(), strict=True):
            if last_sent.get(pid) != json.loads(payload):  # the mapped values really changed
                print_ = fingerprint_of(payload)
                planned.add(
                    f"{definition.name}:traits:{pid}:{print_}:{tag}", pid, "upsert", None, now
                )
        work.plan(planned.table(), ("traits", None, until))


def sync_destination(store: Store, name: str, options: SyncOptions | None = None) -> SyncReport:
    """One pass for one destination (see the module's docstring); ``options.drain`` repeats it,
    waiting through the clock for retries, until nothing is pending."""
    options = options or SyncOptions()
    started = time.perf_counter()
    stored = get_destination(store, name)
    work = _Pass(store, stored, options)
    # a chunk holds hundreds of thousands of small objects that live until it is written: the
    # cyclic collector would scan them over and over for cycles they do not have
    collecting = gc.isenabled()
    gc.disable()
    try:
        reset_in_flight(store, name, options.clock.now())
        work.seq = next_seq(store, name)
        work.sender.blocked = blocked_profiles(store, name)
        work.retry()
        _new_changes(work)  # queued behind the retries when the destination is down
        while options.drain:
            due = next_due(store, name)
            if due is None:
                break
            wait = (due - options.clock.now()).total_seconds()
            options.clock.sleep(max(0.0, wait))
            work.sender.halted_until = None
            work.sender.blocked = blocked_profiles(store, name)
            work.retry()
            _new_changes(work)
    finally:
        work.destination.close()
        if collecting:
            gc.enable()
    store.upsert(
        "destinations",
        {**_destination_row(store, name), "last_sync_at": options.clock.now()},
        key=["name"],
    )
    report = work.report
    report.pending = _count_pending(store, name)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _count_pending(store: Store, name: str) -> int:
    table = store.table("deliveries")
    return int(
        store.scalar(
            table.filter(
                table.destination == name, table.status.isin(["pending", "in_flight"])
            ).count()
        )
    )


def _destination_row(store: Store, name: str) -> dict[str, Any]:
    table = store.table("destinations")
    row = store.to_arrow(table.filter(table.name == name).drop("workspace_id")).to_pylist()[0]
    return dict(row)


def sync_all(
    store: Store,
    names: Iterable[str] | None = None,
    options: SyncOptions | None = None,
    *,
    due_only: bool = False,
) -> list[SyncReport]:
    """A pass for each enabled destination (or the ones named); ``due_only`` follows schedules:
    ``realtime`` every time, ``every N`` when N has passed since the last sync, ``manual`` never.
    """
    options = options or SyncOptions()
    chosen = set(names) if names is not None else None
    reports = []
    now = options.clock.now()
    for stored in list_destinations(store):
        definition = stored.definition
        if chosen is not None and definition.name not in chosen:
            continue
        if chosen is None and not definition.enabled:
            continue
        if due_only:
            if definition.schedule == "manual":
                continue
            interval = definition.interval
            last = stored.last_sync_at
            if interval is not None and last is not None:
                if last.tzinfo is None:
                    last = last.replace(tzinfo=UTC)
                if (now - last).total_seconds() < interval:
                    continue
        try:
            reports.append(sync_destination(store, definition.name, options))
        except ProfiloError as exc:  # one broken destination does not stop the others
            reports.append(SyncReport(destination=definition.name, errors=[str(exc)]))
    return reports


def follow(
    store: Store,
    options: SyncOptions | None = None,
    *,
    names: Iterable[str] | None = None,
    every: float = 2.0,
    stop: Callable[[], bool] = lambda: False,
    on_report: Callable[[SyncReport], None] | None = None,
) -> None:
    """Sync near real time: a pass over every due destination every ``every`` seconds."""
    options = options or SyncOptions()
    while not stop():
        for report in sync_all(store, names, options, due_only=True):
            if on_report is not None:
                on_report(report)
        options.clock.sleep(every)
