"""Schema migrations of the access capability (users, roles, sessions): versions 70–79."""

from __future__ import annotations

from profilo.store.migration import Migration

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[Migration, ...] = ()
