"""Follow new data downstream of identity: profiles, then computed traits, then memberships.

:func:`update_audiences` is what a worker calls after an identity run: it rewrites the events and
consents of the profiles that changed, recomputes their computed traits and re-evaluates their
segments (entries and exits go to the history and the outbox). A ``full`` run does it for every
profile; run one daily so windowed traits of untouched profiles age too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from profilo.audiences.memberships import evaluate_segments
from profilo.profiles.events import refresh_profiles
from profilo.profiles.traits import refresh_traits
from profilo.store import Store

__all__ = ["update_audiences"]


def update_audiences(
    store: Store, *, full: bool = False, as_of: datetime | None = None
) -> dict[str, Any]:
    """Bring profiles, computed traits and memberships up to date; returns what each step did."""
    as_of = as_of or datetime.now(UTC)
    profiles = refresh_profiles(store, full=full)
    touched = profiles.profiles
    if touched is None:
        traits = refresh_traits(store, as_of=as_of)
        run = evaluate_segments(store, as_of=as_of, trigger="batch")
    else:
        traits = refresh_traits(store, profiles=touched, as_of=as_of)
        run = evaluate_segments(store, as_of=as_of, profiles=touched, trigger="incremental")
    return {"profiles": profiles.as_dict(), "traits": traits.as_dict(), "segments": run.as_dict()}
