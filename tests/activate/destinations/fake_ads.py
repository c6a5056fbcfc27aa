"""Local Google Ads API (OfflineUserDataJob service, REST) and Meta Graph API (custom audience
users), keeping each list's members as the identifiers added and not removed since."""

from __future__ import annotations

import re
from typing import Any

from ._server import FakeService, Reply, Request

SHA256 = re.compile(r"^[0-9a-f]{64}$")
META_KEYS = {
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "CT",
    "ST",
    "ZIP",
    "COUNTRY",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "EXTERN_ID",
    "MADID",
}


def google_error(status: int, name: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "status": name}})


class FakeGoogleAds(FakeService):
    def __init__(self, version: str, customer_id: str, token: str, developer_token: str) -> None:
        self.version = version
        self.customer_id = customer_id
        self.token = token
        self.developer_token = developer_token
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lists: dict[str, set[str]] = {}
        super().__init__()

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token.",
            )
        if request.headers.get("developer-token") != self.developer_token:
            return google_error(401, "UNAUTHENTICATED", "The developer token is not valid.")
        prefix = f"/{self.version}/customers/{self.customer_id}/offlineUserDataJobs"
        body = request.json()
        if request.path == f"{prefix}:create":
            job = body.get("job") or {}
            user_list = (job.get("customerMatchUserListMetadata") or {}).get("userList", "")
            if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or not re.fullmatch(
                rf"customers/{self.customer_id}/userLists/\d+", user_list
            ):
                return google_error(
                    400, "INVALID_ARGUMENT", "Request contains an invalid argument."
                )
            name = f"customers/{self.customer_id}/offlineUserDataJobs/{len(self.jobs) + 1}"
            self.jobs[name] = {"job": job, "operations": [], "status": "PENDING"}
            return Reply(200, {"resourceName": name})
        match = re.fullmatch(
            rf"/{self.version}/(customers/\d+/offlineUserDataJobs/\d+):(\w+)", request.path
        )
        if match is None or match.group(1) not in self.jobs:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        job = self.jobs[match.group(1)]
        if match.group(2) == "addOperations":
            return self._add(job, body)
        if match.group(2) == "run":
            user_list = job["job"]["customerMatchUserListMetadata"]["userList"]
            members = self.lists.setdefault(user_list.rsplit("/", 1)[1], set())
            for operation in job["operations"]:
                verb = "create" if "create" in operation else "remove"
                for identifier in operation[verb]["userIdentifiers"]:
                    key = _identifier_key(identifier)
                    (members.add if verb == "create" else members.discard)(key)
            job["status"] = "RUNNING"
            return Reply(200, {"name": f"customers/{self.customer_id}/operations/{len(self.jobs)}"})
        return google_error(404, "NOT_FOUND", "Requested entity was not found.")

    def _add(self, job: dict[str, Any], body: dict[str, Any]) -> Reply:
        errors = []
        for index, operation in enumerate(body.get("operations") or []):
            verbs = [v for v in ("create", "remove") if v in operation]
            identifiers = operation[verbs[0]].get("userIdentifiers", []) if len(verbs) == 1 else []
            bad = [
                i
                for i in identifiers
                if not all(
                    SHA256.match(v)
                    for k, v in i.items()
                    if k in ("hashedEmail", "hashedPhoneNumber")
                )
            ]
            if len(verbs) != 1 or not identifiers or bad:
                errors.append(
                    {
                        "errorCode": {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
                        "message": "The SHA256 encoded value is malformed.",
                        "location": {
                            "fieldPathElements": [
                                {"fieldName": "operations", "index": index},
                                {"fieldName": "create"},
                            ]
                        },
                    }
                )
                continue
            job["operations"].append(operation)
        if not errors:
            return Reply(200, {})
        if not body.get("enablePartialFailure"):
            return google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        return Reply(
            200,
            {
                "partialFailureError": {
                    "code": 3,
                    "message": "Multiple errors in 'details'.",
                    "details": [
                        {
                            "@type": f"type.googleapis.com/google.ads.googleads.{self.version}.errors.GoogleAdsFailure",
                            "errors": errors,
                        }
                    ],
                }
            },
        )


def _identifier_key(identifier: dict[str, Any]) -> str:
    if "hashedEmail" in identifier:
        return "email:" + identifier["hashedEmail"]
    if "hashedPhoneNumber" in identifier:
        return "phone:" + identifier["hashedPhoneNumber"]
    address = identifier["addressInfo"]
    return "address:" + ":".join(
        address[k] for k in ("hashedFirstName", "hashedLastName", "countryCode", "postalCode")
    )


def meta_error(
    status: int, code: int, message: str, kind: str = "OAuthException", **extra: Any
) -> Reply:
    return Reply(
        status,
        {
            "error": {
                "message": message,
                "type": kind,
                "code": code,
                "fbtrace_id": "AbCdEf123",
                **extra,
            }
        },
    )


class FakeMeta(FakeService):
    def __init__(self, version: str, token: str) -> None:
        self.version = version
        self.token = token
        self.audiences: dict[str, set[tuple[str, ...]]] = {}
        super().__init__()

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return meta_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        match = re.fullmatch(rf"/{self.version}/(\d+)/users", request.path)
        if match is None or request.method not in ("POST", "DELETE"):
            return meta_error(400, 100, "Unsupported request", "GraphMethodException")
        payload = (request.json() or {}).get("payload") or {}
        schema, data = payload.get("schema"), payload.get("data")
        if (
            not isinstance(schema, list)
            or not set(schema) <= META_KEYS
            or not isinstance(data, list)
        ):
            return meta_error(400, 100, "(#100) Invalid parameter", "OAuthException")
        if len(data) > 10000:
            return meta_error(400, 100, "(#100) Too many users in one request: the limit is 10000")
        audience = self.audiences.setdefault(match.group(1), set())
        invalid = 0
        for row in data:
            if len(row) != len(schema) or not all(v == "" or SHA256.match(v) for v in row):
                invalid += 1
                continue
            if request.method == "POST":
                audience.add(tuple(row))
            else:
                audience.discard(tuple(row))
        session = (request.json() or {}).get("session") or {}
        return Reply(
            200,
            {
                "audience_id": match.group(1),
                "session_id": str(session.get("session_id", "")),
                "num_received": len(data),
                "num_invalid_entries": invalid,
                "invalid_entry_samples": {},
            },
        )
