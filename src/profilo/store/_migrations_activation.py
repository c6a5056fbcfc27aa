"""Schema migrations of the activate capability: versions 60–69 (each capability has its own range)."""

from __future__ import annotations

from profilo.store.migration import Migration

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[Migration, ...] = ()
