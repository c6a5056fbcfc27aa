"""The personalisation API on DuckDB and PostgreSQL: scope, consent, recommendations, HTTP answers.

The world goes through the real steps: records saved, identities resolved, golden profiles
built, profiles refreshed, a computed trait and a segment evaluated, then cards refreshed.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from fastapi import FastAPI

from profilo.activate.cards import refresh_card_consents, refresh_cards
from profilo.activate.consent import record_consent
from profilo.activate.personalise import (
    NO_CONSENT,
    KeyRefused,
    create_key,
    list_keys,
    personalise,
    revoke_key,
)
from profilo.activate.routes_personalise import router
from profilo.audiences import evaluate_segments, save_segment
from profilo.errors import InputError, NotFound
from profilo.identity import resolve_identities
from profilo.identity.survivorship import build_profiles
from profilo.profiles import parse_trait, refresh_profiles, refresh_traits, save_trait
from profilo.store import LocalRunner, RecordSet, Store

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
NAMES = {"A": "Bag", "B": "Belt", "C": "Coat", "D": "Dress", "E": "Earrings"}

# person: crm key, identifiers, country, personalisation consent, orders (lists of skus)
PEOPLE: list[tuple[str, dict[str, str], str, str | None, list[list[str]]]] = [
    ("C1", {"email": "ana@x.fr", "phone": "+33612345678", "crm_id": "C1"}, "FR", "granted",
     [["A", "B"], ["C"]]),
    ("C2", {"email": "bob@x.fr", "crm_id": "C2"}, "GB", "granted", [["A", "D"]]),
    ("C3", {"email": "chloe@x.fr", "crm_id": "C3"}, "FR", "denied", [["A", "B"]]),
    ("C4", {"email": "dan@x.fr", "crm_id": "C4"}, "DE", None, [["B", "E"]]),
]  # fmt: skip


def _records() -> RecordSet:
    events: list[dict[str, Any]] = []
    ids: list[dict[str, Any]] = []
    traits: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    for key, identifiers, country, consent, orders in PEOPLE:
        rows = [("crm", key, None, {})]
        for n, skus in enumerate(orders):
            items = [{"sku": s, "name": NAMES[s], "category": "fashion"} for s in skus]
            rows.append(("orders", f"{key}-O{n}", "Order Completed", {"items": items}))
        for day, (source, record, event, props) in enumerate(rows):
            mid = f"{source}:{record}"
            at = T0 + timedelta(days=day)
            events.append(
                {
                    "message_id": mid,
                    "source": source,
                    "type": "track" if event else "record",
                    "event": event,
                    "record_key": record,
                    "timestamp": at,
                    "received_at": at,
                    "properties": json.dumps(props),
                }
            )
            mine = identifiers if source == "crm" else {"email": identifiers["email"]}
            for kind, value in mine.items():
                ids.append({"message_id": mid, "source": source, "record_key": record,
                            "id_type": kind, "raw_value": value, "value": value,
                            "is_valid": True, "observed_at": at})  # fmt: skip
            if source == "crm":
                for name, value in (("first_name", key.lower()), ("country", country)):
                    traits.append({"message_id": mid, "source": source, "record_key": record,
                                   "trait": name, "value_type": "text", "raw_value": value,
                                   "value": value, "match_key": None, "is_valid": True,
                                   "observed_at": at})  # fmt: skip
                if consent:
                    consents.append({"consent_id": f"{mid}:p", "message_id": mid,
                                     "source": source, "record_key": record,
                                     "purpose": "personalisation", "status": consent,
                                     "legal_basis": "consent", "consented_at": at,
                                     "recorded_at": at})  # fmt: skip
    schema = pa.schema([("message_id", pa.string()), ("source", pa.string()),
                        ("type", pa.string()), ("event", pa.string()),
                        ("record_key", pa.string()), ("timestamp", TS), ("received_at", TS),
                        ("properties", pa.string())])  # fmt: skip
    return RecordSet(
        events=pa.Table.from_pylist(events, schema=schema),
        identifiers=pa.Table.from_pylist(ids),
        traits=pa.Table.from_pylist(traits),
        consents=pa.Table.from_pylist(consents),
    )


@pytest.fixture
def world(store: Store) -> Store:
    store.save(_records())
    resolve_identities(store)
    build_profiles(store)
    refresh_profiles(store)
    save_trait(
        store, parse_trait({"name": "orders", "aggregate": "count", "events": "Order Completed"})
    )
    refresh_traits(store)
    save_segment(store, "french", 'trait country = "FR"')
    save_segment(store, "buyers", "computed orders >= 1")
    evaluate_segments(store)
    refresh_cards(store)
    return store


def _skus(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["sku"], r["reason"]) for r in answer["recommendations"]]


def test_the_key_sees_its_scope_by_any_identifier(world: Store) -> None:
    key = create_key(
        world, name="site", traits=["first_name"], computed=["orders"], segments=["french"]
    )["key"]
    ana = personalise(world, key=key, id_type="email", value=" Ana@X.fr ")
    assert ana["personalised"] is True
    assert ana["traits"] == {"first_name": "c1"}  # country is not in the key's scope
    assert ana["computed_traits"] == {"orders": 2.0}
    assert ana["segments"] == ["french"]  # in "buyers" too, which this key may not see
    # Ana bought A, B and C: D and E were bought with A and B by others; nothing she owns
    assert _skus(ana) == [("D", "bought_together"), ("E", "bought_together")]
    assert ana["recommendations"][0]["name"] == "Dress"
    for id_type, value in (("phone", "+33612345678"), ("crm_id", "C1")):
        same = personalise(world, key=key, id_type=id_type, value=value)
        assert same["profile_id"] == ana["profile_id"]
    everything = create_key(world, name="app", traits=["*"], computed=["*"], segments=["*"])
    bob = personalise(world, key=everything["key"], id_type="email", value="bob@x.fr")
    assert bob["traits"] == {"first_name": "c2", "country": "GB"}
    assert bob["segments"] == ["buyers"]
    # Bob bought A and D: B and C go with A; then what his fellow buyers bought (Dan's E)
    assert _skus(bob) == [
        ("B", "bought_together"),
        ("C", "bought_together"),
        ("E", "popular_in_segment"),
    ]
    bare = create_key(world, name="bare", recommendations=False)
    nothing = personalise(world, key=bare["key"], id_type="email", value="bob@x.fr")
    assert (
        nothing["traits"] == {} and nothing["segments"] == [] and nothing["recommendations"] == []
    )


def test_without_consent_only_non_personal_defaults(world: Store) -> None:
    key = create_key(world, name="site", traits=["*"], computed=["*"], segments=["*"])["key"]
    popular = [("A", "popular"), ("B", "popular"), ("C", "popular"), ("D", "popular"),
               ("E", "popular")]  # fmt: skip
    for email in ("chloe@x.fr", "dan@x.fr"):  # consent denied; no consent recorded at all
        answer = personalise(world, key=key, id_type="email", value=email)
        assert answer["personalised"] is False and answer["reason"] == NO_CONSENT
        assert answer["traits"] == {} and answer["computed_traits"] == {}
        assert answer["segments"] == [] and "profile_id" not in answer
        assert _skus(answer) == popular
    # a withdrawal reaches the API with the next consent refresh, without a full rebuild
    record_consent(world, reference="email:ana@x.fr", purpose="personalisation", status="withdrawn")
    assert refresh_card_consents(world)["profiles"] == 1
    assert refresh_card_consents(world)["profiles"] == 0
    ana = personalise(world, key=key, id_type="email", value="ana@x.fr")
    assert ana["personalised"] is False and ana["traits"] == {}


def test_refusals(world: Store) -> None:
    made = create_key(world, name="site", traits=["*"])
    key = made["key"]
    with pytest.raises(NotFound):
        personalise(world, key=key, id_type="email", value="nobody@x.fr")
    with pytest.raises(InputError, match="invalid identifier type"):
        personalise(world, key=key, id_type="E-Mail", value="ana@x.fr")
    with pytest.raises(InputError, match="empty"):
        personalise(world, key=key, id_type="email", value="  ")
    with pytest.raises(KeyRefused):
        personalise(world, key=key + "x", id_type="email", value="ana@x.fr")
    with pytest.raises(InputError, match="invalid segment name"):
        create_key(world, name="bad", segments=["x'; drop table segments; --"])
    listed = list_keys(world)
    assert [k["key_id"] for k in listed] == [made["key_id"]]
    assert "key_hash" not in listed[0] and listed[0]["scope"]["traits"] == ["*"]
    revoke_key(world, made["key_id"])
    with pytest.raises(KeyRefused):
        personalise(world, key=key, id_type="email", value="ana@x.fr")
    with pytest.raises(NotFound):
        revoke_key(world, "nope")


def _client(app: FastAPI) -> TestClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture
def http(world: Store) -> Iterator[tuple[TestClient, str]]:
    app = FastAPI()
    app.include_router(router)
    app.state.store_runner = LocalRunner(world)
    key = create_key(world, name="site", traits=["first_name"], segments=["*"])["key"]
    with _client(app) as client:
        yield client, key


def test_http_answers(http: tuple[TestClient, str]) -> None:
    client, key = http
    auth = {"Authorization": f"Bearer {key}"}
    got = client.get("/v1/personalise", params={"type": "email", "value": "ana@x.fr"}, headers=auth)
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body["personalised"] and body["traits"] == {"first_name": "c1"}
    assert body["segments"] == ["buyers", "french"] and body["updated_at"]
    posted = client.post(
        "/v1/personalise",
        json={"type": "email", "value": "ana@x.fr"},
        headers={"X-Profilo-Key": key},
    )
    assert posted.status_code == 200 and posted.json() == body
    none = client.get(
        "/v1/personalise", params={"type": "email", "value": "dan@x.fr"}, headers=auth
    )
    assert none.status_code == 200 and none.json()["reason"] == NO_CONSENT
    missing = client.get(
        "/v1/personalise", params={"type": "email", "value": "no@x.fr"}, headers=auth
    )
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "not_found"
    bad = client.get("/v1/personalise", params={"type": "E mail", "value": "x"}, headers=auth)
    assert bad.status_code == 422
    assert client.get("/v1/personalise", params={"type": "email"}, headers=auth).status_code == 422
    assert client.post("/v1/personalise", json={"type": "email"}, headers=auth).status_code == 422
    anonymous = client.get("/v1/personalise", params={"type": "email", "value": "ana@x.fr"})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
    wrong = client.get(
        "/v1/personalise",
        params={"type": "email", "value": "ana@x.fr"},
        headers={"Authorization": "Bearer pk_nope"},
    )
    assert wrong.status_code == 401 and wrong.json()["detail"]["code"] == "invalid_key"
