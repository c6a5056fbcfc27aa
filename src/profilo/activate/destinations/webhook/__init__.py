"""Webhook destination: signed JSON batches to an HTTPS endpoint (see :mod:`.client`)."""

from __future__ import annotations

from profilo.activate.destinations.webhook.client import (
    WebhookDestination,
    WebhookSettings,
    change_json,
)
from profilo.activate.destinations.webhook.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    verify_signature,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDestination",
    "WebhookSettings",
    "change_json",
    "sign",
    "verify_signature",
]
