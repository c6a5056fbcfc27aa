"""The personalisation API under ``profilo serve``: keys made with the CLI and the admin API (the
secret shown once), answers over HTTP, consent through the cards step, revocation."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx

from profilo.activate.personalise import KEY_CACHE_SECONDS, NO_CONSENT


def test_keys_and_answers_under_serve(
    server_class: Any, server_store_url: str, tmp_path: Path
) -> None:
    # explicit pipeline runs only: their summaries (cards written) are checked
    server = server_class(server_store_url, tmp_path, pipeline_every=0)
    write_key = server.add_source("web")
    server.start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        admin = stack.enter_context(
            httpx.Client(
                base_url=server.url,
                headers={"Authorization": f"Bearer {server.token}"},
                timeout=120,
            )
        )
        batch = [
            {"type": "identify", "messageId": f"m{i}", "userId": f"u{i}",
             "traits": {"email": f"person{i}@mail.fr", "first_name": f"P{i}"}}
            for i in range(4)
        ]  # fmt: skip
        sent = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=(write_key, ""))
        assert sent.status_code == 200, sent.text
        server.drain()
        ran = admin.post("/admin/pipeline/run", json={}).json()
        assert ran["steps"][-1]["step"] == "cards" and ran["steps"][-1]["summary"]["cards"] == 4

        # the CLI asks the server when it holds the DuckDB file, else opens the store itself
        made = server.cli("personalise", "key", "add", "site", "--trait", "first_name",
                          "--segment", "*")  # fmt: skip
        key = made["key"]
        assert key.startswith("pk_") and made["scope"]["traits"] == ["first_name"]
        other = admin.post("/admin/personalisation/keys", json={"name": "app", "traits": ["*"]})
        assert other.status_code == 201 and other.json()["key"].startswith("pk_")
        for listed in (server.cli("personalise", "key", "list"),
                       admin.get("/admin/personalisation/keys").json()):  # fmt: skip
            assert [k["name"] for k in listed] == ["site", "app"]
            assert all(set(k) == {"key_id", "name", "scope", "created_at", "revoked_at"}
                       for k in listed)  # fmt: skip
        assert httpx.get(f"{server.url}/admin/personalisation/keys").status_code == 401

        auth = {"Authorization": f"Bearer {key}"}
        ask = {"type": "email", "value": "Person1@Mail.fr"}
        plain = httpx.get(f"{server.url}/v1/personalise", params=ask, headers=auth)
        assert plain.status_code == 200, plain.text
        assert plain.json()["personalised"] is False and plain.json()["reason"] == NO_CONSENT
        missing = {"type": "email", "value": "nobody@mail.fr"}
        assert httpx.get(f"{server.url}/v1/personalise", params=missing,
                         headers=auth).status_code == 404  # fmt: skip

        consent = {"reference": "email:person1@mail.fr", "purpose": "personalisation",
                   "status": "granted"}  # fmt: skip
        assert admin.post("/consents", json=consent).status_code == 201
        cards = admin.post("/admin/pipeline/run", json={"steps": ["cards"]}).json()
        assert cards["steps"][0]["summary"]["changed"] == 1
        body = httpx.post(f"{server.url}/v1/personalise", json=ask, headers=auth).json()
        assert body["personalised"] is True and body["profile_id"]
        assert set(body["traits"]) <= {"first_name"}  # the key's scope

        revoked = server.cli("personalise", "key", "revoke", made["key_id"])
        assert revoked["revoked_at"] is not None
        # other processes (and the worker's read connections) keep a key's state a few seconds
        deadline = time.monotonic() + KEY_CACHE_SECONDS + 30
        status = 200
        while status == 200 and time.monotonic() < deadline:
            status = httpx.get(f"{server.url}/v1/personalise", params=ask, headers=auth).status_code
            time.sleep(0.2)
        assert status == 401
        gone = admin.delete("/admin/personalisation/keys/nope")
        assert gone.status_code == 404
