"""The store worker: the one process of ``profilo serve`` that opens the store.

DuckDB allows one process per database file, and storing messages is the heavy part of ingestion,
so ``serve`` runs two processes: the web process (HTTP, checks, spool) never opens the store; the
worker (this module) runs the loader in a loop and answers the web process's calls over a pipe —
the registry of write keys, status, sources, tracking plans, quarantine. Between two loads it
runs the incremental pipeline when stored messages call for it (``pipeline_every``; see
:mod:`profilo.pipeline.schedule`). Its loading thread runs at the lowest CPU priority, so taking
requests goes first and the spool absorbs bursts; its calls are answered at normal priority, on a
connection of their own for reads. It dies with its parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profilo.errors import ConfigError, NotFound, ProfiloError, StoreError
from profilo.store.runner import resolve_function

if TYPE_CHECKING:
    from profilo.api.settings import ServeSettings

__all__ = ["WorkerClient", "WorkerConfig", "WorkerError", "run_worker"]

log = logging.getLogger("profilo.api.worker")


class WorkerError(ProfiloError):
    """The store worker is not running or did not answer."""


@dataclass(frozen=True)
class WorkerConfig:
    store_url: str
    workspace: str
    spool_dir: str | None = None
    """None: the default of :class:`~profilo.api.settings.ServeSettings` for the store."""
    priority: str = "idle"
    batch_bytes: int = 8 * 1024 * 1024
    release_seconds: float = 5.0
    log_level: str = "info"
    open_timeout: float = 30.0
    pipeline_every: float = 0.0
    """Seconds between automatic pipeline runs after stored messages (0: none); see
    :class:`~profilo.pipeline.schedule.PipelineSchedule`."""

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> WorkerConfig:
        """The store worker's configuration for a server's settings."""
        return cls(
            store_url=settings.store,
            workspace=settings.workspace,
            spool_dir=str(settings.spool_dir) if settings.spool_dir is not None else None,
            priority=settings.loader_priority,
            batch_bytes=settings.loader_batch_bytes,
            release_seconds=settings.release_seconds,
            log_level=settings.log_level,
            pipeline_every=settings.pipeline_every,
        )


# -- the worker process -----------------------------------------------------------------------


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a kill -9 of ``serve``)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _lower_priority(priority: str) -> None:
    """Let requests go first: ``idle`` runs the calling thread only on CPU nothing else wants
    (Linux's SCHED_IDLE), a number is a niceness. The spool holds what waits; past its limit the
    API answers 503 and clients slow down, which frees CPU for the loader."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        if priority == "idle":
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.nice(int(priority))


def _open_store(config: WorkerConfig) -> Any:
    from profilo.store import open_store

    deadline = time.monotonic() + config.open_timeout
    while True:
        try:
            return open_store(config.store_url, workspace=config.workspace, migrate=True)
        except StoreError:
            # a previous server's worker may still be letting go of the DuckDB file
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


READ_THREADS = 4
"""Reads the worker answers at once (each on its own connection)."""


class _Worker:
    def __init__(self, config: WorkerConfig) -> None:
        from profilo.collect.loader import Loader
        from profilo.pipeline import PipelineSchedule

        self.config = config
        self.store = _open_store(config)
        self.store.require_durable_commits()
        # reads get connections of their own (one per read thread, opened on first use), so
        # status, write keys and the profile routes never wait for a load
        self._readers = threading.local()
        self._readers_lock = threading.Lock()
        self._reader_stores: list[Any] = []
        spool = config.spool_dir
        if spool is None:
            from profilo.api.settings import ServeSettings

            resolved = ServeSettings(store=config.store_url, workspace=config.workspace)
            spool = str(resolved.resolved_spool_dir())
        # the pipeline follows what the loader stores, between loads (see PipelineSchedule)
        self.pipeline = PipelineSchedule(config.pipeline_every, batch_bytes=config.batch_bytes)
        self.loader = Loader(
            self.store,
            Path(spool),
            batch_bytes=config.batch_bytes,
            after_load=[self.pipeline.note_load] if self.pipeline.enabled else [],
        )
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.last_release = time.monotonic()
        self.error: str | None = None

    def reader_store(self) -> Any:
        """This thread's read connection (reads run on a few threads, each with its own)."""
        store = getattr(self._readers, "store", None)
        if store is None:
            store = _open_store(self.config)
            self._readers.store = store
            with self._readers_lock:
                self._reader_stores.append(store)
        return store

    def reads(self) -> dict[str, Callable[..., Any]]:
        """Calls that only read: served on connections of their own, without waiting for a load."""
        from profilo.collect import quarantine, sources, stats

        reader = self.reader_store
        return {
            "registry": lambda: sources.registry_rows(reader()),
            "status": lambda: stats.collect_status(reader()),
            "sources.list": lambda: sources.list_sources(reader()),
            "plan.get": lambda **kw: sources.get_plan(reader(), **kw),
            "quarantine.list": lambda **kw: quarantine.list_quarantine(reader(), **kw),
            "durability": self.store.durability,
            # any module-level function of profilo, run on a read connection
            "run.read": lambda fn, kwargs: resolve_function(fn)(reader(), **kwargs),
        }

    def writes(self) -> dict[str, Callable[..., Any]]:
        """Calls that write: on the loader's connection, between two loads."""
        from profilo.collect import quarantine, sources

        store = self.store
        return {
            "sources.add": lambda **kw: sources.add_source(store, **kw),
            "plan.set": lambda **kw: sources.set_plan(store, **kw).model_dump(exclude_none=True),
            "quarantine.fix": lambda **kw: quarantine.fix_quarantined(store, **kw),
            "quarantine.replay": lambda **kw: quarantine.replay_quarantined(store, **kw),
            "drain": self._drain,
            "run.write": lambda fn, kwargs: resolve_function(fn)(store, **kwargs),
        }

    def state(self) -> dict[str, Any]:
        loader = self.loader
        return {
            "cursor": [loader.cursor.segment, loader.cursor.offset],
            "loads": loader.loads,
            "totals": asdict(loader.totals),
            "pid": os.getpid(),
            "error": self.error,
            "pipeline": self.pipeline.state(),
        }

    def _drain(self) -> dict[str, Any]:
        handled = self.loader.drain()
        self.release(force=True)
        return {"handled": handled, **self.state()}

    def release(self, force: bool = False) -> None:
        if force or time.monotonic() - self.last_release >= self.config.release_seconds:
            self.loader.release()
            self.last_release = time.monotonic()

    def serve_calls(self, conn: Connection) -> None:
        """Answer the web process's calls: reads on a few threads at once, writes one at a time
        between loads; replies go back tagged with their call's id, in any order."""
        from concurrent.futures import ThreadPoolExecutor

        reads, writes = self.reads(), self.writes()
        send_lock = threading.Lock()

        def answer(call_id: int, op: str, kwargs: dict[str, Any]) -> None:
            try:
                if op in reads:
                    reply: tuple[Any, ...] = (call_id, "ok", reads[op](**kwargs))
                else:
                    with self.lock:
                        reply = (call_id, "ok", writes[op](**kwargs))
            except ProfiloError as exc:
                reply = (call_id, "error", type(exc).__name__, str(exc), _error_state(exc))
            except Exception as exc:
                log.exception("worker call %s failed", op)
                reply = (call_id, "error", "WorkerError", f"{type(exc).__name__}: {exc}")
            send(reply)

        def send(reply: tuple[Any, ...]) -> None:
            try:
                with send_lock:
                    conn.send(reply)
            except (BrokenPipeError, OSError):
                self.stop.set()
            except Exception as exc:  # an answer that does not pickle: say so instead
                log.exception("worker reply to call %s failed", reply[0])
                with send_lock:
                    conn.send((reply[0], "error", "WorkerError", f"unsendable reply: {exc}"))

        read_pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="profilo-read")
        write_pool = ThreadPoolExecutor(1, thread_name_prefix="profilo-write")
        try:
            while not self.stop.is_set():
                try:
                    call_id, op, kwargs = conn.recv()
                except (EOFError, OSError):
                    self.stop.set()  # the web process is gone
                    return
                if op == "state":
                    send((call_id, "ok", self.state()))
                elif op == "stop":
                    self.stop.set()
                    send((call_id, "ok", None))
                elif op in reads:
                    read_pool.submit(answer, call_id, op, kwargs)
                elif op in writes:
                    write_pool.submit(answer, call_id, op, kwargs)
                else:
                    send((call_id, "error", "ConfigError", f"unknown worker call {op!r}"))
        finally:
            read_pool.shutdown(wait=False, cancel_futures=True)
            write_pool.shutdown(wait=False, cancel_futures=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with self.lock:
                    result = self.loader.load_once()
                    self.release()
                self.error = None
            except ProfiloError as exc:
                # the store is unreachable: keep the cursor, try again shortly
                self.error = str(exc)
                log.error("loading failed, retrying in 1 s: %s", exc)
                self.stop.wait(1.0)
                continue
            if result is None:
                self.pipeline.note_idle()
            if self.pipeline.due():
                with self.lock:
                    self.pipeline.run(self.store)
                continue
            if result is None:
                self.stop.wait(0.05)
        # a clean stop: store what is left, make it durable, free the spool
        with self.lock:
            with contextlib.suppress(ProfiloError):
                self.loader.drain(timeout=30.0)
                self.release(force=True)
            for reader in self._reader_stores:
                with contextlib.suppress(ProfiloError):
                    reader.close()
            self.store.close()


def run_worker(config: WorkerConfig, conn: Connection) -> None:
    """Entry point of the worker process."""
    die_with_parent()
    from profilo.api.logs import configure_logging

    configure_logging(config.log_level)
    opened = threading.Event()
    workers: list[_Worker] = []

    def answer_calls() -> None:
        opened.wait()
        if workers:
            workers[0].serve_calls(conn)

    # Started before the priority drops: on Linux priorities are per thread, so calls (status,
    # write keys) are answered at normal priority while loading runs at the lower one.
    calls = threading.Thread(target=answer_calls, name="worker-calls", daemon=True)
    calls.start()
    _lower_priority(config.priority)
    try:
        worker = _Worker(config)  # DuckDB's threads start here, and inherit the low priority
    except ProfiloError as exc:
        log.error("the store worker cannot start: %s", exc)
        with contextlib.suppress(OSError):
            conn.send((0, "error", type(exc).__name__, str(exc)))
        opened.set()
        sys.exit(2)
    workers.append(worker)
    conn.send((0, "ok", "ready"))
    opened.set()
    worker.run()


# -- the web process's side -------------------------------------------------------------------


def _error_state(exc: ProfiloError) -> dict[str, Any]:
    """What an error carries besides its message (e.g. a rule error's problems), if plain data."""
    state = {k: v for k, v in vars(exc).items() if not k.startswith("_")}
    try:
        pickle.dumps(state)
    except Exception:  # noqa: BLE001 - anything unpicklable is simply not carried
        return {}
    return state


def _error_classes() -> dict[str, type[ProfiloError]]:
    found: dict[str, type[ProfiloError]] = {}
    pending: list[type[ProfiloError]] = [ProfiloError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.__name__, cls)
        pending.extend(cls.__subclasses__())
    return found


def _answer(reply: tuple[Any, ...]) -> Any:
    """A reply's result, or its error raised as the worker's class."""
    if reply[1] == "ok":
        return reply[2]
    raise _rebuild_error(*reply[2:])


def _rebuild_error(name: str, message: str, state: dict[str, Any] | None = None) -> ProfiloError:
    """The worker's error as the same class in this process, with its message and attributes."""
    cls = _error_classes().get(name) or _ERRORS.get(name, WorkerError)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    for key, value in (state or {}).items():
        setattr(error, key, value)
    return error


_ERRORS: dict[str, type[ProfiloError]] = {
    "NotFound": NotFound,
    "ConfigError": ConfigError,
    "MappingError": ConfigError,
    "StoreError": StoreError,
    "UnsupportedFeature": StoreError,
}


_SEND_IN_LOOP_BYTES = 16 * 1024
"""Calls up to this size are written to the pipe from the event loop (far below its buffer)."""


class WorkerClient:
    """Starts the worker process and calls it (blocking — call from threads; calls overlap)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._next_id = 0
        self._launched: tuple[Any, Connection] | None = None
        self._waiting: dict[int, Future[tuple[Any, ...]]] = {}
        self._receiver: threading.Thread | None = None
        self.restarts = 0

    def launch(self) -> None:
        """Start the worker process without waiting for it (its imports then overlap ours)."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=run_worker, args=(self.config, child), name="profilo-store-worker", daemon=True
        )
        process.start()
        child.close()
        self._launched = (process, parent)

    @property
    def launched(self) -> bool:
        return self._launched is not None or self._process is not None

    def start(self, timeout: float = 120.0) -> None:
        """Launch the worker if needed and wait until it has opened the store."""
        if self._launched is None:
            self.launch()
        assert self._launched is not None
        process, parent = self._launched
        self._launched = None
        if not parent.poll(timeout):
            process.kill()
            raise WorkerError(f"the store worker did not start within {timeout:.0f} s")
        try:
            _, status, *rest = parent.recv()
        except EOFError:
            process.join(5)
            raise WorkerError("the store worker exited while starting") from None
        if status != "ok":
            process.join(5)
            raise _ERRORS.get(rest[0], WorkerError)(rest[1])
        self._process, self._conn = process, parent
        self._receiver = threading.Thread(
            target=self._receive, args=(parent,), name="profilo-worker-replies", daemon=True
        )
        self._receiver.start()

    def _receive(self, conn: Connection) -> None:
        """Hand each reply to the call waiting for it; when the pipe breaks, fail them all."""
        while True:
            try:
                reply = conn.recv()
            except (EOFError, OSError) as exc:
                with self._lock:
                    waiting, self._waiting = self._waiting, {}
                for future in waiting.values():
                    if not future.done():
                        future.set_exception(WorkerError(f"the store worker is gone: {exc}"))
                return
            with self._lock:
                waiter = self._waiting.pop(reply[0], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)  # a reply nobody waits for belongs to a timed-out call

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def call(self, op: str, timeout: float = 120.0, **kwargs: Any) -> Any:
        """Call the worker and wait for its answer (several threads may call at once)."""
        conn, call_id, future, message = self._register(op, kwargs)
        try:
            self._send(conn, message)
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise self._gone(call_id, exc) from None
        try:
            reply = future.result(timeout)
        except FutureTimeout:
            raise self._unanswered(call_id, op, timeout) from None
        return _answer(reply)

    async def call_async(self, op: str, timeout: float = 120.0, **kwargs: Any) -> Any:
        """:meth:`call` from the event loop without a thread of its own: a small call is written
        to the pipe at once and its reply wakes the loop (a larger one is written from a thread,
        so a full pipe never blocks the loop)."""
        conn, call_id, future, message = self._register(op, kwargs)
        try:
            if len(message) <= _SEND_IN_LOOP_BYTES:
                self._send(conn, message)
            else:
                await asyncio.to_thread(self._send, conn, message)
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise self._gone(call_id, exc) from None
        try:
            reply = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise self._unanswered(call_id, op, timeout) from None
        return _answer(reply)

    def _register(
        self, op: str, kwargs: dict[str, Any]
    ) -> tuple[Connection, int, Future[tuple[Any, ...]], bytes]:
        """A new call: its id, the future its reply will fill, and its message."""
        future: Future[tuple[Any, ...]] = Future()
        with self._lock:
            conn = self._conn
            if conn is None or not self.alive:
                raise WorkerError("the store worker is not running")
            self._next_id += 1
            call_id = self._next_id
            self._waiting[call_id] = future
        return conn, call_id, future, bytes(ForkingPickler.dumps((call_id, op, kwargs)))

    def _forget(self, call_id: int) -> None:
        with self._lock:
            self._waiting.pop(call_id, None)

    def _gone(self, call_id: int, exc: BaseException) -> WorkerError:
        self._forget(call_id)
        return WorkerError(f"the store worker is gone: {exc}")

    def _unanswered(self, call_id: int, op: str, timeout: float) -> WorkerError:
        self._forget(call_id)  # a late reply then finds nobody waiting
        return WorkerError(f"the store worker did not answer {op!r} in {timeout:.0f} s")

    def _send(self, conn: Connection, message: bytes) -> None:
        with self._lock:  # one writer at a time: messages must not interleave
            conn.send_bytes(message)

    def stop(self, timeout: float = 60.0) -> None:
        """Ask the worker to store what is left and exit; kill it if it does not."""
        if self._process is None:
            return
        with contextlib.suppress(ProfiloError):
            self.call("stop", timeout=5.0)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._close_pipe()
        self._process, self._conn = None, None

    def _close_pipe(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._receiver is not None:
            self._receiver.join(5)
            self._receiver = None

    def restart(self) -> None:
        """Start a new worker after the old one died."""
        if self._process is not None:
            self._process.join(1)
        self._close_pipe()
        self._process, self._conn = None, None
        self.restarts += 1
        self.start()
