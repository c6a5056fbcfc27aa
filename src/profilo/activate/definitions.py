"""Destination definitions as data: what to send where, for which purposes, how fast.

A definition is written in YAML (or JSON, or through the API) and stored in ``destinations``::

    name: newsletter_tool
    kind: webhook
    purposes: [email_marketing]
    consent: strict                 # strict: no consent = no; lenient: only a denial stops
    audiences: [vip, lapsed]        # segments it follows (enter → upsert, exit → remove)
    traits: false                   # true: every consenting profile, with its fields
    fields:                         # output name → trait:, computed:, identifier: or profile_id
      first_name: trait:first_name
      spend: computed:spend_365d
      email: identifier:email
    identifiers: [email, phone]     # identifier types sent with every change
    settings: {url: "https://hooks.example.com/profilo"}
    credentials: {secret: env:NEWSLETTER_SECRET}
    batch_size: 500
    rate_limit: 10                  # requests per second (token bucket)
    max_attempts: 8
    schedule: realtime              # realtime (every sync pass), manual, or "every 15m"

Credentials are encrypted with the workspace's activation key (:mod:`profilo.activate.secrets`)
and never come back: listings and exports show their names only. A value ``env:NAME`` is read
from the environment when the definition is saved.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from profilo.activate.destinations.base import (
    PURPOSES,
    Destination,
    destination_kinds,
    make_destination,
)
from profilo.activate.secrets import Keyring
from profilo.activate.ssrf import NETWORK_SETTING
from profilo.errors import ConfigError, NotFound, unknown_choice
from profilo.store import Store

__all__ = [
    "MARKETING_PURPOSES",
    "DestinationDefinition",
    "FieldSource",
    "StoredDestination",
    "destination_credentials",
    "dump_destinations",
    "get_destination",
    "list_destinations",
    "load_destination_file",
    "load_kinds",
    "open_destination",
    "parse_destination",
    "remove_destination",
    "save_destination",
]

MARKETING_PURPOSES = frozenset({"email_marketing", "sms_marketing", "ad_targeting"})
"""Purposes for which ``consent: auto`` means strict (a missing consent is a no)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SCHEDULE = re.compile(r"^every\s+(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FIELD_KINDS = ("trait", "computed", "identifier")


def load_kinds() -> list[str]:
    """Import every destination package so it registers its kind; returns the kinds known."""
    import profilo.activate.destinations as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.ispkg:
            importlib.import_module(f"{package.__name__}.{module.name}")
    return destination_kinds()


@dataclass(frozen=True)
class FieldSource:
    """Where an output field's value comes from."""

    kind: Literal["trait", "computed", "identifier", "profile_id"]
    name: str

    @classmethod
    def parse(cls, text: str) -> FieldSource:
        """``trait:x``, ``computed:x``, ``identifier:x``, ``profile_id``, or a bare trait name."""
        text = text.strip()
        if text == "profile_id":
            return cls("profile_id", "profile_id")
        kind, _, name = text.partition(":") if ":" in text else ("trait", "", text)
        if kind not in _FIELD_KINDS:
            raise ValueError(unknown_choice("field source", kind, [*_FIELD_KINDS, "profile_id"]))
        if not name:
            raise ValueError(f"field source {text!r} names nothing; write {kind}:NAME")
        return cls(kind, name)  # type: ignore[arg-type]


class DestinationDefinition(BaseModel):
    """One destination (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    description: str = ""
    enabled: bool = True
    purposes: list[str] = Field(min_length=1)
    consent: Literal["strict", "lenient", "auto"] = "auto"
    audiences: list[str] = Field(default_factory=list)
    traits: bool = False
    fields: dict[str, str] = Field(default_factory=dict)
    identifiers: list[str] = Field(default_factory=lambda: ["email", "phone", "user_id"])
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)
    batch_size: int | None = Field(default=None, ge=1, le=100_000)
    rate_limit: float | None = Field(default=None, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    schedule: str = "realtime"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"invalid destination name {value!r}: a-z, 0-9 and _, up to 64")
        return value

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, value: list[str]) -> list[str]:
        for purpose in value:
            if purpose not in PURPOSES:
                raise ValueError(unknown_choice("purpose", purpose, PURPOSES))
        return sorted(set(value))

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for out, source in value.items():
            if not out or not out.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"invalid output field name {out!r}")
            FieldSource.parse(source)
        return value

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = [k for k in value if k.startswith("_")]
        if reserved:
            raise ValueError(f"settings may not start with '_' ({reserved[0]!r} is reserved)")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("realtime", "manual") and not _SCHEDULE.match(value):
            raise ValueError(
                f"invalid schedule {value!r}: realtime, manual, or every N s|m|h|d (every 15m)"
            )
        return value

    @model_validator(mode="after")
    def _what(self) -> DestinationDefinition:
        if not self.audiences and not self.traits:
            raise ValueError(
                "a destination follows audiences, syncs traits (traits: true), or both"
            )
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("retry_max_seconds must be at least retry_base_seconds")
        return self

    @property
    def strict(self) -> bool:
        """Whether a missing consent means no (``auto``: strict for marketing purposes)."""
        if self.consent == "auto":
            return bool(MARKETING_PURPOSES & set(self.purposes))
        return self.consent == "strict"

    @property
    def field_sources(self) -> dict[str, FieldSource]:
        return {out: FieldSource.parse(src) for out, src in self.fields.items()}

    @property
    def interval(self) -> float | None:
        """Seconds between scheduled syncs (None: every pass for realtime, never for manual)."""
        match = _SCHEDULE.match(self.schedule)
        return int(match.group(1)) * _UNITS[match.group(2)] if match else None

    def public(self) -> dict[str, Any]:
        """The definition as data, without credentials."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class StoredDestination:
    """A saved definition with what the store knows about it (never the credentials' values)."""

    definition: DestinationDefinition
    credential_names: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    last_sync_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.definition.public(),
            "credentials": {name: "********" for name in self.credential_names},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_sync_at": self.last_sync_at,
        }


