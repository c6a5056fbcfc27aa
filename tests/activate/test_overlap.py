"""A first sync's steps side by side: the next chunk prepared and the last one written on threads
of their own while a chunk is sent (``profilo.activate.overlap``).

The steps are plain functions here, except in the last tests, where whole passes over a store
run with and without the overlap and must deliver, log and hold the same; and a pass that dies
half-way must lose nothing and log each change once after the next pass.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.activate.conftest import (
    START,
    FakeClock,
    Receiver,
    add_people,
    enter,
    options,
    set_consent,
    webhook,
)
from tests.activate.test_consent_snapshot import CONSENTS, GRANTED

from profilo.activate.definitions import get_destination
from profilo.activate.feeds import initial_changes
from profilo.activate.overlap import ahead, overlapped
from profilo.activate.sync import _Pass, sync_destination
from profilo.store import Store


class Boom(Exception):
    pass


def _items(n: int, made: list[int], fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise Boom(f"cannot prepare {i}")
        made.append(i)
        yield i


def test_every_item_is_sent_then_written_once_in_order() -> None:
    made: list[int] = []
    sent: list[tuple[int, str]] = []
    written: list[tuple[int, str]] = []

    def send(item: int) -> int:
        sent.append((item, threading.current_thread().name))
        return item * 10

    def write(item: int) -> None:
        written.append((item, threading.current_thread().name))

    overlapped(_items(20, made), send, write)
    assert made == list(range(20))
    assert [i for i, _ in sent] == list(range(20))
    assert [i for i, _ in written] == [i * 10 for i in range(20)]
    # sending on the caller's thread, writing on another
    assert {name for _, name in sent} == {threading.current_thread().name}
    assert {name for _, name in written} == {"profilo-sync-write"}


def test_a_failure_to_prepare_is_raised_after_what_was_sent_is_written() -> None:
    made: list[int] = []
    written: list[int] = []
    with pytest.raises(Boom, match="cannot prepare 3"):
        overlapped(_items(10, made, fail_at=3), lambda i: i, written.append)
    assert written == [0, 1, 2]


def test_a_failure_to_write_stops_sending_and_writing() -> None:
    made: list[int] = []
    sent: list[int] = []
    written: list[int] = []
    wrote_once = threading.Event()

    def send(item: int) -> int:
        if item > 2:
            wrote_once.wait(5)  # the writer has failed by the time item 3 is sent
        sent.append(item)
        return item

    def write(item: int) -> None:
        if item == 2:
            wrote_once.set()
            raise Boom("disk full")
        written.append(item)

    with pytest.raises(Boom, match="disk full"):
        overlapped(_items(50, made), send, write)
    assert written == [0, 1]  # nothing after the failure is written
    assert len(sent) <= 4  # at most the item in hand when the failure came is still sent
    assert len(made) <= len(sent) + 2  # and preparing stopped too


def test_a_failure_to_send_stops_preparing_and_writes_what_was_sent() -> None:
    made: list[int] = []
    written: list[int] = []

    def send(item: int) -> int:
        if item == 4:
            raise Boom("destination code failed")
        return item

    with pytest.raises(Boom, match="destination code failed"):
        overlapped(_items(50, made), send, written.append)
    assert written == [0, 1, 2, 3]
    assert len(made) <= 6


def test_ahead_makes_one_item_ahead_and_stops_when_closed() -> None:
    made: list[int] = []
    items = ahead(_items(100, made), name="test-ahead")
    assert next(items) == 0
    assert next(items) == 1
    items.close()  # the thread stops after the item it is making
    assert len(made) <= 4
    with pytest.raises(StopIteration):
        next(items)


# -- whole passes ------------------------------------------------------------------------------


def _log(store: Store, name: str) -> list[tuple[Any, ...]]:
    table = store.table("deliveries")
    rows = store.to_arrow(table.filter(table.destination == name).order_by("seq")).to_pylist()
    return [
        (
            r["change_id"].split(":", 1)[1],
            r["seq"],
            r["profile_id"],
            r["action"],
            r["status"],
            r["reason"],
            json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"],
        )
        for r in rows
    ]


def _held(store: Store, name: str) -> list[tuple[str, str]]:
    table = store.table("destination_members")
    rows = store.to_arrow(table.filter(table.destination == name)).to_pylist()
    return sorted((r["audience"], r["profile_id"]) for r in rows)


def test_an_overlapped_first_sync_sends_logs_and_holds_as_one_chunk_after_another(
    store: Store, receiver: Receiver
) -> None:
    pids = add_people(store, 11, consents=lambda i: CONSENTS.get(i, GRANTED))
    enter(store, "vip", pids, "r1")
    enter(store, "lapsed", pids[3:9], "r2")
    for name in ("apart", "together"):
        webhook(
            store,
            receiver.url,
            None,
            name=name,
            audiences=["vip", "lapsed"],
            settings={"url": receiver.url, "max_batch": 2},
        )
    apart = sync_destination(store, "apart", options(FakeClock(), chunk=2, overlap=False))
    bodies_apart = [r.changes for r in receiver.received]
    receiver.received.clear()
    together = sync_destination(store, "together", options(FakeClock(), chunk=2))
    bodies_together = [r.changes for r in receiver.received]

    def same(batches: list[list[dict[str, Any]]], name: str) -> list[list[dict[str, Any]]]:
        return [
            [{**c, "change_id": c["change_id"].split(":", 1)[1]} for c in batch]
            for batch in batches
        ]

    assert same(bodies_together, "together") == same(bodies_apart, "apart")
    assert len([c for b in bodies_together for c in b]) == 11 + 6 - 3 - 2
    assert (together.delivered, together.skipped, together.skip_reasons, together.batches) == (
        apart.delivered,
        apart.skipped,
        apart.skip_reasons,
        apart.batches,
    )
    assert _log(store, "together") == _log(store, "apart")
    assert _held(store, "together") == _held(store, "apart")
    # nothing left over: a second pass sends nothing
    receiver.received.clear()
    again = sync_destination(store, "together", options(FakeClock(), chunk=2))
    assert (again.delivered, receiver.received) == (0, [])


class DyingClock(FakeClock):
    """A clock whose ``now`` fails after ``calls`` calls: the pass dies where it stands."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def now(self) -> datetime:
        self.calls -= 1
        if self.calls < 0:
            raise Boom("killed")
        return super().now()


