"""The shape of a schema migration (kept apart so each capability's migrations can import it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Migration"]


@dataclass(frozen=True)
class Migration:
    """Statements that move the schema to ``version``.

    Statements use ``{json}``, ``{double}`` and ``{ts}`` for type names that differ per engine, and
    a ``"postgres: "`` or ``"duckdb: "`` prefix for a statement that runs on one engine only.
    """

    version: int
    name: str
    statements: tuple[str, ...]
    tables: tuple[str, ...] = ()
    """Workspace tables this migration creates (``Store.table`` hands out only known tables)."""
