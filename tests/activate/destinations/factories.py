"""Small factories for destination tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from profilo.activate.destinations import Change

_ids = itertools.count(1)
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def change(
    profile_id: str,
    action: Literal["upsert", "remove"] = "upsert",
    audience: str | None = "vip",
    *,
    email: str | None = None,
    phone: str | None = None,
    fields: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, Sequence[str]] | None = None,
    change_id: str | None = None,
) -> Change:
    ids: dict[str, Sequence[str]] = dict(identifiers or {})
    if email is not None:
        ids["email"] = [email]
    if phone is not None:
        ids["phone"] = [phone]
    return Change(
        change_id=change_id or f"c{next(_ids)}",
        profile_id=profile_id,
        action=action,
        audience=audience,
        fields=dict(fields or {}),
        identifiers=ids,
        occurred_at=AT,
    )


LOOPBACK = {"_allow_networks": ["127.0.0.0/8"]}
"""What the sync engine adds to a destination's settings when the operator allows loopback
(``PROFILO_ACTIVATION_ALLOW_NETWORKS``): the tests' local servers live there."""
