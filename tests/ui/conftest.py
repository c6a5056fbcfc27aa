"""A small seeded demo, served by the real application under uvicorn on a loopback port.

The store is prepared once per module (demo data for a few dozen customers, imported, resolved,
profiled, with the demo's segments and destinations), with two log-ins: ``demo``/``demo`` (admin) and ``viewer``/``viewer`` (viewer). The
server runs ``create_app`` without its lifespan (no spool, no store worker): the test hands the
application a :class:`~profilo.store.LocalRunner` on the prepared store, as the brief of the UI
asks.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from profilo.access import add_user
from profilo.api import ServeSettings
from profilo.api.app import create_app
from profilo.collect import import_source, load_mapping
from profilo.demo import generate_demo
from profilo.demo.activation import activate_demo
from profilo.demo.definitions import apply_definitions
from profilo.pipeline import run_pipeline
from profilo.store import LocalRunner, Store, open_store

ADMIN_TOKEN = "ui-test-admin-token"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


@dataclass
class Served:
    url: str
    store: Store
    customer: dict[str, str]
    """A demo customer with a name, an e-mail and events: profile_id, first_name, last_name, email."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _customer(store: Store) -> dict[str, str]:
    profiles = store.table("profiles")
    rows = store.to_arrow(
        profiles.order_by([profiles.records.desc(), "profile_id"]).select("profile_id", "traits")
    ).to_pylist()
    for row in rows:
        traits = json.loads(row["traits"])
        if all(traits.get(k) for k in ("first_name", "last_name", "email")):
            return {"profile_id": row["profile_id"], **{k: traits[k] for k in traits}}
    raise AssertionError("the demo has no customer with a name and an e-mail")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("ui")
    generate_demo(root / "demo", customers=40, seed=7)
    url = f"duckdb:///{root / 'ui.duckdb'}"
    store = open_store(url, migrate=True)
    for path in sorted((root / "demo" / "mappings").glob("*.yaml")):
        import_source(store, load_mapping(path))
    apply_definitions(store)  # the demo's computed traits and segments
    run_pipeline(store)
    activate_demo(store, root / "demo")  # its audiences to files and a loopback webhook
    add_user(store, "demo", "demo", role="admin", display_name="Demo Admin")
    add_user(store, "viewer", "viewer", role="viewer", display_name="Vera Viewer")
    settings = ServeSettings(
        store=url, admin_token=ADMIN_TOKEN, spool_dir=root / "spool", checkers=0
    )
    app = create_app(settings)
    app.state.store_runner = LocalRunner(store)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the UI server did not start")
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", store, _customer(store))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
