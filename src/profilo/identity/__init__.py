"""Identity: recognise one person across every source (identity graph, rules, matching, merges)."""

from profilo.identity.graph import GraphInput, Resolution, connected_components, resolve_graph
from profilo.identity.merges import RecordRef, mark_never_same, parse_record, split_record
from profilo.identity.resolve import ResolveReport, profile_id_of, resolve_identities
from profilo.identity.rules import IdentifierType, IdentityRules, MatchThresholds

__all__ = [
    "GraphInput",
    "IdentifierType",
    "IdentityRules",
    "MatchThresholds",
    "RecordRef",
    "Resolution",
    "ResolveReport",
    "connected_components",
    "mark_never_same",
    "parse_record",
    "profile_id_of",
    "resolve_graph",
    "resolve_identities",
    "split_record",
]
