"""Access: users, roles, sessions and what each role may see."""

from __future__ import annotations

__all__: list[str] = []
