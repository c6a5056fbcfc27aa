"""A client for a running server's admin API, found through the server file beside a DuckDB store.

``profilo`` commands use it when ``profilo serve`` holds the DuckDB file (one process at a time may
open it): they ask the server, which asks its store worker, and print the same answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from profilo.api.settings import serve_file
from profilo.errors import ConfigError, NotFound, ProfiloError, StoreError

__all__ = ["AdminClient", "find_server"]


class AdminClient:
    """Calls ``/admin/…`` of one server with its bearer token."""

    def __init__(self, url: str, token: str, *, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = httpx.request(
                method,
                f"{self.url}/admin{path}",
                headers=self._headers,
                timeout=self._timeout,
                **kwargs,
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"the server at {self.url} does not answer: {exc}") from None
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text}
        if response.is_success:
            return body
        message = body.get("message") if isinstance(body, dict) else str(body)
        if response.status_code == 404:
            raise NotFound(message or "not found")
        if response.status_code in (400, 422):
            raise ConfigError(message or "invalid request")
        raise ProfiloError(f"the server answered {response.status_code}: {message}")


def find_server(store_url: str, workspace: str) -> AdminClient | None:
    """The server holding ``store_url``, if its server file says there is one."""
    path = serve_file(store_url)
    if path is None or not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if info.get("workspace") != workspace:
        raise ConfigError(
            f"the store is held by a server for workspace {info.get('workspace')!r}, not"
            f" {workspace!r}; stop it or ask it with --workspace {info.get('workspace')}"
        )
    return AdminClient(info["url"], info["token"])
