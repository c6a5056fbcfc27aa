"""The webhook destination: JSON batches POSTed to a URL, signed, through the SSRF guard.

Body (``application/json``)::

    {"batch_id": "…", "sent_at": "2026-11-24T10:15:00+00:00",
     "changes": [{"change_id": "…", "type": "upsert" | "remove", "profile_id": "prf_…",
                  "audience": "vip" | null, "fields": {…}, "identifiers": {"email": ["…"]},
                  "occurred_at": "…"}]}

Answers: any 2xx delivers the batch; 429 (with ``Retry-After``), 408 and 5xx, a timeout or a
refused connection are retryable; a redirect or any other 4xx is permanent (nothing is followed,
and the answer's body is never read into Profilo's logs).
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from profilo.activate.destinations.base import (
    Change,
    DeliveryError,
    Outcome,
    identifier_rows,
    register,
    struct_rows,
)
from profilo.activate.destinations.webhook.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from profilo.activate.jsontext import join_pieces, json_strings, string_pieces
from profilo.activate.ssrf import NETWORK_SETTING, NetworkPolicy, UnsafeTarget
from profilo.errors import ConfigError

__all__ = ["WebhookDestination", "WebhookSettings", "change_json", "retry_after_seconds"]

_RESERVED = {"content-type", "host", SIGNATURE_HEADER.lower(), TIMESTAMP_HEADER.lower()}


class WebhookSettings(BaseModel):
    """A webhook's settings; the secret and secret headers are credentials, not settings."""

    model_config = ConfigDict(extra="forbid")

    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra request headers (not secret; put tokens in credentials as ``header:Name``)."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    max_batch: int = Field(default=500, ge=1, le=10_000)


