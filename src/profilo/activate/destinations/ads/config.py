"""Settings of the ``ads`` destination (Google Customer Match, Meta Custom Audiences)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from profilo.activate.destinations._settings import DestinationSettings

__all__ = ["DEFAULT_API", "AdsSettings"]

DEFAULT_API = {
    "google": ("https://googleads.googleapis.com", "v21"),
    "meta": ("https://graph.facebook.com", "v21.0"),
}
"""Base URL and API version used when the settings name none."""


class AdsSettings(DestinationSettings):
    """Which platform, written to files or sent to its API, and which lists stand for which segment.

    ``lists`` maps a segment to the platform's list (Google user list id, Meta custom audience id);
    ``list_id`` serves every segment not in ``lists``. Files need neither: they are named after the
    segment.
    """

    platform: Literal["google", "meta"]
    output: Literal["file", "api"] = "api"
    folder: str | None = None
    """Where ``output: file`` writes (adds and removes in separate files)."""
    base_url: str | None = None
    api_version: str | None = None
    customer_id: str | None = None
    """Google Ads customer id (digits; dashes are dropped)."""
    login_customer_id: str | None = None
    """Google Ads manager account id, when access goes through one."""
    list_id: str | None = None
    lists: dict[str, str] = Field(default_factory=dict)
    default_region: str | None = None
    """ISO country to read phone numbers without ``+`` in (e.g. ``GB``)."""
    purposes: tuple[str, ...] = ("ad_targeting",)
    max_batch: int = Field(default=1000, ge=1, le=10000)
    """Meta takes at most 10,000 users per request; Google advises at most 10,000 operations."""
    timeout: float = Field(default=60.0, gt=0)

    @field_validator("customer_id", "login_customer_id")
    @classmethod
    def _customer_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace("-", "")
        if not digits.isdigit() or len(digits) != 10:
            raise ValueError("a Google Ads customer id has 10 digits (dashes allowed)")
        return digits

    @field_validator("list_id")
    @classmethod
    def _list_id(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError("a user list / custom audience id is digits only")
        return value

    @field_validator("lists")
    @classmethod
    def _lists(cls, value: dict[str, str]) -> dict[str, str]:
        for segment, list_id in value.items():
            if not str(list_id).isdigit():
                raise ValueError(f"list id {list_id!r} of segment {segment!r} is not digits only")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise ValueError("default_region is a 2-letter ISO country code")
        return value.upper() if value else None

    @model_validator(mode="after")
    def _complete(self) -> AdsSettings:
        if self.output == "file":
            if not self.folder:
                raise ValueError("output 'file' needs a folder")
            return self
        if not self.list_id and not self.lists:
            raise ValueError("output 'api' needs list_id or lists (segment → list id)")
        if self.platform == "google" and not self.customer_id:
            raise ValueError("platform 'google' needs customer_id")
        url = self.base_url
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return self

    def api(self) -> tuple[str, str]:
        """Base URL (no trailing ``/``) and API version in use."""
        base, version = DEFAULT_API[self.platform]
        return (self.base_url or base).rstrip("/"), self.api_version or version
