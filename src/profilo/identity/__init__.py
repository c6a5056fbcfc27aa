"""Identity: recognise one person across every source (identity graph, rules, matching, merges)."""

from profilo.identity.evaluate import Evaluation, evaluate_clusters, read_truth, write_clusters
from profilo.identity.explain import explain_pair, explain_profile, explain_record
from profilo.identity.graph import GraphInput, Resolution, connected_components, resolve_graph
from profilo.identity.matching import (
    PERSON_MODEL,
    MatchField,
    MatchModel,
    MatchReport,
    decide_pair,
    match_records,
    review_queue,
    score_pairs,
)
from profilo.identity.merges import RecordRef, mark_never_same, parse_record, split_record
from profilo.identity.resolve import ResolveReport, profile_id_of, resolve_identities
from profilo.identity.rules import (
    IdentifierType,
    IdentityRules,
    MatchThresholds,
    load_rules,
    save_rules,
)
from profilo.identity.run import run_identity
from profilo.identity.survivorship import SurvivorshipRules, build_profiles

__all__ = [
    "PERSON_MODEL",
    "Evaluation",
    "GraphInput",
    "IdentifierType",
    "IdentityRules",
    "MatchField",
    "MatchModel",
    "MatchReport",
    "MatchThresholds",
    "RecordRef",
    "Resolution",
    "ResolveReport",
    "SurvivorshipRules",
    "build_profiles",
    "connected_components",
    "decide_pair",
    "evaluate_clusters",
    "explain_pair",
    "explain_profile",
    "explain_record",
    "load_rules",
    "mark_never_same",
    "match_records",
    "parse_record",
    "profile_id_of",
    "read_truth",
    "resolve_graph",
    "resolve_identities",
    "review_queue",
    "run_identity",
    "save_rules",
    "score_pairs",
    "split_record",
    "write_clusters",
]
