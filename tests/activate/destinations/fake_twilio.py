"""A local Twilio: the Messages resource of the 2010-04-01 REST API, with its error bodies.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded), basic auth as the account
SID and auth token; 201 with the message resource, or ``{"code", "message", "more_info",
"status"}`` with the documented error codes (20003, 21211, 21602, 21603, 21610, 21617, 20429).
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from ._server import FakeService, Reply, Request

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
ROUTE = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")


def twilio_error(status: int, code: int, message: str) -> Reply:
    return Reply(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class FakeTwilio(FakeService):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.unsubscribed: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, request: Request) -> Reply:
        match = ROUTE.match(request.path)
        if request.method != "POST" or match is None:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return twilio_error(401, 20003, "Authenticate")
        if match.group(1) != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        form = {k: v[0] for k, v in request.form().items()}
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if to in self.unsubscribed:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(datetime.now(UTC), usegmt=True)
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(1 + (len(body) - 1) // 153 if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "to": to,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        self.messages.append(message)
        return Reply(201, message)
