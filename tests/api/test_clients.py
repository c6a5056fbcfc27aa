"""The unmodified official client libraries against a real server, on DuckDB and PostgreSQL.

A shopper visits anonymously (pages), fills a cart, identifies with traits, orders (products and
revenue), joins a company (group) and gets an alias; the Segment client and the RudderStack
client (gzip by default, identify traits in ``context.traits``, ``userId: null``) each send it.
Every message is stored exactly once, with its fields intact.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

ORDER = {
    "order_id": "o-1001",
    "revenue": 84.5,
    "currency": "EUR",
    "products": [
        {"product_id": "sku-1", "name": "Trail shoe", "price": 69.5, "quantity": 1},
        {"product_id": "sku-2", "name": "Socks", "price": 7.5, "quantity": 2},
    ],
}


def shopper_journey(client: Any, prefix: str) -> list[str]:
    """One shopper's calls; returns the messageIds sent, in order."""
    anonymous, user = f"{prefix}-anon", f"{prefix}-user"
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        (
            "page",
            (),
            {
                "anonymous_id": anonymous,
                "category": "Shop",
                "name": "Home",
                "properties": {"url": "https://shop.example/"},
            },
        ),
        (
            "page",
            (),
            {
                "anonymous_id": anonymous,
                "name": "Trail shoe",
                "properties": {"url": "https://shop.example/p/sku-1"},
            },
        ),
        (
            "track",
            (),
            {
                "anonymous_id": anonymous,
                "event": "Product Added",
                "properties": {"product_id": "sku-1", "price": 69.5},
            },
        ),
        (
            "identify",
            (user,),
            {
                "anonymous_id": anonymous,
                "traits": {"email": f"{prefix}@Example.com", "firstName": "Ann", "plan": "gold"},
            },
        ),
        ("track", (user,), {"event": "Order Completed", "properties": ORDER}),
        ("group", (user, f"{prefix}-company"), {"traits": {"name": "Acme", "employees": 42}}),
        ("alias", (f"{prefix}-old-id", user), {}),
        ("screen", (user,), {"name": "Orders", "properties": {"count": 1}}),
    ]
    ids = []
    for i, (method, args, kwargs) in enumerate(calls):
        message_id = f"{prefix}-{i}"
        getattr(client, method)(*args, message_id=message_id, **kwargs)
        ids.append(message_id)
    client.flush()
    return ids


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["message_id"]: e for e in events}


def test_official_clients_store_every_message_exactly_once(
    server_store_url: str,
    tmp_path: Path,
    server_class: Any,
    read_events: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = server_class(server_store_url, tmp_path)
    write_key = server.add_source("shop", kind="web")
    server.start()
    errors: list[Any] = []
    segment = SegmentClient(
        write_key, host=server.url, sync_mode=True, on_error=lambda e, b: errors.append(e)
    )
    rudder = RudderClient(
        write_key, host=server.url, sync_mode=True, on_error=lambda e, b: errors.append(e)
    )
    with caplog.at_level(logging.WARNING):
        sent = shopper_journey(segment, "seg") + shopper_journey(rudder, "rud")
        # a retry after a lost answer: the same messageIds again (the clients do this)
        shopper_journey(segment, "seg")
    assert errors == []
    server.drain()
    status = server.admin("GET", "/status")
    server.stop()
    events = by_id(read_events(server_store_url))
    assert sorted(events) == sorted(sent)  # each exactly once: message_id is the key
    counters = status["sources"]["shop"]["collect"]
    assert counters["stored"] == 16 and counters["duplicates"] == 8

    for prefix in ("seg", "rud"):
        page = events[f"{prefix}-0"]
        assert (page["type"], page["anonymous_id"], page["event"]) == (
            "page",
            f"{prefix}-anon",
            "Home",
        )
        assert json.loads(page["properties"])["url"] == "https://shop.example/"
        identify = events[f"{prefix}-3"]
        assert identify["user_id"] == f"{prefix}-user"
        assert identify["anonymous_id"] == f"{prefix}-anon"
        traits = json.loads(identify["traits"])
        assert traits["email"] == f"{prefix}@Example.com" and traits["plan"] == "gold"
        order = events[f"{prefix}-4"]
        assert order["event"] == "Order Completed"
        assert json.loads(order["properties"]) == ORDER
        context = json.loads(order["context"])
        assert context["library"]["name"] == "analytics-python"
        group = events[f"{prefix}-5"]
        assert json.loads(group["properties"])["groupId"] == f"{prefix}-company"
        assert json.loads(group["traits"])["employees"] == 42
        alias = events[f"{prefix}-6"]
        assert (alias["user_id"], json.loads(alias["properties"])["previousId"]) == (
            f"{prefix}-user",
            f"{prefix}-old-id",
        )
        assert events[f"{prefix}-7"]["type"] == "screen"
        # the client's clock is this machine's: the corrected time is within seconds of now
        assert abs(order["timestamp"] - datetime.now(UTC)) < timedelta(minutes=5)
    # RudderStack puts identify traits in context.traits only: they are read from there
    assert json.loads(events["rud-3"]["context"])["traits"]["firstName"] == "Ann"
