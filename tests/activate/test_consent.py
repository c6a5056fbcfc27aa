"""Consents from tracked messages and from the API, enforced at the next send."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pyarrow as pa
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning
from tests.activate.conftest import START, add_people

from profilo.activate.consent import consent_decisions, record_consent
from profilo.activate.routes import consents_router
from profilo.activate.routes import router as destinations_router
from profilo.collect import messages_to_records
from profilo.store import LocalRunner, Store


def _allowed(store: Store, pids: list[str], purpose: str, strict: bool = True) -> list[bool]:
    allowed, _ = consent_decisions(store, pa.array(pids), [purpose], strict=strict)
    return list(allowed.to_pylist())


def test_segment_category_preferences_become_consents(store: Store) -> None:
    pids = add_people(store, 2)
    message = {
        "type": "page",
        "anonymousId": "a-1",
        "messageId": "m-1",
        "timestamp": (START + timedelta(hours=1)).isoformat(),
        "context": {
            "traits": {"email": f"{pids[0]}@Example.com"},
            "consent": {
                "categoryPreferences": {
                    "Advertising": True,
                    "Analytics": False,
                    "Unknown thing": True,
                }
            },
        },
    }
    records = messages_to_records([message], source="web", received_at=START, origin="api")
    assert records.consents is not None
    got = sorted(
        zip(
            records.consents.column("purpose").to_pylist(),
            records.consents.column("status").to_pylist(),
            strict=True,
        )
    )
    assert got == [("ad_targeting", "granted"), ("analytics", "denied")]
    store.save(records)
    # not yet resolved by the identity step: found through the message's e-mail, at once
    assert _allowed(store, pids, "ad_targeting") == [True, False]
    assert _allowed(store, pids, "analytics", strict=False) == [False, True]


def test_the_consent_event_becomes_a_consent(store: Store) -> None:
    pids = add_people(store, 1)
    message = {
        "type": "track",
        "event": "Consent Updated",
        "userId": "u1",
        "messageId": "m-2",
        "context": {"traits": {"email": f"{pids[0]}@example.com"}},
        "properties": {"purpose": "sms", "status": "granted", "legal_basis": "contract"},
    }
    records = messages_to_records([message], source="app", received_at=START, origin="api")
    assert records.consents is not None
    row = records.consents.to_pylist()[0]
    assert (row["purpose"], row["status"], row["legal_basis"]) == (
        "sms_marketing",
        "granted",
        "contract",
    )
    store.save(records)
    assert _allowed(store, pids, "sms_marketing") == [True]


def test_a_withdrawal_through_the_api_is_obeyed_at_once(store: Store) -> None:
    pids = add_people(store, 2, consents=lambda i: {"email_marketing": "granted"})
    app = FastAPI()
    app.include_router(consents_router)
    app.include_router(destinations_router)
    app.state.store_runner = LocalRunner(store)
    with warnings.catch_warnings():  # Starlette asks for its httpx fork; stock httpx works
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from fastapi.testclient import TestClient
    with TestClient(app) as client:
        answer = client.post(
            "/consents",
            json={
                "reference": f"email:{pids[0].upper()}@EXAMPLE.COM",
                "purpose": "email_marketing",
                "status": "withdrawn",
                "at": (START + timedelta(days=1)).isoformat(),
            },
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["profile_id"] == pids[0] and body["status"] == "denied"
        assert body["legal_basis"] == "consent" and body["source"] == "consent_api"
        bad = client.post(
            "/consents", json={"reference": pids[0], "purpose": "spam", "status": "granted"}
        )
        assert bad.status_code == 422 and "unknown consent purpose 'spam'" in bad.text
        assert client.get("/destinations").json() == []
    assert _allowed(store, pids, "email_marketing") == [False, True]
    # by profile id: recorded against one of the person's identifiers
    record_consent(
        store,
        reference=pids[0],
        purpose="email_marketing",
        status="granted",
        at=START + timedelta(days=2),
    )
    assert _allowed(store, pids, "email_marketing") == [True, True]
