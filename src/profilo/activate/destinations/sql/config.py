"""Settings of the ``sql`` destination (reverse ETL into a database table)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from profilo.activate.destinations._settings import DestinationSettings
from profilo.errors import ConfigError
from profilo.store.external import COLUMN_TYPES, valid_name
from profilo.store.url import parse_store_url

__all__ = ["SqlSettings"]


class SqlSettings(DestinationSettings):
    """Which database and table, and what a ``remove`` does there.

    ``on_remove: delete`` clears the segment's flag and deletes the rows left in no synced segment
    (and, for a remove without a segment, deletes the row); ``flag`` only clears flags.
    """

    url: str
    """``postgresql://user@host:5432/db?schema=name`` or ``duckdb:///path/file.duckdb``."""
    table: str
    on_remove: Literal["delete", "flag"] = "delete"
    flag_prefix: str = "in_"
    """Segment flags are boolean columns named ``<prefix><segment>``."""
    updated_column: str = "profilo_updated_at"
    columns: dict[str, str] = Field(default_factory=dict)
    """Types of columns to create (``text``, ``bigint``, ``double``, ``boolean``,
    ``timestamptz``, ``date``, ``json``); others take the type of their first value."""
    purposes: tuple[str, ...] = ("analytics",)
    max_batch: int = Field(default=1000, ge=1, le=50000)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            parse_store_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("table", "updated_column")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return valid_name(value, "table or column")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("flag_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        try:
            valid_name(value + "x", "flag prefix")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, kind in value.items():
            try:
                valid_name(name)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            if kind not in COLUMN_TYPES:
                raise ValueError(
                    f"column {name!r}: unknown type {kind!r}; known: {', '.join(COLUMN_TYPES)}"
                )
        return value
