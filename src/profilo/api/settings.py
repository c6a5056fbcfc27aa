"""The web application's settings: Profilo's settings plus what a server needs (env ``PROFILO_``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr

from profilo.settings import Settings

__all__ = ["ServeSettings", "serve_file"]


class ServeSettings(Settings):
    """Settings of ``profilo serve``; every field can be set as ``PROFILO_<FIELD>``."""

    host: str = "127.0.0.1"
    port: int = 8000
    spool_dir: Path | None = None
    """Where acknowledged messages wait for the loader (default: beside the DuckDB file, or
    ``var/spool/<workspace>`` for PostgreSQL). One directory per server."""
    spool_segment_bytes: int = 32 * 1024 * 1024
    spool_compression: bool = False
    """Compress large frames (zlib) before they are written: a quarter of the bytes to write and
    sync for about 5 µs of CPU per KB; worth it when the disk, not the CPU, is the limit."""
    spool_max_backlog_bytes: int = 2 * 1024 * 1024 * 1024
    """Past this many bytes not yet loaded, requests get 503 with Retry-After (clients retry)."""
    rate_limit: float = 20_000.0
    """Messages per second per write key (a source may set its own; 0 means none)."""
    admin_token: SecretStr | None = None
    """Bearer token of the admin API (``/admin``); a random one per start when unset, written to
    the server file that ``profilo`` commands read."""
    loader_priority: str = "idle"
    """CPU priority of the loader: ``idle`` (Linux's SCHED_IDLE: it loads on CPU time nothing
    else wants, so requests go first and the spool absorbs bursts) or a niceness such as ``10``.
    Calls to the store worker (status, write keys) keep the normal priority."""
    loader_batch_bytes: int = 8 * 1024 * 1024
    release_seconds: float = 5.0
    """How often the loader makes the store durable and deletes the spool segments it has stored."""
    pipeline_every: float = Field(default=2.0, ge=0)
    """Run the incremental pipeline (identity → profiles → traits → segments → cards) by itself
    after the loader stores messages: at most once every this many seconds while messages keep
    arriving, right after the load that ends a lull, never while the loader is behind. 0: only
    when asked (``POST /admin/pipeline/run``, or ``profilo run`` with the server stopped)."""
    log_level: str = "info"
    checkers: int | None = None
    """Processes that parse and check large bodies beside the event loop (default: one per CPU
    beyond two, which the web process and the loader use; 0 checks everything in place)."""
    checker_min_bytes: int = 8192
    """Bodies smaller than this are checked in place (cheaper than sending them)."""

    def checker_processes(self) -> int:
        if self.checkers is not None:
            return max(self.checkers, 0)
        return max((os.cpu_count() or 1) - 2, 0)

    def resolved_spool_dir(self) -> Path:
        """The spool directory this server uses."""
        if self.spool_dir is not None:
            return self.spool_dir
        from profilo.store import parse_store_url

        url = parse_store_url(self.store)
        if url.engine == "duckdb" and url.path is not None:
            return url.path.with_name(url.path.name + ".spool") / self.workspace
        return Path("var") / "spool" / self.workspace


def serve_file(store_url: str) -> Path | None:
    """Where a server holding a DuckDB file says how to reach it (None for other engines).

    DuckDB lets one process open a file; while ``profilo serve`` holds it, ``profilo`` commands
    read this file and ask the server instead.
    """
    from profilo.store import parse_store_url

    url = parse_store_url(store_url)
    if url.engine != "duckdb" or url.path is None:
        return None
    return url.path.with_name(url.path.name + ".serve.json")
