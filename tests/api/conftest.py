"""A real ``profilo serve`` in a subprocess, on 127.0.0.1 and a free port, for the API tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from profilo.store import open_store

START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``profilo serve`` process (and its store worker), started in a session of its own so
    a test can kill the whole group like a crash would."""

    def __init__(
        self,
        store_url: str,
        folder: Path,
        *,
        workspace: str = "default",
        checkers: int = 0,
        pipeline_every: float | None = None,
    ) -> None:
        self.store_url = store_url
        self.checkers = checkers
        self.pipeline_every = pipeline_every  # None: the server's default
        self.folder = folder
        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = uuid.uuid4().hex
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / f"serve-{self.port}.log"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PROFILO_STORE": self.store_url,
            "PROFILO_WORKSPACE": self.workspace,
            "PROFILO_ADMIN_TOKEN": self.token,
            "PROFILO_SPOOL_DIR": str(self.folder / "spool"),
            "PROFILO_RELEASE_SECONDS": "0.5",
            "PROFILO_LOG_LEVEL": "warning",
            "PROFILO_CHECKERS": str(self.checkers),
            **(
                {"PROFILO_PIPELINE_EVERY": str(self.pipeline_every)}
                if self.pipeline_every is not None
                else {}
            ),
        }

    def cli(self, *args: str, check: bool = True) -> Any:
        """Run a ``profilo`` command against this server's store; returns its JSON output."""
        done = subprocess.run(
            [sys.executable, "-m", "profilo", *args, "--json"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"profilo {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def add_source(self, name: str, **settings: Any) -> str:
        """Create a source: through the admin API while serving, else in the store directly."""
        if self.process is not None:
            created = self.admin("POST", "/sources", json={"name": name, **settings})
        else:
            from profilo.collect.sources import add_source

            store = open_store(self.store_url, workspace=self.workspace, migrate=True)
            try:
                created = add_source(store, name, **settings)
            finally:
                store.close()
        return str(created["write_key"])

    def start(self) -> Server:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "profilo", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not get ready: {self.log.read_text()[-2000:]}")

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/admin{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=120,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def drain(self) -> None:
        self.admin("POST", "/drain")

    def stop(self) -> None:
        """A clean stop (SIGTERM): the worker stores what is left."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.process = None

    def kill(self, whole_group: bool = True) -> None:
        """A crash: SIGKILL to the whole process group (or only the web process)."""
        assert self.process is not None
        if whole_group:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.kill()
        self.process.wait(30)
        self.process = None


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'profilo.duckdb'}"
    return str(request.getfixturevalue("pg_schema"))


def stored_events(store_url: str, workspace: str = "default") -> list[dict[str, Any]]:
    """Every stored event (call once the server is stopped: DuckDB has one writer)."""
    store = open_store(store_url, workspace=workspace)
    try:
        return store.to_arrow(store.table("events")).to_pylist()
    finally:
        store.close()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One DuckDB-backed server for a whole module, checking large bodies in a checker process
    (the clients' and crash tests check in place)."""
    folder = tmp_path_factory.mktemp("server")
    server = Server(f"duckdb:///{folder / 'profilo.duckdb'}", folder, checkers=1)
    server.start()
    yield server
    server.stop()


def drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def server_class() -> type[Server]:
    """The :class:`Server` helper (conftest modules are not importable under importlib mode)."""
    return Server


@pytest.fixture
def read_events() -> Any:
    """:func:`stored_events`, as a fixture."""
    return stored_events
