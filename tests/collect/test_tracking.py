"""The tracking API's core without HTTP: request checks, plans, webhooks, loader, quarantine replay.

Loader and replay tests run on DuckDB and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profilo.collect.loader import Loader
from profilo.collect.messages import Rejection, check_message
from profilo.collect.plans import PlanChecker, parse_plan
from profilo.collect.quarantine import fix_quarantined, list_quarantine, replay_quarantined
from profilo.collect.sources import add_source, registry_rows, set_plan
from profilo.collect.spool import SpoolReader, SpoolWriter
from profilo.collect.stats import collect_counts
from profilo.collect.tracking import (
    Limits,
    RequestRejected,
    accept,
    decode_body,
    may_hold_nul,
    message_problem,
    parse_body,
    write_key_from_header,
)
from profilo.collect.webhooks import parse_webhook_mapping, webhook_messages
from profilo.errors import ConfigError
from profilo.store import Store

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def track(i: int, **fields: Any) -> dict[str, Any]:
    message = {
        "type": "track",
        "event": "Product Viewed",
        "userId": f"u{i}",
        "messageId": f"m{i}",
        "timestamp": "2026-11-24T09:59:59.000+00:00",
        "properties": {"i": i},
    }
    message.update(fields)
    return message


def frame_of(messages: list[Any], **kw: Any) -> bytes:
    return accept("batch", {"batch": messages, **kw}, source="web", received_at=NOW).payload


# -- request checks ------------------------------------------------------------------------------


def test_a_valid_batch_is_answered_exactly_success_true() -> None:
    accepted = accept("batch", {"batch": [track(1), track(2)]}, source="web", received_at=NOW)
    assert accepted.answer() == {"success": True}
    assert (accepted.received, accepted.accepted) == (2, 2)


def test_invalid_messages_are_quarantined_and_reported() -> None:
    messages = [
        track(1),
        track(2, userId=None, anonymousId=None),
        track(3, event=""),
        track(4, timestamp="2026-13-45T00:00:00Z"),
        {"type": "track", "event": "x", "userId": "u", "properties": {"blob": "z" * 33_000}},
        "not an object",
        track(7, messageId="m" * 101),
    ]
    accepted = accept("batch", {"batch": messages}, source="web", received_at=NOW)
    codes = [(q["index"], q["code"], q["field"]) for q in accepted.quarantined]
    assert codes == [
        (1, "missing_id", "userId"),
        (2, "missing_event", "event"),
        (3, "invalid_timestamp", "timestamp"),
        (4, "message_too_large", None),
        (5, "not_an_object", None),
        (6, "invalid_message_id", "messageId"),
    ]
    assert accepted.accepted == 1
    assert accepted.answer()["success"] is True


def test_large_batches_are_framed_whole_and_their_one_oversized_message_found() -> None:
    # valid messages are encoded a few dozen at a time: the frame must be the same as one by one
    messages = [track(i, properties={"i": i, "pad": "p" * (i * 7)}) for i in range(300)]
    accepted = accept("batch", {"batch": messages}, source="web", received_at=NOW)
    frame = orjson.loads(accepted.payload)
    assert accepted.quarantined == [] and frame["m"] == messages
    # one message over the limit among them (a chunk over the limit is looked at one by one)
    messages[200]["properties"]["blob"] = "z" * 33_000
    accepted = accept("batch", {"batch": messages}, source="web", received_at=NOW)
    assert [(q["index"], q["code"]) for q in accepted.quarantined] == [(200, "message_too_large")]
    assert [m["messageId"] for m in orjson.loads(accepted.payload)["m"]] == [
        f"m{i}" for i in range(300) if i != 200
    ]


def test_a_bad_batch_sent_at_quarantines_the_messages_that_take_it() -> None:
    own = track(2, sentAt="2026-11-24T10:00:00Z")
    accepted = accept(
        "batch", {"batch": [track(1), own], "sentAt": "yesterday"}, source="web", received_at=NOW
    )
    assert [(q["index"], q["code"], q["field"]) for q in accepted.quarantined] == [
        (0, "invalid_timestamp", "sentAt")
    ]
    raw = json.loads(orjson.loads(accepted.payload)["q"][0]["x"])
    assert raw["sentAt"] == "yesterday"  # the quarantined copy holds what to fix


def test_a_missing_message_id_is_generated() -> None:
    message = track(1)
    del message["messageId"]
    accept("batch", {"batch": [message]}, source="web", received_at=NOW)
    assert isinstance(message["messageId"], str) and len(message["messageId"]) == 36


def test_single_message_endpoints_take_the_type_from_the_path() -> None:
    accepted = accept("t", {"event": "Clicked", "anonymousId": "a1"}, source="web", received_at=NOW)
    frame = orjson.loads(accepted.payload)
    assert frame["m"][0]["type"] == "track"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ([1, 2], 400, "invalid_body", "body"),
        ({"batch": "nope"}, 400, "invalid_batch", "batch"),
        ({"batch": [{}] * 2501}, 400, "too_many_messages", "batch"),
        ({"batch": [], "context": []}, 400, "invalid_field", "context"),
    ],
)
def test_a_request_refused_as_a_whole_says_why(
    body: Any, status: int, code: str, field: str
) -> None:
    with pytest.raises(RequestRejected) as caught:
        accept("batch", body, source="web", received_at=NOW)
    assert (caught.value.status, caught.value.code, caught.value.field) == (status, code, field)
    assert set(caught.value.body()) == {"success", "code", "message", "field"}


def test_bodies_are_inflated_with_a_cap() -> None:
    limits = Limits(max_decoded_bytes=1000)
    assert decode_body(gzip.compress(b"{}"), "gzip", limits) == b"{}"
    with pytest.raises(RequestRejected) as bomb:
        decode_body(gzip.compress(b" " * 100_000), "gzip", limits)
    assert (bomb.value.status, bomb.value.code) == (413, "body_too_large")
    with pytest.raises(RequestRejected) as broken:
        decode_body(b"not gzip", "gzip", limits)
    assert broken.value.status == 400
    with pytest.raises(RequestRejected) as unknown:
        decode_body(b"{}", "br", limits)
    assert unknown.value.status == 415


def test_json_that_python_clients_send_for_nan_is_read_leniently() -> None:
    body, lenient = parse_body(
        b'{"batch": [{"type": "track", "event": "e", "userId": "u",'
        b' "properties": {"x": NaN}}, {"type": "track", "event": "e",'
        b' "userId": "u2", "properties": {"s": "\\ud800"}}, '
        b'{"type": "track", "event": "ok", "userId": "u3"}]}'
    )
    assert lenient
    accepted = accept("batch", body, source="web", received_at=NOW, lenient=True)
    assert [q["code"] for q in accepted.quarantined] == ["invalid_number", "invalid_string"]
    assert accepted.accepted == 1
    frame = orjson.loads(accepted.payload)  # the frame itself is valid JSON
    assert "NaN" in frame["q"][0]["x"]


@pytest.mark.parametrize("body", [b"{", b"[" * 5000 + b"]" * 5000, b"\xff\xfe", b""])
def test_unreadable_json_is_a_400(body: bytes) -> None:
    with pytest.raises(RequestRejected) as caught:
        parse_body(body)
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


def test_nul_characters_are_quarantined() -> None:
    body = b'{"batch": [{"type": "track", "event": "a\\u0000b", "userId": "u"}]}'
    parsed, _ = parse_body(body)
    accepted = accept("batch", parsed, source="web", received_at=NOW, has_nul=True)
    assert [q["code"] for q in accepted.quarantined] == ["invalid_character"]


def test_the_text_backslash_u0000_is_not_a_nul_character() -> None:
    # an escaped backslash then "u0000": a Windows path or a regex, not the NUL character
    body = b'{"batch": [{"type": "track", "event": "a\\\\u0000b", "userId": "u"}]}'
    assert may_hold_nul(body)
    parsed, _ = parse_body(body)
    accepted = accept("batch", parsed, source="web", received_at=NOW, has_nul=True)
    assert accepted.quarantined == [] and b'"a\\\\u0000b"' in accepted.payload
    assert not may_hold_nul(orjson.dumps({"batch": [track(1)]}))


def test_write_key_from_basic_auth() -> None:
    header = "Basic " + base64.b64encode(b"key123:").decode()
    assert write_key_from_header(header) == "key123"
    assert write_key_from_header("Bearer token") is None
    assert write_key_from_header(None) is None
    with pytest.raises(RequestRejected):
        write_key_from_header("Basic !!!")


# The API's fast check must agree with the loader's check_message on every message.
_scalar = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
_times = st.one_of(
    _scalar,
    st.sampled_from(
        [
            "2026-11-24T10:00:00Z",
            "2026-11-24T10:00:00.123+02:00",
            "2026-11-24Z10:00:00",
            "2026-11-24",
            "20261124T100000",
            "2026-02-30T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "2201-01-01T00:00:00Z",
            "2026-11-24T10:00:00z",
            "２０２６-11-24T10:00:00Z",
            "2026-11-24T25:00:00Z",
            "2026-W47-1",
        ]
    ),
)
_messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(
            st.sampled_from(["track", "identify", "page", "alias", "group"]), _scalar
        ),
        "userId": st.one_of(_scalar, st.text(min_size=999, max_size=1002)),
        "anonymousId": _scalar,
        "messageId": st.one_of(_scalar, st.text(min_size=99, max_size=101)),
        "event": st.one_of(_scalar, st.just("  ")),
        "previousId": _scalar,
        "groupId": _scalar,
        "properties": st.one_of(_scalar, st.just({})),
        "traits": st.one_of(_scalar, st.just({"a": 1})),
        "context": st.one_of(_scalar, st.just({})),
        "timestamp": _times,
        "originalTimestamp": _times,
        "sentAt": _times,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=st.one_of(_messages, _scalar))
def test_the_fast_check_agrees_with_check_message(message: Any) -> None:
    problem = message_problem(message)
    try:
        check_message(message, received_at=NOW, default_id=lambda: "id", correct_skew=True)
    except Rejection as rejection:
        assert problem is not None and problem[:2] == (rejection.reason, rejection.field)
    else:
        assert problem is None


# -- tracking plans and webhooks ----------------------------------------------------------------

PLAN = {
    "events": {
        "Order Completed": {
            "type": "object",
            "required": ["order_id", "revenue"],
            "properties": {"revenue": {"type": "number", "minimum": 0}},
        }
    },
    "identify": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}},
    "unknown_events": "quarantine",
}


def test_a_plan_quarantines_violations_and_unknown_events() -> None:
    check = PlanChecker(parse_plan(PLAN))
    good = track(1, event="Order Completed", properties={"order_id": "o1", "revenue": 3})
    assert check(good) is None
    bad = check(track(2, event="Order Completed", properties={"order_id": "o1", "revenue": -1}))
    assert bad is not None and bad[:2] == ("plan_violation", "properties.revenue")
    missing = check(track(3, event="Order Completed", properties={"revenue": 1}))
    assert missing is not None and missing[1] == "properties.order_id"
    assert check(track(4, event="Unplanned"))[:2] == ("unplanned_event", "event")  # type: ignore[index]
    rudder = {"type": "identify", "userId": "u", "context": {"traits": {"email": "nope"}}}
    assert check(rudder)[:2] == ("plan_violation", "context.traits.email")  # type: ignore[index]


def test_a_plan_in_flag_mode_stores_violations_in_context() -> None:
    check = PlanChecker(parse_plan({**PLAN, "on_violation": "flag", "unknown_events": "flag"}))
    message = track(1, event="Order Completed", properties={"revenue": "lots"})
    assert check(message) is None
    violations = message["context"]["protocols"]["violations"]
    assert {v["field"] for v in violations} == {"properties.order_id", "properties.revenue"}
    unknown = track(2, event="Other")
    assert check(unknown) is None
    assert unknown["context"]["protocols"]["violations"][0]["type"] == "unplanned_event"


def test_a_bad_plan_names_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"events\.x"):
        parse_plan({"events": {"x": {"type": "wat"}}})
    with pytest.raises(ConfigError, match="unknown_events"):
        parse_plan({"unknown_events": "sometimes"})


def test_webhook_posts_become_messages() -> None:
    mapping = parse_webhook_mapping(
        {
            "event": "Ticket Created",
            "items": "tickets",
            "user_id": "requester.id",
            "timestamp": "created_at",
            "properties": {"ticket_id": "id", "subject": "subject"},
            "traits": {"email": "requester.email"},
        }
    )
    body = {
        "tickets": [
            {
                "id": 7,
                "subject": "Help",
                "created_at": "2026-11-24T09:00:00Z",
                "requester": {"id": "c-1", "email": "a@b.c"},
            },
            {"id": 8, "subject": "Again", "requester": {}},
        ]
    }
    first, second = webhook_messages(mapping, body, source="desk")
    assert first["event"] == "Ticket Created" and first["userId"] == "c-1"
    assert first["properties"] == {"ticket_id": 7, "subject": "Help"}
    assert first["context"]["traits"] == {"email": "a@b.c"}
    assert message_problem(first) is None
    assert message_problem(second)[0] == "missing_id"  # type: ignore[index]
    # the same post twice gives the same ids: a redelivery is a duplicate, not a new event
    assert webhook_messages(mapping, body, source="desk")[0]["messageId"] == first["messageId"]
    with pytest.raises(ConfigError, match="user_id"):
        parse_webhook_mapping({"event": "x"})


# -- the loader on DuckDB and PostgreSQL -------------------------------------------------------


def spool_frames(directory: Path, *payloads: bytes) -> None:
    writer = SpoolWriter(directory)
    writer.open()

    async def write() -> None:
        for payload in payloads:
            await writer.append(payload)

    asyncio.run(write())
    writer.close()


def events_by_id(store: Store) -> dict[str, dict[str, Any]]:
    rows = store.to_arrow(store.table("events")).to_pylist()
    return {row["message_id"]: row for row in rows}


def test_the_loader_stores_each_message_once(store: Store, tmp_path: Path) -> None:
    first = frame_of([track(1), track(2), track(1)], sentAt="2026-11-24T09:59:59.500+00:00")
    retry = frame_of([track(2), track(3)])
    conflict = frame_of([track(3, properties={"i": "changed"}), track(4, userId=None)])
    spool_frames(tmp_path, first, retry, conflict)
    loader = Loader(store, tmp_path)
    result = loader.load_once()
    assert result is not None
    counts = result.sources["web"]
    assert (counts.received, counts.stored, counts.duplicates, counts.conflicts) == (7, 3, 3, 1)
    assert counts.quarantined == 1
    stored = events_by_id(store)
    assert sorted(stored) == ["m1", "m2", "m3"]
    assert json.loads(stored["m3"]["properties"]) == {"i": 3}  # the first copy is kept
    # clock skew: sent 0.5 s after the event by the device, received at NOW
    assert stored["m1"]["timestamp"] == NOW - timedelta(milliseconds=500)
    assert loader.load_once() is None
    assert collect_counts(store)["web"] == {
        "received": 7,
        "stored": 3,
        "duplicates": 3,
        "conflicts": 1,
        "quarantined": 1,
    }
    reasons = {r["reason"]: r["status"] for r in list_quarantine(store, status=None)}
    assert reasons == {"missing_id": "open", "conflicting_duplicate": "conflict"}


def test_a_restarted_loader_resumes_at_its_cursor(store: Store, tmp_path: Path) -> None:
    spool_frames(tmp_path, frame_of([track(1)]))
    Loader(store, tmp_path).load_once()
    spool_frames(tmp_path, frame_of([track(2)]))  # a new server start: a new segment
    again = Loader(store, tmp_path)  # a restart reads its cursor from the store
    result = again.load_once()
    assert result is not None and result.total().received == 1
    assert collect_counts(store)["web"]["duplicates"] == 0
    assert sorted(events_by_id(store)) == ["m1", "m2"]


class DurabilityRecorder:
    """The store, with a record of when it was made durable and which segments existed then."""

    def __init__(self, store: Store, spool: Path) -> None:
        self._store = store
        self._spool = spool
        self.durable_with_segments: list[list[str]] = []

    def make_durable(self) -> None:
        self.durable_with_segments.append(sorted(p.name for p in self._spool.glob("seg-*")))
        self._store.make_durable()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_segments_are_deleted_only_after_the_store_is_durable(store: Store, tmp_path: Path) -> None:
    spool_frames(tmp_path, frame_of([track(1)]))
    spool_frames(tmp_path, frame_of([track(2)]))
    recorder = DurabilityRecorder(store, tmp_path)
    loader = Loader(recorder, tmp_path)  # type: ignore[arg-type]
    loader.drain()
    before = sorted(p.name for p in tmp_path.glob("seg-*"))
    removed = loader.release()
    assert removed and recorder.durable_with_segments == [before]
    assert len(list(tmp_path.glob("seg-*"))) == 1  # the live segment stays
    if store.engine == "duckdb":
        wal = Path(str(store.url.path) + ".wal")
        assert not wal.exists() or wal.stat().st_size == 0  # the checkpoint emptied the WAL


@pytest.mark.postgres
def test_postgres_commits_are_synchronous_even_if_the_server_default_is_not(
    pg_schema: str,
) -> None:
    from profilo.store import open_store

    store = open_store(pg_schema, migrate=True)
    store._engine.execute("SET synchronous_commit = off")
    store.require_durable_commits()
    settings = store.durability()
    assert settings["synchronous_commit"] == "on"
    assert settings["fsync"] == "on"
    store.close()


def test_quarantined_messages_are_fixed_and_replayed(store: Store, tmp_path: Path) -> None:
    add_source(store, "web", kind="web")
    set_plan(store, "web", PLAN)
    plan = PlanChecker(parse_plan(PLAN))
    bad = track(1, event="Order Completed", properties={"order_id": "o1"})
    payload = accept(
        "batch", {"batch": [bad, track(2, event="Nope")]}, source="web", received_at=NOW, plan=plan
    ).payload
    spool_frames(tmp_path, payload)
    Loader(store, tmp_path).load_once()
    rows = {r["reason"]: r for r in list_quarantine(store)}
    assert set(rows) == {"plan_violation", "unplanned_event"}
    fixed = json.loads(rows["plan_violation"]["raw"])
    fixed["properties"]["revenue"] = 12.5
    fix_quarantined(store, rows["plan_violation"]["quarantine_id"], fixed)
    result = replay_quarantined(store)
    assert (result["replayed"], result["stored"], result["still_invalid"]) == (1, 1, 1)
    assert result["reasons"] == {"unplanned_event": 1}
    assert list(events_by_id(store)) == ["m1"]
    statuses = sorted(r["status"] for r in list_quarantine(store, status=None))
    assert statuses == ["open", "replayed"]
    # replaying again stores nothing more
    assert replay_quarantined(store)["stored"] == 0
    assert collect_counts(store)["web"]["stored"] == 1


def test_sources_have_their_own_write_keys(store: Store) -> None:
    web = add_source(store, "web", kind="web")
    app = add_source(store, "app", kind="app", party="first", rate_limit=50)
    assert web["write_key"] != app["write_key"]
    assert add_source(store, "web", kind="web")["write_key"] == web["write_key"]
    rotated = add_source(store, "web", kind="web", rotate_key=True)
    assert rotated["write_key"] != web["write_key"]
    with pytest.raises(ConfigError, match="source kind"):
        add_source(store, "x", kind="telepathy")
    with pytest.raises(ConfigError, match="exists with other settings"):
        add_source(store, "app", kind="web")
    keys = {row["source"]: row for row in registry_rows(store)}
    assert keys["app"]["rate_limit"] == 50


def test_spool_reader_sees_what_accept_framed(tmp_path: Path) -> None:
    spool_frames(tmp_path, frame_of([track(1)]))
    frame = orjson.loads(next(SpoolReader(tmp_path).iter_all()).payload)
    assert frame["s"] == "web" and frame["m"][0]["messageId"] == "m1"
