"""Factories for activation tests: a small world of profiles, a fake clock, a loopback receiver.

The world is written where the identity and profiles steps write it (``profiles``,
``profile_traits``, ``identities``, ``identity_records``) plus raw ``consents`` rows attached to
each profile's CRM record; segment entries and exits go through the audiences' own writer
(``record_changes``), so the sync engine reads exactly what it reads in production.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyarrow as pa
import pytest

from profilo.activate.definitions import parse_destination, save_destination
from profilo.activate.destinations.webhook import verify_signature
from profilo.activate.secrets import Keyring, new_key
from profilo.activate.sync import SyncOptions
from profilo.audiences import record_changes
from profilo.store import Store

TS = pa.timestamp("us", tz="UTC")
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LOOPBACK = ("127.0.0.0/8",)
SECRET = "whsec_test_0123456789"


class FakeClock:
    """A clock that moves only when the engine sleeps (or the test moves it); sleeps are kept."""

    def __init__(self, start: datetime = START) -> None:
        self.at = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.at += timedelta(seconds=max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def changes(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body)["changes"])


@dataclass
class Receiver:
    """A real HTTP server on loopback that records requests and answers from a script."""

    port: int = 0
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    """Answers to give, in order (then 200); ``status`` 0 means close the connection."""
    default: int = 200
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers = (
                    receiver.script.pop(0) if receiver.script else (receiver.default, {})
                )
                receiver.answered.append(status)
                if 200 <= status < 300:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def changes(self) -> list[dict[str, Any]]:
        return [c for r in self.received for c in r.changes]

    def all_signed(self, secret: str = SECRET) -> bool:
        return all(
            verify_signature(
                secret,
                r.body,
                r.headers.get("X-Profilo-Timestamp"),
                r.headers.get("X-Profilo-Signature"),
            )
            for r in self.received
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([new_key()])


def options(clock: FakeClock, keyring: Keyring | None = None, **kw: Any) -> SyncOptions:
    return SyncOptions(clock=clock, keyring=keyring, allow_networks=LOOPBACK, seed=7, **kw)


def add_people(
    store: Store,
    n: int,
    *,
    consents: Callable[[int], dict[str, str]] | None = None,
    prefix: str = "prf_",
) -> list[str]:
    """``n`` profiles with an e-mail, a first name and a city; ``consents(i)`` gives each one's
    consent records (purpose → granted/denied)."""
    now = START - timedelta(days=1)
    pids = [f"{prefix}{i:04d}" for i in range(n)]
    profiles = pa.table(
        {
            "profile_id": pids,
            "records": [1] * n,
            "sources": ["crm"] * n,
            "first_seen": pa.array([now] * n, TS),
            "last_seen": pa.array([now] * n, TS),
            "traits": [json.dumps({"first_name": f"Name{i}"}) for i in range(n)],
            "updated_at": pa.array([now] * n, TS),
        }
    )
    traits = [
        {
            "profile_id": pid,
            "trait": trait,
            "value": value,
            "source": "crm",
            "record_key": pid,
            "observed_at": now,
            "rule": "most_recent",
            "candidates": 1,
            "conflict": False,
        }
        for i, pid in enumerate(pids)
        for trait, value in (("first_name", f"Name{i}"), ("city", "Lyon" if i % 2 else "Paris"))
    ]
    identities = [
        {
            "id_type": kind,
            "value": value,
            "profile_id": pid,
            "component_id": pid,
            "status": "linked",
            "source": "crm",
            "records": 1,
        }
        for pid in pids
        for kind, value in (("email", f"{pid}@example.com"), ("crm_id", f"C{pid[-4:]}"))
    ]
    records = pa.table(
        {
            "source": ["crm"] * n,
            "record_key": pids,
            "profile_id": pids,
            "component_id": pids,
            "linked_by": ["test"] * n,
            "resolved_at": pa.array([now] * n, TS),
        }
    )
    with store.transaction():
        store.replace_rows("profiles", profiles)
        store.replace_rows("profile_traits", pa.Table.from_pylist(traits))
        store.replace_rows("identities", pa.Table.from_pylist(identities))
        store.replace_rows("identity_records", records)
    if consents is not None:
        for i, pid in enumerate(pids):
            for purpose, status in consents(i).items():
                set_consent(store, pid, purpose, status, at=now)
    return pids


def set_consent(store: Store, pid: str, purpose: str, status: str, *, at: datetime) -> None:
    """A consent record on the profile's CRM record (as an import of consents writes it)."""
    row = {
        "consent_id": f"crm:{pid}:{purpose}:{status}:{at.isoformat()}",
        "message_id": f"crm:{pid}",
        "source": "crm",
        "record_key": pid,
        "purpose": purpose,
        "status": status,
        "legal_basis": "consent",
        "consented_at": at,
        "recorded_at": at,
    }
    store.replace_rows("consents", pa.Table.from_pylist([row]))


def enter(store: Store, segment: str, pids: list[str], run: str) -> None:
    record_changes(
        store,
        run,
        {segment: (pa.array(pids, pa.string()), pa.array([], pa.string()))},
        trigger="batch",
    )


def leave(store: Store, segment: str, pids: list[str], run: str) -> None:
    record_changes(
        store,
        run,
        {segment: (pa.array([], pa.string()), pa.array(pids, pa.string()))},
        trigger="batch",
    )


def webhook(
    store: Store,
    url: str,
    keyring: Keyring | None,
    *,
    name: str = "hook",
    **extra: Any,
) -> None:
    data: dict[str, Any] = {
        "name": name,
        "kind": "webhook",
        "purposes": ["email_marketing"],
        "audiences": ["vip"],
        "fields": {"first_name": "trait:first_name", "city": "city"},
        "identifiers": ["email"],
        "settings": {"url": url, "max_batch": 5},
        "credentials": {"secret": SECRET} if keyring else {},
        "retry_base_seconds": 2,
        "retry_max_seconds": 60,
        **extra,
    }
    save_destination(store, parse_destination(data), keyring=keyring, allow_networks=LOOPBACK)
