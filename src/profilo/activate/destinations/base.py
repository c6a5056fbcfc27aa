"""The one small interface every destination implements.

The sync engine (``profilo.activate.sync``) turns segment enters and exits and trait changes into
:class:`Change` items, checks consent, maps fields, batches, rate-limits and retries; a destination
only knows how to deliver a batch of changes to its tool and to say, per item, what happened.

A destination may also take a batch as an Arrow table (``send_table``, see
:class:`TableDestination`): the engine then hands it the batch's columns and builds no
:class:`Change` per item. It is optional; a destination with ``send`` only works as before.

A destination never retries by itself: it raises :class:`DeliveryError` (whole batch) or reports
per-item failures in :class:`Outcome`, each marked retryable or not, and the engine decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from profilo.errors import ProfiloError

__all__ = [
    "PURPOSES",
    "Change",
    "DeliveryError",
    "Destination",
    "DestinationFactory",
    "ItemFailure",
    "Outcome",
    "TableDestination",
    "destination_kinds",
    "identifier_rows",
    "make_destination",
    "register",
    "struct_rows",
]

PURPOSES: tuple[str, ...] = (
    "email_marketing",
    "sms_marketing",
    "ad_targeting",
    "personalisation",
    "analytics",
)
"""The purposes a destination may declare; consent records use the same names."""


@dataclass(frozen=True)
class Change:
    """One thing to tell a destination about one profile."""

    change_id: str
    """Idempotency key: the same change delivered twice must have the effect of once."""
    profile_id: str
    action: Literal["upsert", "remove"]
    """``upsert``: the profile entered the audience or its traits changed; ``remove``: it left
    (exit, consent withdrawn, erased)."""
    audience: str | None
    """The segment this change is about, or None for a trait sync."""
    fields: Mapping[str, Any]
    """Values after the destination's field mapping (traits, computed traits, segments)."""
    identifiers: Mapping[str, Sequence[str]]
    """The profile's identifiers by type (``email``, ``phone``, ``crm_id``, …), normalised."""
    occurred_at: datetime


@dataclass(frozen=True)
class ItemFailure:
    reason: str
    retryable: bool


@dataclass
class Outcome:
    """What happened to each change of a batch; a change in neither map was delivered."""

    failed: dict[str, ItemFailure] = field(default_factory=dict)
    """change_id → why it failed."""
    details: dict[str, Any] = field(default_factory=dict)
    """Anything worth keeping in the delivery log (remote ids, file paths, counts)."""


class DeliveryError(ProfiloError):
    """The whole batch failed; ``retryable`` says whether trying again may help."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the destination asked us to wait (e.g. a 429's Retry-After), if it said."""


class Destination(Protocol):
    """A configured destination, ready to deliver."""

    kind: ClassVar[str]
    purposes: tuple[str, ...]
    """What the destination is used for; a profile is sent only with a valid consent for each."""
    max_batch: int
    """The largest batch ``send`` accepts."""

    def send(self, batch: Sequence[Change]) -> Outcome: ...

    def close(self) -> None: ...


class TableDestination(Destination, Protocol):
    """A destination that also takes a batch as one Arrow table (the engine's columnar path).

    The table has the columns ``change_id``, ``action`` (``upsert`` / ``remove``),
    ``profile_id``, ``audience`` (null for a trait sync), ``occurred_at`` (timestamp, UTC),
    ``fields`` (a struct, one child per output name in the definition's order; null for a
    remove) and ``identifiers`` (a struct of ``list<string>``, one child per identifier type
    sent, sorted; a null or empty list means none) — the same data as the :class:`Change`
    objects ``send`` would get, with the same outcome expected.

    It may also make each change's text ahead of sending, with a method
    ``change_texts(changes: pa.Table) -> pa.Array``: the engine then calls it once per chunk
    while preparing it (off the thread that sends), with the chunk's changes and their
    ``fields_json`` and ``identifiers_json`` (the JSON objects of ``fields``, in the
    definition's order, and of ``identifiers``; ``{}`` where none), and each batch's table
    carries the texts as a ``text`` column, in place of ``fields`` and ``identifiers``.
    """

    def send_table(self, batch: pa.Table) -> Outcome: ...


def struct_rows(values: pa.StructArray | pa.ChunkedArray) -> list[dict[str, Any]]:
    """A struct column as one dict per row (a null row is an empty dict), values as the row
    path sends them (whole doubles as ints)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    names = [f.name for f in values.type]
    if not names:
        return [{} for _ in range(len(values))]
    columns = []
    for f, child in zip(values.type, values.flatten(), strict=True):
        column = child.to_pylist()
        if pa.types.is_floating(f.type):
            column = [_plain(v) for v in column]
        columns.append(column)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    if values.null_count:
        for i in pc.indices_nonzero(values.is_null()).to_pylist():
            rows[i] = {}
    return rows


def identifier_rows(values: pa.StructArray | pa.ChunkedArray) -> list[dict[str, list[str]]]:
    """An identifiers struct column as one dict per row, without the types a row has none of."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kinds = [f.name for f in values.type]
    columns = [child.to_pylist() for child in values.flatten()]
    if len(kinds) == 1:
        kind = kinds[0]
        return [{kind: v} if v else {} for v in columns[0]]
    if not kinds:
        return [{} for _ in range(len(values))]
    return [
        {k: v for k, v in zip(kinds, row, strict=True) if v} for row in zip(*columns, strict=True)
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


DestinationFactory = Callable[[Mapping[str, Any], Mapping[str, str]], Destination]
"""Builds a destination from its settings and its decrypted credentials."""

_KINDS: dict[str, DestinationFactory] = {}


def register(kind: str) -> Callable[[DestinationFactory], DestinationFactory]:
    """Decorator: make ``kind`` a destination type built by the decorated factory."""

    def add(factory: DestinationFactory) -> DestinationFactory:
        _KINDS[kind] = factory
        return factory

    return add


def destination_kinds() -> list[str]:
    return sorted(_KINDS)


def make_destination(
    kind: str, settings: Mapping[str, Any], credentials: Mapping[str, str]
) -> Destination:
    """A destination of ``kind``; raises ConfigError for an unknown kind."""
    from profilo.errors import ConfigError

    if kind not in _KINDS:
        raise ConfigError(
            f"unknown destination kind {kind!r}; known: {', '.join(destination_kinds())}"
        )
    return _KINDS[kind](settings, credentials)
