"""The ``sms`` destination: one text per profile through Twilio's Messages resource.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded ``To``, ``From`` (or
``MessagingServiceSid``), ``Body`` and optionally ``StatusCallback``, with HTTP basic auth (the
account SID and auth token, or an API key SID and secret). Twilio answers 201 with the message
resource, or an error body ``{"code", "message", "more_info", "status"}``.

Reading the answer:

- 400 with a code about the recipient (21211 invalid ``To``, 21610 unsubscribed recipient,
  21614 not a mobile number, 21408 region not enabled, …) fails that message for good;
- 400 with a code about the sender (21212 invalid ``From``, 21606 ``From`` cannot send SMS, 21659
  ``From`` not a Twilio number), 401 and 403 fail what is left of the batch for good;
- 429 (code 20429) and 5xx, and a connection error, fail what is left of the batch for now: the
  whole batch when nothing was sent yet (with ``Retry-After``), else each remaining message.

Twilio's Messages resource has no idempotency key, so a message whose answer was lost on the wire
may go twice when retried; everything that was answered is never sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from profilo.activate.destinations._http import GuardedHttp, batch_error, excerpt, is_retryable
from profilo.activate.destinations._templates import (
    MessageTemplate,
    TemplateFailure,
    template_context,
)
from profilo.activate.destinations.base import Change, DeliveryError, ItemFailure, Outcome
from profilo.activate.destinations.sms.config import E164, SmsSettings
from profilo.activate.ssrf import NetworkPolicy

__all__ = ["SENDER_CODES", "SmsDestination"]

SERVICE = "Twilio"
MAX_BODY = 1600
"""Twilio's limit on a message body, in characters (error 21617 beyond it)."""
SENDER_CODES = frozenset({21212, 21606, 21659})
"""Error codes that concern the sender, not the recipient: every message would fail alike."""


class SmsDestination:
    """Sends each profile entering a segment a text rendered from its traits."""

    kind: ClassVar[str] = "sms"

    def __init__(
        self, settings: SmsSettings, username: str, secret: str, policy: NetworkPolicy
    ) -> None:
        self.settings = settings
        self.purposes = settings.purposes
        self.max_batch = settings.max_batch
        self.body = MessageTemplate("sms", "body", settings.body)
        self._path = f"/2010-04-01/Accounts/{settings.account_sid}/Messages.json"
        self._http = GuardedHttp(
            SERVICE,
            settings.base_url,
            policy,
            auth=(username, secret),
            headers={"Accept": "application/json"},
            timeout=settings.timeout,
        )

    def close(self) -> None:
        self._http.close()

    def send(self, batch: Sequence[Change]) -> Outcome:
        outcome = Outcome()
        texts: list[tuple[Change, dict[str, str]]] = []
        skipped = 0
        for change in batch:
            if change.action == "remove" or (
                change.audience is None and not self.settings.send_on_trait_change
            ):
                skipped += 1
                continue
            failure = self._form(change)
            if isinstance(failure, ItemFailure):
                outcome.failed[change.change_id] = failure
            else:
                texts.append((change, failure))
        sids: dict[str, str] = {}
        outcome.details.update({"sent": 0, "skipped": skipped, "message_sids": sids})
        for index, (change, form) in enumerate(texts):
            try:
                response = self._http.post(self._path, data=form)
            except DeliveryError as exc:  # unreachable, or refused by the SSRF guard
                self._stop(texts, index, outcome, exc)
                break
            if response.status_code in (200, 201):
                sids[change.change_id] = str(_json(response).get("sid", ""))
                continue
            error = _json(response)
            code = error.get("code")
            reason = _reason(response, error)
            if response.status_code == 400 and code not in SENDER_CODES:
                outcome.failed[change.change_id] = ItemFailure(reason, retryable=False)
                continue
            if response.status_code in (400, 401, 403, 404) or is_retryable(response.status_code):
                self._stop(texts, index, outcome, batch_error(SERVICE, response, reason))
                break
            outcome.failed[change.change_id] = ItemFailure(reason, retryable=False)
        outcome.details["sent"] = len(sids)
        return outcome

    def _form(self, change: Change) -> dict[str, str] | ItemFailure:
        phones = change.identifiers.get("phone") or ()
        if not phones:
            return ItemFailure("no phone number to text", retryable=False)
        if not E164.match(phones[0]):
            return ItemFailure(f"phone {phones[0]!r} is not in E.164", retryable=False)
        try:
            body = self.body.render(template_context(change)).strip()
        except TemplateFailure as exc:
            return ItemFailure(str(exc), retryable=False)
        if not body:
            return ItemFailure("the message body is empty", retryable=False)
        if len(body) > MAX_BODY:
            return ItemFailure(
                f"the message body has {len(body)} characters; Twilio takes {MAX_BODY}",
                retryable=False,
            )
        form = {"To": phones[0], "Body": body}
        if self.settings.messaging_service_sid:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        else:
            form["From"] = self.settings.from_number or ""
        if self.settings.status_callback:
            form["StatusCallback"] = self.settings.status_callback
        return form

    @staticmethod
    def _stop(
        texts: list[tuple[Change, dict[str, str]]],
        index: int,
        outcome: Outcome,
        error: DeliveryError,
    ) -> None:
        """Fail the rest of the batch: all of it when nothing was sent, else message by message."""
        if index == 0:
            raise error
        for change, _ in texts[index:]:
            outcome.failed[change.change_id] = ItemFailure(error.reason, retryable=error.retryable)
        if error.retry_after is not None:
            outcome.details["retry_after"] = error.retry_after


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(response: httpx.Response, error: dict[str, Any]) -> str:
    if "code" in error:
        return f"{SERVICE} error {error['code']}: {error.get('message', '')}".strip()
    return f"{SERVICE}: HTTP {response.status_code}: {excerpt(response)}"
