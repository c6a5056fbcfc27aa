"""The admin API (``/admin/…``): status, sources, tracking plans, quarantine — what ``profilo`` asks
a running server for when the server holds the store.

Admin calls need ``Authorization: Bearer <token>`` (the ``PROFILO_ADMIN_TOKEN`` setting, or the
random token of this start, in the server file beside the DuckDB file). Write keys get 401 here:
they can only send data. No CORS headers: browsers may not call these from other origins.
"""

from __future__ import annotations

import os
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from profilo.api.runtime import Runtime
from profilo.api.worker import WorkerError
from profilo.errors import ConfigError, NotFound, ProfiloError

__all__ = ["router"]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _require_admin(request: Request) -> Runtime:
    rt = _runtime(request)
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), rt.admin_token.encode()
    ):
        raise HTTPException(
            401,
            detail={"code": "unauthorized", "message": "admin calls need the admin bearer token"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return rt


Admin = Annotated[Runtime, Depends(_require_admin)]

router = APIRouter(prefix="/admin", tags=["admin"])


async def _call(rt: Runtime, op: str, **kwargs: Any) -> Any:
    try:
        return await rt.call(op, **kwargs)
    except NotFound as exc:
        raise HTTPException(404, detail={"code": "not_found", "message": str(exc)}) from None
    except ConfigError as exc:
        raise HTTPException(422, detail={"code": "invalid", "message": str(exc)}) from None
    except WorkerError as exc:
        raise HTTPException(
            503,
            detail={"code": "worker_unavailable", "message": str(exc)},
            headers={"Retry-After": "1"},
        ) from None
    except ProfiloError as exc:
        raise HTTPException(503, detail={"code": "store_error", "message": str(exc)}) from None


class SourceIn(BaseModel):
    """A tracking source to create."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    kind: str = "server"
    party: Literal["first", "second", "third"] = "first"
    rate_limit: float | None = Field(default=None, ge=0)
    webhook: dict[str, Any] | None = None
    rotate_key: bool = False


class FixIn(BaseModel):
    """The corrected JSON of a quarantined message."""

    model_config = ConfigDict(extra="forbid")
    raw: dict[str, Any]


class ReplayIn(BaseModel):
    """Which open quarantined messages to check again and store."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] | None = None
    source: str | None = None
    reason: str | None = None


@router.get("/status")
async def status(rt: Admin) -> dict[str, Any]:
    """Rows per table and per source, the tracking counters, and this server's spool."""
    report: dict[str, Any] = await _call(rt, "status")
    report["server"] = {
        "pid": os.getpid(),
        "worker_pid": rt.worker.pid,
        "worker_alive": rt.worker.alive,
        "worker_restarts": rt.worker.restarts,
        "spool": str(rt.spool_dir),
        "spool_backlog_bytes": rt.backlog_bytes(),
        "spool_fsyncs": rt.spool.syncs,
        "checker_pids": rt.checkers.pids() if rt.checkers is not None else [],
        "checker_restarts": rt.checkers.restarts if rt.checkers is not None else 0,
        "started_at": rt.started_at.isoformat(),
        "pipeline": rt.loader_state().get("pipeline"),
    }
    return report


@router.get("/sources")
async def list_sources(rt: Admin) -> list[dict[str, Any]]:
    """Every source, with the write keys of tracking sources."""
    rows: list[dict[str, Any]] = await _call(rt, "sources.list")
    return rows


@router.post("/sources", status_code=201)
async def add_source(rt: Admin, body: SourceIn) -> dict[str, Any]:
    """Create a tracking source and issue its write key."""
    created: dict[str, Any] = await _call(
        rt,
        "sources.add",
        name=body.name,
        kind=body.kind,
        party=body.party,
        rate_limit=body.rate_limit,
        webhook=body.webhook,
        rotate_key=body.rotate_key,
    )
    await rt.refresh_registry()
    return created


@router.get("/sources/{source}/plan")
async def get_plan(rt: Admin, source: str) -> dict[str, Any]:
    """A source's tracking plan."""
    plan = await _call(rt, "plan.get", source=source)
    if plan is None:
        raise HTTPException(404, detail={"code": "not_found", "message": f"{source!r} has no plan"})
    result: dict[str, Any] = plan
    return result


@router.put("/sources/{source}/plan")
async def set_plan(rt: Admin, source: str, plan: dict[str, Any]) -> dict[str, Any]:
    """Attach or replace a source's tracking plan."""
    result: dict[str, Any] = await _call(rt, "plan.set", source=source, plan=plan)
    await rt.refresh_registry()
    return result


@router.delete("/sources/{source}/plan", status_code=204)
async def delete_plan(rt: Admin, source: str) -> None:
    """Remove a source's tracking plan."""
    await _call(rt, "plan.set", source=source, plan=None)
    await rt.refresh_registry()


@router.get("/quarantine")
async def list_quarantine(
    rt: Admin,
    source: str | None = None,
    reason: str | None = None,
    status: str | None = "open",
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Quarantined messages, oldest first."""
    rows: list[dict[str, Any]] = await _call(
        rt, "quarantine.list", source=source, reason=reason, status=status, limit=limit
    )
    return rows


@router.put("/quarantine/{quarantine_id}")
async def fix_quarantined(rt: Admin, quarantine_id: str, body: FixIn) -> dict[str, Any]:
    """Replace a quarantined message's JSON."""
    row: dict[str, Any] = await _call(
        rt, "quarantine.fix", quarantine_id=quarantine_id, raw=body.raw
    )
    return row


@router.post("/quarantine/replay")
async def replay_quarantined(rt: Admin, body: ReplayIn) -> dict[str, Any]:
    """Check open quarantined messages again and store those that now pass."""
    result: dict[str, Any] = await _call(
        rt, "quarantine.replay", ids=body.ids, source=body.source, reason=body.reason
    )
    return result


@router.post("/drain")
async def drain(rt: Admin) -> dict[str, Any]:
    """Store everything in the spool now, and make it durable (for tools and tests)."""
    result: dict[str, Any] = await _call(rt, "drain")
    return result


PIPELINE_TIMEOUT = 6 * 3600.0
"""How long ``POST /admin/pipeline/run`` waits for the store worker (a full run can be long)."""


class PipelineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: list[Literal["identity", "profiles", "traits", "segments", "cards"]] | None = None
    full: bool = False


@router.post("/pipeline/run")
async def run_steps(rt: Admin, body: PipelineIn | None = None) -> dict[str, Any]:
    """Run the pipeline (identity → profiles → traits → segments → cards, or ``steps``) on what is
    stored;
    ``full`` recomputes everything instead of only what changed."""
    from dataclasses import asdict

    from profilo.pipeline import STEPS, run_pipeline
    from profilo.store.runner import function_name

    body = body or PipelineIn()
    steps = tuple(body.steps) if body.steps else STEPS
    # in the store worker on either engine, one write at a time: never beside an automatic run
    results = await _call(
        rt,
        "run.write",
        timeout=PIPELINE_TIMEOUT,
        fn=function_name(run_pipeline),
        kwargs={"steps": steps, "full": body.full},
    )
    return {"steps": [asdict(r) for r in results]}
