"""Schema migrations of the identity capability: versions 2, 20–29 (each capability has its own range)."""

from __future__ import annotations

from profilo.store.migration import Migration

MIGRATIONS: tuple[Migration, ...] = ()
