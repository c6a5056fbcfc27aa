"""The ``sms`` destination: a text per profile through a Twilio-style Messages API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profilo.activate.destinations._settings import parse_settings, require_credential
from profilo.activate.destinations.base import register
from profilo.activate.destinations.sms.config import SmsSettings
from profilo.activate.destinations.sms.messages import SmsDestination
from profilo.activate.ssrf import NetworkPolicy

__all__ = ["SmsDestination", "SmsSettings", "make_sms"]


@register("sms")
def make_sms(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> SmsDestination:
    """An ``sms`` destination.

    Credentials: ``auth_token`` (basic auth as the account SID), or ``api_key_sid`` and
    ``api_key_secret`` (an API key, which Twilio recommends for production).
    """
    config = parse_settings("sms", SmsSettings, settings)
    policy = NetworkPolicy.for_destination(settings)
    if "api_key_sid" in credentials:
        secret = require_credential("sms", credentials, "api_key_secret")
        return SmsDestination(config, credentials["api_key_sid"], secret, policy)
    token = require_credential("sms", credentials, "auth_token")
    return SmsDestination(config, config.account_sid, token, policy)
