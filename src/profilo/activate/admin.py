"""What the CLI and the API do with destinations, as functions of the store with plain data in and
out (so :mod:`profilo.store.runner` can run them wherever the store lives).

Settings (the activation key, the SSRF allow list) are read from the environment when a call runs,
in the process that holds the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from profilo.activate.consent import record_consent
from profilo.activate.definitions import (
    get_destination,
    list_destinations,
    parse_destination,
    remove_destination,
    save_destination,
)
from profilo.activate.feeds import read_cursors
from profilo.activate.outbox import delivery_counts, delivery_log, list_dead, replay_dead
from profilo.activate.secrets import Keyring, keyring_for
from profilo.activate.ssrf import parse_networks
from profilo.activate.sync import SyncOptions, sync_all
from profilo.errors import ConfigError
from profilo.settings import Settings
from profilo.store import Store

__all__ = [
    "apply_destination",
    "dead_letters",
    "describe_destination",
    "describe_destinations",
    "drop_destination",
    "log_of",
    "record_consent",
    "replay",
    "run_sync",
    "sync_options",
]


def _allow(settings: Settings) -> tuple[str, ...]:
    return tuple(str(n) for n in parse_networks(settings.activation_allow_networks))


def _keyring(store: Store, settings: Settings, needed: bool) -> Keyring | None:
    try:
        return keyring_for(store.url, settings)
    except ConfigError:
        if needed:
            raise
        return None  # no key, and no credentials to read: fine


def sync_options(store: Store, settings: Settings | None = None, **kw: Any) -> SyncOptions:
    """Options for a sync in this process: the key and the allow list from the settings."""
    settings = settings or Settings()
    return SyncOptions(
        keyring=_keyring(store, settings, needed=False), allow_networks=_allow(settings), **kw
    )


def apply_destination(
    store: Store, definition: dict[str, Any], name: str | None = None
) -> dict[str, Any]:
    """Create or change a destination from its definition (credentials included, kept encrypted)."""
    settings = Settings()
    parsed = parse_destination(definition, name=name)
    keyring = _keyring(store, settings, needed=bool(parsed.credentials))
    changed = save_destination(store, parsed, keyring=keyring, allow_networks=_allow(settings))
    return {"changed": changed, "destination": get_destination(store, parsed.name).as_dict()}


def describe_destinations(store: Store) -> list[dict[str, Any]]:
    """Every destination, with delivery counts; credentials by name only."""
    counts = delivery_counts(store)
    return [
        {**d.as_dict(), "deliveries": counts.get(d.definition.name, {})}
        for d in list_destinations(store)
    ]


def describe_destination(store: Store, name: str) -> dict[str, Any]:
    """One destination, its cursors and delivery counts."""
    stored = get_destination(store, name)
    return {
        **stored.as_dict(),
        "cursors": read_cursors(store, name),
        "deliveries": delivery_counts(store, name).get(name, {}),
    }


def drop_destination(store: Store, name: str) -> dict[str, Any]:
    remove_destination(store, name)
    return {"removed": name}


def run_sync(
    store: Store, names: Sequence[str] | None = None, drain: bool = False
) -> list[dict[str, Any]]:
    """One pass over the destinations named (all enabled ones by default)."""
    options = sync_options(store, drain=drain)
    return [r.as_dict() for r in sync_all(store, names, options)]


def dead_letters(store: Store, name: str, limit: int = 100) -> list[dict[str, Any]]:
    get_destination(store, name)
    return list_dead(store, name, limit=limit)


def replay(store: Store, name: str, change_ids: Sequence[str] | None = None) -> dict[str, int]:
    get_destination(store, name)
    return replay_dead(store, name, datetime.now(UTC), change_ids=change_ids)


def log_of(
    store: Store,
    reference: str,
    destination: str | None = None,
    statuses: Sequence[str] | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    return delivery_log(store, reference, destination=destination, statuses=statuses, limit=limit)
