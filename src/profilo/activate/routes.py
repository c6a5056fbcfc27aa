"""HTTP routes of activation: destinations, syncs, dead letters, the delivery log, consents.

Mounted behind the admin token. Credentials go in (``PUT /destinations/{name}``) and never come
out: every answer shows their names only. Calls run where the store is, through
``app.state.store_runner``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from profilo.activate import admin
from profilo.profiles.routes import run_read, run_write

__all__ = ["consents_router", "router"]

router = APIRouter(prefix="/destinations", tags=["destinations"])
consents_router = APIRouter(tags=["consents"])


class ConsentIn(BaseModel):
    """One consent change for one person."""

    model_config = ConfigDict(extra="forbid")
    reference: str = Field(
        min_length=1,
        max_length=512,
        examples=["email:ana@example.com"],
        description="A profile id, or an identifier written type:value.",
    )
    purpose: str = Field(examples=["email_marketing"])
    status: str = Field(examples=["granted"], description="granted, or denied / withdrawn")
    legal_basis: str = Field(default="consent", examples=["consent"])
    at: datetime | None = Field(default=None, description="When it was given or withdrawn.")
    source: str = Field(default="consent_api", pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drain: bool = False


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    change_ids: list[str] | None = Field(default=None, max_length=10_000)


@consents_router.post("/consents", status_code=201)
async def post_consent(request: Request, body: ConsentIn) -> dict[str, Any]:
    """Record a consent given or withdrawn; the next sync already obeys it."""
    return await run_write(request, admin.record_consent, **body.model_dump())


@router.get("")
async def get_destinations(request: Request) -> list[dict[str, Any]]:
    return await run_read(request, admin.describe_destinations)


@router.get("/deliveries")
async def get_deliveries(
    request: Request,
    profile: Annotated[str, Query(min_length=1, description="Profile id or type:value.")],
    destination: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> list[dict[str, Any]]:
    """What was sent, skipped or queued about one person, newest first."""
    return await run_read(
        request,
        admin.log_of,
        reference=profile,
        destination=destination,
        statuses=status,
        limit=limit,
    )


@router.get("/{name}")
async def get_destination(request: Request, name: str) -> dict[str, Any]:
    return await run_read(request, admin.describe_destination, name=name)


@router.put("/{name}")
async def put_destination(request: Request, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create or change a destination (its definition as in YAML; credentials are kept encrypted)."""
    return await run_write(request, admin.apply_destination, definition=body, name=name)


@router.delete("/{name}")
async def delete_destination(request: Request, name: str) -> dict[str, Any]:
    return await run_write(request, admin.drop_destination, name=name)


@router.post("/{name}/sync")
async def post_sync(
    request: Request, name: str, body: SyncIn | None = None
) -> list[dict[str, Any]]:
    """Run one sync pass for this destination now."""
    return await run_write(request, admin.run_sync, names=[name], drain=bool(body and body.drain))


@router.get("/{name}/dead")
async def get_dead(
    request: Request, name: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> list[dict[str, Any]]:
    return await run_read(request, admin.dead_letters, name=name, limit=limit)


@router.post("/{name}/replay")
async def post_replay(request: Request, name: str, body: ReplayIn | None = None) -> dict[str, int]:
    """Queue dead letters again (all, or the change ids given)."""
    ids = body.change_ids if body else None
    return await run_write(request, admin.replay, name=name, change_ids=ids)
