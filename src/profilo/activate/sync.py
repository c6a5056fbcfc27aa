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

A failure the destination calls retryable is retried after exponential backoff with full jitter
(at least its ``Retry-After``), until ``max_attempts`` tries; a permanent one (a 4xx) goes to the
dead letters at once with its reason. A whole batch failing retryably means the destination is
down: nothing more is sent to it in this pass, and what was not sent waits for the next.

Delivery is at least once: a sync killed between sending a batch and writing its outcome sends it
again, with the same change ids, which receivers use to drop repeats.
"""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa

from profilo.activate.consent import consent_decisions, consent_profiles_since
from profilo.activate.definitions import (
    StoredDestination,
    destination_credentials,
    get_destination,
    list_destinations,
    open_destination,
)
from profilo.activate.destinations.base import Change, DeliveryError, Destination
from profilo.activate.feeds import (
    TRAIT_SYNC,
    Planned,
    audience_members,
    changed_profiles,
    fingerprints,
    initial_changes,
    last_position,
    latest,
    member_pairs,
    membership_changes,
    read_cursors,
    write_cursor,
)
from profilo.activate.fields import gather_fields
from profilo.activate.outbox import (
    blocked_profiles,
    column,
    due_heads,
    next_due,
    next_seq,
    reset_in_flight,
    write_rows,
)
from profilo.activate.pacing import Clock, RetryPolicy, SystemClock, TokenBucket
from profilo.activate.secrets import Keyring
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


_NO_FIELDS: dict[str, Any] = {}


class _Item:
    """One change on its way (a delivery row in the making)."""

    batch_id: str | None = None
    delivered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    reason: str | None = None
    payload: str | None = None
    payload_print: str | None = None
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
        # Change is a frozen dataclass: filling its __dict__ skips the frozen __setattr__ of each
        # field, which costs more than the rest of a send at a million changes
        change = _new_change(Change)
        change.__dict__.update(
            change_id=self.change_id,
            profile_id=self.profile_id,
            action=self.action,
            audience=self.audience,
            fields=self.fields,
            identifiers=self.identifiers,
            occurred_at=self.occurred_at,
        )
        return change


_new_change = object.__new__


class _Pass:
    """One pass over one destination."""

    def __init__(self, store: Store, stored: StoredDestination, options: SyncOptions) -> None:
        self.store = store
        self.definition = stored.definition
        self.name = stored.definition.name
        self.options = options
        self.clock = options.clock
        import random

        self.policy = RetryPolicy(
            max_attempts=self.definition.max_attempts,
            base_seconds=self.definition.retry_base_seconds,
            max_seconds=self.definition.retry_max_seconds,
            rng=random.Random(options.seed),
        )
        credentials = destination_credentials(store, self.name, options.keyring)
        self.destination: Destination = open_destination(
            self.definition, credentials, allow_networks=options.allow_networks
        )
        limit = self.destination.max_batch
        self.batch = min(self.definition.batch_size or limit, limit)
        self.bucket = TokenBucket(self.definition.rate_limit, self.clock)
        self.report = SyncReport(destination=self.name)
        self.blocked: set[str] = set()
        self.halted_until: datetime | None = None
        self.seq = 0

    # -- sending ---------------------------------------------------------------------------

    def _fail(
        self,
        item: _Item,
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

    def _send(self, items: list[_Item]) -> None:
        if self.halted_until is not None:
            for item in items:
                item.status, item.next_attempt_at = "pending", self.halted_until
                self.blocked.add(item.profile_id)
            return
        self.bucket.take()
        self.report.batches += 1
        for item in items:
            item.status = "in_flight"
        try:
            outcome = self.destination.send([item.change() for item in items])
        except DeliveryError as exc:
            # the batch failed as one: it is retried as one, after one wait
            tries = max(i.attempts for i in items) + 1
            wait = self.policy.delay(tries, exc.retry_after)
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
        for item in items:
            failed = outcome.failed.get(item.change_id)
            if failed is not None:
                self._fail(item, failed.reason, failed.retryable, None)
                continue
            item.attempts += 1
            item.status, item.batch_id, item.delivered_at = "delivered", batch_id, now
            item.reason = item.next_attempt_at = None
            self.report.delivered += 1
            if item.action == "upsert":
                self.report.upserts += 1
            else:
                self.report.removes += 1

    def _deliver(self, items: list[_Item]) -> None:
        """Send items in order: one change per profile per batch, none behind an open one."""
        rounds: list[list[_Item]] = []
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
                self._send(ready[start : start + self.batch])
            # a profile whose change did not go blocks its later changes in this chunk
            for item in ready:
                if item.status != "delivered":
                    self.blocked.add(item.profile_id)

    # -- writing ---------------------------------------------------------------------------

    def _rows(self, items: Sequence[_Item], now: datetime) -> dict[str, list[Any]]:
        for item in items:
            if item.status == "in_flight":
                item.status = "pending"
        n = len(items)
        return {
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

    def _write(
        self,
        items: Sequence[_Item],
        *,
        replace: bool,
        holdings: bool = True,
        cursor: tuple[str, int | None, datetime | None] | None = None,
    ) -> None:
        now = self.clock.now()
        rows = self._rows(items, now)
        store = self.store
        with store.transaction():
            write_rows(store, rows, replace=replace)
            if holdings:
                self._hold(items, now)
            if cursor is not None:
                feed, position, watermark = cursor
                write_cursor(store, self.name, feed, position=position, watermark=watermark)

    def _hold(self, items: Sequence[_Item], now: datetime) -> None:
        """Record what the destination holds after these changes (as planned, not skipped)."""
        kept = [i for i in items if i.status != "skipped"]
        if not kept:
            return
        traits = self.definition.traits
        # the last change of each (audience, person) decides whether the destination holds it
        last = {(i.audience or TRAIT_SYNC, i.profile_id): i.action for i in kept}
        held = [k for k, action in last.items() if action == "upsert" and (k[0] or traits)]
        dropped = [k for k, action in last.items() if action == "remove"]
        name, ts = self.name, pa.timestamp("us", tz="UTC")
        keys = held + dropped
        match = pa.table(
            {
                "destination": column([name] * len(keys), pa.string()),
                "audience": pa.array([k[0] for k in keys], pa.string()),
                "profile_id": pa.array([k[1] for k in keys], pa.string()),
            }
        )
        data = pa.table(
            {
                "destination": column([name] * len(held), pa.string()),
                "audience": pa.array([k[0] for k in held], pa.string()),
                "profile_id": pa.array([k[1] for k in held], pa.string()),
                "added_at": column([now] * len(held), ts),
            }
        )
        self.store.replace_rows("destination_members", data, match=match)
        prints = {
            i.profile_id: i.payload_print
            for i in kept
            if i.action == "upsert" and i.payload_print is not None
        }
        if prints:
            data = pa.table(
                {
                    "destination": column([name] * len(prints), pa.string()),
                    "profile_id": pa.array(list(prints), pa.string()),
                    "fingerprint": pa.array(list(prints.values()), pa.string()),
                    "sent_at": column([now] * len(prints), ts),
                }
            )
            self.store.replace_rows(
                "destination_profiles", data, match=data.select(["destination", "profile_id"])
            )

    # -- the phases ------------------------------------------------------------------------

    def _consent(self, items: list[_Item], why_prefix: str = "") -> None:
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
                self.report.skipped += 1
                self.report.skip_reasons[why] = self.report.skip_reasons.get(why, 0) + 1

    def retry(self) -> None:
        tried: list[str] = []
        while True:
            rows = due_heads(
                self.store, self.name, self.clock.now(), limit=self.options.chunk, exclude=tried
            )
            if not rows:
                return
            items = [_Item(**{k: row[k] for k in _ROW_KEYS}) for row in rows]
            for item, row in zip(items, rows, strict=True):
                payload = row["payload"] or {}
                item.payload = json.dumps(payload, sort_keys=True)
                item.fields = payload.get("fields", {})
                item.identifiers = payload.get("identifiers", {})
                tried.append(item.change_id)
            self._consent(items, why_prefix="before retry: ")
            for item in items:
                self.blocked.discard(item.profile_id)  # each is the head of its profile
            self.report.retried += sum(1 for i in items if i.status == "pending")
            self._deliver(items)
            self._write(items, replace=True, holdings=False)
            if self.halted_until is not None:
                return

    def plan(self, planned: Planned, cursor: tuple[str, int | None, datetime | None]) -> None:
        """Check, gather, send and write one chunk of new changes."""
        now = self.clock.now()
        known = _known_ids(self.store, self.name, planned.change_id) if len(planned) else set()
        items: list[_Item] = []
        for i in range(len(planned)):
            if planned.change_id[i] in known:
                continue
            items.append(
                _Item(
                    change_id=planned.change_id[i],
                    profile_id=planned.profile_id[i],
                    action=planned.action[i],
                    audience=planned.audience[i],
                    occurred_at=planned.occurred_at[i],
                    seq=0,
                    attempts=0,
                    created_at=now,
                    status="pending",
                )
            )
        self._consent(items)
        ids = sorted({i.profile_id for i in items if i.status == "pending"})
        gathered = gather_fields(self.store, self.definition, ids)
        at = {pid: n for n, pid in enumerate(ids)}
        for item in items:
            item.seq = self.seq
            self.seq += 1
            n = at.get(item.profile_id)
            if n is None:  # skipped: keep no personal data beyond the id
                item.payload = None
                continue
            item.fields = gathered.fields[n] if item.action == "upsert" else {}
            item.identifiers = gathered.identifiers[n]
            item.payload = (
                gathered.payloads[n]
                if item.action == "upsert"
                else json.dumps({"fields": {}, "identifiers": item.identifiers}, sort_keys=True)
            )
            item.payload_print = gathered.fingerprints[n]
        self._deliver(items)
        self._write(items, replace=False, cursor=cursor)


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


def _known_ids(store: Store, destination: str, change_ids: list[str]) -> set[str]:
    table = store.table("deliveries")
    ids = store.temporary(pa.table({"change_id": pa.array(change_ids, pa.string())}))
    rows = store.to_arrow(
        table.filter(table.destination == destination)
        .semi_join(ids, "change_id")
        .select("change_id")
    )
    store.drop_temporaries()
    return set(rows.column(0).to_pylist())


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
    for planned in initial_changes(store, work.definition, now, chunk=work.options.chunk, tag=tag):
        work.plan(planned, ("snapshot", position, now))
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
        for planned in initial_changes(store, definition, now, chunk=chunk, tag="initial"):
            work.plan(planned, ("initial", None, now))
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
        work.plan(planned, ("memberships", position, None))
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
    work.plan(planned, ("consents", None, until))


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
        last_sent = fingerprints(store, definition.name, ids)
        current = gather_fields(store, definition, ids)
        planned = Planned.empty()
        for pid, print_ in zip(ids, current.fingerprints, strict=True):
            if last_sent.get(pid) != print_:
                planned.add(
                    f"{definition.name}:traits:{pid}:{print_}:{tag}", pid, "upsert", None, now
                )
        work.plan(planned, ("traits", None, until))


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
        work.blocked = blocked_profiles(store, name)
        work.retry()
        _new_changes(work)  # queued behind the retries when the destination is down
        while options.drain:
            due = next_due(store, name)
            if due is None:
                break
            wait = (due - options.clock.now()).total_seconds()
            options.clock.sleep(max(0.0, wait))
            work.halted_until = None
            work.blocked = blocked_profiles(store, name)
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