def _problem(exc: ValidationError, where: str) -> ConfigError:
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "definition"
    message = str(first["msg"]).removeprefix("Value error, ")
    error = ConfigError(f"invalid destination {where}: {path}: {message}")
    error.problems = [(path, message)]  # type: ignore[attr-defined]
    return error


def parse_destination(data: Mapping[str, Any], *, name: str | None = None) -> DestinationDefinition:
    """A definition from a mapping (YAML, JSON); ``name`` fills or overrides its name."""
    if not isinstance(data, Mapping):
        raise ConfigError("a destination definition must be a mapping")
    data = dict(data)
    if name is not None:
        data["name"] = name
    try:
        definition = DestinationDefinition.model_validate(data)
    except ValidationError as exc:
        raise _problem(exc, repr(data.get("name", "?"))) from None
    kinds = load_kinds()
    if definition.kind not in kinds:
        raise ConfigError(unknown_choice("destination kind", definition.kind, kinds))
    return definition


def load_destination_file(path: Path) -> list[DestinationDefinition]:
    """Definitions from a YAML or JSON file: one mapping, a list, or ``{destinations: [...]}``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read destination definitions from {path}: {exc}") from None
    if isinstance(data, dict) and "destinations" in data and "kind" not in data:
        data = data["destinations"]
    items = data if isinstance(data, list) else [data]
    return [parse_destination(item) for item in items]


def dump_destinations(destinations: Iterable[StoredDestination]) -> str:
    """YAML for ``{destinations: [...]}``, credentials named but not given (re-apply keeps them)."""
    items = []
    for stored in destinations:
        data = stored.definition.public()
        if stored.credential_names:
            data["credentials"] = {n: f"env:{n.upper()}" for n in stored.credential_names}
        items.append(data)
    return yaml.safe_dump({"destinations": items}, sort_keys=False, allow_unicode=True)


def _resolve_env(credentials: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key, value in credentials.items():
        if isinstance(value, str) and value.startswith("env:"):
            var = value[4:]
            if var not in os.environ:
                raise ConfigError(f"credential {key!r} reads ${var}, which is not set")
            out[key] = os.environ[var]
        else:
            out[key] = str(value)
    return out


def _rows(store: Store, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    table = store.table("destinations")
    if names is not None:
        table = table.filter(table.name.isin(list(names)))
    return list(store.to_arrow(table.order_by("name").drop("workspace_id")).to_pylist())


def _stored(row: Mapping[str, Any]) -> StoredDestination:
    data = row["definition"]
    data = json.loads(data) if isinstance(data, str) else dict(data)
    names = tuple(data.pop("credential_names", ()))
    return StoredDestination(
        definition=DestinationDefinition.model_validate(data),
        credential_names=names,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_sync_at=row["last_sync_at"],
    )


def list_destinations(store: Store) -> list[StoredDestination]:
    """Every destination of the workspace, by name."""
    return [_stored(row) for row in _rows(store)]


def get_destination(store: Store, name: str) -> StoredDestination:
    """One destination; :class:`NotFound` lists the known ones."""
    rows = _rows(store, [name])
    if not rows:
        known = ", ".join(r["name"] for r in _rows(store)) or "none"
        raise NotFound(f"unknown destination {name!r}; known: {known}")
    return _stored(rows[0])


def _check_settings(
    definition: DestinationDefinition, credentials: Mapping[str, str], allow: Iterable[str]
) -> None:
    """Build the destination once, so bad settings are refused when saved, not at sync time."""
    try:
        destination = open_destination(definition, credentials, allow_networks=allow)
    except ConfigError:
        raise
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"invalid settings for destination {definition.name!r}: {exc}") from None
    destination.close()


def save_destination(
    store: Store,
    definition: DestinationDefinition,
    *,
    keyring: Keyring | None = None,
    allow_networks: Iterable[str] = (),
) -> bool:
    """Create or change a destination; returns whether anything changed.

    New credentials replace the stored ones; a definition without credentials keeps them.
    """
    credentials = _resolve_env(definition.credentials)
    if credentials and keyring is None:
        raise ConfigError("saving credentials needs the activation keyring")
    existing = _rows(store, [definition.name])
    now = datetime.now(UTC)
    token = existing[0]["credentials"] if existing else None
    names = list(_stored(existing[0]).credential_names) if existing else []
    if credentials:
        assert keyring is not None
        if token is not None and keyring.decrypt(token) == credentials:
            credentials = {}
        else:
            token, names = keyring.encrypt(credentials), sorted(credentials)
    checked = credentials or (keyring.decrypt(token) if token and keyring else {})
    _check_settings(definition, checked, allow_networks)
    data = {**definition.public(), "credential_names": names}
    text = json.dumps(data, sort_keys=True)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
    if existing and existing[0]["fingerprint"] == fingerprint and not credentials:
        return False
    store.upsert(
        "destinations",
        {
            "name": definition.name,
            "kind": definition.kind,
            "definition": text,
            "credentials": token,
            "fingerprint": fingerprint,
            "enabled": definition.enabled,
            "created_at": existing[0]["created_at"] if existing else now,
            "updated_at": now,
            "last_sync_at": existing[0]["last_sync_at"] if existing else None,
        },
        key=["name"],
    )
    return True


def remove_destination(store: Store, name: str) -> None:
    """Forget a destination, its cursors and what it holds; its delivery log stays."""
    import pyarrow as pa

    get_destination(store, name)
    match = pa.table({"destination": pa.array([name], pa.string())})
    with store.transaction():
        store.replace_rows("destinations", None, match=pa.table({"name": [name]}))
        for table in ("sync_cursors", "destination_members"):
            store.replace_rows(table, None, match=match)


def destination_credentials(store: Store, name: str, keyring: Keyring | None) -> dict[str, str]:
    """The decrypted credentials of a destination (for the sync engine only)."""
    rows = _rows(store, [name])
    if not rows:
        raise NotFound(f"unknown destination {name!r}")
    token = rows[0]["credentials"]
    if not token:
        return {}
    if keyring is None:
        raise ConfigError(f"destination {name!r} has credentials: the activation key is needed")
    return keyring.decrypt(token)


def open_destination(
    definition: DestinationDefinition,
    credentials: Mapping[str, str],
    *,
    allow_networks: Iterable[str] = (),
) -> Destination:
    """A ready destination; the operator's SSRF allow list travels in a reserved setting."""
    load_kinds()
    settings = {**definition.settings, NETWORK_SETTING: [str(n) for n in allow_networks]}
    return make_destination(definition.kind, settings, credentials)
