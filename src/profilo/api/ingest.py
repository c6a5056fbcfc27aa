"""The Segment-compatible tracking endpoints (``/v1/…``): a thin edge over :mod:`profilo.collect`.

Each request is answered only once its messages are fsynced in the spool. The answers are those the
official clients expect: exactly ``200 {"success": true}``; errors as JSON with ``code``,
``message`` and ``field``; 400, 401, 413 and 415 for what retrying cannot fix; 429 and 503, with
``Retry-After``, for what it can. CORS allows any origin without credentials, and the headers
analytics.js sends (``Authorization``, ``X-Retry-Count``).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from profilo.api.checkers import CheckerUnavailable
from profilo.api.runtime import Runtime
from profilo.collect.sources import CollectSource
from profilo.collect.spool import SpoolError, pack
from profilo.collect.tracking import (
    BATCH_PATHS,
    EVENT_PATHS,
    Accepted,
    RequestRejected,
    accept,
    accept_messages,
    decode_body,
    may_hold_nul,
    parse_body,
    read_batch_short,
    write_key_from_header,
)
from profilo.collect.webhooks import webhook_messages

__all__ = ["CORS_HEADERS", "tracking_router"]

CORS_HEADERS = {"access-control-allow-origin": "*"}
_PREFLIGHT = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET, OPTIONS",
    "access-control-max-age": "86400",
}
_ALLOWED_HEADERS = "Content-Type, Authorization, X-Retry-Count, Content-Encoding, AnonymousId"
_OK = b'{"success":true}'
_JSON_TYPES = frozenset(("application/json", "text/plain", ""))


def _error_response(exc: RequestRejected) -> Response:
    headers = dict(CORS_HEADERS)
    if exc.retry_after is not None:
        headers["retry-after"] = str(exc.retry_after)
    return Response(
        orjson.dumps(exc.body()), exc.status, headers=headers, media_type="application/json"
    )


def _content_type_ok(value: str | None) -> bool:
    if not value:
        return True
    media = value.partition(";")[0].strip().lower()
    return media in _JSON_TYPES or media.endswith("+json")


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise RequestRejected(400, "invalid_length", "Content-Length is not a number", "body")
        if int(length) > limit:
            raise RequestRejected(413, "body_too_large", f"the body is over {limit} bytes", "body")
        return await request.body()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejected(413, "body_too_large", f"the body is over {limit} bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


def _unknown_key() -> RequestRejected:
    return RequestRejected(
        401, "invalid_write_key", "the write key is missing or unknown", "writeKey"
    )


async def _read_and_check_type(rt: Runtime, request: Request) -> bytes:
    content_type = request.headers.get("content-type")
    if not _content_type_ok(content_type):
        raise RequestRejected(
            415,
            "unsupported_content_type",
            f"Content-Type {content_type!r} is not accepted; send application/json or text/plain",
            "Content-Type",
        )
    return await _read_body(request, rt.limits.max_body_bytes)


async def _body_and_source(
    rt: Runtime, request: Request, body: bytes | None = None
) -> tuple[Any, bool, bytes, CollectSource]:
    """Read (unless given), inflate and parse a body, and find its source (by header, body or
    query)."""
    if body is None:
        body = await _read_and_check_type(rt, request)
    source = await _header_source(rt, request)
    data = decode_body(body, request.headers.get("content-encoding"), rt.limits)
    parsed, lenient = parse_body(data)
    if source is None:
        source = await _source_in_body(
            rt, request, parsed.get("writeKey") if isinstance(parsed, dict) else None
        )
    return parsed, lenient, data, source


async def _header_source(rt: Runtime, request: Request) -> CollectSource | None:
    """The source whose write key the ``Authorization`` header carries (None without one; 401
    for a key no source has)."""
    key = write_key_from_header(request.headers.get("authorization"))
    if not key:
        return None
    source = await rt.source_for(key)
    if source is None:
        raise _unknown_key()
    return source


async def _source_in_body(rt: Runtime, request: Request, in_body: Any) -> CollectSource:
    """The source of a request without a key in its header: ``writeKey`` in the body, else in
    the query (401 when neither names a source)."""
    key = in_body if isinstance(in_body, str) else request.query_params.get("writeKey")
    source = await rt.source_for(key)
    if source is None:
        raise _unknown_key()
    return source


def _check_capacity(rt: Runtime, source: CollectSource, messages: int) -> None:
    _check_rate(rt, source, messages)
    _check_backlog(rt)


def _check_rate(rt: Runtime, source: CollectSource, messages: int) -> None:
    wait = rt.limiter.take(source.write_key, rt.rate_for(source), messages)
    if wait:
        raise RequestRejected(
            429,
            "rate_limited",
            f"write key over its limit of {rt.rate_for(source):g} messages per second",
            "writeKey",
            retry_after=max(1, math.ceil(wait)),
        )


def _check_backlog(rt: Runtime) -> None:
    if rt.backlog_bytes() > rt.settings.spool_max_backlog_bytes:
        raise RequestRejected(
            503, "busy", "the server is storing a backlog; retry shortly", None, retry_after=5
        )


def _count(body: Any, path: str) -> int:
    if path in BATCH_PATHS and isinstance(body, dict):
        batch = body.get("batch")
        return len(batch) if isinstance(batch, list) else 1
    return 1


async def _spool(rt: Runtime, source: CollectSource, accepted: Accepted) -> Response:
    try:
        payload, compressed = accepted.payload, accepted.compressed
        if not compressed and rt.settings.spool_compression:
            payload, compressed = pack(payload)
        await rt.spool.append(payload, compressed=compressed)
    except SpoolError as exc:
        raise RequestRejected(
            503, "spool_unavailable", f"cannot store the request now: {exc}", None, retry_after=5
        ) from None
    metrics = rt.metrics
    metrics.count_received(source.source, accepted.received)
    for entry in accepted.quarantined:
        metrics.count_quarantined(source.source, entry["code"])
    if accepted.quarantined:
        return Response(
            orjson.dumps(accepted.answer()),
            200,
            headers=CORS_HEADERS,
            media_type="application/json",
        )
    return Response(_OK, 200, headers=CORS_HEADERS, media_type="application/json")


async def _accept_request(
    rt: Runtime, request: Request, path: str
) -> tuple[CollectSource, Accepted]:
    """Read, check and frame a request. The parsed body dies with this frame, before the wait
    for fsync: kept alive across that wait, thousands of objects per request would survive into
    the collector's older generations and make every full collection slow."""
    headers = request.headers
    body = await _read_and_check_type(rt, request)
    source = await _header_source(rt, request)
    if (
        rt.checkers is not None
        and source is not None
        and len(body) >= rt.settings.checker_min_bytes
    ):
        _check_backlog(rt)
        try:
            accepted = await rt.checkers.accept(
                path, body, headers.get("content-encoding"), source, datetime.now(UTC)
            )
        except CheckerUnavailable:
            pass  # checked in place below
        else:
            _check_rate(rt, source, accepted.received)
            return source, accepted
    data = decode_body(body, headers.get("content-encoding"), rt.limits)
    # a batch takes the short way when nothing in it is doubtful (see read_batch_short)
    short = read_batch_short(data) if path in BATCH_PATHS else None
    if short is not None:
        if source is None:
            source = await _source_in_body(rt, request, short.write_key)
        accepted_short = (
            short.accept(source=source.source, received_at=datetime.now(UTC), limits=rt.limits)
            if source.plan is None
            else None
        )
        if accepted_short is not None:
            _check_capacity(rt, source, accepted_short.received)
            return source, accepted_short
    parsed, lenient = parse_body(data)
    if source is None:
        source = await _source_in_body(
            rt, request, parsed.get("writeKey") if isinstance(parsed, dict) else None
        )
    _check_capacity(rt, source, _count(parsed, path))
    accepted = accept(
        path,
        parsed,
        source=source.source,
        received_at=datetime.now(UTC),
        limits=rt.limits,
        lenient=lenient,
        has_nul=may_hold_nul(data),
        plan=source.plan,
    )
    return source, accepted


