"""The ``crm`` destination: contacts, traits and segment memberships in HubSpot's CRM v3 API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profilo.activate.destinations._settings import parse_settings, require_credential
from profilo.activate.destinations.base import register
from profilo.activate.destinations.crm.client import HubSpotClient, RateWindow
from profilo.activate.destinations.crm.config import CrmSettings
from profilo.activate.destinations.crm.contacts import CrmDestination, property_value
from profilo.activate.ssrf import NetworkPolicy

__all__ = [
    "CrmDestination",
    "CrmSettings",
    "HubSpotClient",
    "RateWindow",
    "make_crm",
    "property_value",
]


@register("crm")
def make_crm(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> CrmDestination:
    """A ``crm`` destination; the credential ``token`` is a HubSpot private-app access token."""
    config = parse_settings("crm", CrmSettings, settings)
    token = require_credential("crm", credentials, "token")
    policy = NetworkPolicy.for_destination(settings)
    client = HubSpotClient(config.base_url, token, policy=policy, timeout=config.timeout)
    return CrmDestination(config, client)
