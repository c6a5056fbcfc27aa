"""The ``ads`` destination: Google Customer Match and Meta Custom Audiences, files or API.

E-mails, phones and names are normalised and SHA-256 hashed by each platform's published rules
(:mod:`.hashing`) before anything is written or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profilo.activate.destinations._settings import parse_settings, require_credential
from profilo.activate.destinations.ads import hashing
from profilo.activate.destinations.ads.audiences import AdsDestination
from profilo.activate.destinations.ads.config import AdsSettings
from profilo.activate.destinations.ads.google import GoogleAdsClient
from profilo.activate.destinations.ads.meta import MetaAudienceClient
from profilo.activate.destinations.base import register
from profilo.activate.ssrf import NetworkPolicy

__all__ = ["AdsDestination", "AdsSettings", "hashing", "make_ads"]


@register("ads")
def make_ads(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> AdsDestination:
    """An ``ads`` destination.

    Credentials for ``output: api``: Google needs ``access_token`` (OAuth 2.0) and
    ``developer_token``; Meta needs ``access_token``. Files need none.
    """
    config = parse_settings("ads", AdsSettings, settings)
    if config.output == "file":
        return AdsDestination(config, None)
    base_url, version = config.api()
    policy = NetworkPolicy.for_destination(settings)
    token = require_credential("ads", credentials, "access_token")
    client: GoogleAdsClient | MetaAudienceClient
    if config.platform == "google":
        client = GoogleAdsClient(
            base_url,
            version,
            config.customer_id or "",
            access_token=token,
            developer_token=require_credential("ads", credentials, "developer_token"),
            login_customer_id=config.login_customer_id,
            policy=policy,
            timeout=config.timeout,
        )
    else:
        client = MetaAudienceClient(
            base_url, version, access_token=token, policy=policy, timeout=config.timeout
        )
    return AdsDestination(config, client)
