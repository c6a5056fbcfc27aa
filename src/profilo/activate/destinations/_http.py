"""How destinations that speak HTTP read an answer: what failed, and whether retrying can help.

A destination never sleeps or retries: it turns a transport error, a 429 or a 5xx into a retryable
:class:`DeliveryError` (with the ``Retry-After`` the service asked for) and anything else the
service refused into a permanent one; the sync engine decides what to do next.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

from profilo.activate.destinations.base import DeliveryError
from profilo.activate.ssrf import NetworkPolicy, UnsafeTarget

__all__ = [
    "GuardedHttp",
    "batch_error",
    "excerpt",
    "is_retryable",
    "json_object",
    "retry_after",
    "transport_error",
]

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), if any.

    >>> retry_after(httpx.Headers({"Retry-After": "7"}))
    7.0
    >>> retry_after(httpx.Headers({})) is None
    True
    """
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    """The start of a response body, on one line, for an error message."""
    text = response.text.replace("\n", " ").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def json_object(service: str, response: httpx.Response) -> dict[str, Any]:
    """A successful answer's JSON object ({} for other JSON); an answer that is not JSON at all is
    a retryable failure of the batch."""
    try:
        answer = response.json()
    except ValueError:
        raise DeliveryError(
            f"{service}: answer is not JSON: {excerpt(response)}", retryable=True
        ) from None
    return answer if isinstance(answer, dict) else {}


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def batch_error(service: str, response: httpx.Response, detail: str | None = None) -> DeliveryError:
    """The error for a response that failed the whole request.

    429 and 5xx (and 408) are retryable, carrying ``Retry-After``; 401 and 403 say the credentials
    were refused; any other 4xx is permanent (retrying the same request cannot help).
    """
    status = response.status_code
    said = detail if detail is not None else excerpt(response)
    if status == 429:
        reason = f"{service}: rate limited (HTTP 429): {said}"
    elif status in (401, 403):
        reason = f"{service}: credentials refused (HTTP {status}): {said}"
    else:
        reason = f"{service}: HTTP {status}: {said}"
    return DeliveryError(
        reason, retryable=is_retryable(status), retry_after=retry_after(response.headers)
    )


def transport_error(service: str, exc: httpx.TransportError) -> DeliveryError:
    """A connection refused, reset or timed out: always worth retrying."""
    return DeliveryError(f"{service}: {type(exc).__name__}: {exc}", retryable=True)


class GuardedHttp:
    """An HTTP client for one service whose base URL a user gave, behind the SSRF guard.

    Before every request the URL is checked by the operator's :class:`NetworkPolicy` (loopback,
    private and metadata addresses refused unless allowed), and the request goes to the address
    the check resolved, with the original ``Host`` and TLS server name, following no redirects.
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        policy: NetworkPolicy,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        try:  # refused when configured, not only when sending
            policy.check(self.base_url + "/")
        except UnsafeTarget as exc:
            if not _unresolved(exc):  # a name that does not resolve now may later: sends decide
                raise
        self._http = httpx.Client(
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        )

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """``method`` on ``base_url + path``; a refused URL or a transport error is a DeliveryError."""
        try:
            target = self.policy.check(self.base_url + path)
        except UnsafeTarget as exc:
            raise DeliveryError(f"{self.service}: {exc}", retryable=_unresolved(exc)) from None
        headers = {**options.pop("headers", {}), "Host": target.host_header}
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            return self._http.request(
                method, target.pinned_url, headers=headers, extensions=extensions, **options
            )
        except httpx.TransportError as exc:
            raise transport_error(self.service, exc) from exc

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def close(self) -> None:
        self._http.close()


def _unresolved(exc: UnsafeTarget) -> bool:
    """The guard could not resolve the host (DNS down, name not yet published): not a refusal."""
    return str(exc).startswith("cannot resolve host")
