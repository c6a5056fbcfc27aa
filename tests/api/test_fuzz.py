"""Property-based fuzzing of the tracking API from its own OpenAPI document (schemathesis).

Valid requests (with a real write key) and invalid ones to every tracking and webhook operation,
under all of schemathesis's checks: no answer is a 5xx, every answer matches the document (status,
content type, body schema), invalid requests are refused, auth is enforced, and the server keeps
serving. Bounded so the module stays well under a minute.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

EXAMPLES = 40


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_fuzzing_the_openapi_document_finds_no_5xx(shared_server: Any) -> None:
    key = shared_server.add_source("fuzz", kind="server", rate_limit=0)
    hook = shared_server.add_source(
        "fuzzhook", kind="webhook", rate_limit=0, webhook={"event": "Fuzzed", "anonymous_id": "id"}
    )
    schema = schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json").include(
        path_regex="^/v1/"
    )
    server_errors: list[str] = []

    def fuzz(mode: GenerationMode) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run
            suppress_health_check=list(HealthCheck),
        )
        @given(case=schema.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            webhook = case.path.startswith("/v1/webhook")
            if case.path_parameters and "write_key" in case.path_parameters:
                case.path_parameters["write_key"] = hook
            auth = _basic(hook if webhook else key)
            headers = {**(case.headers or {}), **auth} if mode.is_positive else case.headers
            response = case.call(base_url=shared_server.url, headers=headers, timeout=30)
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.path}: {response.status_code}")
            case.validate_response(response)

        check()

    fuzz(GenerationMode.POSITIVE)
    fuzz(GenerationMode.NEGATIVE)
    assert server_errors == []
    assert httpx.get(f"{shared_server.url}/ready").status_code == 200