def _tracking_endpoint(path: str) -> Any:
    endpoint = "batch" if path in BATCH_PATHS else "single"

    async def track(request: Request) -> Response:
        started = time.perf_counter()
        rt: Runtime = request.app.state.runtime
        try:
            if not rt.ready:
                raise RequestRejected(
                    503, "not_ready", "the server is starting", None, retry_after=1
                )
            source, accepted = await _accept_request(rt, request, path)
            response = await _spool(rt, source, accepted)
        except RequestRejected as exc:
            rt.metrics.count_rejected(exc.code)
            return _error_response(exc)
        rt.metrics.observe(endpoint, time.perf_counter() - started)
        return response

    track.__name__ = f"post_{path}"
    return track


_ERROR = {
    "type": "object",
    "required": ["success", "code", "message"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "code": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"]},
    },
}
_SUCCESS = {
    "type": "object",
    "required": ["success"],
    "properties": {"success": {"type": "boolean", "const": True}, "quarantined": {"type": "array"}},
}
_MESSAGE = {
    "type": "object",
    "properties": {
        "type": {
            "type": "string",
            "enum": ["identify", "track", "page", "screen", "group", "alias", "merge"],
        },
        "userId": {"type": ["string", "number", "null"]},
        "anonymousId": {"type": ["string", "number", "null"]},
        "messageId": {"type": "string", "maxLength": 100},
        "event": {"type": "string"},
        "name": {"type": "string"},
        "previousId": {"type": "string"},
        "groupId": {"type": "string"},
        "mergeProperties": {"type": "array", "items": {"type": "object"}},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
        "integrations": {"type": "object"},
        "writeKey": {"type": "string"},
    },
}
_BATCH = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE, "maxItems": 2500},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "integrations": {"type": "object"},
        "writeKey": {"type": "string"},
    },
}


