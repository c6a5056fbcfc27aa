"""The ``email`` destination: a message per profile through SMTP, from a sandboxed template."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profilo.activate.destinations._settings import parse_settings, require_credential
from profilo.activate.destinations.base import register
from profilo.activate.destinations.email.config import EmailSettings
from profilo.activate.destinations.email.smtp import EmailDestination

__all__ = ["EmailDestination", "EmailSettings", "make_email"]


@register("email")
def make_email(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> EmailDestination:
    """An ``email`` destination; with ``username`` set, the credential ``password`` is required."""
    config = parse_settings("email", EmailSettings, settings)
    password = require_credential("email", credentials, "password") if config.username else None
    return EmailDestination(config, password)
