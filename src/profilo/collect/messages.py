"""Segment-format messages (identify, track, page, screen, group, alias) become Profilo records.

The same function serves the tracking API and the import of Segment JSON Lines files, so a message
means the same whichever way it came in. Messages that break the spec's rules are returned as
quarantine rows with the reason; nothing is dropped.

RudderStack's ``merge`` is read too: its ``mergeProperties`` (``[{"type": "email", "value": …}, …]``)
become identifiers observed on the message beside its ``userId``/``anonymousId``, so identity
resolution links them as it links the ids of an identify (types are read as Profilo's: ``mobile``
is ``phone``, ``userId`` is ``user_id``; a type no identity rule declares links nothing).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from profilo.collect.consents import consent_time, message_consents
from profilo.prepare import match_key, normalise
from profilo.store import RecordSet

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_MESSAGE_ID",
    "MESSAGE_TYPES",
    "Rejection",
    "check_message",
    "messages_to_records",
    "parse_time",
]

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias", "merge")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_MESSAGE_ID = 100
_TS = pa.timestamp("us", tz="UTC")

# Segment's reserved traits in camelCase, and the snake_case Profilo keeps them under.
_TRAIT_NAMES = {
    "firstName": "first_name",
    "lastName": "last_name",
    "createdAt": "created_at",
    "postalCode": "postal_code",
    "birthDate": "birth_date",
    "birthday": "birth_date",
}
_TRAIT_KINDS = {
    "email": "email",
    "phone": "phone",
    "first_name": "name",
    "last_name": "name",
    "name": "name",
    "birth_date": "date",
    "city": "city",
    "postal_code": "postal_code",
    "country": "country",
    "street": "address",
}
_MATCH_KEYED = ("name", "city", "address", "postal_code")
# RudderStack merge property types (lower case, without ``_``) and Profilo's identifier types
_MERGE_TYPES = {
    "email": "email",
    "phone": "phone",
    "mobile": "phone",
    "phonenumber": "phone",
    "userid": "user_id",
    "anonymousid": "anonymous_id",
    "deviceid": "device_id",
}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")


class Rejection(ValueError):
    """A message that breaks the spec; ``reason`` is a stable code, ``field`` the culprit."""

    def __init__(self, reason: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


def parse_time(value: Any, field: str) -> datetime | None:
    """An ISO 8601 time as UTC (naive times are taken as UTC); None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _ISO.match(value):
        raise Rejection("invalid_timestamp", field, f"{field} {value!r} is not an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Rejection(
            "invalid_timestamp", field, f"{field} {value!r} is not an ISO 8601 time"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1900 <= parsed.year <= 2200:
        raise Rejection("invalid_timestamp", field, f"{field} {value!r} is out of range")
    return parsed.astimezone(UTC)


def _id_text(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejection("invalid_id", field, f"{field} must be a string or a number")
    text = str(value)
    if len(text) > 1000:
        raise Rejection("invalid_id", field, f"{field} is longer than 1000 characters")
    return text


def check_message(
    message: Any, *, received_at: datetime, default_id: Callable[[], str], correct_skew: bool
) -> dict[str, Any]:
    """Validate one message and return its stored form (raises :class:`Rejection`)."""
    if not isinstance(message, dict):
        raise Rejection("not_an_object", None, "a message must be a JSON object")
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise Rejection(
            "invalid_type", "type", f"type {kind!r} is not one of {', '.join(MESSAGE_TYPES)}"
        )
    user_id = _id_text(message.get("userId"), "userId")
    anonymous_id = _id_text(message.get("anonymousId"), "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Rejection("missing_id", "userId", "a message needs userId or anonymousId")
    message_id = message.get("messageId")
    if message_id in (None, ""):
        message_id = default_id()
    elif not isinstance(message_id, str) or len(message_id) > MAX_MESSAGE_ID:
        raise Rejection(
            "invalid_message_id",
            "messageId",
            f"messageId must be a string of at most {MAX_MESSAGE_ID} characters",
        )
    event = message.get("event")
    if kind == "track" and (not isinstance(event, str) or not event.strip()):
        raise Rejection("missing_event", "event", "a track message needs an event name")
    if kind == "alias" and _id_text(message.get("previousId"), "previousId") is None:
        raise Rejection("missing_previous_id", "previousId", "an alias message needs previousId")
    if kind == "group" and _id_text(message.get("groupId"), "groupId") is None:
        raise Rejection("missing_group_id", "groupId", "a group message needs groupId")
    merged = _merge_properties(message.get("mergeProperties")) if kind == "merge" else None
    for name in ("properties", "traits", "context"):
        if message.get(name) is not None and not isinstance(message[name], dict):
            raise Rejection("invalid_field", name, f"{name} must be an object")
    timestamp = parse_time(message.get("timestamp"), "timestamp")
    original = parse_time(message.get("originalTimestamp"), "originalTimestamp")
    sent_at = parse_time(message.get("sentAt"), "sentAt")
    if correct_skew and original is not None and sent_at is not None:
        # Segment's rule: the device clock may be wrong, but the delay between event and send is not.
        timestamp = received_at - (sent_at - original)
    elif timestamp is None:
        timestamp = original or (received_at if correct_skew else None)
    context = dict(message.get("context") or {})
    traits = dict(message.get("traits") or {})
    # RudderStack's SDKs send identify traits in context.traits only
    if kind == "identify" and not traits and isinstance(context.get("traits"), dict):
        traits = dict(context["traits"])
    properties = dict(message.get("properties") or {})
    if kind in ("page", "screen") and message.get("name") is not None:
        properties.setdefault("name", message.get("name"))
    if kind == "alias":
        properties["previousId"] = message.get("previousId")
    if kind == "group":
        properties["groupId"] = message.get("groupId")
    if merged is not None:
        properties["mergeProperties"] = merged
    for extra in ("integrations", "channel", "sentAt", "originalTimestamp"):
        if extra in message:
            context.setdefault("_" + extra, message[extra])
    return {
        "message_id": message_id,
        "type": kind,
        "event": event if kind == "track" else message.get("name"),
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "timestamp": timestamp,
        "properties": properties,
        "traits": traits,
        "context": context,
    }


def _merge_properties(value: Any) -> list[dict[str, str]]:
    """A merge message's ``mergeProperties``, checked: a non-empty list of ``{type, value}``."""
    problem = "mergeProperties must be a non-empty list of {type, value} objects"
    if not isinstance(value, list) or not value:
        raise Rejection("invalid_merge_properties", "mergeProperties", problem)
    merged = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise Rejection("invalid_merge_properties", "mergeProperties", problem)
        text = _id_text(item.get("value"), "mergeProperties")
        if text is None or not item["type"].strip():
            raise Rejection("invalid_merge_properties", "mergeProperties", problem)
        merged.append({"type": item["type"], "value": text})
    return merged


def _merge_type(name: str) -> str:
    """Profilo's identifier type for a RudderStack merge property type (``mobile`` → ``phone``)."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())  # crmId → crm_Id
    key = re.sub(r"[\s\-]+", "_", snake).lower()
    return _MERGE_TYPES.get(key.replace("_", ""), key)


def _identifiers(stored: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if stored["user_id"] is not None:
        found.append(("user_id", stored["user_id"]))
    if stored["anonymous_id"] is not None:
        found.append(("anonymous_id", stored["anonymous_id"]))
    traits = stored["traits"]
    context_traits = (
        stored["context"].get("traits") if isinstance(stored["context"].get("traits"), dict) else {}
    )
    for kind in ("email", "phone"):
        value = traits.get(kind) or (context_traits or {}).get(kind)
        if isinstance(value, str | int) and str(value).strip():
            found.append((kind, str(value)))
    device = stored["context"].get("device")
    if isinstance(device, dict) and isinstance(device.get("id"), str | int) and str(device["id"]):
        found.append(("device_id", str(device["id"])))
    if stored["type"] == "merge":
        for item in stored["properties"]["mergeProperties"]:
            found.append((_merge_type(item["type"]), item["value"]))
    return found


def _flat_traits(traits: dict[str, Any]) -> list[tuple[str, str]]:
    flat: list[tuple[str, str]] = []
    for key, value in traits.items():
        name = _TRAIT_NAMES.get(key, key)
        if name == "address" and isinstance(value, dict):
            for sub, sub_value in value.items():
                sub_name = _TRAIT_NAMES.get(sub) or str(sub)
                if isinstance(sub_value, str | int | float) and not isinstance(sub_value, bool):
                    flat.append((sub_name, str(sub_value)))
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            flat.append((name, str(value)))
        elif isinstance(value, bool):
            flat.append((name, "true" if value else "false"))
    return flat


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def messages_to_records(
    messages: Sequence[Any],
    *,
    source: str,
    received_at: datetime,
    locations: Sequence[str] | None = None,
    origin: str = "api",
    correct_skew: bool | None = None,
    default_country: str | None = None,
    received_ats: Sequence[datetime] | None = None,
) -> RecordSet:
    """Validate and convert a batch of Segment messages.

    Valid ones become events with their observed identifiers and traits; the others become
    quarantine rows (reason, field, original JSON). Files get deterministic ids for messages that
    lack a messageId (so re-importing is idempotent); the API gets random ones.
    ``received_ats`` gives each message its own arrival time (the API's loader stores messages of
    many requests at once); otherwise all arrived at ``received_at``.
    """
    skew = origin == "api" if correct_skew is None else correct_skew
    places = (
        list(locations) if locations is not None else [f"item {i}" for i in range(len(messages))]
    )
    events: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    id_rows: list[tuple[str, str, str, datetime | None]] = []
    trait_rows: list[tuple[str, str, str, datetime | None]] = []
    consent_rows: list[tuple[str, str, str, str, datetime, datetime]] = []
    arrivals: list[datetime] = []
    for position, message in enumerate(messages):
        place = places[position]
        arrived = received_ats[position] if received_ats is not None else received_at

        def default_id(place: str = place) -> str:
            return f"{source}:{place}" if origin == "import" else str(uuid.uuid4())

        try:
            stored = check_message(
                message, received_at=arrived, default_id=default_id, correct_skew=skew
            )
        except Rejection as rejection:
            raw = _json(message)
            quarantine.append(
                {
                    "quarantine_id": f"{source}:{place}:{rejection.reason}"
                    if origin == "import"
                    else str(uuid.uuid4()),
                    "source": source,
                    "origin": origin,
                    "location": place,
                    "reason": rejection.reason,
                    "field": rejection.field,
                    "detail": str(rejection),
                    "raw": raw,
                    "received_at": arrived,
                    "status": "open",
                }
            )
            continue
        events.append(stored)
        arrivals.append(arrived)
        for purpose, status, basis in message_consents(stored):
            consent_rows.append(
                (
                    stored["message_id"],
                    purpose,
                    status,
                    basis,
                    consent_time(stored, arrived),
                    arrived,
                )
            )
        at = stored["timestamp"]
        for id_type, value in _identifiers(stored):
            id_rows.append((stored["message_id"], id_type, value, at))
        if stored["type"] == "identify":
            for name, value in _flat_traits(stored["traits"]):
                trait_rows.append((stored["message_id"], name, value, at))
    n = len(events)
    event_table = pa.table(
        {
            "message_id": pa.array([e["message_id"] for e in events], pa.string()),
            "source": pa.array([source] * n, pa.string()),
            "type": pa.array([e["type"] for e in events], pa.string()),
            "event": pa.array(
                [e["event"] if isinstance(e["event"], str) else None for e in events], pa.string()
            ),
            "record_key": pa.array([e["message_id"] for e in events], pa.string()),
            "anonymous_id": pa.array([e["anonymous_id"] for e in events], pa.string()),
            "user_id": pa.array([e["user_id"] for e in events], pa.string()),
            "timestamp": pa.array([e["timestamp"] for e in events], _TS),
            "received_at": pa.array(arrivals, _TS),
            "properties": pa.array([_json(e["properties"]) for e in events], pa.string()),
            "traits": pa.array(
                [_json(e["traits"]) if e["traits"] else None for e in events], pa.string()
            ),
            "context": pa.array([_json(e["context"]) for e in events], pa.string()),
        }
    )
    return RecordSet(
        events=event_table,
        identifiers=_identifier_table(id_rows, source, default_country, received_at),
        traits=_trait_table(trait_rows, source, default_country, received_at),
        consents=_consent_table(consent_rows, source),
        quarantine=pa.Table.from_pylist(quarantine) if quarantine else None,
    )


def _consent_table(
    rows: list[tuple[str, str, str, str, datetime, datetime]], source: str
) -> pa.Table | None:
    """Consents stated by messages (see :mod:`profilo.collect.consents`)."""
    if not rows:
        return None
    return pa.table(
        {
            "consent_id": pa.array([f"{r[0]}:{r[1]}:{r[2]}" for r in rows], pa.string()),
            "message_id": pa.array([r[0] for r in rows], pa.string()),
            "source": pa.array([source] * len(rows), pa.string()),
            "record_key": pa.array([r[0] for r in rows], pa.string()),
            "purpose": pa.array([r[1] for r in rows], pa.string()),
            "status": pa.array([r[2] for r in rows], pa.string()),
            "legal_basis": pa.array([r[3] for r in rows], pa.string()),
            "consented_at": pa.array([r[4] for r in rows], _TS),
            "recorded_at": pa.array([r[5] for r in rows], _TS),
        }
    )


def _identifier_table(
    rows: list[tuple[str, str, str, datetime | None]],
    source: str,
    default_country: str | None,
    received_at: datetime,
) -> pa.Table | None:
    if not rows:
        return None
    raw = pa.array([r[2] for r in rows], pa.string())
    kinds = pa.array([r[1] for r in rows], pa.string())
    value = pc.utf8_trim_whitespace(raw)
    valid = pa.array([True] * len(rows), pa.bool_())
    for kind in ("email", "phone"):
        mask = pc.equal(kinds, kind)
        if not pc.any(mask).as_py():
            continue
        index = pc.indices_nonzero(mask)
        result = normalise(kind, pc.take(raw, index), default_country=default_country)
        value = _scatter(value, index, result.value.cast(pa.string()))
        valid = _scatter(valid, index, pc.fill_null(result.valid, False))
    return pa.table(
        {
            "message_id": pa.array([r[0] for r in rows], pa.string()),
            "source": pa.array([source] * len(rows), pa.string()),
            "record_key": pa.array([r[0] for r in rows], pa.string()),
            "id_type": kinds,
            "raw_value": raw,
            "value": value,
            "is_valid": valid,
            "observed_at": pa.array([r[3] or received_at for r in rows], _TS),
        }
    )


def _trait_table(
    rows: list[tuple[str, str, str, datetime | None]],
    source: str,
    default_country: str | None,
    received_at: datetime,
) -> pa.Table | None:
    if not rows:
        return None
    raw = pa.array([r[2] for r in rows], pa.string())
    names = [r[1] for r in rows]
    kinds = pa.array([_TRAIT_KINDS.get(name, "string") for name in names], pa.string())
    value = pc.utf8_trim_whitespace(raw)
    valid = pa.array([True] * len(rows), pa.bool_())
    keys = pa.nulls(len(rows), pa.string())
    for kind in set(kinds.to_pylist()) - {"string"}:
        index = pc.indices_nonzero(pc.equal(kinds, kind))
        result = normalise(kind, pc.take(raw, index), default_country=default_country)
        clean = result.value
        if pa.types.is_date(clean.type):
            clean = pc.strftime(clean, format="%Y-%m-%d")
        value = _scatter(value, index, clean.cast(pa.string()))
        valid = _scatter(valid, index, pc.fill_null(result.valid, False))
        if kind in _MATCH_KEYED:
            keys = _scatter(keys, index, match_key(kind, result.value).cast(pa.string()))
    return pa.table(
        {
            "message_id": pa.array([r[0] for r in rows], pa.string()),
            "source": pa.array([source] * len(rows), pa.string()),
            "record_key": pa.array([r[0] for r in rows], pa.string()),
            "trait": pa.array(names, pa.string()),
            "value_type": kinds,
            "raw_value": raw,
            "value": value,
            "match_key": keys,
            "is_valid": valid,
            "observed_at": pa.array([r[3] or received_at for r in rows], _TS),
        }
    )


def _scatter(target: pa.Array, index: pa.Array, values: pa.Array) -> pa.Array:
    """``target`` with ``values`` written at positions ``index``."""
    items = target.to_pylist()
    for i, v in zip(index.to_pylist(), values.to_pylist(), strict=True):
        items[i] = v
    return pa.array(items, target.type)
