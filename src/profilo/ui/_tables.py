"""Table expressions and the rule catalogue, kept per store between page calls.

``store.table(name)`` asks the engine for the table's schema each time (several milliseconds);
pages ask for a dozen tables, so each store keeps its expressions. The catalogue of names a rule
may use (traits and their kinds, identifier types, consent purposes) scans the observations, so it
is kept for :data:`CATALOGUE_SECONDS`; segment names and computed traits are always read fresh.
"""

from __future__ import annotations

import threading
import time
import weakref

import ibis.expr.types as ir

from profilo.audiences.segments import segment_catalogue
from profilo.profiles import Catalogue
from profilo.store import Store

__all__ = ["CATALOGUE_SECONDS", "catalogue", "table"]

CATALOGUE_SECONDS = 30.0
_TABLES: weakref.WeakKeyDictionary[Store, dict[str, ir.Table]] = weakref.WeakKeyDictionary()
_CATALOGUES: weakref.WeakKeyDictionary[Store, tuple[float, Catalogue]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def table(store: Store, name: str) -> ir.Table:
    """``store.table(name)``, asked once per store."""
    with _LOCK:
        tables = _TABLES.setdefault(store, {})
        found = tables.get(name)
    if found is None:
        found = store.table(name)
        with _LOCK:
            tables[name] = found
    return found


def catalogue(store: Store) -> Catalogue:
    """The workspace's rule catalogue (at most :data:`CATALOGUE_SECONDS` old), with its current
    segments."""
    now = time.monotonic()
    with _LOCK:
        cached = _CATALOGUES.get(store)
    if cached is None or now - cached[0] > CATALOGUE_SECONDS:
        cached = (now, segment_catalogue(store))
        with _LOCK:
            _CATALOGUES[store] = cached
    found = cached[1]
    segments = table(store, "segments")
    names = store.to_arrow(segments.filter(segments.archived_at.isnull()).select("name"))
    return Catalogue(
        traits=found.traits,
        computed=found.computed,
        identifier_types=found.identifier_types,
        purposes=found.purposes,
        segments=set(names.column("name").to_pylist()),
    )
