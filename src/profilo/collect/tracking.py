"""The Segment-compatible tracking API's core: one HTTP request in, one spool frame and an answer out.

Nothing here knows about the web framework: :func:`decode_body`, :func:`parse_body`,
:func:`write_key_from_header` and :func:`accept` take bytes and plain values, so the rules can be
tested without a server and the HTTP edge stays thin.

What a request becomes
    Each message is checked as :func:`profilo.collect.messages.check_message` would check it (the
    same reasons and fields; a property test holds the two together), plus the size limit, the
    source's tracking plan and characters no store can keep. Valid messages go into the frame as
    sent; invalid ones go into the same frame as quarantine entries, with the batch's ``sentAt``,
    ``context`` and ``integrations`` already merged in so a fixed copy can be replayed. The
    answer lists the quarantined ones; the loader stores both kinds.

Faults of the request as a whole are :class:`RequestRejected` with the HTTP status the official
clients react to correctly: 400, 401 and 413 make them drop the batch (retrying cannot help), 429
and 503 make them retry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import orjson

from profilo.collect.messages import MAX_MESSAGE_BYTES, MAX_MESSAGE_ID, MESSAGE_TYPES
from profilo.errors import ProfiloError

__all__ = [
    "BATCH_PATHS",
    "EVENT_PATHS",
    "Accepted",
    "Limits",
    "PlanCheck",
    "RequestRejected",
    "ShortBatch",
    "accept",
    "accept_body",
    "apply_batch_fields",
    "as_received",
    "decode_body",
    "fingerprint",
    "may_hold_nul",
    "message_problem",
    "parse_body",
    "read_batch_short",
    "write_key_from_header",
]

EVENT_PATHS: dict[str, str] = {
    "identify": "identify",
    "track": "track",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
    "merge": "merge",  # RudderStack's identity merge (mergeProperties)
    # analytics.js posts single events to the first letter of their type
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
"""Path (after ``/v1/``) of each single-message endpoint, and the message type it implies."""

BATCH_PATHS = ("batch", "import", "b")
"""Batch endpoints: Segment's ``batch`` and ``import``, and analytics.js's batching ``b``."""

_TYPES = frozenset(MESSAGE_TYPES)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_TIME_FIELDS = ("timestamp", "originalTimestamp", "sentAt")
_NUL = b"\\u0000"
# a \u0000 escape, not an escaped backslash followed by the text "u0000"
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True)
class Limits:
    """Size limits of the tracking API (Segment's per-message limit, RudderStack's body size)."""

    max_body_bytes: int = 4 * 1024 * 1024
    """A request body as received (RudderStack's client sends batches of up to 4 MiB)."""
    max_decoded_bytes: int = 8 * 1024 * 1024
    """A gzip or deflate body once inflated (a cap, so a small bomb cannot fill memory)."""
    max_message_bytes: int = MAX_MESSAGE_BYTES
    """One message, as compact JSON (Segment: 32 KB); larger ones are quarantined."""
    max_batch_messages: int = 2500
    """Messages in one batch (Segment's limit); more is refused with 400."""


class RequestRejected(ProfiloError):
    """A request refused as a whole; ``status`` is the HTTP status to answer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON error body every client can read: ``code``, ``message`` and ``field``."""
        return {"success": False, "code": self.code, "message": self.message, "field": self.field}


PlanCheck = Callable[[dict[str, Any]], tuple[str, str | None, str] | None]
"""A source's tracking plan as a check: None (keep the message as it now is, perhaps flagged) or
the (reason, field, detail) to quarantine it with."""


@dataclass
class Accepted:
    """What :func:`accept` made of a request."""

    payload: bytes
    """The spool frame's payload."""
    received: int
    accepted: int
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    """One entry per quarantined message: its index, messageId, code, field and message."""
    compressed: bool = False
    """The payload is packed for the spool already (see :func:`profilo.collect.spool.pack`)."""

    def answer(self) -> dict[str, Any]:
        """The 200 answer: exactly ``{"success": true}`` unless messages were quarantined."""
        if not self.quarantined:
            return {"success": True}
        return {"success": True, "quarantined": self.quarantined}


# -- decoding ---------------------------------------------------------------------------------


def decode_body(body: bytes, encoding: str | None, limits: Limits) -> bytes:
    """Inflate a gzip or deflate body, refusing to inflate past ``limits.max_decoded_bytes``."""
    if not encoding:
        return body
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return body
    if name in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif name == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise RequestRejected(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none",
            "Content-Encoding",
        )
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limits.max_decoded_bytes + 1)
        if len(data) <= limits.max_decoded_bytes and not inflater.unconsumed_tail:
            data += inflater.flush()
    except zlib.error as exc:
        raise RequestRejected(
            400, "invalid_encoding", f"the body is not valid {name} data: {exc}", "body"
        ) from None
    if len(data) > limits.max_decoded_bytes or inflater.unconsumed_tail:
        raise RequestRejected(
            413,
            "body_too_large",
            f"the body inflates to more than {limits.max_decoded_bytes} bytes",
            "body",
        )
    if not inflater.eof:
        raise RequestRejected(400, "invalid_encoding", f"the {name} data is truncated", "body")
    return data


