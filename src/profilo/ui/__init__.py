"""The web UI for marketers: pages served by the same application as the API."""

from __future__ import annotations

__all__: list[str] = []
