"""The short way for batches: it stores exactly what the long way would, or steps aside."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.collect.test_tracking import _messages, _scalar, events_by_id, spool_frames, track

from profilo.collect.loader import Loader, read_frame
from profilo.collect.quarantine import list_quarantine
from profilo.collect.tracking import (
    Accepted,
    Limits,
    accept,
    may_hold_nul,
    parse_body,
    read_batch_short,
)
from profilo.store import Store

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
DEFAULT = Limits()


def long_way(data: bytes, limits: Limits = DEFAULT) -> Accepted:
    parsed, lenient = parse_body(data)
    return accept(
        "batch",
        parsed,
        source="web",
        received_at=NOW,
        limits=limits,
        lenient=lenient,
        has_nul=may_hold_nul(data),
        new_id=lambda: "generated",
    )


def short_way(data: bytes, limits: Limits = DEFAULT) -> Accepted | None:
    short = read_batch_short(data)
    if short is None:
        return None
    return short.accept(source="web", received_at=NOW, limits=limits)


def test_a_clients_batch_takes_the_short_way_and_frames_the_same_messages() -> None:
    body = {
        "batch": [track(i) for i in range(50)]
        + [
            {"type": "identify", "anonymousId": "a1", "messageId": "i1", "traits": {"x": 1}},
            {"type": "alias", "userId": "u1", "previousId": 7, "messageId": "a1"},
            {"type": "group", "userId": 3.5, "groupId": "g", "messageId": "g1"},
            {"type": "page", "userId": "u", "messageId": "p1", "context": {"ip": "1.2.3.4"}},
        ],
        "sentAt": "2026-11-24T09:59:59.500+00:00",
        "context": {"library": {"name": "analytics-python"}},
        "writeKey": "k",
    }
    body["batch"][0]["properties"]["name"] = "Zoé ✓"
    for data in (orjson.dumps(body), json.dumps(body, indent=1).encode()):
        short = read_batch_short(data)
        assert short is not None and short.write_key == "k"
        accepted = short.accept(source="web", received_at=NOW, limits=Limits())
        assert accepted is not None
        assert accepted.answer() == {"success": True}
        assert (accepted.received, accepted.accepted) == (54, 54)
        assert orjson.loads(accepted.payload) == orjson.loads(long_way(data).payload)


def test_anything_doubtful_takes_the_long_way() -> None:
    doubtful: list[Any] = [
        [track(1, messageId=None)],  # the long way fills it in
        [track(1, messageId="")],
        [track(1, userId=None)],  # quarantined: no id at all
        [track(1, event="  ")],
        [track(1, type="merge")],
        [track(1, timestamp="2026-11-24")],  # accepted, but not the usual shape
        [track(1, properties=[1])],
        [track(1, userId=True)],
        [track(1, properties={"big": "x" * 40_000})],  # over the message limit as sent
        [track(1, properties={"name": "\0"})],  # a NUL character
        [{"type": "alias", "userId": "u", "messageId": "a"}],
        [{"type": "group", "userId": "u", "messageId": "g", "groupId": ""}],
    ]
    for messages in doubtful:
        data = orjson.dumps({"batch": messages})
        assert short_way(data) is None, messages
    assert short_way(orjson.dumps({"batch": [track(1)], "sentAt": "yesterday"})) is None
    assert short_way(orjson.dumps({"batch": [track(1)], "context": "x"})) is None
    assert short_way(orjson.dumps([track(1)])) is None
    assert short_way(orjson.dumps({"batch": [track(1)]}).replace(b"Product", b"Pr\xffduct")) is None
    assert short_way(b'{"batch": [' + b"[" * 5000 + b"]" * 5000 + b"]}") is None
    many = orjson.dumps({"batch": [track(i) for i in range(3)]})
    assert short_way(many, Limits(max_batch_messages=2)) is None


# messages that are mostly valid, each with a field or two drawn from the general strategy
_likely = st.builds(
    lambda base, extra: {**base, **extra},
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["track", "identify", "page", "screen", "alias", "group"]),
            "userId": st.one_of(st.text(max_size=8), st.integers(), st.floats(-1e6, 1e6)),
            "messageId": st.text(min_size=1, max_size=100),
            "event": st.text(min_size=1, max_size=8),
            "previousId": st.text(max_size=3),
            "groupId": st.text(max_size=3),
            "timestamp": st.sampled_from(
                ["2026-11-24T10:00:00.000+00:00", "2026-11-24T10:00:00Z", ""]
            ),
        },
        optional={"properties": st.dictionaries(st.text(max_size=3), _scalar, max_size=3)},
    ),
    st.one_of(st.just({}), st.just({}), st.just({}), _messages),
)

_batches = st.fixed_dictionaries(
    {
        "batch": st.lists(
            st.one_of(_likely, _likely, _likely, _likely, _messages, _scalar), max_size=4
        )
    },
    optional={"sentAt": st.one_of(_scalar, st.just("2026-11-24T10:00:00.000+00:00"))},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_batches, indent=st.booleans(), ascii=st.booleans())
def test_the_short_way_stores_what_the_long_way_stores(
    body: dict[str, Any], indent: bool, ascii: bool
) -> None:
    data = json.dumps(body, indent=1 if indent else None, ensure_ascii=ascii).encode(
        "utf-8", "surrogatepass"
    )
    short = short_way(data)
    if short is None:
        return
    long = long_way(data)
    assert not long.quarantined
    assert (short.received, short.accepted) == (long.received, long.accepted)
    assert orjson.loads(short.payload) == orjson.loads(long.payload)


def test_a_number_json_parsers_refuse_is_quarantined_by_the_loader(
    store: Store, tmp_path: Path
) -> None:
    # the short way skips inside properties: 1e400 reaches the frame as sent
    data = b'{"batch": [%s, %s]}' % (
        orjson.dumps(track(1)),
        orjson.dumps(track(2)).replace(b'"i":2', b'"i":1e400'),
    )
    accepted = short_way(data)
    assert accepted is not None
    head = read_frame(accepted.payload)
    assert [m["messageId"] for m in head["m"]] == ["m1"]
    assert [q["r"] for q in head["q"]] == ["invalid_number"]
    spool_frames(tmp_path, accepted.payload)
    result = Loader(store, tmp_path).load_once()
    assert result is not None
    counts = result.sources["web"]
    assert (counts.received, counts.stored, counts.quarantined) == (2, 1, 1)
    assert sorted(events_by_id(store)) == ["m1"]
    assert [r["reason"] for r in list_quarantine(store, status=None)] == ["invalid_number"]
