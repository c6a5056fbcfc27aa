"""Meta Marketing API: add and remove Custom Audience users.

``POST /{version}/{audience_id}/users`` adds and ``DELETE /{version}/{audience_id}/users`` removes,
both with ``{"payload": {"schema": [...], "data": [[...], ...]}, "session": {...}}`` (at most
10,000 rows per request); the access token travels as ``Authorization: Bearer``. The answer counts
what was received and how many rows were invalid (``num_received``, ``num_invalid_entries``); it
does not name them. Errors are ``{"error": {"message", "type", "code", "error_subcode",
"is_transient", "fbtrace_id"}}``: rate limits (codes 4, 17, 32, 613, 80003), ``is_transient`` and
5xx are retryable, anything else (invalid token 190, permission 200, parameter 100) is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import httpx

from profilo.activate.destinations._http import GuardedHttp, excerpt, json_object, retry_after
from profilo.activate.destinations.ads.members import META_SCHEMA, Member, meta_rows
from profilo.activate.destinations.base import DeliveryError, ItemFailure, Outcome
from profilo.activate.ssrf import NetworkPolicy

__all__ = ["RATE_LIMIT_CODES", "MetaAudienceClient"]

SERVICE = "Meta"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80003})


class MetaAudienceClient:
    def __init__(
        self,
        base_url: str,
        version: str,
        *,
        access_token: str,
        policy: NetworkPolicy,
        timeout: float,
    ) -> None:
        self._http = GuardedHttp(
            SERVICE,
            f"{base_url}/{version}",
            policy,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def sync(
        self,
        audience_id: str,
        action: str,
        members: Sequence[Member],
        region: str | None,
        outcome: Outcome,
    ) -> dict[str, Any] | None:
        """Add (``upsert``) or remove ``members``; returns Meta's answer, if a request went."""
        data: list[list[str]] = []
        ids: list[str] = []
        for member in members:
            rows = meta_rows(member, region)
            if not rows:
                for change_id in member.change_ids:
                    outcome.failed[change_id] = ItemFailure(
                        "no e-mail or phone to match on", retryable=False
                    )
                continue
            data.extend(rows)
            ids.extend(member.change_ids)
        if not data:
            return None
        # The same batch sent again is the same session: Meta can tell a replay from new data.
        session_id = int(hashlib.sha256("\n".join(ids).encode()).hexdigest()[:15], 16)
        body = {
            "payload": {"schema": list(META_SCHEMA), "data": data},
            "session": {
                "session_id": session_id,
                "batch_seq": 1,
                "last_batch_flag": True,
                "estimated_num_total": len(data),
            },
        }
        method = "POST" if action == "upsert" else "DELETE"
        response = self._http.request(method, f"/{audience_id}/users", json=body)
        if response.status_code != 200:
            raise _meta_error(response)
        return json_object(SERVICE, response)


def _meta_error(response: httpx.Response) -> DeliveryError:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code")
    transient = bool(error.get("is_transient")) or code in RATE_LIMIT_CODES
    retryable = transient or response.status_code >= 500 or response.status_code == 429
    said = (
        f"error {code} ({error.get('type', '')}): {error.get('message', '')}"
        if error
        else excerpt(response)
    )
    return DeliveryError(
        f"{SERVICE}: HTTP {response.status_code}: {said}",
        retryable=retryable,
        retry_after=retry_after(response.headers),
    )
