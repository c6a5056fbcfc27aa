"""Identity rules: which identifier types join records, their priorities and limits, blocked values.

The semantics follow Segment's identity resolution. Each identifier type has a *priority* (1 is the
strongest) and a *limit*: how many distinct values of that type one profile may hold. When a link
would merge two profiles into one that breaks a limit, the merge is not made and the link is left
out (recorded as a conflict); links are applied strongest type first, so the weakest identifier is
the one left out. Blocked values (``test@test.com``, ``0000000000``, ``null``…) never join anything,
and a *hub* value — one whose records belong to more than ``hub_threshold`` different known
people — is flagged and left out too.

Rules are data: :meth:`IdentityRules.from_yaml` reads them from a file like::

    types:
      - {name: user_id, priority: 1, limit: 1}
      - {name: email, priority: 3, limit: 5}
    blocked_values: ["shop@example.com"]
    hub_threshold: 10
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from profilo.errors import ConfigError, unknown_choice
from profilo.store import Store

__all__ = [
    "DEFAULT_BLOCKED_PATTERNS",
    "DEFAULT_TYPES",
    "EXPLICIT_LINK",
    "MATCH_LINK",
    "IdentifierType",
    "IdentityRules",
    "MatchThresholds",
    "load_rules",
    "save_rules",
]

MATCH_LINK = "match"
"""The pseudo identifier type of an accepted probabilistic match (its value is the pair id)."""
EXPLICIT_LINK = "alias"
"""How a record joined through an ``alias`` message is described."""


class IdentifierType(BaseModel):
    """One identifier type: its priority (1 strongest) and per-profile limit (None: unlimited)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    priority: int = Field(ge=1)
    limit: int | None = Field(default=None, ge=1)


DEFAULT_TYPES: tuple[IdentifierType, ...] = (
    IdentifierType(name="user_id", priority=1, limit=1),
    IdentifierType(name="crm_id", priority=1, limit=1),
    IdentifierType(name="customer_id", priority=2, limit=2),
    IdentifierType(name="loyalty_id", priority=2, limit=2),
    IdentifierType(name="email", priority=3, limit=5),
    IdentifierType(name="email_sha256", priority=3, limit=5),
    IdentifierType(name="phone", priority=4, limit=3),
    IdentifierType(name="external_id", priority=5, limit=5),
    IdentifierType(name="device_id", priority=6, limit=None),
    IdentifierType(name="anonymous_id", priority=7, limit=None),
)

DEFAULT_BLOCKED_PATTERNS: tuple[str, ...] = (
    # Segment's defaults and their cousins: runs of zeros or dashes, placeholders, test addresses
    r"^[0\-\s.+()]*$",
    r"^(-1|null|none|nil|undefined|anonymous|unknown|n/?a|test|guest|\[object object\])$",
    r"^(test|noemail|no-?reply|none|null|example|fake|asdf|abc)@",
    r"@(example\.(com|org|net)|test\.com|mailinator\.com)$",
    r"^\+?(0{7,}|1{7,}|2{7,}|3{7,}|4{7,}|5{7,}|6{7,}|7{7,}|8{7,}|9{7,})$",
    r"^\+?0*123456789?0?$",
)


class MatchThresholds(BaseModel):
    """Probabilistic matching outcomes by match probability: merge, review, or keep apart."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merge: float = Field(default=0.999, gt=0, le=1)
    review: float = Field(default=0.90, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> MatchThresholds:
        if self.review > self.merge:
            raise ValueError(
                f"review threshold {self.review} is above merge threshold {self.merge}"
            )
        return self


class IdentityRules(BaseModel):
    """A workspace's identity rules (defaults follow Segment, with CRM ids as strong as user ids)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    types: tuple[IdentifierType, ...] = DEFAULT_TYPES
    blocked_values: tuple[str, ...] = ()
    """Exact normalised values that never join (any type), e.g. a shop's shared e-mail."""
    blocked_patterns: tuple[str, ...] = DEFAULT_BLOCKED_PATTERNS
    """Regular expressions (case-insensitive, on the normalised value) that never join."""
    hub_threshold: int = Field(default=10, ge=2)
    """A value whose records belong to more than this many known people is a hub."""
    thresholds: MatchThresholds = MatchThresholds()

    @field_validator("types")
    @classmethod
    def _unique(cls, types: tuple[IdentifierType, ...]) -> tuple[IdentifierType, ...]:
        names = [t.name for t in types]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"identifier type listed twice: {', '.join(doubles)}")
        if MATCH_LINK in names:
            raise ValueError(f"{MATCH_LINK!r} is reserved for probabilistic matches")
        return types

    @field_validator("blocked_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"blocked pattern {pattern!r} is not a regular expression: {exc}"
                ) from None
        return patterns

    def ordered_types(self) -> tuple[IdentifierType, ...]:
        """Types strongest first (priority, then name), then the probabilistic-match pseudo type."""
        ranked = sorted(self.types, key=lambda t: (t.priority, t.name))
        last = max((t.priority for t in self.types), default=0) + 1
        return (*ranked, IdentifierType(name=MATCH_LINK, priority=last, limit=None))

    def type_named(self, name: str) -> IdentifierType:
        """The type called ``name`` (raises with the known names otherwise)."""
        for kind in self.ordered_types():
            if kind.name == name:
                return kind
        raise ConfigError(unknown_choice("identifier type", name, [t.name for t in self.types]))

    def is_blocked(self, value: str) -> bool:
        """Whether a normalised value is blocked from joining profiles."""
        if value in self.blocked_values:
            return True
        return any(re.search(p, value, flags=re.IGNORECASE) for p in self.blocked_patterns)

    def blocked_mask(self, values: pa.Array) -> pa.Array:
        """Which of many normalised values are blocked (vectorised; patterns are RE2-compatible)."""
        mask = pc.is_in(values, value_set=pa.array(list(self.blocked_values), pa.string()))
        for pattern in self.blocked_patterns:
            hit = pc.match_substring_regex(values, pattern, ignore_case=True)
            mask = pc.or_(mask, pc.fill_null(hit, False))
        return pc.fill_null(mask, False)

    def fingerprint(self) -> str:
        """A short text that changes whenever the rules change."""
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    @classmethod
    def from_yaml(cls, path: Path) -> IdentityRules:
        """Read rules from a YAML file (missing keys keep their defaults)."""
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read identity rules {path}: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValueError as exc:
            raise ConfigError(f"identity rules {path}: {exc}") from None


def save_rules(store: Store, rules: IdentityRules) -> None:
    """Make ``rules`` the workspace's identity rules (the next run rebuilds if they changed)."""
    from datetime import UTC, datetime

    store.upsert(
        "identity_settings",
        {
            "name": "rules",
            "value": rules.model_dump(mode="json"),
            "fingerprint": rules.fingerprint(),
            "updated_at": datetime.now(UTC),
        },
        key=["name"],
    )


def load_rules(store: Store) -> IdentityRules:
    """The workspace's identity rules (the defaults until some are saved)."""
    import json

    settings = store.table("identity_settings")
    found = store.to_arrow(settings.filter(settings.name == "rules").select("value"))
    if not found.num_rows or found.column(0)[0].as_py() is None:
        return IdentityRules()
    value = found.column(0)[0].as_py()
    data = json.loads(value) if isinstance(value, str) else value
    try:
        return IdentityRules.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"the workspace's stored identity rules do not validate: {exc}") from None
