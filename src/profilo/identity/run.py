"""One identity run: resolve the graph, match what shares no identifier, rebuild golden records."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa

from profilo.identity.matching import PERSON_MODEL, MatchModel, match_records
from profilo.identity.resolve import resolve_identities
from profilo.identity.rules import IdentityRules, load_rules
from profilo.identity.survivorship import SurvivorshipRules, build_profiles
from profilo.store import Store

__all__ = ["run_identity"]


def run_identity(
    store: Store,
    rules: IdentityRules | None = None,
    *,
    full: bool = False,
    match: bool = True,
    model: MatchModel = PERSON_MODEL,
    survivorship: SurvivorshipRules | None = None,
) -> dict[str, Any]:
    """Resolve (incrementally unless ``full``), match, resolve what matching changed, and rebuild
    the golden records of every profile touched (all of them after a full run)."""
    started = time.perf_counter()
    rules = rules or load_rules(store)
    graph = resolve_identities(store, rules, full=full)
    summary: dict[str, Any] = {"graph": graph.as_dict()}
    touched = [graph.profile_ids] if graph.profile_ids is not None else []
    if match:
        matched = match_records(store, rules, model)
        summary["matching"] = matched.as_dict()
        if matched.touched is not None and matched.touched.num_rows:
            again = resolve_identities(store, rules, touched=matched.touched)
            summary["after_matching"] = again.as_dict()
            if again.profile_ids is not None:
                touched.append(again.profile_ids)
    ids = pa.concat_tables(touched).group_by("profile_id").aggregate([]) if touched else None
    if graph.mode == "full":
        summary["profiles_written"] = build_profiles(store, survivorship)
    elif ids is not None:
        summary["profiles_written"] = build_profiles(store, survivorship, profile_ids=ids)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
