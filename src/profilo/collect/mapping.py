"""Source mappings: the declarative description of how a file or table becomes Profilo records.

A mapping is YAML; every field is checked, and a typo names the field and the valid choices::

    source: crm_contacts            # unique name of the source in the workspace
    party: first                    # first | second | third
    category: crm                   # crm, ecommerce, web, app, shop, email, helpdesk, survey, partner, other
    format: csv                     # csv | jsonl | parquet | sql | segment (JSON Lines of Segment messages)
    path: crm_contacts.csv          # relative to the mapping file (files); or
    # url: postgresql://…  + table: contacts  or  query: "select …"   (format: sql)
    csv: {delimiter: ",", encoding: utf-8}
    default_country: FR             # region for phone numbers without +country
    timezone: Europe/Paris          # for timestamps without offset
    key: [contact_id]               # columns whose values make the record key (idempotent re-imports)
    updated_at: {column: modified}  # when the row was true (trait lineage); else the import time
    identifiers:
      - {column: email, type: email}
      - {column: crm_id, type: crm_id}
      - {column: mobile, type: phone}
    traits:
      first_name: {column: first_name, type: name}
      birth_date: {column: dob, type: date, format: "%d/%m/%Y"}
    consents:                       # a column per purpose, or purpose_column for a consent log
      - {purpose: email_marketing, column: optin_email, time: optin_date, legal_basis: consent}
    event:                          # present when each row is an event (an order, a ticket…)
      name: Order Completed         # a fixed name, or name_column: the column that holds it
      timestamp: {column: ordered_at}
      properties:
        order_id: {column: order_id}
        revenue: {column: total, type: float}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from profilo.errors import MappingError

__all__ = [
    "CONSENT_PURPOSES",
    "IDENTIFIER_TYPES",
    "VALUE_TYPES",
    "ColumnSpec",
    "ConsentSpec",
    "CsvOptions",
    "EventSpec",
    "IdentifierSpec",
    "SourceMapping",
    "load_mapping",
    "parse_mapping",
]

IDENTIFIER_TYPES: tuple[str, ...] = (
    "user_id",
    "email",
    "phone",
    "crm_id",
    "loyalty_id",
    "customer_id",
    "anonymous_id",
    "device_id",
    "email_sha256",
    "external_id",
)
"""Identifier types known out of the box; a workspace may declare more (identity issue)."""

VALUE_TYPES: tuple[str, ...] = (
    "string",
    "text",
    "integer",
    "float",
    "boolean",
    "date",
    "datetime",
    "email",
    "phone",
    "name",
    "postal_code",
    "city",
    "country",
    "address",
    "json",
)

CONSENT_PURPOSES: tuple[str, ...] = (
    "email_marketing",
    "sms_marketing",
    "ad_targeting",
    "personalisation",
    "analytics",
    "data_sharing",
)

CONSENT_LEGAL_BASES: tuple[str, ...] = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_task",
    "legitimate_interest",
)


def _column_shorthand(value: Any) -> Any:
    """Allow ``trait: column_name`` as short for ``trait: {column: column_name}``."""
    if isinstance(value, str):
        return {"column": value}
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One input column and how to read it."""

    column: str
    type: Literal[
        "string",
        "text",
        "integer",
        "float",
        "boolean",
        "date",
        "datetime",
        "email",
        "phone",
        "name",
        "postal_code",
        "city",
        "country",
        "address",
        "json",
    ] = "string"
    format: str | None = None
    """strptime format for dates and datetimes; ISO 8601 is tried when absent."""
    required: bool = False
    """A row whose value is missing or invalid is quarantined rather than stored with a null."""


Column = Annotated[ColumnSpec, BeforeValidator(_column_shorthand)]


class IdentifierSpec(_Strict):
    """A column holding an identifier of the person (e-mail, phone, CRM id…)."""

    column: str
    type: str

    @model_validator(mode="after")
    def _known_type(self) -> IdentifierSpec:
        if self.type not in IDENTIFIER_TYPES:
            known = ", ".join(IDENTIFIER_TYPES)
            raise ValueError(f"unknown identifier type {self.type!r}; known: {known}")
        return self