def _responses(*codes: int) -> dict[str, Any]:
    text = {
        400: "The request cannot be read (invalid JSON, envelope, encoding); not retried.",
        401: "Missing or unknown write key; not retried.",
        413: "Body over 4 MiB (or inflating past 8 MiB); not retried.",
        415: "Unsupported Content-Type or Content-Encoding.",
        429: "Write key over its rate limit; retry after Retry-After seconds.",
        503: "Starting, or storing a backlog; retry after Retry-After seconds.",
    }
    out: dict[str, Any] = {
        "200": {
            "description": "Stored durably (invalid messages quarantined and listed).",
            "content": {"application/json": {"schema": _SUCCESS}},
        }
    }
    for code in codes:
        out[str(code)] = {
            "description": text[code],
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


def _openapi(schema: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "requestBody": {
            "required": True,
            "description": "JSON; also accepted as text/plain (what analytics.js sends), gzip or"
            " deflate encoded, with the write key in Basic auth or as `writeKey` in the body.",
            "content": {"application/json": {"schema": schema}},
        },
        "responses": _responses(400, 401, 413, 415, 429, 503),
        "security": [{"writeKey": []}],
    }


async def analytics_js_metrics() -> Response:
    """analytics.js reports its own metrics here; they are accepted and ignored."""
    return Response(_OK, 200, headers=CORS_HEADERS, media_type="application/json")


async def preflight(request: Request) -> Response:
    """CORS preflight: any origin, no credentials, the headers browsers' libraries send."""
    asked = request.headers.get("access-control-request-headers")
    return Response(
        status_code=204,
        headers={**_PREFLIGHT, "access-control-allow-headers": asked or _ALLOWED_HEADERS},
    )


async def _webhook(request: Request, write_key: str | None) -> Response:
    started = time.perf_counter()
    rt: Runtime = request.app.state.runtime
    try:
        if not rt.ready:
            raise RequestRejected(503, "not_ready", "the server is starting", None, retry_after=1)
        if write_key is not None:
            source = await rt.source_for(write_key)
            if source is None:
                raise _unknown_key()
            body = await _read_body(request, rt.limits.max_body_bytes)
            data = decode_body(body, request.headers.get("content-encoding"), rt.limits)
            parsed, lenient = parse_body(data)
        else:
            parsed, lenient, data, source = await _body_and_source(rt, request)
        if source.webhook is None:
            raise RequestRejected(
                400,
                "not_a_webhook_source",
                f"source {source.source!r} has no webhook mapping",
                "writeKey",
            )
        messages = webhook_messages(source.webhook, parsed, source=source.source)
        if len(messages) > rt.limits.max_batch_messages:
            raise RequestRejected(
                400, "too_many_messages", "the post maps to too many messages", "body"
            )
        _check_capacity(rt, source, len(messages))
        accepted = accept_messages(
            messages,
            {"S": None, "c": None, "i": None},
            source=source.source,
            received_at=datetime.now(UTC),
            limits=rt.limits,
            lenient=lenient,
            has_nul=may_hold_nul(data),
            plan=source.plan,
            origin="webhook",
        )
        response = await _spool(rt, source, accepted)
    except RequestRejected as exc:
        rt.metrics.count_rejected(exc.code)
        return _error_response(exc)
    rt.metrics.observe("webhook", time.perf_counter() - started)
    return response


_WEBHOOK_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {}}},
    },
    "responses": _responses(400, 401, 413, 415, 429, 503),
}


