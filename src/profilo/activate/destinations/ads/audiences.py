"""The ``ads`` destination: segment members added to and removed from ad platforms' audiences.

With ``output: file`` each batch becomes files (see :mod:`.files`); with ``output: api`` each
(list, direction) of the batch becomes one request set to Google Ads (see :mod:`.google`) or Meta
(see :mod:`.meta`). Adding a member twice or removing one that is absent changes nothing on either
platform, so a batch sent again has the effect of once.

A profile's changes in a batch fold to its last one per list. A ``remove`` without a segment
(consent withdrawn, erasure) removes the profile from every configured list; an ``upsert``
without a segment (a trait change) has no audience to join and is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from profilo.activate.destinations.ads.config import AdsSettings
from profilo.activate.destinations.ads.files import write_files
from profilo.activate.destinations.ads.google import GoogleAdsClient
from profilo.activate.destinations.ads.members import Member, fold
from profilo.activate.destinations.ads.meta import MetaAudienceClient
from profilo.activate.destinations.base import Change, ItemFailure, Outcome

__all__ = ["AdsDestination"]


class AdsDestination:
    """Customer Match (Google) or Custom Audience (Meta) members, as files or through the API."""

    kind: ClassVar[str] = "ads"

    def __init__(
        self, settings: AdsSettings, client: GoogleAdsClient | MetaAudienceClient | None
    ) -> None:
        self.settings = settings
        self.client = client
        self.purposes = settings.purposes
        self.max_batch = settings.max_batch

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def send(self, batch: Sequence[Change]) -> Outcome:
        outcome = Outcome()
        settings = self.settings
        pairs: list[tuple[str, Change]] = []
        skipped = 0
        every_list = sorted(
            {*settings.lists.values(), *([settings.list_id] if settings.list_id else [])}
        )
        for change in batch:
            if change.audience is None and change.action == "upsert":
                skipped += 1
                continue
            if settings.output == "file":
                pairs.append((change.audience or "all", change))
            elif change.audience is None:
                pairs.extend((list_id, change) for list_id in every_list)
            else:
                list_id = settings.lists.get(change.audience) or settings.list_id
                if list_id is None:
                    outcome.failed[change.change_id] = ItemFailure(
                        f"no {settings.platform} list for segment {change.audience!r};"
                        f" known: {', '.join(sorted(settings.lists)) or 'none'}",
                        retryable=False,
                    )
                    continue
                pairs.append((list_id, change))
        members = fold(pairs)
        outcome.details["skipped"] = skipped
        if settings.output == "file":
            write_files(
                settings.platform,
                Path(settings.folder or "."),
                members,
                settings.default_region,
                outcome,
            )
            return outcome
        assert self.client is not None
        groups: dict[tuple[str, str], list[Member]] = {}
        for member in members:
            groups.setdefault((member.target, member.action), []).append(member)
        jobs: list[object] = []
        # removes first: a profile that left one list and joined another ends up where it belongs
        for (list_id, action), group in sorted(
            groups.items(), key=lambda g: (g[0][1] != "remove", g[0])
        ):
            done = self.client.sync(list_id, action, group, settings.default_region, outcome)
            if done is not None:
                jobs.append(done)
        outcome.details["requests"] = jobs
        return outcome