class ConsentSpec(_Strict):
    """A column holding a consent status (yes/no, granted/withdrawn, opted in/out…).

    The purpose is fixed (``purpose: email_marketing``) for a column per purpose, as in a CRM
    export, or read from another column (``purpose_column: purpose``) for a consent log with one
    purpose per row.
    """

    purpose: (
        Literal[
            "email_marketing",
            "sms_marketing",
            "ad_targeting",
            "personalisation",
            "analytics",
            "data_sharing",
        ]
        | None
    ) = None
    purpose_column: str | None = None
    column: str
    time: str | None = None
    """Column with when the consent was given or withdrawn; the record time when absent."""
    legal_basis: Literal[
        "consent",
        "contract",
        "legal_obligation",
        "vital_interest",
        "public_task",
        "legitimate_interest",
    ] = "consent"

    @model_validator(mode="after")
    def _one_purpose(self) -> ConsentSpec:
        if (self.purpose is None) == (self.purpose_column is None):
            raise ValueError("give exactly one of 'purpose' (fixed) or 'purpose_column'")
        return self


class EventSpec(_Strict):
    """Each row is an event: an order, a ticket, an e-mail open, a survey answer…"""

    name: str | None = None
    name_column: str | None = None
    timestamp: Column
    properties: dict[str, Column] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_name(self) -> EventSpec:
        if (self.name is None) == (self.name_column is None):
            raise ValueError("give exactly one of 'name' (a fixed event name) or 'name_column'")
        return self


class CsvOptions(_Strict):
    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    header: bool = True


class SourceMapping(_Strict):
    """How one source's rows become Profilo records; see the module docstring."""

    source: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    party: Literal["first", "second", "third"] = "first"
    category: Literal[
        "crm",
        "ecommerce",
        "web",
        "app",
        "shop",
        "email",
        "helpdesk",
        "survey",
        "partner",
        "other",
    ] = "other"
    format: Literal["csv", "jsonl", "parquet", "sql", "segment"]
    path: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None
    csv: CsvOptions = Field(default_factory=CsvOptions)
    default_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timezone: str = "UTC"
    key: list[str] = Field(default_factory=list)
    updated_at: Column | None = None
    identifiers: list[IdentifierSpec] = Field(default_factory=list)
    traits: dict[str, Column] = Field(default_factory=dict)
    consents: list[ConsentSpec] = Field(default_factory=list)
    event: EventSpec | None = None
    base_dir: Path | None = Field(default=None, exclude=True)
    """Folder of the mapping file, against which ``path`` is resolved."""

    @model_validator(mode="after")
    def _check(self) -> SourceMapping:
        if self.format == "sql":
            if not self.url:
                raise ValueError("format 'sql' needs 'url'")
            if (self.table is None) == (self.query is None):
                raise ValueError("format 'sql' needs exactly one of 'table' or 'query'")
        elif not self.path:
            raise ValueError(f"format {self.format!r} needs 'path'")
        if self.format != "segment" and not self.key:
            raise ValueError("'key' must name at least one column (it makes re-imports idempotent)")
        if self.format != "segment" and not (self.identifiers or self.event):
            raise ValueError(
                "a mapping needs 'identifiers' (records of people) or 'event' (or both)"
            )
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        return self

    def input_columns(self) -> list[str]:
        """Every input column the mapping reads, in a stable order, without repeats."""
        cols: list[str] = list(self.key)
        if self.updated_at:
            cols.append(self.updated_at.column)
        cols += [i.column for i in self.identifiers]
        cols += [t.column for t in self.traits.values()]
        for c in self.consents:
            cols.append(c.column)
            if c.purpose_column:
                cols.append(c.purpose_column)
            if c.time:
                cols.append(c.time)
        if self.event:
            if self.event.name_column:
                cols.append(self.event.name_column)
            cols.append(self.event.timestamp.column)
            cols += [p.column for p in self.event.properties.values()]
        return list(dict.fromkeys(cols))

    def resolved_path(self) -> Path:
        """The data file's path, resolved against the mapping file's folder."""
        if self.path is None:
            raise MappingError(f"source {self.source!r}: no 'path' to resolve")
        path = Path(self.path)
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path


def _describe(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid source mapping {origin}:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err["type"] == "literal_error":
            msg = f"{msg}; got {err.get('input')!r}"
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse_mapping(data: Any, *, origin: str = "", base_dir: Path | None = None) -> SourceMapping:
    """Validate a mapping given as a dict (as read from YAML).

    >>> m = parse_mapping({"source": "shop", "format": "csv", "path": "a.csv", "key": ["id"],
    ...                    "identifiers": [{"column": "mail", "type": "email"}]})
    >>> m.identifiers[0].type
    'email'
    """
    if not isinstance(data, dict):
        raise MappingError(f"invalid source mapping {origin}: expected a mapping at the top level")
    try:
        mapping = SourceMapping.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise MappingError(_describe(exc, origin)) from None
    return mapping


def load_mapping(path: str | Path) -> SourceMapping:
    """Read and validate a mapping YAML file; ``path`` in it is relative to the file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from None
    return parse_mapping(data, origin=str(path), base_dir=path.parent.resolve())
