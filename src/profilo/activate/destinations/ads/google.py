"""Google Ads API: Customer Match through an ``OfflineUserDataJob`` (REST transcoding).

Per user list and direction (adds, removes), one job:

1. ``POST /{version}/customers/{customer_id}/offlineUserDataJobs:create`` with
   ``{"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {"userList":
   "customers/{customer_id}/userLists/{list_id}", "consent": {...}}}}`` → ``{"resourceName"}``;
2. ``POST /{version}/{resourceName}:addOperations`` with ``{"enablePartialFailure": true,
   "operations": [{"create": {"userIdentifiers": [...]}}]}`` (``remove`` for removes); a
   ``partialFailureError`` names each failed operation by index in its ``details[].errors[]
   .location.fieldPathElements``;
3. ``POST /{version}/{resourceName}:run`` → a long-running operation.

Headers: ``Authorization: Bearer`` (OAuth 2.0 access token), ``developer-token`` and, through a
manager account, ``login-customer-id``. Consent is sent as granted: the sync engine sends only
profiles whose ad-targeting consent is valid. Errors follow Google's ``{"error": {"code",
"message", "status", "details"}}``; ``RESOURCE_EXHAUSTED`` (429) and 5xx are retryable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from profilo.activate.destinations._http import GuardedHttp, batch_error, excerpt, json_object
from profilo.activate.destinations.ads.members import Member, google_identifiers
from profilo.activate.destinations.base import DeliveryError, ItemFailure, Outcome
from profilo.activate.ssrf import NetworkPolicy

__all__ = ["GoogleAdsClient"]

SERVICE = "Google Ads"


class GoogleAdsClient:
    def __init__(
        self,
        base_url: str,
        version: str,
        customer_id: str,
        *,
        access_token: str,
        developer_token: str,
        login_customer_id: str | None,
        policy: NetworkPolicy,
        timeout: float,
    ) -> None:
        headers = {
            "Authorization": f"Bearer {access_token}",
            "developer-token": developer_token,
        }
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id
        self._http = GuardedHttp(
            SERVICE, f"{base_url}/{version}", policy, headers=headers, timeout=timeout
        )
        self.customer_id = customer_id

    def close(self) -> None:
        self._http.close()

    def sync(
        self,
        list_id: str,
        action: str,
        members: Sequence[Member],
        region: str | None,
        outcome: Outcome,
    ) -> str | None:
        """Add (``upsert``) or remove ``members``; returns the job's resource name, if one ran."""
        operations: list[dict[str, Any]] = []
        owners: list[Member] = []
        verb = "create" if action == "upsert" else "remove"
        for member in members:
            identifiers = google_identifiers(member, region)
            if not identifiers:
                for change_id in member.change_ids:
                    outcome.failed[change_id] = ItemFailure(
                        "no e-mail, phone or full address to match on", retryable=False
                    )
                continue
            operations.append({verb: {"userIdentifiers": identifiers}})
            owners.append(member)
        if not operations:
            return None
        job = {
            "type": "CUSTOMER_MATCH_USER_LIST",
            "customerMatchUserListMetadata": {
                "userList": f"customers/{self.customer_id}/userLists/{list_id}",
                "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
            },
        }
        created = self._post(
            f"/customers/{self.customer_id}/offlineUserDataJobs:create", {"job": job}
        )
        resource = str(created.get("resourceName") or "")
        if not resource.startswith(f"customers/{self.customer_id}/offlineUserDataJobs/"):
            raise DeliveryError(f"{SERVICE}: job not created: {created!r}", retryable=True)
        added = self._post(
            f"/{resource}:addOperations", {"enablePartialFailure": True, "operations": operations}
        )
        for index, reason in _partial_failures(added):
            if 0 <= index < len(owners):
                for change_id in owners[index].change_ids:
                    outcome.failed[change_id] = ItemFailure(f"{SERVICE}: {reason}", retryable=False)
        self._post(f"/{resource}:run", {})
        return resource

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body)
        if response.status_code != 200:
            raise batch_error(SERVICE, response, _google_error(response))
        return json_object(SERVICE, response)


def _google_error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return excerpt(response)
    return f"{error.get('status', '')} {error.get('message', '')}".strip() or excerpt(response)


def _partial_failures(answer: dict[str, Any]) -> list[tuple[int, str]]:
    """(operation index, message) of each failed operation in a ``partialFailureError``."""
    failure = answer.get("partialFailureError") or {}
    found: list[tuple[int, str]] = []
    for detail in failure.get("details") or []:
        for error in detail.get("errors") or []:
            code = error.get("errorCode") or {}
            name = ", ".join(f"{k}={v}" for k, v in code.items())
            for element in (error.get("location") or {}).get("fieldPathElements") or []:
                if element.get("fieldName") == "operations" and "index" in element:
                    found.append((int(element["index"]), f"{error.get('message', '')} ({name})"))
                    break
    return found
