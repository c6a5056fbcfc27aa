"""Collect: every way data comes in — batch imports of files and databases, and Segment messages
(the tracking API's checks, spool, loader, sources, tracking plans, webhooks and quarantine)."""

from profilo.collect.importer import ImportResult, import_source, register_source
from profilo.collect.loader import Loader, LoadResult
from profilo.collect.mapping import (
    CONSENT_PURPOSES,
    IDENTIFIER_TYPES,
    SourceMapping,
    load_mapping,
    parse_mapping,
)
from profilo.collect.messages import MESSAGE_TYPES, Rejection, messages_to_records
from profilo.collect.plans import PlanChecker, TrackingPlan, parse_plan
from profilo.collect.quarantine import fix_quarantined, list_quarantine, replay_quarantined
from profilo.collect.sources import SOURCE_KINDS, Registry, add_source, list_sources, set_plan
from profilo.collect.spool import SpoolReader, SpoolWriter
from profilo.collect.stats import collect_status
from profilo.collect.tracking import Accepted, Limits, RequestRejected, accept
from profilo.collect.webhooks import WebhookMapping, parse_webhook_mapping

__all__ = [
    "CONSENT_PURPOSES",
    "IDENTIFIER_TYPES",
    "MESSAGE_TYPES",
    "SOURCE_KINDS",
    "Accepted",
    "ImportResult",
    "Limits",
    "LoadResult",
    "Loader",
    "PlanChecker",
    "Registry",
    "Rejection",
    "RequestRejected",
    "SourceMapping",
    "SpoolReader",
    "SpoolWriter",
    "TrackingPlan",
    "WebhookMapping",
    "accept",
    "add_source",
    "collect_status",
    "fix_quarantined",
    "import_source",
    "list_quarantine",
    "list_sources",
    "load_mapping",
    "messages_to_records",
    "parse_mapping",
    "parse_plan",
    "parse_webhook_mapping",
    "register_source",
    "replay_quarantined",
    "set_plan",
]
