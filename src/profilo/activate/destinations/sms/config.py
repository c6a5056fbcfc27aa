"""Settings of the ``sms`` destination (Twilio's Programmable Messaging API)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from profilo.activate.destinations._settings import DestinationSettings

__all__ = ["E164", "SmsSettings"]

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
"""A phone number in E.164: ``+``, country code, subscriber number; at most 15 digits."""


class SmsSettings(DestinationSettings):
    """Which account sends, from which number (or Messaging Service), and the message template."""

    base_url: str = "https://api.twilio.com"
    account_sid: str
    from_number: str | None = None
    messaging_service_sid: str | None = None
    body: str
    """Jinja2 template over the profile's fields (see :mod:`.._templates`)."""
    status_callback: str | None = None
    send_on_trait_change: bool = False
    purposes: tuple[str, ...] = ("sms_marketing",)
    max_batch: int = Field(default=50, ge=1, le=1000)
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("an account SID is 'AC' and 32 hexadecimal digits")
        return value

    @field_validator("messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"MG[0-9a-fA-F]{32}", value):
            raise ValueError("a Messaging Service SID is 'MG' and 32 hexadecimal digits")
        return value

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        if value is not None and not E164.match(value):
            raise ValueError("from_number must be in E.164, e.g. +14155550100")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_sender(self) -> SmsSettings:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number and messaging_service_sid")
        return self
