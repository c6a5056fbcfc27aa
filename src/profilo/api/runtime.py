"""What a running server holds: the spool writer, the store worker, the write keys, the rate limits.

One :class:`Runtime` per application, created by :func:`profilo.api.create_app` and started by its
lifespan; routes reach it through ``request.app.state.runtime``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from profilo.api.checkers import CheckerPool
from profilo.api.metrics import Metrics
from profilo.api.settings import ServeSettings, serve_file
from profilo.api.worker import WorkerClient, WorkerConfig
from profilo.collect.sources import CollectSource, Registry
from profilo.collect.spool import Cursor, SpoolWriter
from profilo.collect.tracking import Limits
from profilo.errors import ProfiloError

__all__ = ["RateLimiter", "Runtime"]

log = logging.getLogger("profilo.api")


class RateLimiter:
    """Token buckets per write key, in messages per second, holding two seconds' worth."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}

    def take(self, key: str, rate: float, n: int) -> float:
        """Take ``n`` tokens; 0 when allowed, else the seconds until they would be there."""
        if rate <= 0:
            return 0.0
        now = self._clock()
        capacity = max(rate * 2.0, 1.0)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [capacity, now]
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        # a batch larger than the bucket passes when the bucket is full, and empties it
        if tokens >= min(n, capacity):
            bucket[0] = tokens - n
            return 0.0
        bucket[0] = tokens
        return (min(n, capacity) - tokens) / rate


class Runtime:
    """The state of one server (see the module's docstring)."""

    def __init__(
        self,
        settings: ServeSettings,
        *,
        fsync: Callable[[int], None] = os.fdatasync,
        limits: Limits | None = None,
        worker: WorkerClient | None = None,
    ) -> None:
        self.settings = settings
        self.limits = limits or Limits()
        self.spool_dir = settings.resolved_spool_dir()
        self.spool = SpoolWriter(
            self.spool_dir, segment_bytes=settings.spool_segment_bytes, fsync=fsync
        )
        self.worker = worker or WorkerClient(WorkerConfig.from_settings(settings))
        count = settings.checker_processes()
        self.checkers = (
            CheckerPool(count, self.limits, compress=settings.spool_compression) if count else None
        )
        self.registry = Registry()
        self.limiter = RateLimiter()
        self._worker_state: dict[str, Any] = {}
        self._loaded = Cursor(0, 0)
        self.metrics = Metrics(self.loader_state)
        self.admin_token = (
            settings.admin_token.get_secret_value()
            if settings.admin_token is not None
            else secrets.token_urlsafe(24)
        )
        self.ready = False
        self.started_at = datetime.now(UTC)
        self._refreshing: asyncio.Task[None] | None = None
        self._last_refresh = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._serve_file = serve_file(settings.store)
        self._switch_interval = sys.getswitchinterval()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        # The spool's sync thread needs the GIL for a moment after each write and fsync; with
        # Python's default 5 ms switch interval a busy event loop makes it wait that long each
        # time, and every acknowledgement waits with it. 0.5 ms costs the loop next to nothing.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.0005))
        self.spool.open()
        if self.checkers is not None:
            await self.checkers.start()
        await asyncio.to_thread(self.worker.start)
        await self.refresh_registry()
        await self._poll_worker()
        self._write_serve_file()
        self._tasks.append(asyncio.create_task(self._watch()))
        self.ready = True
        log.info(
            "collecting",
            extra={
                "spool": str(self.spool_dir),
                "sources": len(self.registry),
                "store": self.settings.store,
            },
        )

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.checkers is not None:
            await self.checkers.stop()
        self.spool.close()
        sys.setswitchinterval(self._switch_interval)
        await asyncio.to_thread(self.worker.stop)
        if self._serve_file is not None:
            with contextlib.suppress(FileNotFoundError):
                if json.loads(self._serve_file.read_text()).get("pid") == os.getpid():
                    self._serve_file.unlink()

    def _write_serve_file(self) -> None:
        if self._serve_file is None:
            return
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        data = {
            "url": f"http://{host}:{self.settings.port}",
            "token": self.admin_token,
            "pid": os.getpid(),
            "worker_pid": self.worker.pid,
            "workspace": self.settings.workspace,
            "spool": str(self.spool_dir),
            "started_at": self.started_at.isoformat(),
        }
        tmp = self._serve_file.with_name(self._serve_file.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(tmp, self._serve_file)

    # -- the worker --------------------------------------------------------------------------

    async def call(self, op: str, **kwargs: Any) -> Any:
        """Call the store worker (from a thread, so the event loop keeps serving)."""
        return await asyncio.to_thread(self.worker.call, op, **kwargs)

    async def _poll_worker(self) -> None:
        state = await self.call("state")
        self._worker_state = state
        cursor = Cursor(*state["cursor"])
        if cursor != self._loaded:
            self._loaded = cursor
            self.spool.forget_segments_before(cursor.segment)

    async def _watch(self) -> None:
        last_registry = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            try:
                if not self.worker.alive:
                    log.error("the store worker died; restarting it")
                    await asyncio.to_thread(self.worker.restart)
                await self._poll_worker()
                if time.monotonic() - last_registry > 5.0:
                    await self.refresh_registry()
                    last_registry = time.monotonic()
            except ProfiloError as exc:
                log.warning("store worker: %s", exc)

    def loader_state(self) -> dict[str, Any]:
        return {
            **self._worker_state,
            "backlog_bytes": self.backlog_bytes(),
            "syncs": self.spool.syncs,
            "worker_alive": self.worker.alive,
        }

    def backlog_bytes(self) -> int:
        return self.spool.backlog_bytes(self._loaded if self._loaded.segment else None)

    # -- write keys --------------------------------------------------------------------------

    async def refresh_registry(self) -> None:
        rows = await self.call("registry")
        self.registry = Registry(rows)
        self._last_refresh = time.monotonic()

    async def source_for(self, write_key: str | None) -> CollectSource | None:
        """The source of a write key, looking again in the store (at most once a second) for a
        key created since the last refresh."""
        if not write_key:
            return None
        source = self.registry.get(write_key)
        if source is not None:
            return source
        if time.monotonic() - self._last_refresh >= 1.0 or self._refreshing is not None:
            if self._refreshing is None:
                self._refreshing = asyncio.create_task(self.refresh_registry())
            task = self._refreshing
            try:
                await asyncio.shield(task)
            except ProfiloError:
                pass
            finally:
                if self._refreshing is task and task.done():
                    self._refreshing = None
        return self.registry.get(write_key)

    def rate_for(self, source: CollectSource) -> float:
        return self.settings.rate_limit if source.rate_limit is None else float(source.rate_limit)
