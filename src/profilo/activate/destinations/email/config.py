"""Settings of the ``email`` destination (SMTP)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from profilo.activate.destinations._settings import DestinationSettings

__all__ = ["EmailSettings"]

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class EmailSettings(DestinationSettings):
    """Where to send, as whom, and the templates of the message.

    ``subject``, ``text`` and the optional ``html`` are Jinja2 templates over the profile's fields;
    ``list_unsubscribe`` (optional, also a template) becomes the ``List-Unsubscribe`` header.
    """

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    """Upgrade the connection with STARTTLS (fail if the server does not offer it)."""
    ssl: bool = False
    """Implicit TLS from the first byte (port 465) instead of STARTTLS."""
    tls_ca_file: str | None = None
    """CA bundle to verify the server with, instead of the system's."""
    username: str | None = None
    """Log in as this user (password: the credential ``password``)."""
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None
    subject: str
    text: str
    html: str | None = None
    list_unsubscribe: str | None = None
    send_on_trait_change: bool = False
    """Also mail on trait changes (``audience`` None); by default only on entering a segment."""
    purposes: tuple[str, ...] = ("email_marketing",)
    max_batch: int = Field(default=50, ge=1, le=1000)
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("from_address", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailSettings:
        if self.ssl and self.starttls:
            raise ValueError("choose one of ssl (implicit TLS) and starttls, not both")
        return self