def test_a_pass_that_dies_half_way_loses_nothing_and_logs_each_change_once(
    store: Store, receiver: Receiver
) -> None:
    pids = add_people(store, 12, consents=lambda i: CONSENTS.get(i, GRANTED))
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, None, settings={"url": receiver.url, "max_batch": 2})
    whole = [p for i, p in enumerate(pids) if i not in CONSENTS]
    # how many times a whole pass asks the clock, to die half-way through the same pass
    counting = DyingClock(10_000)
    webhook(store, receiver.url, None, name="count", settings={"url": receiver.url, "max_batch": 2})
    sync_destination(store, "count", options(counting, chunk=3))
    receiver.received.clear()
    with pytest.raises(Boom, match="killed"):
        sync_destination(
            store, "hook", options(DyingClock((10_000 - counting.calls) // 2), chunk=3)
        )
    first = [c["profile_id"] for c in receiver.changes]
    assert 0 < len(first) < len(whole)
    assert first == whole[: len(first)]  # in order, each once
    logged = _log(store, "hook")
    # what was written is whole chunks, each change once, and only changes that were sent
    assert len({row[0] for row in logged}) == len(logged)
    assert {row[2] for row in logged if row[4] == "delivered"} <= set(first)
    receiver.received.clear()
    report = sync_destination(store, "hook", options(FakeClock(), chunk=3))
    second = [c["profile_id"] for c in receiver.changes]
    # everything arrives (what was sent but not written again: at least once), in order
    assert sorted(set(first) | set(second)) == sorted(whole)
    assert second == [p for p in whole if p in set(second)]
    logged = _log(store, "hook")
    assert len({row[0] for row in logged}) == len(logged) == len(pids)
    assert sorted(row[2] for row in logged if row[4] == "delivered") == sorted(whole)
    assert report.pending == 0
    assert _held(store, "hook") == sorted(("vip", p) for p in whole)


def test_a_withdrawal_recorded_after_a_chunk_was_prepared_counts_before_it_is_sent(
    store: Store, receiver: Receiver
) -> None:
    pids = add_people(store, 6, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, None)
    stored = get_destination(store, "hook")
    work = _Pass(store, stored, options(FakeClock()))
    planned = next(initial_changes(store, stored.definition, START, chunk=10, tag="initial"))
    chunk = work.gather(work.check(store, planned, ahead=True))  # prepared ahead: all may go
    assert not chunk.skips
    set_consent(store, pids[2], "email_marketing", "denied", at=START + timedelta(hours=1))
    sent, _ = work.send(chunk)
    assert [c["profile_id"] for c in receiver.changes] == pids[:2] + pids[3:]
    assert work.report.skip_reasons == {"consent for email_marketing denied": 1}
    assert sent.payload[2].as_py() is None  # a skip keeps nothing but the id
    assert sent.payload[1].as_py() is not None
