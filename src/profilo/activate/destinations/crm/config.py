"""Settings of the ``crm`` destination (HubSpot's CRM v3 contacts API)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from profilo.activate.destinations._settings import DestinationSettings

__all__ = ["CrmSettings"]

_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def _property_name(value: str) -> str:
    if not _PROPERTY_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a HubSpot property internal name (lower-case letters, digits, '_')"
        )
    return value


class CrmSettings(DestinationSettings):
    """How Profilo finds and writes contacts in the CRM.

    Contacts are found by ``external_id_property`` first (a HubSpot property with unique values
    holding the value named by ``external_id_from``), then by e-mail; an upsert writes the change's
    fields as properties, and segment memberships into ``membership_property`` (a multi-value
    property, values separated by ``;`` as HubSpot's multiple-checkbox properties are).
    """

    base_url: str = "https://api.hubapi.com"
    external_id_property: str | None = "profilo_id"
    """HubSpot property with unique values that holds the external id; None to match by e-mail."""
    external_id_from: str = "profile_id"
    """Where the external id comes from: ``profile_id``, or an identifier type (e.g. ``crm_id``)."""
    membership_property: str = "profilo_segments"
    purposes: tuple[str, ...] = ("personalisation",)
    max_batch: int = Field(default=100, ge=1, le=100)
    """HubSpot's batch endpoints take at most 100 inputs."""
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("external_id_property")
    @classmethod
    def _external_id_property(cls, value: str | None) -> str | None:
        return None if value is None else _property_name(value)

    @field_validator("membership_property")
    @classmethod
    def _membership_property(cls, value: str) -> str:
        return _property_name(value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")