async def post_webhook_with_key(request: Request, write_key: str) -> Response:
    """Any JSON a tool posts, mapped to messages by the source's webhook mapping (key in the URL,
    for tools that cannot set headers)."""
    return await _webhook(request, write_key)


async def post_webhook(request: Request) -> Response:
    """Any JSON a tool posts, mapped to messages by the source's webhook mapping."""
    return await _webhook(request, None)


async def analytics_js_settings(request: Request, write_key: str) -> Response:
    """The settings analytics.js fetches at load, pointing it at this server."""
    rt: Runtime = request.app.state.runtime
    if await rt.source_for(write_key) is None:
        return _error_response(_unknown_key())
    host = request.headers.get("host", f"{rt.settings.host}:{rt.settings.port}")
    settings = {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": request.url.scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
            }
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
    }
    return Response(
        orjson.dumps(settings), 200, headers=CORS_HEADERS, media_type="application/json"
    )


async def _parse_only(request: Request) -> Response:
    """The benchmark's ceiling: read and parse the body, answer as the tracking API does."""
    orjson.loads(await request.body())
    return Response(_OK, 200, headers=CORS_HEADERS, media_type="application/json")


def tracking_router(*, ceiling_endpoint: bool = False) -> APIRouter:
    """The tracking API's routes; ``ceiling_endpoint`` adds ``POST /bench/parse`` right after
    ``/v1/batch`` (so both pay the same routing) for the throughput benchmark."""
    router = APIRouter()
    # batches first: the busiest route is matched first
    for path in BATCH_PATHS:
        router.add_api_route(
            f"/v1/{path}",
            _tracking_endpoint(path),
            methods=["POST"],
            tags=["tracking"],
            openapi_extra=_openapi(_BATCH, "Send up to 2,500 messages (Segment's batch API)"),
            include_in_schema=path != "b",
        )
        if path == "batch" and ceiling_endpoint:
            router.add_api_route(
                "/bench/parse", _parse_only, methods=["POST"], include_in_schema=False
            )
    for path, kind in EVENT_PATHS.items():
        router.add_api_route(
            f"/v1/{path}",
            _tracking_endpoint(path),
            methods=["POST"],
            tags=["tracking"],
            openapi_extra=_openapi(
                {**_MESSAGE, "required": []}, f"Send one {kind} message (Segment's HTTP API)"
            ),
            include_in_schema=len(path) > 1,
        )
    router.add_api_route("/v1/m", analytics_js_metrics, methods=["POST"], include_in_schema=False)
    for path in (*BATCH_PATHS, *EVENT_PATHS, "m", "webhook", "webhooks/{write_key}"):
        router.add_api_route(f"/v1/{path}", preflight, methods=["OPTIONS"], include_in_schema=False)
    router.add_api_route(
        "/v1/webhooks/{write_key}",
        post_webhook_with_key,
        methods=["POST"],
        tags=["webhooks"],
        openapi_extra=_WEBHOOK_DOC,
    )
    router.add_api_route(
        "/v1/webhook",
        post_webhook,
        methods=["POST"],
        tags=["webhooks"],
        openapi_extra={**_WEBHOOK_DOC, "security": [{"writeKey": []}]},
    )
    router.add_api_route(
        "/v1/projects/{write_key}/settings",
        analytics_js_settings,
        methods=["GET"],
        include_in_schema=False,
    )
    return router
