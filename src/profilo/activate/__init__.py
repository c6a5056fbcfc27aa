"""Activation: destinations, the sync engine and its outbox, consent enforcement, personalisation."""

from __future__ import annotations

__all__: list[str] = []
