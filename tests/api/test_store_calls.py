"""Profiles, segments and the pipeline through a running server: on a DuckDB file the calls run in
the store worker (the only process that may open the file), on PostgreSQL in the web process."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx


def test_profiles_and_segments_answer_while_the_server_holds_the_store(
    server_class: Any, server_store_url: str, tmp_path: Path
) -> None:
    server = server_class(server_store_url, tmp_path)
    key = server.add_source("web")
    server.start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        auth = {"Authorization": f"Bearer {server.token}"}
        http = stack.enter_context(httpx.Client(base_url=server.url, headers=auth, timeout=120))
        batch = [
            {"type": "identify", "messageId": f"m{i}", "userId": f"u{i}",
             "traits": {"email": f"person{i}@mail.fr", "first_name": f"P{i}"}}
            for i in range(5)
        ]  # fmt: skip
        sent = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=(key, ""))
        assert sent.status_code == 200, sent.text
        server.drain()

        ran = http.post("/admin/pipeline/run", json={}).json()
        assert [s["step"] for s in ran["steps"]] == [
            "identity",
            "profiles",
            "traits",
            "segments",
            "cards",
        ]

        found = http.get("/profiles/lookup", params={"identifier": "email:Person3@Mail.fr"})
        assert found.status_code == 200, found.text
        profile = found.json()["profile_id"]
        view = http.get(f"/profiles/{profile}").json()
        assert {i["value"] for i in view["identities"]} >= {"person3@mail.fr", "u3"}
        assert (
            http.get("/profiles/lookup", params={"identifier": "email:no@x.fr"}).status_code == 404
        )

        bad = http.put("/segments/broken", json={"text": "trait first_name =="})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_rule", bad.text
        unknown = http.put("/segments/ghost", json={"text": "computed nothing_here > 1"})
        assert unknown.status_code == 422 and "nothing_here" in unknown.json()["message"]
        ok = http.put("/segments/all_known", json={"text": "has email"})
        assert ok.status_code == 200, ok.text
        assert http.post("/segments/evaluate", json={}).status_code == 200
        size = http.get("/segments/all_known/size").json()
        assert size["members"] == 5
        preview = http.post("/segments/preview", json={"text": "has email"}).json()
        assert preview["size"] == 5
        assert [s["name"] for s in http.get("/segments").json()] == ["all_known"]
