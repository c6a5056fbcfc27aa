"""The HTTP API of profiles, computed traits and segments, as a client sees it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from profilo.audiences.routes import router as segments_router
from profilo.profiles.routes import router as profiles_router
from profilo.profiles.routes import traits_router
from profilo.store import LocalRunner, Store

from .conftest import Load, profile_of
from .test_view import ROWS

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def _client(app: FastAPI) -> TestClient:
    # Starlette's test client asks for its httpx fork at import; the stock httpx still works
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient

    return TestClient(app)


def _app() -> FastAPI:
    app = FastAPI()
    for router in (profiles_router, traits_router, segments_router):
        app.include_router(router)
    return app


@pytest.fixture
def client(store: Store, load: Load) -> Iterator[TestClient]:
    load(ROWS)
    app = _app()
    app.state.store_runner = LocalRunner(store)
    with _client(app) as http:
        yield http


def test_profiles(client: TestClient, store: Store) -> None:
    ana = profile_of(store, "crm", "C1")
    found = client.get("/profiles/lookup", params={"identifier": "email:Ana@x.fr"})
    assert found.status_code == 200 and found.json()["profile_id"] == ana
    missing = client.get("/profiles/lookup", params={"identifier": "email:no@x.fr"})
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "not_found"
    view = client.get("/profiles/email:ana@x.fr", params={"timeline_limit": 3}).json()
    assert view["profile_id"] == ana and len(view["timeline"]["events"]) == 3
    page = client.get(f"/profiles/{ana}/timeline", params={"limit": 20}).json()
    rest = client.get(f"/profiles/{ana}/timeline", params={"before": page["next"]}).json()
    assert len(page["events"]) + len(rest["events"]) == 24 and rest["next"] is None
    bad = client.get(f"/profiles/{ana}/timeline", params={"before": "zzz"})
    assert bad.status_code == 422
    hits = client.get("/profiles/search", params={"q": "ana@"}).json()
    assert [h["profile_id"] for h in hits] == [ana]
    assert client.get("/profiles/search", params={"q": "a"}).status_code == 422


def test_traits_and_segments(client: TestClient, store: Store) -> None:
    ana = profile_of(store, "crm", "C1")
    put = client.put("/traits/orders", json={"aggregate": "count", "events": ["Order Completed"]})
    assert put.status_code == 200 and put.json()["name"] == "orders"
    bad = client.put("/traits/orders", json={"aggregate": "sum", "events": ["x"]})
    assert bad.status_code == 422 and "needs a 'property'" in bad.json()["detail"]["message"]
    assert [t["name"] for t in client.get("/traits").json()] == ["orders"]

    made = client.put(
        "/segments/buyers", json={"text": "computed orders >= 10", "description": "d"}
    )
    assert made.status_code == 200, made.text
    assert made.json()["rule"] == {"computed": "orders", "op": "gte", "value": 10}
    json_rule = {"rule": {"all": [{"segment": "buyers"}, {"identity": "phone"}]}}
    assert client.put("/segments/buyers_phone", json=json_rule).status_code == 200
    invalid = client.put("/segments/x", json={"text": 'trait contry = "FR"'})
    assert invalid.status_code == 422
    assert invalid.json()["detail"]["field"] == "rule.trait"
    both = client.put("/segments/x", json={"text": "has email", "rule": {"identity": "email"}})
    assert both.status_code == 422

    preview = client.post("/segments/preview", json={"text": "has email", "limit": 1}).json()
    assert preview["size"] == 2 and len(preview["members"]) == 1
    size = client.get("/segments/buyers/size").json()
    assert size == {"segment": "buyers", "members": 1, "as_of": "now"}
    run = client.post("/segments/evaluate", json={}).json()
    assert run["segments"]["buyers_phone"]["entered"] == 1
    assert client.get("/segments/buyers/size").json()["as_of"] == "last run"
    members = client.get("/segments/buyers/members").json()
    assert members == {"segment": "buyers", "members": [ana], "next": None}
    overlap = client.get("/segments/buyers/overlap/buyers_phone").json()
    assert overlap["both"] == 1 and overlap["jaccard"] == 1.0
    outbox = client.get("/segments/outbox").json()
    assert [(m["segment"], m["change"]) for m in outbox] == [
        ("buyers", "enter"),
        ("buyers_phone", "enter"),
    ]
    marked = client.post("/segments/outbox/delivered", json={"positions": [1]}).json()
    assert marked == {"marked": 1} and len(client.get("/segments/outbox").json()) == 1
    assert client.delete("/segments/buyers").status_code == 422  # still used by buyers_phone
    assert client.delete("/segments/buyers_phone").status_code == 204
    assert client.get("/segments/buyers_phone").status_code == 404


def test_no_store_answers_503_and_openapi_documents_routes() -> None:
    with _client(_app()) as http:
        answer = http.get("/profiles/lookup", params={"identifier": "email:a@b.fr"})
        assert answer.status_code == 503 and answer.json()["detail"]["code"] == "no_store"
        paths = http.get("/openapi.json").json()["paths"]
    assert {"/profiles/lookup", "/profiles/{reference}", "/segments/{name}/members"} <= set(paths)
