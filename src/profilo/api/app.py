"""The web application: ``create_app(settings)`` mounts each capability's routes.

Today: the tracking API (``/v1``), the admin API (``/admin``), health (``/health``, ``/ready``) and
Prometheus metrics (``/metrics``). Every error answer is JSON with ``code``, ``message`` and
``field``; a client's mistake is never a 5xx.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from profilo.api import admin, ingest
from profilo.api.runtime import Runtime
from profilo.api.settings import ServeSettings
from profilo.api.worker import WorkerClient
from profilo.ui import STATIC_DIR
from profilo.ui import router as ui_router

__all__ = ["create_app"]

log = logging.getLogger("profilo.api")


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def _error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"success": False, "code": code, "message": message, "field": field}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if isinstance(detail, dict):
        body = _error_body(
            detail.get("code", "error"), detail.get("message", ""), detail.get("field")
        )
    else:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        body = _error_body(code, str(detail))
    headers = dict(exc.headers or {})
    if request.url.path.startswith("/v1/"):
        headers.update(ingest.CORS_HEADERS)
    return _json(exc.status_code, body, headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    return _json(422, _error_body("invalid_request", str(first.get("msg")), field))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # a process edge: a bug must not leak a traceback, and must be visible in the logs
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return _json(500, _error_body("internal_error", "unexpected server error"))


def create_app(
    settings: ServeSettings | None = None,
    *,
    fsync: Callable[[int], None] = os.fdatasync,
    ceiling_endpoint: bool = False,
    worker: WorkerClient | None = None,
) -> FastAPI:
    """The application for ``settings``; the lifespan starts the spool and the store worker.

    ``fsync`` is injectable so tests can prove acknowledged frames were synced;
    ``ceiling_endpoint`` adds ``POST /bench/parse``, which only reads and parses the body (the
    benchmark's ceiling for this stack); ``worker`` is a store worker already launched.
    """
    settings = settings or ServeSettings()
    runtime = Runtime(settings, fsync=fsync, worker=worker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # Long-lived objects need no scanning (freeze), and a request's thousands of short-lived
        # objects are freed by reference counting, so the collector can run far less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Profilo",
        version="0.1.0",
        summary="Segment-compatible tracking API and admin API of Profilo, an open-source CDP.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    # /v1/personalise first: routes are matched in order, and a web site waits on every answer
    # (each route tried before it costs microseconds, and the application has about a hundred)
    from profilo.activate.routes_personalise import keys_router as personalise_keys_router
    from profilo.activate.routes_personalise import router as personalise_router

    app.include_router(personalise_router)  # its own keys, each with a scope
    app.include_router(ingest.tracking_router(ceiling_endpoint=ceiling_endpoint))
    app.include_router(admin.router)
    app.include_router(ui_router)  # the web UI (/ui), behind its own log-in
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # profiles, computed traits and segments, behind the admin token (they hold personal data).
    # Their calls run where the store is: in this process, a connection per thread, where the
    # engine allows many (PostgreSQL); in the store worker otherwise (it owns a DuckDB file).
    from fastapi import Depends

    from profilo.activate.routes import consents_router
    from profilo.activate.routes import router as destinations_router
    from profilo.api.runner import WorkerRunner
    from profilo.audiences.routes import router as segments_router
    from profilo.profiles.routes import router as profiles_router
    from profilo.profiles.routes import traits_router
    from profilo.store import LocalRunner, parse_store_url

    for router in (
        profiles_router,
        traits_router,
        segments_router,
        destinations_router,
        consents_router,
    ):
        app.include_router(router, dependencies=[Depends(admin._require_admin)])
    app.include_router(  # /admin/personalisation/keys
        personalise_keys_router, prefix="/admin", dependencies=[Depends(admin._require_admin)]
    )
    if parse_store_url(settings.store).engine == "postgres":
        app.state.store_runner = LocalRunner(url=settings.store, workspace=settings.workspace)
    else:
        app.state.store_runner = WorkerRunner(runtime)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["health"])
    async def ready() -> Response:
        """Readiness: the spool is open, the write keys are loaded and the store worker runs (the
        automatic pipeline's state is reported beside, and never makes the server unready)."""
        ok = runtime.ready and runtime.worker.alive
        body = {
            "status": "ready" if ok else "starting",
            "worker_alive": runtime.worker.alive,
            "sources": len(runtime.registry),
            "spool_backlog_bytes": runtime.backlog_bytes() if runtime.ready else None,
            # the automatic pipeline's last run (as of the worker's last report, every 0.5 s)
            "pipeline": runtime.loader_state().get("pipeline"),
        }
        return _json(200 if ok else 503, body)

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    _add_security_scheme(app)
    return app


def _add_security_scheme(app: FastAPI) -> None:
    """Describe the write key (HTTP Basic, key as user) in the OpenAPI document."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        # a body that is not JSON at all is answered 400 by the framework, on every route
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    operation.setdefault("responses", {}).setdefault(
                        "400", {"description": "The body cannot be read as JSON."}
                    )
        schemes["writeKey"] = {
            "type": "http",
            "scheme": "basic",
            "description": "The source's write key as user name, empty password.",
        }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
