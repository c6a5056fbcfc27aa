"""Webhook sources: any JSON a tool POSTs (a help desk's "ticket created", a form) becomes messages.

A webhook source carries a mapping from the posted JSON to a Segment message; values are read by
dotted paths (``requester.email``, ``items.0.sku``)::

    type: track                     # track | identify | page | screen | group
    event: Ticket Created           # a fixed event name, or event_path: the field that holds it
    items: tickets                  # optional: the array whose elements are one message each
    user_id: requester.external_id
    anonymous_id: visitor.cookie
    message_id: id                  # else a hash of the element: a redelivery is a duplicate
    timestamp: created_at
    properties: "*"                 # the whole element, or {name: path, …}
    traits: {email: requester.email, name: requester.name}

The messages then go through exactly the checks, tracking plan, spool and loader of the tracking
API, so a post that maps to no user is quarantined with its reason, not lost.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as ModelError

from profilo.errors import ConfigError

__all__ = ["WebhookMapping", "parse_webhook_mapping", "webhook_messages"]


class WebhookMapping(BaseModel):
    """How a webhook's JSON becomes Segment messages (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["track", "identify", "page", "screen", "group"] = "track"
    event: str | None = None
    event_path: str | None = None
    items: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    group_id: str | None = None
    message_id: str | None = None
    timestamp: str | None = None
    properties: dict[str, str] | Literal["*"] = "*"
    traits: dict[str, str] = {}

    @model_validator(mode="after")
    def _event_named(self) -> WebhookMapping:
        if self.type == "track" and not (self.event or self.event_path):
            raise ValueError("a track mapping needs `event` or `event_path`")
        if not (self.user_id or self.anonymous_id):
            raise ValueError("a mapping needs `user_id` or `anonymous_id` (a path in the body)")
        return self


def parse_webhook_mapping(data: Any) -> WebhookMapping:
    """Validate a webhook mapping; raises :class:`ConfigError` naming the field."""
    try:
        return WebhookMapping.model_validate(data)
    except ModelError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "mapping"
        raise ConfigError(f"invalid webhook mapping at {where}: {first['msg']}") from None


def _at(value: Any, path: str | None) -> Any:
    """The value at a dotted path (list elements by index), or None."""
    if path is None:
        return None
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
    return value


def _scalar(value: Any) -> Any:
    return value if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def webhook_messages(mapping: WebhookMapping, body: Any, *, source: str) -> list[Any]:
    """The messages one webhook post maps to (one per element of ``items``, else one)."""
    elements = _at(body, mapping.items) if mapping.items else [body]
    if not isinstance(elements, list):
        elements = [elements]
    messages: list[Any] = []
    for element in elements:
        message: dict[str, Any] = {
            "type": mapping.type,
            "userId": _scalar(_at(element, mapping.user_id)),
            "anonymousId": _scalar(_at(element, mapping.anonymous_id)),
            "context": {"webhook": {"source": source}},
        }
        message_id = _scalar(_at(element, mapping.message_id))
        if message_id is None:
            digest = hashlib.sha256(
                orjson.dumps(element, option=orjson.OPT_SORT_KEYS, default=str)
            ).hexdigest()
            message_id = f"wh-{source}-{digest[:32]}"
        message["messageId"] = str(message_id)
        timestamp = _at(element, mapping.timestamp)
        if timestamp is not None:
            message["timestamp"] = timestamp
        if mapping.type == "track":
            message["event"] = mapping.event or _scalar(_at(element, mapping.event_path))
        elif mapping.event or mapping.event_path:
            message["name"] = mapping.event or _scalar(_at(element, mapping.event_path))
        if mapping.type == "group":
            message["groupId"] = _scalar(_at(element, mapping.group_id))
        if mapping.properties == "*":
            properties = element if isinstance(element, dict) else {"value": element}
        else:
            properties = {name: _at(element, path) for name, path in mapping.properties.items()}
        traits = {name: _at(element, path) for name, path in mapping.traits.items()}
        if mapping.type in ("identify", "group"):
            message["traits"] = {k: v for k, v in traits.items() if v is not None}
        else:
            message["properties"] = properties
            if traits:
                message["context"]["traits"] = {k: v for k, v in traits.items() if v is not None}
        messages.append(message)
    return messages