def change_json(change: Change, stamps: dict[datetime, str] | None = None) -> dict[str, Any]:
    """One change as the body lists it (``stamps`` caches time texts across a batch)."""
    fields, identifiers = change.fields, change.identifiers
    at = change.occurred_at
    if stamps is None:
        text = at.isoformat()
    else:
        text = stamps.get(at) or stamps.setdefault(at, at.isoformat())
    return {
        "change_id": change.change_id,
        "type": change.action,
        "profile_id": change.profile_id,
        "audience": change.audience,
        "fields": fields if type(fields) is dict else dict(fields),
        "identifiers": identifiers
        if type(identifiers) is dict
        else {k: list(v) for k, v in identifiers.items()},
        "occurred_at": text,
    }


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class WebhookDestination:
    """POSTs batches of changes to one URL."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, settings: Mapping[str, Any], credentials: Mapping[str, str]) -> None:
        values = {k: v for k, v in settings.items() if k != NETWORK_SETTING}
        try:
            self.settings = WebhookSettings.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"invalid webhook settings: {where}: {first['msg']}") from None
        self.policy = NetworkPolicy.for_destination(settings)
        self.policy.check(self.settings.url)  # refused when saved, and again before each send
        unknown = [k for k in credentials if k != "secret" and not k.startswith("header:")]
        if unknown:
            raise ConfigError(
                f"unknown webhook credential {unknown[0]!r}; known: secret, header:NAME"
            )
        self.secret = credentials.get("secret")
        self.secret_headers = {
            k.removeprefix("header:"): v for k, v in credentials.items() if k.startswith("header:")
        }
        for name in [*self.settings.headers, *self.secret_headers]:
            if name.lower() in _RESERVED:
                raise ConfigError(f"webhook header {name!r} is set by Profilo itself")
        self.purposes: tuple[str, ...] = ()
        self.max_batch = self.settings.max_batch
        self._client = httpx.Client(
            timeout=self.settings.timeout_seconds, follow_redirects=False, trust_env=False
        )

    def body(self, batch: Sequence[Change]) -> bytes:
        stamps: dict[datetime, str] = {}
        return orjson.dumps(
            {
                "batch_id": uuid.uuid4().hex,
                "sent_at": datetime.now(UTC).isoformat(),
                "changes": [change_json(c, stamps) for c in batch],
            }
        )

    def table_body(self, part: pa.Table) -> bytes:
        """The body for a batch given as a table (``send_table``): the same bytes ``body``
        writes for the same changes, read column by column (no ``Change`` per item)."""
        times = part.column("occurred_at").combine_chunks()
        distinct = pc.unique(times)
        texts = [t.isoformat() for t in distinct.to_pylist()]
        stamps = (
            [texts[0]] * len(times)
            if len(texts) == 1
            else [texts[i] for i in pc.index_in(times, value_set=distinct).to_pylist()]
        )
        changes = [
            {
                "change_id": change_id,
                "type": action,
                "profile_id": profile_id,
                "audience": audience,
                "fields": fields,
                "identifiers": identifiers,
                "occurred_at": at,
            }
            for change_id, action, profile_id, audience, fields, identifiers, at in zip(
                part.column("change_id").to_pylist(),
                part.column("action").to_pylist(),
                part.column("profile_id").to_pylist(),
                part.column("audience").to_pylist(),
                struct_rows(part.column("fields")),
                identifier_rows(part.column("identifiers")),
                stamps,
                strict=True,
            )
        ]
        return orjson.dumps(
            {
                "batch_id": uuid.uuid4().hex,
                "sent_at": datetime.now(UTC).isoformat(),
                "changes": changes,
            }
        )

    def change_texts(self, changes: pa.Table) -> pa.Array:
        """Each change as a body lists it, JSON text made by Arrow kernels for a whole chunk
        at once (the engine calls it while preparing a chunk, off the sending thread), byte for
        byte what :meth:`table_body` writes; ``send_table`` then joins a batch's texts."""
        times = changes.column("occurred_at").combine_chunks()
        distinct = pc.unique(times)
        stamps = pa.array([t.isoformat() for t in distinct.to_pylist()], pa.string())
        upsert = pc.equal(changes.column("action"), "upsert")
        return join_pieces(
            [
                '{"change_id":',
                *string_pieces(changes.column("change_id")),
                ',"type":',
                *string_pieces(changes.column("action")),
                ',"profile_id":',
                *string_pieces(changes.column("profile_id")),
                ',"audience":',
                pc.fill_null(json_strings(changes.column("audience")), "null"),
                ',"fields":',
                pc.if_else(upsert, changes.column("fields_json"), "{}"),
                ',"identifiers":',
                changes.column("identifiers_json"),
                ',"occurred_at":',
                *string_pieces(stamps.take(pc.index_in(times, value_set=distinct))),
                "}",
            ]
        )

    def texts_body(self, texts: pa.Array | pa.ChunkedArray) -> bytes:
        """The body for a batch whose changes are already JSON text (:meth:`change_texts`)."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        joined = pc.binary_join(pa.ListArray.from_arrays([0, len(texts)], texts), ",")[0]
        head = f'{{"batch_id":"{uuid.uuid4().hex}","sent_at":"{datetime.now(UTC).isoformat()}"'
        return b"".join([head.encode(), b',"changes":[', joined.as_buffer(), b"]}"])

    def send(self, batch: Sequence[Change]) -> Outcome:
        return self._post(lambda: self.body(batch))

    def send_table(self, part: pa.Table) -> Outcome:
        """Send a batch given as an Arrow table (the engine's columnar path); its changes' texts
        when the engine made them (a ``text`` column), else its columns."""
        if "text" in part.column_names:
            return self._post(lambda: self.texts_body(part.column("text")))
        return self._post(lambda: self.table_body(part))

    def _post(self, make_body: Callable[[], bytes]) -> Outcome:
        try:
            target = self.policy.check(self.settings.url)
        except UnsafeTarget as exc:
            raise DeliveryError(str(exc), retryable=False) from None
        body = make_body()
        headers = {**self.settings.headers, **self.secret_headers}
        headers["Content-Type"] = "application/json"
        headers["Host"] = target.host_header
        if self.secret:
            stamp = int(time.time())
            headers[TIMESTAMP_HEADER] = str(stamp)
            headers[SIGNATURE_HEADER] = sign(self.secret, stamp, body)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            answer = self._client.post(
                target.pinned_url, content=body, headers=headers, extensions=extensions
            )
        except httpx.TimeoutException:
            raise DeliveryError(
                f"timed out after {self.settings.timeout_seconds} s", retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"cannot reach {target.host}: {type(exc).__name__}", retryable=True
            ) from None
        status = answer.status_code
        answer.close()
        if 200 <= status < 300:
            return Outcome(details={"status": status, "bytes": len(body)})
        if status == 429:
            raise DeliveryError(
                "HTTP 429 Too Many Requests",
                retryable=True,
                retry_after=retry_after_seconds(answer.headers.get("Retry-After")),
            )
        if status in (408, 425) or status >= 500:
            raise DeliveryError(
                f"HTTP {status}",
                retryable=True,
                retry_after=retry_after_seconds(answer.headers.get("Retry-After")),
            )
        if 300 <= status < 400:
            raise DeliveryError(f"HTTP {status}: redirects are not followed", retryable=False)
        raise DeliveryError(f"HTTP {status}", retryable=False)

    def close(self) -> None:
        self._client.close()


@register("webhook")
def make_webhook(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> WebhookDestination:
    return WebhookDestination(settings, credentials)
