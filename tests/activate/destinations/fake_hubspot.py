"""A local HubSpot: the CRM v3 contacts batch read and batch upsert endpoints, with their errors.

Shapes follow HubSpot's API reference for ``POST /crm/v3/objects/contacts/batch/read`` and
``.../batch/upsert`` (``inputs`` of ``{id, idProperty, properties}``; answers of ``status``,
``results``, ``startedAt``, ``completedAt`` and, on a 207, ``numErrors`` and ``errors`` with
``category``, ``message`` and ``context.ids``), its error body (``status: error``, ``message``,
``correlationId``, ``category``), its 429 body (``errorType: RATE_LIMIT``, ``policyName``) and its
rate-limit headers for the rolling ten-second window.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from ._server import FakeService, Reply, Request

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
BASE_PROPERTIES = {
    "email",
    "firstname",
    "lastname",
    "phone",
    "city",
    "country",
    "lifecyclestage",
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


class FakeHubSpot(FakeService):
    """Contacts in memory; ``email`` and ``unique`` properties have unique values."""

    def __init__(
        self,
        token: str = "pat-test-token",
        *,
        unique: tuple[str, ...] = ("profilo_id",),
        extra_properties: tuple[str, ...] = ("profilo_segments", "plan", "lifetime_value"),
        rate_max: int = 100,
    ) -> None:
        self.token = token
        self.unique = ("email", *unique)
        self.known = BASE_PROPERTIES | set(unique) | set(extra_properties)
        self.contacts: dict[str, dict[str, str]] = {}
        self.rate_max = rate_max
        self.window: list[float] = []
        self._next_id = 1001
        super().__init__()

    # --- helpers for tests -------------------------------------------------------------------

    def add_contact(self, **properties: str) -> str:
        with self.lock:
            return self._create(properties)

    def find(self, prop: str, value: str) -> dict[str, str] | None:
        for props in self.contacts.values():
            if props.get(prop, "").lower() == value.lower():
                return props
        return None

    def calls(self, suffix: str) -> list[Request]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    # --- the API -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        now = time.monotonic()
        self.window = [t for t in self.window if now - t < 10.0]
        if len(self.window) >= self.rate_max:
            body = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
            }
            return Reply(429, body, self._limits(0))
        self.window.append(now)
        reply = self._route(request)
        reply.headers.update(self._limits(self.rate_max - len(self.window)))
        return reply

    def _limits(self, remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(self.rate_max),
            "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
        }

    def _route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(
                401,
                error_body(
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0"
                    " authentication and you can find more details at"
                    " https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                ),
            )
        if request.method == "POST" and request.path == "/crm/v3/objects/contacts/batch/read":
            return self._read(request.json())
        if request.method == "POST" and request.path == "/crm/v3/objects/contacts/batch/upsert":
            return self._upsert(request.json())
        return Reply(404, error_body("OBJECT_NOT_FOUND", f"No route for {request.path}"))

    def _batch_reply(self, started: str, results: list[Any], errors: list[Any]) -> Reply:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now(),
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        return Reply(207 if errors else 200, body)

    def _check_inputs(self, body: Any) -> Reply | None:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            return Reply(400, error_body("VALIDATION_ERROR", "Invalid input JSON: no inputs"))
        if len(body["inputs"]) > 100:
            return Reply(
                400,
                error_body(
                    "VALIDATION_ERROR",
                    f"Batch input limit exceeded: {len(body['inputs'])} inputs, limit 100",
                ),
            )
        return None

    def _read(self, body: Any) -> Reply:
        started = _now()
        problem = self._check_inputs(body)
        if problem:
            return problem
        id_property = body.get("idProperty") or "hs_object_id"
        if id_property not in self.unique and id_property != "hs_object_id":
            return Reply(
                400,
                error_body(
                    "VALIDATION_ERROR",
                    f"{id_property} is not a unique property; idProperty must be unique",
                ),
            )
        wanted = set(body.get("properties") or []) | {"hs_object_id", "createdate"}
        results, missing = [], []
        for item in body["inputs"]:
            value = str(item.get("id", ""))
            record_id = self._lookup(id_property, value)
            if record_id is None:
                missing.append(value)
                continue
            props = self.contacts[record_id]
            results.append(self._record(record_id, {k: v for k, v in props.items() if k in wanted}))
        errors = []
        if missing:
            errors.append(
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects, they may be deleted or not"
                    " exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            )
        return self._batch_reply(started, results, errors)

    def _upsert(self, body: Any) -> Reply:
        started = _now()
        problem = self._check_inputs(body)
        if problem:
            return problem
        results, errors = [], []
        for item in body["inputs"]:
            value = str(item.get("id", ""))
            id_property = item.get("idProperty") or body.get("idProperty")
            if id_property not in self.unique:
                return Reply(
                    400,
                    error_body(
                        "VALIDATION_ERROR",
                        f"idProperty {id_property!r} must be a property with unique values",
                    ),
                )
            props = {k: str(v) for k, v in (item.get("properties") or {}).items()}
            props[id_property] = value
            invalid = self._invalid(props)
            if invalid is not None:
                errors.append({**invalid, "context": {"ids": [value]}})
                continue
            record_id = self._lookup(id_property, value)
            conflict = self._conflict(props, record_id)
            if conflict is not None:
                errors.append(
                    {
                        "status": "error",
                        "category": "CONFLICT",
                        "message": f"Contact already exists. Existing ID: {conflict}",
                        "context": {"ids": [value]},
                    }
                )
                continue
            new = record_id is None
            if record_id is None:
                record_id = self._create(props)
            else:
                self.contacts[record_id].update(props)
                self.contacts[record_id]["lastmodifieddate"] = _now()
            record = self._record(record_id, dict(self.contacts[record_id]))
            results.append({**record, "new": new})
        return self._batch_reply(started, results, errors)

    # --- storage -----------------------------------------------------------------------------

    def _lookup(self, prop: str, value: str) -> str | None:
        if prop == "hs_object_id":
            return value if value in self.contacts else None
        for record_id, props in self.contacts.items():
            if props.get(prop, "").lower() == value.lower() and value:
                return record_id
        return None

    def _conflict(self, props: dict[str, str], record_id: str | None) -> str | None:
        for prop in self.unique:
            value = props.get(prop)
            if value:
                other = self._lookup(prop, value)
                if other is not None and other != record_id:
                    return other
        return None

    def _invalid(self, props: dict[str, str]) -> dict[str, Any] | None:
        for name in sorted(props):
            if name not in self.known:
                return {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f'Property values were not valid: [{{"isValid":false,"message":'
                    f'"Property \\"{name}\\" does not exist","error":"PROPERTY_DOESNT_EXIST",'
                    f'"name":"{name}"}}]',
                    "errors": [{"code": "PROPERTY_DOESNT_EXIST", "message": name}],
                }
        email = props.get("email")
        if email and not EMAIL.match(email):
            return {
                "status": "error",
                "category": "VALIDATION_ERROR",
                "message": f'Property values were not valid: [{{"isValid":false,"message":'
                f'"Email address {email} is invalid","error":"INVALID_EMAIL","name":"email"}}]',
                "errors": [
                    {"code": "INVALID_EMAIL", "message": f"Email address {email} is invalid"}
                ],
            }
        return None

    def _create(self, props: dict[str, str]) -> str:
        record_id = str(self._next_id)
        self._next_id += 1
        now = _now()
        self.contacts[record_id] = {
            **props,
            "hs_object_id": record_id,
            "createdate": now,
            "lastmodifieddate": now,
        }
        return record_id

    def _record(self, record_id: str, props: dict[str, str]) -> dict[str, Any]:
        created = self.contacts[record_id]["createdate"]
        return {
            "id": record_id,
            "properties": props,
            "createdAt": created,
            "updatedAt": self.contacts[record_id]["lastmodifieddate"],
            "archived": False,
        }