class _BadNumber:
    """Stands for NaN, Infinity or an overflowing number, which JSON does not allow."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float_or_bad(text: str) -> float | _BadNumber:
    value = float(text)
    return value if math.isfinite(value) else _BadNumber(text)


def parse_body(data: bytes) -> tuple[Any, bool]:
    """Parse a JSON body; the bool says it was read leniently.

    Strict JSON goes through orjson. A body orjson refuses is tried once more with Python's
    parser, which reads ``NaN``, ``Infinity``, overflowing numbers and lone surrogates (what
    Python's ``json.dumps`` writes for such values, so what the official Python clients send):
    the messages holding them are then quarantined one by one instead of losing the whole batch.
    """
    try:
        return orjson.loads(data), False
    except orjson.JSONDecodeError as first:
        try:
            value = json.loads(
                data.decode("utf-8"),
                parse_constant=_BadNumber,
                parse_float=_float_or_bad,
            )
        except (ValueError, RecursionError):
            raise RequestRejected(
                400, "invalid_json", f"the body is not valid JSON: {first}", "body"
            ) from None
        return value, True


def may_hold_nul(data: bytes) -> bool:
    """Whether a JSON body may hold a ``\\u0000`` escape (the NUL character, which PostgreSQL
    cannot store), so that its messages need looking at one by one.

    An escape starts with a backslash, and most bodies hold none: one ``memchr`` answers for
    them, where searching for the whole escape reads the body at a fraction of that speed.
    """
    return b"\\" in data and _NUL in data


def write_key_from_header(authorization: str | None) -> str | None:
    """The write key in an ``Authorization: Basic base64(key:)`` header (None for other schemes)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None  # Segment's OAuth sends a Bearer token and the write key in the body
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise RequestRejected(
            401,
            "invalid_authorization",
            "the Basic credentials are not valid base64",
            "Authorization",
        ) from None
    return decoded.partition(":")[0]


# -- checking ---------------------------------------------------------------------------------


def _id_problem(value: Any, name: str) -> tuple[str, str | None, str] | bool | None:
    """False when absent, None when fine, a problem otherwise (as ``messages._id_text``)."""
    if value is None or value == "":
        return False
    kind = value.__class__
    if kind is str:
        if len(value) > 1000:
            return ("invalid_id", name, f"{name} is longer than 1000 characters")
        return None
    if kind is int or kind is float:
        return None
    return ("invalid_id", name, f"{name} must be a string or a number")


def _time_problem(value: Any, name: str) -> tuple[str, str | None, str] | None:
    if value is None or (value.__class__ is str and _usual_time(value)):
        return None  # the usual time, which the slow path would read too
    return _time_problem_slowly(value, name)


def _time_problem_slowly(value: Any, name: str) -> tuple[str, str | None, str] | None:
    """Exactly :func:`profilo.collect.messages.parse_time`'s rules."""
    if value.__class__ is not str or not _ISO.match(value):
        return ("invalid_timestamp", name, f"{name} {value!r} is not an ISO 8601 time")
    try:
        parsed = _fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return ("invalid_timestamp", name, f"{name} {value!r} is not an ISO 8601 time")
    if not 1900 <= parsed.year <= 2200:
        return ("invalid_timestamp", name, f"{name} {value!r} is out of range")
    return None


_fromisoformat = datetime.fromisoformat


def _usual_time(value: str) -> bool:
    """Whether a time is the usual ``2026-11-24T10:00:00.000+00:00`` (or empty) and fine: read
    as it is, with the dashes and no 'Z' as separator, and in range. Any other string may still
    be fine: :func:`_time_problem` decides."""
    if value == "":
        return True
    if len(value) <= 10 or value[4] != "-" or value[7] != "-" or value[10] in "Zz":
        return False
    try:
        year = _fromisoformat(value).year
    except ValueError:
        return False
    return 1900 <= year <= 2200


_Problem = tuple[str, str | None, str]
_NOT_OBJECT: _Problem = ("not_an_object", None, "a message must be a JSON object")
_MISSING_ID: _Problem = ("missing_id", "userId", "a message needs userId or anonymousId")
_BAD_MESSAGE_ID: _Problem = (
    "invalid_message_id",
    "messageId",
    f"messageId must be a string of at most {MAX_MESSAGE_ID} characters",
)
_MISSING_EVENT: _Problem = ("missing_event", "event", "a track message needs an event name")
_NOT_PROPERTIES: _Problem = ("invalid_field", "properties", "properties must be an object")
_NOT_TRAITS: _Problem = ("invalid_field", "traits", "traits must be an object")
_NOT_CONTEXT: _Problem = ("invalid_field", "context", "context must be an object")


def message_problem(message: Any) -> _Problem | None:
    """Why a message breaks the spec (reason, field, detail), or None; never raises.

    The same rules, in the same order, as :func:`profilo.collect.messages.check_message`, written
    for speed (the API runs it on every message before answering, and it is most of what the API
    adds to reading the body): the usual values are tested inline, each with as few operations as
    it takes, and the helpers only run when something looks unusual.
    """
    if message.__class__ is not dict:
        return _NOT_OBJECT
    get = message.get
    kind = get("type")
    if kind.__class__ is not str or kind not in _TYPES:
        return ("invalid_type", "type", f"type {kind!r} is not one of {', '.join(MESSAGE_TYPES)}")
    user = get("userId")
    if user.__class__ is str:
        if len(user) > 1000:
            return ("invalid_id", "userId", "userId is longer than 1000 characters")
        has_user = user != ""
    elif user is None:
        has_user = False
    else:
        problem = _id_problem(user, "userId")
        if problem:
            return problem  # type: ignore[return-value]
        has_user = True
    anonymous = get("anonymousId")
    if anonymous.__class__ is str:
        if len(anonymous) > 1000:
            return ("invalid_id", "anonymousId", "anonymousId is longer than 1000 characters")
        if not has_user and anonymous == "":
            return _MISSING_ID
    elif anonymous is None:
        if not has_user:
            return _MISSING_ID
    else:
        problem = _id_problem(anonymous, "anonymousId")
        if problem:
            return problem  # type: ignore[return-value]
    message_id = get("messageId")
    if message_id.__class__ is str:
        if len(message_id) > MAX_MESSAGE_ID:
            return _BAD_MESSAGE_ID
    elif message_id is not None:
        return _BAD_MESSAGE_ID
    if kind == "track":
        event = get("event")
        if event.__class__ is not str or not event or event.isspace():
            return _MISSING_EVENT
    elif kind == "alias":
        previous = _id_problem(get("previousId"), "previousId")
        if previous is False:
            return ("missing_previous_id", "previousId", "an alias message needs previousId")
        if previous:
            return previous  # type: ignore[return-value]
    elif kind == "group":
        group = _id_problem(get("groupId"), "groupId")
        if group is False:
            return ("missing_group_id", "groupId", "a group message needs groupId")
        if group:
            return group  # type: ignore[return-value]
    # properties and context are usually there, traits usually not: the likelier test first
    value = get("properties")
    if value.__class__ is not dict and value is not None:
        return _NOT_PROPERTIES
    value = get("traits")
    if value is not None and value.__class__ is not dict:
        return _NOT_TRAITS
    value = get("context")
    if value.__class__ is not dict and value is not None:
        return _NOT_CONTEXT
    value = get("timestamp")
    if value is not None and not (value.__class__ is str and _usual_time(value)):
        problem = _time_problem(value, "timestamp")
        if problem is not None:
            return problem
    value = get("originalTimestamp")
    if value is not None:
        problem = _time_problem(value, "originalTimestamp")
        if problem is not None:
            return problem
    value = get("sentAt")
    if value is not None:
        problem = _time_problem(value, "sentAt")
        if problem is not None:
            return problem
    return None


def apply_batch_fields(
    message: dict[str, Any],
    *,
    sent_at: Any = None,
    context: dict[str, Any] | None = None,
    integrations: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message with its batch's ``sentAt``, ``context`` and ``integrations`` applied.

    The message's own values win; the write key (a credential, not data) is dropped.
    """
    out = dict(message)
    if context:
        own = message.get("context")
        out["context"] = {**context, **own} if isinstance(own, dict) else (own or dict(context))
    if integrations:
        own = message.get("integrations")
        out["integrations"] = (
            {**integrations, **own} if isinstance(own, dict) else (own or dict(integrations))
        )
    if sent_at and not message.get("sentAt"):
        out["sentAt"] = sent_at
    out.pop("writeKey", None)
    return out


_VOLATILE = ("sentAt", "receivedAt", "writeKey", "_metadata")


def as_received(message: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    """A spooled message as Segment's API reads it: batch fields applied, and the client's
    ``timestamp`` taken as its ``originalTimestamp`` when the request says when it was sent, so
    the stored time is corrected for the device's clock: ``receivedAt − (sentAt − timestamp)``."""
    out = apply_batch_fields(
        message,
        sent_at=envelope.get("S"),
        context=envelope.get("c"),
        integrations=envelope.get("i"),
    )
    if out.get("sentAt") and out.get("timestamp") and not out.get("originalTimestamp"):
        out["originalTimestamp"] = out["timestamp"]
    return out


def fingerprint(message: Any) -> str:
    """A hash of a message's content, blind to what changes between a client's retries (its
    ``sentAt``, analytics.js's retry metadata): two copies with the same id and another
    fingerprint are a conflict, not a retry."""
    if isinstance(message, dict):
        message = {k: v for k, v in message.items() if k not in _VOLATILE}
    try:
        text = orjson.dumps(message, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = json.dumps(message, sort_keys=True, default=str).encode()
    return hashlib.md5(text, usedforsecurity=False).hexdigest()


def _raw_text(message: Any) -> str:
    """A message as JSON text for quarantine, whatever it holds (NaN, lone surrogates)."""
    try:
        return orjson.dumps(message).decode()
    except TypeError:
        return json.dumps(
            message,
            ensure_ascii=True,
            default=lambda v: float(v.text) if isinstance(v, _BadNumber) else str(v),
        )


def _envelope(body: dict[str, Any]) -> tuple[Any, dict[str, Any] | None, dict[str, Any] | None]:
    sent_at = body.get("sentAt")
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise RequestRejected(
            400, "invalid_field", "the batch's context must be an object", "context"
        )
    integrations = body.get("integrations")
    if integrations is not None and not isinstance(integrations, dict):
        raise RequestRejected(
            400, "invalid_field", "the batch's integrations must be an object", "integrations"
        )
    return sent_at or None, context or None, integrations or None


def messages_of(path: str, body: Any, limits: Limits) -> tuple[list[Any], dict[str, Any]]:
    """The messages of a request to ``/v1/<path>`` and its batch-level fields."""
    if not isinstance(body, dict):
        raise RequestRejected(400, "invalid_body", "the body must be a JSON object", "body")
    if path in BATCH_PATHS:
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise RequestRejected(
                400, "invalid_batch", "a batch request needs a `batch` array of messages", "batch"
            )
        if len(batch) > limits.max_batch_messages:
            raise RequestRejected(
                400,
                "too_many_messages",
                f"a batch holds at most {limits.max_batch_messages} messages; got {len(batch)}",
                "batch",
            )
        sent_at, context, integrations = _envelope(body)
        return batch, {"S": sent_at, "c": context, "i": integrations}
    kind = EVENT_PATHS[path]
    message = dict(body)
    message["type"] = kind  # the path says what the message is, as in Segment's API
    return [message], {"S": None, "c": None, "i": None}


def accept_body(
    path: str,
    body: bytes,
    encoding: str | None,
    *,
    source: str,
    received_at: datetime,
    limits: Limits = Limits(),
    plan: PlanCheck | None = None,
) -> Accepted:
    """:func:`accept` for a raw body: inflate, parse, check, frame (raises :class:`RequestRejected`).

    What a checker process runs for the web process: bytes in, frame and answer out.
    """
    data = decode_body(body, encoding, limits)
    parsed, lenient = parse_body(data)
    return accept(
        path,
        parsed,
        source=source,
        received_at=received_at,
        limits=limits,
        lenient=lenient,
        has_nul=may_hold_nul(data),
        plan=plan,
    )


def accept(
    path: str,
    body: Any,
    *,
    source: str,
    received_at: datetime,
    limits: Limits = Limits(),
    lenient: bool = False,
    has_nul: bool = True,
    plan: PlanCheck | None = None,
    origin: str = "api",
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> Accepted:
    """Check a request's messages and build its spool frame (raises :class:`RequestRejected`).

    ``lenient`` says the body came through the lenient parser (values JSON forbids may hide in
    it); ``has_nul`` says the raw body may hold ``\\u0000`` (which PostgreSQL cannot store).
    """
    messages, envelope = messages_of(path, body, limits)
    return accept_messages(
        messages,
        envelope,
        source=source,
        received_at=received_at,
        limits=limits,
        lenient=lenient,
        has_nul=has_nul,
        plan=plan,
        origin=origin,
        new_id=new_id,
    )


def _encoded_problem(
    encoded: bytes, max_bytes: int, has_nul: bool
) -> tuple[str, str | None, str] | None:
    """What is wrong with a valid message once encoded: its size, or a NUL character."""
    if len(encoded) > max_bytes:
        return (
            "message_too_large",
            None,
            f"a message is at most {max_bytes} bytes as JSON; this one is {len(encoded)}",
        )
    if has_nul and _NUL in encoded and _NUL_ESCAPE.search(encoded):
        return ("invalid_character", None, "a message may not hold the NUL character (\\u0000)")
    return None


def _encode_valid(
    messages: Sequence[Any], max_bytes: int, has_nul: bool
) -> list[bytes | memoryview] | None:
    """Valid messages as JSON, a few dozen to each ``orjson.dumps`` call rather than one each
    (a third of the encoding time): a chunk within the size limit holds no message over it.
    None when one is over the limit or holds a NUL character (the caller then goes message by
    message, to quarantine it)."""
    pieces: list[bytes | memoryview] = []
    size = 16  # messages per chunk, until the first chunk says how large they are
    start = 0
    while start < len(messages):
        chunk = messages[start : start + size]
        encoded = orjson.dumps(chunk)
        chunk_bytes = len(encoded)
        if chunk_bytes <= max_bytes and not (
            has_nul and _NUL in encoded and _NUL_ESCAPE.search(encoded)
        ):
            pieces.append(memoryview(encoded)[1:-1])  # the list's brackets left out
        else:
            for message in chunk:
                encoded = orjson.dumps(message)
                if _encoded_problem(encoded, max_bytes, has_nul) is not None:
                    return None
                pieces.append(encoded)
        if start == 0:  # about half the limit to a chunk
            size = max(1, (max_bytes // 2) * len(chunk) // max(chunk_bytes, 1))
        start += len(chunk)
    return pieces


def _problem_of(
    message: Any,
    new_id: Callable[[], str],
    lenient: bool,
    batch_time: tuple[str, str | None, str] | None,
    plan: PlanCheck | None,
) -> tuple[tuple[str, str | None, str] | None, bytes]:
    """A message's problem, or its encoding: the long way, for lenient JSON (values JSON
    forbids), a bad batch ``sentAt`` and tracking plans (which may flag the message)."""
    encoded = b""
    if message.__class__ is dict:
        message_id = message.get("messageId")
        if message_id is None or message_id == "":
            message["messageId"] = new_id()
    if lenient:
        try:
            encoded = orjson.dumps(message)
        except TypeError as exc:
            if "_BadNumber" in str(exc):
                return (
                    "invalid_number",
                    None,
                    "NaN, Infinity and overflowing numbers are not JSON",
                ), b""
            return ("invalid_string", None, f"a string is not valid Unicode: {exc}"), b""
    problem = message_problem(message)
    if problem is None and batch_time is not None and not message.get("sentAt"):
        problem = batch_time
    if problem is None and plan is not None:
        problem = plan(message)
        encoded = b""  # the plan may have flagged the message
    if problem is not None:
        return problem, b""
    return None, encoded or orjson.dumps(message)


def _frame_head(
    source: str,
    received_at: datetime,
    origin: str,
    envelope: dict[str, Any],
    quarantine: list[dict[str, Any]],
) -> bytes:
    """The frame's JSON up to its messages: ``{..., "m":[`` (the closing brace makes way)."""
    head = {
        "v": 1,
        "o": origin,
        "s": source,
        "t": received_at.astimezone(UTC).isoformat(),
        **envelope,
        "q": quarantine,
    }
    return orjson.dumps(head)[:-1] + b',"m":['


def accept_messages(
    messages: Sequence[Any],
    envelope: dict[str, Any],
    *,
    source: str,
    received_at: datetime,
    limits: Limits = Limits(),
    lenient: bool = False,
    has_nul: bool = True,
    plan: PlanCheck | None = None,
    origin: str = "api",
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> Accepted:
    """:func:`accept` for messages already taken out of their request (webhooks use this)."""
    dumps = orjson.dumps
    max_bytes = limits.max_message_bytes
    # a bad batch sentAt is each message's (it is theirs once applied): quarantined, not refused
    batch_time = _time_problem(envelope["S"], "sentAt") if envelope["S"] is not None else None
    parts: list[bytes] = []
    quarantine: list[dict[str, Any]] = []
    answer: list[dict[str, Any]] = []
    # the usual request (strict JSON, no plan, a good sentAt, every message valid) takes the
    # short way round; any other goes message by message
    plain = not lenient and plan is None and batch_time is None
    if plain:
        for message in messages:
            if message_problem(message) is not None:
                break
            if not message.get("messageId"):  # None or "" once checked
                message["messageId"] = new_id()
        else:
            pieces = _encode_valid(messages, max_bytes, has_nul)
            if pieces is not None:
                prefix = _frame_head(source, received_at, origin, envelope, [])
                payload = b"".join((prefix, b",".join(pieces), b"]}"))
                return Accepted(payload, len(messages), len(messages), [])
    for index, message in enumerate(messages):
        problem: tuple[str, str | None, str] | None
        if plain:
            problem = message_problem(message)
            if problem is None:
                if not message.get("messageId"):  # None or "" once checked
                    message["messageId"] = new_id()
                encoded = dumps(message)
                if len(encoded) <= max_bytes and not has_nul:
                    parts.append(encoded)
                    continue
                problem = _encoded_problem(encoded, max_bytes, has_nul)
                if problem is None:
                    parts.append(encoded)
                    continue
        else:
            problem, encoded = _problem_of(message, new_id, lenient, batch_time, plan)
            if problem is None:
                problem = _encoded_problem(encoded, max_bytes, has_nul)
                if problem is None:
                    parts.append(encoded)
                    continue
        if message.__class__ is dict and message.get("messageId") in (None, ""):
            message["messageId"] = new_id()
        reason, culprit, detail = problem
        merged = (
            apply_batch_fields(
                message, sent_at=envelope["S"], context=envelope["c"], integrations=envelope["i"]
            )
            if message.__class__ is dict
            else message
        )
        message_id = merged.get("messageId") if merged.__class__ is dict else None
        if message_id.__class__ is not str:
            message_id = None
        quarantine.append({"r": reason, "f": culprit, "d": detail, "x": _raw_text(merged)})
        answer.append(
            {
                "index": index,
                "messageId": message_id,
                "code": reason,
                "field": culprit,
                "message": detail,
            }
        )
    prefix = _frame_head(source, received_at, origin, envelope, quarantine)
    if parts:  # one join, one copy of the messages: the ends go onto the first and last
        parts[0] = prefix + parts[0]
        parts[-1] += b"]}"
        payload = b",".join(parts)
    else:
        payload = prefix + b"]}"
    return Accepted(payload, len(messages), len(parts), answer)


# -- the short way for batches ----------------------------------------------------------------
#
# A batch from an official client is nearly always a list of valid messages. Parsing it into
# Python objects (most of what a request costs), checking them and encoding them again is then
# work thrown away: the frame can hold each message's text as it came. msgspec reads the batch
# once, keeping each message's text (``Raw``), and checks each message against a schema that
# keeps only the fields the rules look at and skips the rest without building any object. Any
# doubt — a schema miss, a rule the schema does not settle, a body that is not UTF-8, a
# possible NUL character, a message larger than the limit as sent, a tracking plan — and the
# request takes the long way, which gives the exact answer. The short way therefore stores only
# what the long way would store, unchanged (a property test holds the two together).


class _Skipped(msgspec.Struct):
    """A JSON object whose members are skipped unread (``properties``, ``traits``, ``context``)."""


_IdValue = Annotated[str, msgspec.Meta(max_length=1000)] | float | None


class _Message(msgspec.Struct, rename="camel"):
    """The fields :func:`message_problem` looks at; a message missing ``messageId`` (which the
    long way fills in) or breaking a type here takes the long way."""

    type: str
    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_ID)]
    user_id: _IdValue = None
    anonymous_id: _IdValue = None
    event: str | None = None
    previous_id: _IdValue = None
    group_id: _IdValue = None
    properties: _Skipped | None = None
    traits: _Skipped | None = None
    context: _Skipped | None = None
    timestamp: str | None = None
    original_timestamp: str | None = None
    sent_at: str | None = None


class _Batch(msgspec.Struct, rename="camel"):
    batch: list[msgspec.Raw]
    sent_at: Any = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    write_key: Any = None


_batch_decoder = msgspec.json.Decoder(_Batch)
_message_decoder = msgspec.json.Decoder(_Message)
_SHORT_TYPES = frozenset(("identify", "track", "page", "screen", "group", "alias"))


@dataclass
class ShortBatch:
    """A batch read the short way: its messages' texts and envelope, not yet checked."""

    messages: list[msgspec.Raw]
    envelope: dict[str, Any]
    write_key: Any

    def accept(
        self, *, source: str, received_at: datetime, limits: Limits, origin: str = "api"
    ) -> Accepted | None:
        """The frame and answer the long way would give, or None for the long way."""
        if len(self.messages) > limits.max_batch_messages:
            return None
        if self.envelope["S"] is not None and _time_problem(self.envelope["S"], "sentAt"):
            return None
        max_bytes = limits.max_message_bytes
        decode = _message_decoder.decode
        time_ok = _usual_time
        for raw in self.messages:
            if len(raw) > max_bytes:  # compact JSON is never longer than the text as sent
                return None
            try:
                message = decode(raw)
            except msgspec.DecodeError:  # a ValidationError too
                return None
            kind = message.type
            if kind not in _SHORT_TYPES:
                return None
            user = message.user_id
            if user is None or user == "":
                anonymous = message.anonymous_id
                if anonymous is None or anonymous == "":
                    return None
            if kind == "track":
                event = message.event
                if not event or event.isspace():
                    return None
            elif kind == "alias":
                if message.previous_id is None or message.previous_id == "":
                    return None
            elif kind == "group" and (message.group_id is None or message.group_id == ""):
                return None
            # most messages carry only ``timestamp``: no call for the absent ones
            value = message.timestamp
            if value is not None and not time_ok(value):
                return None
            value = message.original_timestamp
            if value is not None and not time_ok(value):
                return None
            value = message.sent_at
            if value is not None and not time_ok(value):
                return None
        prefix = _frame_head(source, received_at, origin, self.envelope, [])
        payload = b"".join((prefix, b",".join(self.messages), b"]}"))
        count = len(self.messages)
        return Accepted(payload, count, count, [])


def read_batch_short(data: bytes) -> ShortBatch | None:
    """A batch body read the short way, or None when it must take the long way (see above)."""
    if may_hold_nul(data):
        return None
    if not data.isascii():  # msgspec does not check the UTF-8 of what it skips
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        body = _batch_decoder.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    envelope = {
        "S": body.sent_at or None,
        "c": body.context or None,
        "i": body.integrations or None,
    }
    return ShortBatch(body.batch, envelope, body.write_key)
