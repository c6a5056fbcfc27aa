"""The sync engine against a real HTTP server on loopback, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pyarrow as pa
from tests.activate.conftest import (
    FakeClock,
    Receiver,
    add_people,
    enter,
    leave,
    options,
    set_consent,
    webhook,
)

from profilo.activate.outbox import delivery_counts, delivery_log, list_dead, replay_dead
from profilo.activate.secrets import Keyring
from profilo.activate.sync import follow, sync_all, sync_destination
from profilo.store import Store

GRANTED = {"email_marketing": "granted"}


def _order(receiver: Receiver) -> dict[str, list[tuple[str, str | None]]]:
    seen: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for change in receiver.changes:
        seen[change["profile_id"]].append((change["type"], change["audience"]))
    return seen


def test_audience_reaches_the_webhook_signed_with_fields(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 12, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring)
    report = sync_destination(store, "hook", options(clock, keyring))
    assert report.delivered == 12 and report.skipped == 0 and report.pending == 0
    assert report.batches == 3  # max_batch 5
    assert receiver.all_signed()
    first = next(c for c in receiver.changes if c["profile_id"] == pids[1])
    assert first["type"] == "upsert" and first["audience"] == "vip"
    assert first["fields"] == {"first_name": "Name1", "city": "Lyon"}
    assert first["identifiers"] == {"email": [f"{pids[1]}@example.com"]}
    # a second pass finds nothing new: nothing is sent twice
    again = sync_destination(store, "hook", options(clock, keyring))
    assert again.delivered == 0 and len(receiver.changes) == 12


def test_down_then_back_delivers_everything_once_in_order(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 8, consents=lambda i: GRANTED)
    webhook(store, receiver.url, keyring)
    sync_destination(store, "hook", options(clock, keyring))  # starts following: nobody yet
    port = receiver.port
    receiver.stop()  # the destination goes down
    enter(store, "vip", pids, "r1")
    down = sync_destination(store, "hook", options(clock, keyring))
    assert down.delivered == 0 and down.pending == 8 and down.errors
    leave(store, "vip", pids[:3], "r2")  # these exits wait behind the entries
    clock.advance(3600)
    still = sync_destination(store, "hook", options(clock, keyring))
    assert still.delivered == 0 and still.pending == 11
    back = Receiver(port=port).start()  # the destination comes back on the same address
    try:
        clock.advance(3600)
        done = sync_destination(store, "hook", options(clock, keyring, drain=True))
        assert done.pending == 0 and done.dead == 0
        ids = [c["change_id"] for c in back.changes]
        assert len(ids) == len(set(ids)) == 11  # every change, once
        order = _order(back)
        for pid in pids[:3]:
            assert order[pid] == [("upsert", "vip"), ("remove", "vip")]
        for pid in pids[3:]:
            assert order[pid] == [("upsert", "vip")]
    finally:
        back.stop()
    assert delivery_counts(store, "hook") == {"hook": {"delivered": 11}}


def test_429_and_500_are_retried_with_backoff(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 3, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring)
    receiver.script = [(429, {"Retry-After": "30"}), (500, {}), (503, {})]
    report = sync_destination(store, "hook", options(clock, keyring, drain=True))
    assert receiver.answered == [429, 500, 503, 200]
    assert report.delivered == 3 and report.failures == 9 and report.pending == 0
    # the first wait honours Retry-After; later ones stay under the capped exponential ceiling
    assert clock.sleeps[0] >= 30
    assert all(0 <= s <= 60 for s in clock.sleeps[1:])
    row = delivery_log(store, pids[0])[0]
    assert row["status"] == "delivered" and row["attempts"] == 4


def test_permanent_failure_is_a_dead_letter_then_replayed(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 4, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring)
    receiver.default = 401
    report = sync_destination(store, "hook", options(clock, keyring, drain=True))
    assert report.dead == 4 and report.delivered == 0 and receiver.answered == [401]
    dead = list_dead(store, "hook")
    assert [d["reason"] for d in dead] == ["HTTP 401"] * 4
    assert dead[0]["payload"]["fields"]["first_name"] == "Name0"
    receiver.default = 200  # the credentials are fixed
    assert replay_dead(store, "hook", clock.now()) == {"replayed": 4, "superseded": 0}
    again = sync_destination(store, "hook", options(clock, keyring))
    assert again.delivered == 4 and len(receiver.changes) == 4
    assert list_dead(store, "hook") == []


def test_retries_give_up_after_max_attempts(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 2, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring, max_attempts=3)
    receiver.default = 502
    report = sync_destination(store, "hook", options(clock, keyring, drain=True))
    assert report.dead == 2 and receiver.answered == [502, 502, 502]
    assert list_dead(store, "hook")[0]["reason"] == "HTTP 502 (gave up after 3)"


def test_no_consent_is_never_sent_and_the_skip_is_logged(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    consents = {0: GRANTED, 1: {"email_marketing": "denied"}, 2: {}}
    pids = add_people(store, 3, consents=lambda i: consents[i])
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring)  # email marketing: strict by default
    report = sync_destination(store, "hook", options(clock, keyring))
    assert {c["profile_id"] for c in receiver.changes} == {pids[0]}
    assert report.skipped == 2
    assert delivery_log(store, pids[1])[0]["reason"] == "consent for email_marketing denied"
    skipped = delivery_log(store, f"email:{pids[2]}@example.com")[0]
    assert skipped["status"] == "skipped" and skipped["reason"] == "no consent for email_marketing"
    assert skipped["payload"] is None  # nothing about the person is kept for a skip
    leave(store, "vip", pids, "r2")  # never sent: no remove either
    sync_destination(store, "hook", options(clock, keyring))
    assert [c["profile_id"] for c in receiver.changes if c["type"] == "remove"] == [pids[0]]


def test_lenient_mode_sends_without_a_record_but_not_after_a_denial(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    consents = {0: {}, 1: {"analytics": "denied"}}
    pids = add_people(store, 2, consents=lambda i: consents[i])
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring, purposes=["analytics"])  # analytics: lenient by default
    sync_destination(store, "hook", options(clock, keyring))
    assert [c["profile_id"] for c in receiver.changes] == [pids[0]]


def test_withdrawal_stops_sends_and_removes_from_audiences(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 3, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    enter(store, "lapsed", pids[:1], "r2")
    webhook(store, receiver.url, keyring, audiences=["vip", "lapsed"])
    sync_destination(store, "hook", options(clock, keyring))
    assert len(receiver.changes) == 4
    set_consent(store, pids[0], "email_marketing", "denied", at=clock.now())
    clock.advance(10)
    sync_destination(store, "hook", options(clock, keyring))
    removes = [(c["profile_id"], c["audience"]) for c in receiver.changes[4:]]
    assert sorted(removes) == [(pids[0], "lapsed"), (pids[0], "vip")]
    assert all(c["type"] == "remove" for c in receiver.changes[4:])
    enter(store, "newcomers", pids[:1], "r3")
    leave(store, "vip", pids[1:2], "r4")
    enter(store, "vip", pids[1:2], "r5")
    sync_destination(store, "hook", options(clock, keyring))
    assert pids[0] not in {c["profile_id"] for c in receiver.changes[6:]}
    # consent given again: the person is added back to the audiences they are in
    set_consent(store, pids[0], "email_marketing", "granted", at=clock.now() + timedelta(seconds=5))
    clock.advance(10)
    sync_destination(store, "hook", options(clock, keyring))
    back = [(c["type"], c["audience"]) for c in receiver.changes if c["profile_id"] == pids[0]]
    assert sorted(back[-2:]) == [("upsert", "lapsed"), ("upsert", "vip")]


def test_leaving_the_segment_sends_a_remove_with_identifiers(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 2, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring)
    sync_destination(store, "hook", options(clock, keyring))
    leave(store, "vip", pids[:1], "r2")
    report = sync_destination(store, "hook", options(clock, keyring))
    assert report.removes == 1
    last = receiver.changes[-1]
    assert last["type"] == "remove" and last["profile_id"] == pids[0]
    assert last["identifiers"] == {"email": [f"{pids[0]}@example.com"]}
    log = delivery_log(store, pids[0], statuses=["delivered"])
    assert [row["action"] for row in log] == ["remove", "upsert"]


def test_trait_changes_are_sent_once(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 3, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring)
    sync_destination(store, "hook", options(clock, keyring))
    later = clock.now() + timedelta(minutes=5)
    for pid, city in ((pids[0], "Nantes"), (pids[1], "Lyon")):  # pids[1] already lives in Lyon
        match = pa.table({"profile_id": [pid], "trait": ["city"]})
        row = {
            "profile_id": pid,
            "trait": "city",
            "value": city,
            "source": "crm",
            "record_key": pid,
            "observed_at": later,
            "rule": "most_recent",
            "candidates": 1,
            "conflict": False,
        }
        store.replace_rows("profile_traits", pa.Table.from_pylist([row]), match=match)
        profiles = store.table("profiles")
        head = store.to_arrow(profiles.filter(profiles.profile_id == pid))
        head = head.drop_columns(["workspace_id"]).set_column(
            6, "updated_at", pa.array([later], pa.timestamp("us", tz="UTC"))
        )
        store.replace_rows("profiles", head, match=pa.table({"profile_id": [pid]}))
    report = sync_destination(store, "hook", options(clock, keyring))
    assert report.upserts == 1
    change = receiver.changes[-1]
    assert change["profile_id"] == pids[0] and change["audience"] is None
    assert change["fields"] == {"first_name": "Name0", "city": "Nantes"}
    assert sync_destination(store, "hook", options(clock, keyring)).delivered == 0


def test_the_rate_limit_spaces_requests(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 20, consents=lambda i: GRANTED)
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, keyring, rate_limit=2)  # 2 requests/s, 4 batches of 5
    report = sync_destination(store, "hook", options(clock, keyring))
    assert report.batches == 4 and report.delivered == 20
    assert sum(clock.sleeps) >= 0.99  # two requests at once, then one every half second


def test_schedules_and_the_follow_loop(
    store: Store, receiver: Receiver, clock: FakeClock, keyring: Keyring
) -> None:
    pids = add_people(store, 4, consents=lambda i: GRANTED)
    webhook(store, receiver.url, keyring, name="live")
    webhook(store, receiver.url, keyring, name="hourly", schedule="every 1h")
    webhook(store, receiver.url, keyring, name="by_hand", schedule="manual")
    opts = options(clock, keyring)
    assert [r.destination for r in sync_all(store, options=opts, due_only=True)] == [
        "hourly",
        "live",
    ]
    enter(store, "vip", pids, "r1")
    passes: list[str] = []
    follow(
        store,
        opts,
        every=2.0,
        stop=lambda: len(passes) >= 3,
        on_report=lambda r: passes.append(r.destination),
    )
    # two seconds apart: the real-time one every pass, the hourly one not yet
    assert passes == ["live", "live", "live"] and clock.sleeps[-3:] == [2.0, 2.0, 2.0]
    clock.advance(3600)
    assert [r.destination for r in sync_all(store, options=opts, due_only=True)] == [
        "hourly",
        "live",
    ]
    by_destination = defaultdict(int)
    for received in receiver.received:
        for change in received.changes:
            by_destination[change["change_id"].split(":")[0]] += 1
    assert dict(by_destination) == {"live": 4, "hourly": 4}
    assert sync_all(store, ["by_hand"], opts)[0].delivered == 4  # named: runs whatever its schedule
