"""Crash test: a client sends continuously, with retries, while the server is killed with SIGKILL
several times and restarted. Afterwards every message that got a 2xx is stored exactly once.

The kills land wherever they land: between requests, after a frame is fsynced but before its
answer, in the middle of the loader's transaction. One kill hits the web process only, so the
store worker must die with it (it would otherwise keep the DuckDB file locked).
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

CYCLES = 3
BATCH = 10


class Sender(threading.Thread):
    """Sends batches of new messages; retries each batch (same messageIds) until it gets a 2xx."""

    def __init__(self, url: str, write_key: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.auth = {
            "Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        }
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.retries = 0
        self.halt = threading.Event()

    def run(self) -> None:
        number = 0
        with httpx.Client(timeout=5.0) as client:
            while not self.halt.is_set():
                ids = [f"crash-{number}-{i}" for i in range(BATCH)]
                batch = [
                    {
                        "type": "track",
                        "event": "Tick",
                        "userId": f"u{number % 7}",
                        "messageId": m,
                        "properties": {"n": number},
                    }
                    for m in ids
                ]
                self.sent.update(ids)
                while True:  # a batch is abandoned only when the test stops
                    try:
                        answer = client.post(
                            f"{self.url}/v1/batch", json={"batch": batch}, headers=self.auth
                        )
                        if 200 <= answer.status_code < 300:
                            self.acked.update(ids)
                            break
                    except httpx.HTTPError:
                        pass
                    self.retries += 1
                    if self.halt.is_set():
                        return
                    time.sleep(0.02)
                number += 1


def test_acknowledged_messages_survive_sigkill(
    tmp_path: Path, server_class: Any, read_events: Any
) -> None:
    store_url = f"duckdb:///{tmp_path / 'profilo.duckdb'}"
    server = server_class(store_url, tmp_path)
    write_key = server.add_source("ticker", kind="server", rate_limit=0)
    server.start()
    sender = Sender(server.url, write_key)
    sender.start()
    rng = random.Random(20261124)
    try:
        for cycle in range(CYCLES):
            time.sleep(rng.uniform(0.8, 2.0))
            acked_before = len(sender.acked)
            server.kill(whole_group=cycle != 1)
            server.start()
            assert len(sender.acked) >= acked_before
        time.sleep(1.0)
    finally:
        sender.halt.set()
        sender.join(30)
    assert len(sender.acked) > 200 and sender.retries > 0
    server.drain()
    server.stop()

    events = read_events(store_url)
    counts = Counter(e["message_id"] for e in events)
    stored = set(counts)
    assert not sender.acked - stored, "acknowledged messages were lost"
    assert max(counts.values()) == 1, "a message was stored twice"
    assert stored <= sender.sent, "a message that was never sent was stored"
