"""A first sync of more than one chunk reads the audience's consents once (a snapshot).

The snapshot must decide exactly as the per-chunk query does, cover only the profiles it read
(anyone else is asked of the store), and stop being used as soon as a consent is recorded.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pyarrow as pa
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

from profilo.activate.consent import (
    consent_decisions,
    consent_mark,
    consent_snapshot,
    snapshot_decisions,
)
from profilo.activate.definitions import get_destination
from profilo.activate.feeds import initial_profiles
from profilo.activate.sync import sync_destination
from profilo.store import Store

GRANTED = {"email_marketing": "granted"}
CONSENTS = {1: {"email_marketing": "denied"}, 4: {}, 6: {"email_marketing": "denied"}}


def _log(store: Store, name: str) -> list[tuple[Any, ...]]:
    table = store.table("deliveries")
    rows = store.to_arrow(table.filter(table.destination == name).order_by("seq")).to_pylist()
    return [
        (
            r["change_id"].split(":", 1)[1],
            r["profile_id"],
            r["action"],
            r["status"],
            r["reason"],
            json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"],
        )
        for r in rows
    ]


def test_snapshot_decides_as_the_query(store: Store, receiver: Receiver) -> None:
    pids = add_people(store, 8, consents=lambda i: CONSENTS.get(i, GRANTED))
    enter(store, "vip", pids[:6], "r1")
    webhook(store, receiver.url, None)
    definition = get_destination(store, "hook").definition
    profiles = initial_profiles(store, definition)
    assert consent_snapshot(store, profiles, ["email_marketing"], more_than=6) is None
    snapshot = consent_snapshot(store, profiles, ["email_marketing"], more_than=5)
    assert snapshot is not None
    assert snapshot.mark == consent_mark(store)
    for strict in (True, False):
        ids = pa.array(list(reversed(pids[:6])))
        decided = snapshot_decisions(snapshot, ids, strict=strict)
        assert decided is not None
        asked = consent_decisions(store, ids, ["email_marketing"], strict=strict)
        assert [d.to_pylist() for d in decided] == [a.to_pylist() for a in asked]
    # profiles outside the audience it read: not covered, the store is asked instead
    assert snapshot_decisions(snapshot, pa.array(pids[5:7]), strict=True) is None
    set_consent(store, pids[0], "email_marketing", "denied", at=START + timedelta(hours=1))
    assert consent_mark(store) != snapshot.mark


def test_a_chunked_first_sync_skips_and_sends_as_one_chunk(
    store: Store, receiver: Receiver
) -> None:
    pids = add_people(store, 9, consents=lambda i: CONSENTS.get(i, GRANTED))
    enter(store, "vip", pids, "r1")
    webhook(store, receiver.url, None, name="whole")
    webhook(store, receiver.url, None, name="chunked")
    whole = sync_destination(store, "whole", options(FakeClock()))
    sent_whole = [c["profile_id"] for c in receiver.changes]
    receiver.received.clear()
    chunked = sync_destination(store, "chunked", options(FakeClock(), chunk=2))
    assert [c["profile_id"] for c in receiver.changes] == sent_whole
    assert len(sent_whole) == 6
    assert (chunked.delivered, chunked.skipped, chunked.skip_reasons) == (
        whole.delivered,
        whole.skipped,
        whole.skip_reasons,
    )
    assert chunked.skip_reasons == {
        "consent for email_marketing denied": 2,
        "no consent for email_marketing": 1,
    }
    assert _log(store, "chunked") == _log(store, "whole")
