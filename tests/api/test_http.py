"""The tracking API over HTTP: browsers, answers and limits, bad input, status while serving.

One DuckDB-backed server serves the whole module; sources are created while it runs, which also
proves that ``profilo`` commands work while the server holds the DuckDB file.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any

import httpx
import pytest

MiB = 1024 * 1024


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def message(i: int, **fields: Any) -> dict[str, Any]:
    out = {"type": "track", "event": "Viewed", "userId": f"u{i}", "messageId": f"http-{i}"}
    out.update(fields)
    return out


@pytest.fixture(scope="module")
def keys(shared_server: Any) -> dict[str, str]:
    server = shared_server
    return {
        "web": server.add_source("web", kind="web"),
        "slow": server.add_source("slow", kind="server", rate_limit=20),
    }


@pytest.fixture(scope="module")
def api(shared_server: Any) -> Any:
    with httpx.Client(base_url=shared_server.url, timeout=60) as client:
        yield client


def test_a_browser_request_text_plain_with_the_write_key_in_the_body(api: Any, keys: Any) -> None:
    preflight = api.options(
        "/v1/b",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization,x-retry-count",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "x-retry-count" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    body = {
        "writeKey": keys["web"],
        "sentAt": "2026-11-24T10:00:01.000Z",
        "batch": [
            {
                "type": "page",
                "anonymousId": "ajs-1",
                "messageId": "ajs-next-1-a",
                "timestamp": "2026-11-24T10:00:00.000Z",
                "properties": {"path": "/"},
                "context": {"library": {"name": "analytics.js", "version": "next-1.84.1"}},
                "_metadata": {"bundled": [], "unbundled": [], "retryCount": 0},
            },
        ],
    }
    answer = api.post(
        "/v1/b",
        content=json.dumps(body),
        headers={
            "Content-Type": "text/plain",
            "Origin": "https://shop.example",
            "X-Retry-Count": "0",
        },
    )
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert answer.headers["access-control-allow-origin"] == "*"
    single = api.post(
        "/v1/t",
        content=json.dumps(
            {
                "writeKey": keys["web"],
                "event": "Clicked",
                "anonymousId": "ajs-1",
                "messageId": "ajs-next-2-b",
                "sentAt": "2026-11-24T10:00:01Z",
            }
        ),
        headers={"Content-Type": "text/plain"},
    )
    assert single.json() == {"success": True}
    assert (
        api.post("/v1/m", content="{}", headers={"Content-Type": "text/plain"}).status_code == 200
    )


def test_gzip_and_deflate_bodies(api: Any, keys: Any) -> None:
    body = json.dumps({"batch": [message(1)]}).encode()
    zipped = api.post(
        "/v1/batch",
        content=gzip.compress(body),
        headers={**basic(keys["web"]), "Content-Encoding": "gzip"},
    )
    assert zipped.json() == {"success": True}
    deflated = api.post(
        "/v1/batch",
        content=zlib.compress(body),
        headers={**basic(keys["web"]), "Content-Encoding": "deflate"},
    )
    assert deflated.json() == {"success": True}


def test_a_partly_invalid_batch_stores_the_valid_and_reports_the_rest(api: Any, keys: Any) -> None:
    batch = [message(10), message(11, userId=None), message(12, event=None)]
    answer = api.post("/v1/batch", json={"batch": batch}, headers=basic(keys["web"]))
    assert answer.status_code == 200
    assert answer.json()["success"] is True
    assert [(q["index"], q["code"]) for q in answer.json()["quarantined"]] == [
        (1, "missing_id"),
        (2, "missing_event"),
    ]


def test_a_write_key_past_its_rate_limit_gets_429_with_retry_after(api: Any, keys: Any) -> None:
    answers = [
        api.post(
            "/v1/batch",
            json={"batch": [message(100 + i) for i in range(10)]},
            headers=basic(keys["slow"]),
        )
        for i in range(8)
    ]
    limited = [a for a in answers if a.status_code == 429]
    assert answers[0].status_code == 200 and limited
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["code"] == "rate_limited"
    # another key is not slowed down
    assert api.post("/v1/track", json=message(200), headers=basic(keys["web"])).status_code == 200


def _corpus(key: str) -> list[tuple[str, dict[str, Any], int, str]]:
    """(name, request kwargs, expected status, expected code)."""
    auth = basic(key)
    json_auth = {**auth, "Content-Type": "application/json"}
    big_message = message(300, properties={"blob": "x" * (32 * 1024)})
    return [
        ("invalid json", {"content": b"{nope", "headers": json_auth}, 400, "invalid_json"),
        (
            "wrong content type",
            {
                "content": b"a=1",
                "headers": {**auth, "Content-Type": "application/x-www-form-urlencoded"},
            },
            415,
            "unsupported_content_type",
        ),
        (
            "32 KB + 1 message",
            {"json": {"batch": [big_message]}, "headers": auth},
            200,
            "message_too_large",
        ),
        (
            "4 MiB + 1 body",
            {"content": b" " * (4 * MiB + 1), "headers": json_auth},
            413,
            "body_too_large",
        ),
        (
            "2,501 messages",
            {"json": {"batch": [message(i) for i in range(2501)]}, "headers": auth},
            400,
            "too_many_messages",
        ),
        (
            "gzip bomb",
            {
                "content": gzip.compress(b" " * (64 * MiB)),
                "headers": {**json_auth, "Content-Encoding": "gzip"},
            },
            413,
            "body_too_large",
        ),
        (
            "bad gzip",
            {"content": b"\x1f\x8bnope", "headers": {**json_auth, "Content-Encoding": "gzip"}},
            400,
            "invalid_encoding",
        ),
        (
            "deep nesting",
            {
                "content": b'{"batch": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
                "headers": json_auth,
            },
            400,
            "invalid_json",
        ),
        (
            "NaN",
            {
                "content": b'{"batch": [{"type": "track", "event": "e", "userId": "u",'
                b' "properties": {"v": NaN}}]}',
                "headers": json_auth,
            },
            200,
            "invalid_number",
        ),
        (
            "1e400",
            {
                "content": b'{"batch": [{"type": "track", "event": "e", "userId": "u",'
                b' "properties": {"v": 1e400}}]}',
                "headers": json_auth,
            },
            200,
            "invalid_number",
        ),
        (
            "lone surrogate",
            {
                "content": b'{"batch": [{"type": "track", "event": "\\ud800", "userId": "u"}]}',
                "headers": json_auth,
            },
            200,
            "invalid_string",
        ),
        (
            "NUL",
            {
                "content": b'{"batch": [{"type": "track", "event": "a\\u0000", "userId": "u"}]}',
                "headers": json_auth,
            },
            200,
            "invalid_character",
        ),
        (
            "missing ids",
            {"json": {"batch": [{"type": "track", "event": "e"}]}, "headers": auth},
            200,
            "missing_id",
        ),
        (
            "bad timestamp",
            {"json": {"batch": [message(301, timestamp="0000-00-00")]}, "headers": auth},
            200,
            "invalid_timestamp",
        ),
        (
            "year 9999",
            {"json": {"batch": [message(302, timestamp="9999-12-31T23:59:59Z")]}, "headers": auth},
            200,
            "invalid_timestamp",
        ),
        (
            "101-char messageId",
            {"json": {"batch": [message(303, messageId="m" * 101)]}, "headers": auth},
            200,
            "invalid_message_id",
        ),
        ("not an object", {"json": [1, 2, 3], "headers": auth}, 400, "invalid_body"),
        ("batch not a list", {"json": {"batch": {"a": 1}}, "headers": auth}, 400, "invalid_batch"),
        (
            "bad sentAt",
            {"json": {"batch": [message(306)], "sentAt": "soon"}, "headers": auth},
            200,
            "invalid_timestamp",
        ),
        (
            "wrong write key",
            {"json": {"batch": [message(304)]}, "headers": basic("nope")},
            401,
            "invalid_write_key",
        ),
        ("no write key", {"json": {"batch": [message(305)]}}, 401, "invalid_write_key"),
        (
            "broken basic auth",
            {"json": {"batch": []}, "headers": {"Authorization": "Basic %%%"}},
            401,
            "invalid_authorization",
        ),
        (
            "unknown encoding",
            {"content": b"{}", "headers": {**json_auth, "Content-Encoding": "br"}},
            415,
            "unsupported_encoding",
        ),
    ]


def test_bad_input_gets_clear_answers_and_never_a_5xx(
    api: Any, keys: Any, shared_server: Any
) -> None:
    pid = shared_server.process.pid
    for name, request, status, code in _corpus(keys["web"]):
        answer = api.post("/v1/batch", **request)
        assert answer.status_code == status, (name, answer.text[:300])
        body = answer.json()
        if status == 200:
            assert body["success"] is True, name
            assert [q["code"] for q in body["quarantined"]] == [code], name
        else:
            assert {"code", "message", "field"} <= set(body), name
            assert body["code"] == code, (name, body)
    assert api.post("/v1/nope", json={}).status_code == 404
    # the same process still answers
    assert api.get("/health").json() == {"status": "ok"}
    assert shared_server.process.pid == pid and shared_server.process.poll() is None


def test_status_keeps_working_while_the_server_holds_the_store(
    shared_server: Any, keys: Any
) -> None:
    shared_server.drain()
    status = shared_server.cli("status")
    web = status["sources"]["web"]
    assert web["events"] >= 5
    assert web["collect"]["quarantined"] >= 10
    assert status["server"]["worker_alive"] is True
    quarantined = shared_server.cli("quarantine", "list", "--source", "web")
    assert {row["reason"] for row in quarantined} >= {"missing_id", "message_too_large"}
    listed = {row["source"]: row for row in shared_server.admin("GET", "/sources")}
    assert listed["web"]["write_key"] == keys["web"]


def test_quarantine_is_fixed_and_replayed_through_the_server(shared_server: Any) -> None:
    shared_server.drain()
    rows = shared_server.admin("GET", "/quarantine", params={"reason": "missing_event"})
    target = next(r for r in rows if "http-12" in r["raw"])
    fixed = json.loads(target["raw"]) | {"event": "Viewed"}
    shared_server.admin("PUT", f"/quarantine/{target['quarantine_id']}", json={"raw": fixed})
    result = shared_server.cli("quarantine", "replay", target["quarantine_id"])
    assert (result["replayed"], result["stored"]) == (1, 1)


def test_webhook_sources(shared_server: Any, api: Any) -> None:
    mapping = {"event": "Ticket Created", "user_id": "requester.id", "properties": {"ticket": "id"}}
    key = shared_server.add_source("desk", kind="webhook", webhook=mapping)
    answer = api.post(f"/v1/webhooks/{key}", json={"id": 9, "requester": {"id": "c-9"}})
    assert answer.json() == {"success": True}
    anonymous = api.post(f"/v1/webhooks/{key}", json={"id": 10, "requester": {}})
    assert anonymous.json()["quarantined"][0]["code"] == "missing_id"
    assert api.post("/v1/webhook", json={}, headers=basic("x")).status_code == 401


def test_admin_calls_need_the_admin_token(api: Any, keys: Any) -> None:
    assert api.get("/admin/status", headers=basic(keys["web"])).status_code == 401
    assert api.get("/admin/status").status_code == 401
    refused = api.get("/admin/sources", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    assert "access-control-allow-origin" not in refused.headers


def test_health_readiness_and_metrics(api: Any) -> None:
    assert api.get("/ready").json()["status"] == "ready"
    metrics = api.get("/metrics").text
    for name in (
        "profilo_collect_received_total",
        "profilo_collect_quarantined_total",
        "profilo_collect_rejected_requests_total",
        "profilo_collect_request_seconds_bucket",
        "profilo_collect_stored_total",
        "profilo_collect_duplicates_total",
        "profilo_collect_spool_backlog_bytes",
    ):
        assert name in metrics, name
    assert 'reason="invalid_json"' in metrics


def test_a_dead_checker_process_is_replaced_and_nothing_is_refused(
    shared_server: Any, api: Any, keys: Any
) -> None:
    import os
    import signal
    import time

    big = {"batch": [message(400 + i, properties={"pad": "x" * 200}) for i in range(60)]}
    assert api.post("/v1/batch", json=big, headers=basic(keys["web"])).json() == {"success": True}
    pids = shared_server.admin("GET", "/status")["server"]["checker_pids"]
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGKILL)
    # checked in place while the checker is replaced
    for i in range(5):
        batch = {
            "batch": [message(500 + 100 * i + j, properties={"pad": "x" * 200}) for j in range(60)]
        }
        assert api.post("/v1/batch", json=batch, headers=basic(keys["web"])).status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server = shared_server.admin("GET", "/status")["server"]
        if server["checker_pids"] and server["checker_pids"] != pids:
            break
        api.post("/v1/batch", json=big, headers=basic(keys["web"]))
        time.sleep(0.5)
    assert server["checker_restarts"] >= 1 and server["checker_pids"] != pids
