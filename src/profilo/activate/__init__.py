"""Activation: destinations, the sync engine and its outbox, consent enforcement, personalisation."""

from __future__ import annotations

from profilo.activate.consent import consent_decisions, current_consents, record_consent
from profilo.activate.definitions import (
    DestinationDefinition,
    StoredDestination,
    dump_destinations,
    get_destination,
    list_destinations,
    load_destination_file,
    parse_destination,
    remove_destination,
    save_destination,
)
from profilo.activate.outbox import delivery_counts, delivery_log, list_dead, replay_dead
from profilo.activate.pacing import Clock, RetryPolicy, SystemClock, TokenBucket
from profilo.activate.secrets import Keyring, keyring_for, new_key
from profilo.activate.ssrf import NetworkPolicy, UnsafeTarget
from profilo.activate.sync import SyncOptions, SyncReport, follow, sync_all, sync_destination

__all__ = [
    "Clock",
    "DestinationDefinition",
    "Keyring",
    "NetworkPolicy",
    "RetryPolicy",
    "StoredDestination",
    "SyncOptions",
    "SyncReport",
    "SystemClock",
    "TokenBucket",
    "UnsafeTarget",
    "consent_decisions",
    "current_consents",
    "delivery_counts",
    "delivery_log",
    "dump_destinations",
    "follow",
    "get_destination",
    "keyring_for",
    "list_dead",
    "list_destinations",
    "load_destination_file",
    "new_key",
    "parse_destination",
    "record_consent",
    "remove_destination",
    "replay_dead",
    "save_destination",
    "sync_all",
    "sync_destination",
]
