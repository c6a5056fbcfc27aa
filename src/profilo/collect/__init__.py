"""Collect: every way data comes in — batch imports of files and databases, and Segment messages."""

from profilo.collect.importer import ImportResult, import_source, register_source
from profilo.collect.mapping import (
    CONSENT_PURPOSES,
    IDENTIFIER_TYPES,
    SourceMapping,
    load_mapping,
    parse_mapping,
)
from profilo.collect.messages import MESSAGE_TYPES, Rejection, messages_to_records

__all__ = [
    "CONSENT_PURPOSES",
    "IDENTIFIER_TYPES",
    "MESSAGE_TYPES",
    "ImportResult",
    "Rejection",
    "SourceMapping",
    "import_source",
    "load_mapping",
    "messages_to_records",
    "parse_mapping",
    "register_source",
]
