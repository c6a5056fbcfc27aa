"""The HubSpot CRM v3 contacts API, as far as the ``crm`` destination needs it.

- ``POST /crm/v3/objects/contacts/batch/read`` with ``idProperty``: find contacts by a unique
  property (the external id, or ``email``); ids not found come back as ``OBJECT_NOT_FOUND`` errors
  of a 207 multi-status answer.
- ``POST /crm/v3/objects/contacts/batch/upsert``: create or update by ``idProperty`` (at most 100
  inputs); per-input failures come back as the ``errors`` of a 207 answer, each naming the input
  ids in ``context.ids``.

Rate limits: HubSpot answers 429 (``errorType: RATE_LIMIT``) past its limits and reports the
rolling ten-second window in ``X-HubSpot-RateLimit-Max`` / ``-Remaining`` /
``-Interval-Milliseconds`` (and a per-second window in ``-Secondly`` / ``-Secondly-Remaining``).
The client remembers the last answer's window and, when it is spent, refuses the next request with
a retryable :class:`DeliveryError` whose ``retry_after`` is the rest of the window, rather than
earning a 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from profilo.activate.destinations._http import GuardedHttp, batch_error, excerpt, json_object
from profilo.activate.destinations.base import DeliveryError
from profilo.activate.ssrf import NetworkPolicy

__all__ = ["BatchAnswer", "HubSpotClient", "RateWindow"]

SERVICE = "HubSpot"
CONTACTS = "/crm/v3/objects/contacts"


@dataclass
class RateWindow:
    """The rate-limit window HubSpot last reported."""

    limit: int | None = None
    remaining: int | None = None
    interval: float = 10.0
    secondly_remaining: int | None = None
    seen_at: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds until a request may be sent (0 when it may go now)."""
        if self.remaining is not None and self.remaining <= 0:
            left = self.interval - (now - self.seen_at)
            if left > 0:
                return left
        if self.secondly_remaining is not None and self.secondly_remaining <= 0:
            return max(0.0, 1.0 - (now - self.seen_at))
        return 0.0

    def update(self, headers: httpx.Headers, now: float) -> None:
        def number(name: str) -> int | None:
            value = headers.get(name)
            try:
                return int(value) if value is not None else None
            except ValueError:
                return None

        limit = number("X-HubSpot-RateLimit-Max")
        remaining = number("X-HubSpot-RateLimit-Remaining")
        interval = number("X-HubSpot-RateLimit-Interval-Milliseconds")
        secondly = number("X-HubSpot-RateLimit-Secondly-Remaining")
        if limit is None and remaining is None and secondly is None:
            return
        self.limit, self.remaining, self.secondly_remaining = limit, remaining, secondly
        if interval:
            self.interval = interval / 1000
        self.seen_at = now


@dataclass
class BatchAnswer:
    """A batch endpoint's answer: the records it returned and its per-input errors."""

    results: list[dict[str, Any]]
    errors: list[dict[str, Any]]


class HubSpotClient:
    """Sync HTTP client for the contacts batch endpoints, with a private-app token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        policy: NetworkPolicy,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = GuardedHttp(
            SERVICE,
            base_url,
            policy,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )
        self._clock = clock
        self.window = RateWindow()

    def close(self) -> None:
        self._http.close()

    def read(self, id_property: str, ids: Sequence[str], properties: Sequence[str]) -> BatchAnswer:
        """Contacts whose ``id_property`` is one of ``ids``, with ``properties``."""
        body = {
            "idProperty": id_property,
            "inputs": [{"id": value} for value in ids],
            "properties": list(properties),
            "propertiesWithHistory": [],
        }
        return self._batch(f"{CONTACTS}/batch/read", body)

    def upsert(self, inputs: Sequence[dict[str, Any]]) -> BatchAnswer:
        """Create or update each input (``{"id", "idProperty", "properties"}``)."""
        return self._batch(f"{CONTACTS}/batch/upsert", {"inputs": list(inputs)})

    def _batch(self, path: str, body: dict[str, Any]) -> BatchAnswer:
        wait = self.window.wait(self._clock())
        if wait > 0:
            raise DeliveryError(
                f"{SERVICE}: rate-limit window spent ({self.window.remaining} of"
                f" {self.window.limit} requests left); waiting {wait:.1f}s",
                retryable=True,
                retry_after=wait,
            )
        response = self._http.post(path, json=body)
        self.window.update(response.headers, self._clock())
        if response.status_code not in (200, 201, 207):
            raise batch_error(SERVICE, response, _error_message(response))
        answer = json_object(SERVICE, response)
        return BatchAnswer(
            results=list(answer.get("results") or []), errors=list(answer.get("errors") or [])
        )


def _error_message(response: httpx.Response) -> str:
    """HubSpot's ``category: message`` from an error body, else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return excerpt(response)
    if not isinstance(body, dict):
        return excerpt(response)
    category = body.get("category") or body.get("errorType") or body.get("policyName")
    message = body.get("message") or excerpt(response)
    return f"{category}: {message}" if category else str(message)
