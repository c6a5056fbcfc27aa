"""Consents carried by tracked messages become consent records, like imported ones.

Two shapes are read, on any message type:

- Segment's consent object, ``context.consent.categoryPreferences``: ``{"Advertising": true,
  "Analytics": false, …}`` — each category a purpose is known by becomes a ``granted`` or
  ``denied`` record (categories no purpose matches are ignored);
- a dedicated event, ``track "Consent Updated"`` (also ``"Consent Given"`` / ``"Consent
  Withdrawn"``), with ``properties.purpose`` and ``properties.status`` (and optionally
  ``legal_basis``), or ``properties.categoryPreferences`` in the shape above.

The record's time is the message's time; its id is made of the message id, purpose and status,
so a retried message adds nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from profilo.collect.mapping import CONSENT_LEGAL_BASES

__all__ = ["CATEGORY_PURPOSES", "CONSENT_EVENTS", "message_consents"]

CONSENT_EVENTS = ("Consent Updated", "Consent Given", "Consent Withdrawn")

CATEGORY_PURPOSES: dict[str, str] = {
    "email_marketing": "email_marketing",
    "email": "email_marketing",
    "newsletter": "email_marketing",
    "sms_marketing": "sms_marketing",
    "sms": "sms_marketing",
    "ad_targeting": "ad_targeting",
    "advertising": "ad_targeting",
    "ads": "ad_targeting",
    "targeting": "ad_targeting",
    "marketing_and_advertising": "ad_targeting",
    "personalisation": "personalisation",
    "personalization": "personalisation",
    "functional": "personalisation",
    "analytics": "analytics",
    "performance": "analytics",
    "measurement": "analytics",
    "data_sharing": "data_sharing",
    "sale_of_data": "data_sharing",
}
"""Consent categories (lower-cased, non-alphanumerics as ``_``) and the purpose each one means."""

_YES = {"true", "yes", "granted", "given", "opted_in", "accepted", "1"}
_NO = {"false", "no", "denied", "withdrawn", "revoked", "opted_out", "refused", "0"}


def _status(value: Any) -> str | None:
    if isinstance(value, bool):
        return "granted" if value else "denied"
    text = str(value).strip().lower().replace(" ", "_")
    return "granted" if text in _YES else "denied" if text in _NO else None


def _purpose(category: Any) -> str | None:
    key = re.sub(r"[^a-z0-9]+", "_", str(category).strip().lower()).strip("_")
    return CATEGORY_PURPOSES.get(key)


def _preferences(prefs: Any, basis: str) -> list[tuple[str, str, str]]:
    if not isinstance(prefs, dict):
        return []
    found = []
    for category, value in prefs.items():
        purpose, status = _purpose(category), _status(value)
        if purpose and status:
            found.append((purpose, status, basis))
    return found


def message_consents(stored: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(purpose, status, legal basis)`` for each consent a stored message states."""
    found: list[tuple[str, str, str]] = []
    consent = stored["context"].get("consent")
    if isinstance(consent, dict):
        found += _preferences(consent.get("categoryPreferences"), "consent")
    if stored["type"] == "track" and stored["event"] in CONSENT_EVENTS:
        props = stored["properties"]
        basis = (
            props.get("legal_basis")
            if props.get("legal_basis") in CONSENT_LEGAL_BASES
            else "consent"
        )
        found += _preferences(props.get("categoryPreferences"), basis)
        purpose = _purpose(props.get("purpose")) if props.get("purpose") is not None else None
        status = _status(props.get("status", stored["event"] != "Consent Withdrawn"))
        if purpose and status:
            found.append((purpose, status, basis))
    last: dict[str, tuple[str, str, str]] = {}
    for item in found:  # one record per purpose and message: the last statement wins
        last[item[0]] = item
    return list(last.values())


def consent_time(stored: dict[str, Any], received_at: datetime) -> datetime:
    stamp = stored.get("timestamp")
    return stamp if isinstance(stamp, datetime) else received_at
