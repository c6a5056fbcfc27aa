"""Run the steps after collection in order: identity → profiles → computed traits → segments →
cards (what the personalisation API answers).

Each step reads what the one before wrote. By default every step works incrementally (only what
changed since its last run); ``full=True`` rebuilds everything from the raw log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from profilo.errors import ConfigError, unknown_choice
from profilo.store import Store

__all__ = ["STEPS", "StepResult", "run_pipeline"]

STEPS: tuple[str, ...] = ("identity", "profiles", "traits", "segments", "cards")


@dataclass
class StepResult:
    """One step's name, how long it took, and what it reported."""

    step: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def _identity(store: Store, full: bool, match: bool = True) -> dict[str, Any]:
    from profilo.identity import run_identity

    return dict(run_identity(store, full=full, match=match))


def _profiles(store: Store, full: bool) -> dict[str, Any]:
    from profilo.profiles import refresh_profiles

    done = refresh_profiles(store, full=full)
    return {"mode": done.mode, "events": done.events, "consents": done.consents}


def _traits(store: Store, full: bool) -> dict[str, Any]:
    from profilo.profiles import refresh_traits

    done = refresh_traits(store)
    return {"rows": dict(done.rows)}


def _segments(store: Store, full: bool) -> dict[str, Any]:
    from profilo.audiences import evaluate_segments

    done = evaluate_segments(store)
    return {"segments": done.segments}


def _cards(store: Store, full: bool) -> dict[str, Any]:
    from profilo.activate.cards import refresh_changed_cards

    return refresh_changed_cards(store, full=full)


_RUNNERS: dict[str, Callable[[Store, bool], dict[str, Any]]] = {
    "identity": _identity,
    "profiles": _profiles,
    "traits": _traits,
    "segments": _segments,
    "cards": _cards,
}


def run_pipeline(
    store: Store,
    steps: Sequence[str] = STEPS,
    *,
    full: bool = False,
    match: bool = True,
    on_step: Callable[[StepResult], None] | None = None,
) -> list[StepResult]:
    """Run ``steps`` (in the flow's order, whatever order they are given in) on ``store``.

    ``match=False`` leaves out the identity step's probabilistic matching (which scores every
    person record again, whatever changed): records then join by identifiers and aliases only,
    and the pairs matching accepted before still hold.
    """
    unknown = [s for s in steps if s not in _RUNNERS]
    if unknown:
        raise ConfigError(unknown_choice("pipeline step", unknown[0], STEPS))
    results = []
    for step in STEPS:
        if step not in steps:
            continue
        started = time.perf_counter()
        if step == "identity":
            summary = _identity(store, full, match)
        else:
            summary = _RUNNERS[step](store, full)
        result = StepResult(step, round(time.perf_counter() - started, 2), summary)
        results.append(result)
        if on_step is not None:
            on_step(result)
    return results
