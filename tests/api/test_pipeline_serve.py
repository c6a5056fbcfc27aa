"""Collected messages reach the golden profile by themselves under ``profilo serve``: the store
worker runs the incremental pipeline after the loads that stored them, with nobody calling
``/admin/pipeline/run`` or ``/admin/drain``. The unmodified official clients send; the test polls
the profile API until the profile shows the identify's traits and the track (a polling deadline,
not a timed assertion)."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

DEADLINE = 60.0


def wait_for_profile(
    http: httpx.Client, reference: str, check: Any, deadline: float = DEADLINE
) -> dict[str, Any]:
    """The 360° view of ``reference`` once ``check(view)`` holds; fails after ``deadline`` s."""
    until = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < until:
        answer = http.get(f"/profiles/{reference}", params={"timeline_limit": 50})
        if answer.status_code == 200:
            last = answer.json()
            if check(last):
                return dict(last)
        else:
            last = (answer.status_code, answer.text)
        time.sleep(0.2)
    raise AssertionError(f"{reference} not as expected after {deadline:.0f} s; last: {last}")


def events_of(view: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(e["type"], e["event"]) for e in view["timeline"]["events"]}


def test_identify_and_track_from_official_clients_reach_the_profile_without_being_asked(
    server_class: Any, server_store_url: str, tmp_path: Path
) -> None:
    server = server_class(server_store_url, tmp_path)
    key = server.add_source("shop", kind="web")
    server.start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        auth = {"Authorization": f"Bearer {server.token}"}
        http = stack.enter_context(httpx.Client(base_url=server.url, headers=auth, timeout=30))
        errors: list[Any] = []
        segment = SegmentClient(
            key, host=server.url, sync_mode=True, on_error=lambda e, b: errors.append(e)
        )
        rudder = RudderClient(
            key, host=server.url, sync_mode=True, on_error=lambda e, b: errors.append(e)
        )
        tag = uuid.uuid4().hex[:8]
        ann, bob = f"ann-{tag}", f"bob-{tag}"

        segment.identify(ann, {"email": f"Ann.Lee.{tag}@acme-shop.fr", "name": "Ann Lee"})
        segment.track(ann, "Order Completed", {"order_id": "o-1", "revenue": 84.5})
        # RudderStack's client sends identify traits in context.traits only
        rudder.page(anonymous_id=f"anon-{tag}", name="Home")
        rudder.identify(bob, {"email": f"bob.{tag}@acme-shop.fr", "firstName": "Bob"})
        rudder.track(bob, "Product Added", {"product_id": "sku-1"})
        assert errors == []

        view = wait_for_profile(
            http,
            f"user_id:{ann}",
            lambda v: (
                {"email", "name"} <= set(v["traits"])
                and ("track", "Order Completed") in events_of(v)
            ),
        )
        assert view["traits"]["email"]["value"] == f"ann.lee.{tag}@acme-shop.fr"
        assert view["traits"]["name"]["value"] == "Ann Lee"
        by_email = http.get(
            "/profiles/lookup", params={"identifier": f"email:ann.lee.{tag}@acme-shop.fr"}
        )
        assert by_email.status_code == 200, by_email.text
        assert by_email.json()["profile_id"] == view["profile_id"]
        assert by_email.json()["traits"]["name"] == "Ann Lee"

        view = wait_for_profile(
            http,
            f"user_id:{bob}",
            lambda v: "first_name" in v["traits"] and ("track", "Product Added") in events_of(v),
        )
        assert view["traits"]["first_name"]["value"] == "Bob"

        # RudderStack's merge: the anonymous visit and a phone join Bob's profile
        merged = httpx.post(
            f"{server.url}/v1/merge",
            json={
                "userId": bob,
                "mergeProperties": [
                    {"type": "anonymousId", "value": f"anon-{tag}"},
                    {"type": "mobile", "value": "+33 6 12 34 56 78"},
                ],
            },
            auth=(key, ""),
        )
        assert merged.status_code == 200 and merged.json() == {"success": True}, merged.text
        view = wait_for_profile(
            http,
            f"anonymous_id:anon-{tag}",
            lambda v: (
                ("user_id", bob) in {(i["id_type"], i["value"]) for i in v["identities"]}
                and ("page", "Home") in events_of(v)
                and "first_name" in v["traits"]
            ),
        )
        # (the merged profile may keep either id: the component's oldest record names it)
        assert view["traits"]["first_name"]["value"] == "Bob"
        for reference in (f"user_id:{bob}", "phone:+33612345678"):
            found = http.get("/profiles/lookup", params={"identifier": reference})
            assert found.json()["profile_id"] == view["profile_id"], found.text

        # the worker says when the pipeline last ran, and how it went
        ready = http.get("/ready").json()["pipeline"]
        assert ready["runs"] >= 1 and ready["last_result"] == "ok" and ready["failures"] == 0
        assert ready["every"] == 2.0 and ready["last_started_at"]
        metrics = http.get("/metrics").text
        assert "profilo_pipeline_runs_total" in metrics
        assert "profilo_pipeline_failures_total 0.0" in metrics
