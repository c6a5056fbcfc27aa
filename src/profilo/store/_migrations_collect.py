"""Schema migrations of the collect capability: versions 3, 30–39 (each capability has its own range)."""

from __future__ import annotations

from profilo.store.migration import Migration

MIGRATIONS: tuple[Migration, ...] = ()
