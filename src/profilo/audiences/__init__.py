"""Audiences: the segment rule language, its compiler, and memberships in batch and real time."""

from profilo.audiences.compile import Context, compile_rule
from profilo.audiences.evaluate import ProfileState, matches
from profilo.audiences.memberships import (
    Change,
    SegmentRun,
    evaluate_segments,
    mark_delivered,
    membership_history,
    read_outbox,
    record_changes,
)
from profilo.audiences.rules import Rule, RuleError, parse_rule, rule_json
from profilo.audiences.segments import (
    Segment,
    archive_segment,
    compile_context,
    estimate_size,
    get_segment,
    list_segments,
    overlap,
    preview_members,
    read_rule,
    remove_segment,
    rename_segment,
    save_segment,
)
from profilo.audiences.text import parse_text, rule_text
from profilo.audiences.validate import validate_rule

__all__ = [
    "Change",
    "Context",
    "ProfileState",
    "Rule",
    "RuleError",
    "Segment",
    "SegmentRun",
    "archive_segment",
    "compile_context",
    "compile_rule",
    "estimate_size",
    "evaluate_segments",
    "get_segment",
    "list_segments",
    "mark_delivered",
    "matches",
    "membership_history",
    "overlap",
    "parse_rule",
    "parse_text",
    "preview_members",
    "read_outbox",
    "read_rule",
    "record_changes",
    "remove_segment",
    "rename_segment",
    "rule_json",
    "rule_text",
    "save_segment",
    "validate_rule",
]
