"""What a profile can hold: golden traits and their kinds, identifier types, consent purposes.

Segment rules are checked against this catalogue, so a rule naming ``contry`` or comparing
``birth_date > 3`` fails when it is written, not when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from profilo.store import Store

__all__ = ["Catalogue", "TraitKind", "kind_of_value_type", "read_catalogue"]

TraitKind = Literal["string", "number", "date", "boolean"]

_KINDS: dict[str, TraitKind] = {
    "integer": "number",
    "float": "number",
    "date": "date",
    "datetime": "date",
    "boolean": "boolean",
}


def kind_of_value_type(value_type: str) -> TraitKind:
    """The kind rules compare a trait as, from the value type its source mapping declared."""
    return _KINDS.get(value_type, "string")


@dataclass
class Catalogue:
    """Names a rule may use, with the kind of each trait."""

    traits: dict[str, TraitKind] = field(default_factory=dict)
    computed: dict[str, TraitKind] = field(default_factory=dict)
    identifier_types: set[str] = field(default_factory=set)
    purposes: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    """Filled by the audiences step, which owns segments."""


def read_catalogue(store: Store) -> Catalogue:
    """The golden traits, computed traits, identifier types and consent purposes of a store."""
    observed = store.table("observed_traits")
    rows = store.to_arrow(observed.select("trait", "value_type").distinct())
    traits: dict[str, TraitKind] = {}
    for name, value_type in zip(
        rows.column("trait").to_pylist(), rows.column("value_type").to_pylist(), strict=True
    ):
        kind = kind_of_value_type(value_type)
        # a trait that sources declare with different kinds is compared as text
        traits[name] = kind if traits.get(name, kind) == kind else "string"
    definitions = store.table("trait_definitions")
    defs = store.to_arrow(definitions.select("name", "value_kind"))
    computed: dict[str, TraitKind] = {
        n: k  # type: ignore[misc]
        for n, k in zip(
            defs.column("name").to_pylist(), defs.column("value_kind").to_pylist(), strict=True
        )
    }
    ids = store.table("observed_identifiers")
    identities = store.table("identities")
    id_types = set(store.to_arrow(ids.select("id_type").distinct()).column("id_type").to_pylist())
    id_types |= set(
        store.to_arrow(identities.select("id_type").distinct()).column("id_type").to_pylist()
    )
    consents = store.table("consents")
    purposes = set(
        store.to_arrow(consents.select("purpose").distinct()).column("purpose").to_pylist()
    )
    return Catalogue(traits, computed, id_types, purposes)
