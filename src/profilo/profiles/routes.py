"""HTTP routes of profiles: lookup, 360° view, timeline, search, computed traits.

Routes never open the store: :func:`run_read` and :func:`run_write` hand a module-level function
to ``app.state.store_runner`` (:mod:`profilo.store.runner`), which runs it in this process or in
the store worker of ``profilo serve``, so the same routes serve PostgreSQL and a DuckDB file.
Request and response models are separate from stored rows. Errors answer JSON: 404 for an
unknown profile or trait, 422 for an invalid definition or input.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

from profilo.errors import ConfigError, InputError, NotFound, ProfiloError
from profilo.profiles.traits import (
    TraitDefinition,
    get_trait,
    list_traits,
    parse_trait,
    refresh_traits,
    remove_trait,
    save_trait,
)
from profilo.profiles.view import (
    find_profile,
    lookup_profile,
    profile_view,
    search_profiles,
    timeline,
)
from profilo.store import Store, StoreRunner

T = TypeVar("T")

__all__ = [
    "problem",
    "profile_timeline",
    "refresh_trait_values",
    "router",
    "run_read",
    "run_write",
    "show_profile",
    "traits_router",
]


def problem(exc: ProfiloError) -> HTTPException:
    """The HTTP answer for one of Profilo's errors."""
    if isinstance(exc, NotFound):
        return HTTPException(404, detail={"code": "not_found", "message": str(exc)})
    if isinstance(exc, ConfigError | InputError):
        problems = getattr(exc, "problems", None)
        field = problems[0][0] if problems else None
        return HTTPException(422, detail={"code": "invalid", "message": str(exc), "field": field})
    return HTTPException(503, detail={"code": "store_error", "message": str(exc)})


router = APIRouter(prefix="/profiles", tags=["profiles"])
traits_router = APIRouter(prefix="/traits", tags=["computed traits"])


class ProfileSummary(BaseModel):
    """A profile's golden record."""

    profile_id: str
    traits: dict[str, Any]
    sources: list[str]
    records: int
    first_seen: datetime | None
    last_seen: datetime | None


class TraitValue(BaseModel):
    value: str | None
    source: str | None
    record_key: str | None
    observed_at: datetime | None
    rule: str
    candidates: int
    conflict: bool


class IdentityOut(BaseModel):
    id_type: str
    value: str
    status: str
    source: str | None
    records: int
    first_seen: datetime | None
    last_seen: datetime | None


class ConsentOut(BaseModel):
    status: str
    changed_at: datetime | None
    source: str | None


class ConsentChange(BaseModel):
    purpose: str
    status: str
    legal_basis: str
    consented_at: datetime | None
    recorded_at: datetime
    source: str
    record_key: str | None


class ComputedOut(BaseModel):
    value: float | str | datetime | None
    computed_at: datetime | None


class MembershipOut(BaseModel):
    segment: str
    entered_at: datetime


class EventOut(BaseModel):
    message_id: str
    source: str
    type: str
    event: str | None
    timestamp: datetime | None
    properties: dict[str, Any]


class TimelinePage(BaseModel):
    """Events newest first; pass ``next`` as ``before`` for the page after."""

    events: list[EventOut]
    next: str | None


class Profile360(BaseModel):
    """Everything known about one profile."""

    profile_id: str
    records: int
    sources: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    updated_at: datetime
    traits: dict[str, TraitValue]
    identities: list[IdentityOut]
    consents: dict[str, ConsentOut]
    consent_history: list[ConsentChange]
    computed_traits: dict[str, ComputedOut]
    segments: list[MembershipOut]
    timeline: TimelinePage


class SearchMatch(BaseModel):
    field: str
    value: str


class SearchHit(BaseModel):
    profile_id: str
    name: str | None = None
    email: str | None = None
    matches: list[SearchMatch]


async def run_read(request: Request, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Run ``fn(store, **kwargs)`` on the application's store runner; errors become answers."""
    return await _run(request, fn, False, kwargs)


async def run_write(request: Request, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Like :func:`run_read`, for a call that writes (it waits for the loader's transaction)."""
    return await _run(request, fn, True, kwargs)


async def _run(request: Request, fn: Callable[..., T], write: bool, kwargs: dict[str, Any]) -> T:
    runner: StoreRunner | None = getattr(request.app.state, "store_runner", None)
    if runner is None:
        raise HTTPException(
            503,
            detail={
                "code": "no_store",
                "message": "this process has no store (set app.state.store_runner)",
            },
        )
    try:
        if write:
            return await runner.write(fn, **kwargs)
        return await runner.read(fn, **kwargs)
    except ProfiloError as exc:
        raise problem(exc) from None


def _guard(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except ProfiloError as exc:
        raise problem(exc) from None


@router.get("/lookup", response_model=ProfileSummary)
async def lookup(
    request: Request,
    identifier: Annotated[str, Query(description="type:value (email:ana@x.fr) or a profile id")],
    country: Annotated[str | None, Query(description="Region of national phone numbers")] = None,
) -> Any:
    """Find a profile by any identifier and return its golden record."""
    return await run_read(request, lookup_profile, reference=identifier, country=country)


@router.get("/search", response_model=list[SearchHit])
async def search(
    request: Request,
    q: Annotated[
        str, Query(min_length=2, max_length=200, description="Start of a name, e-mail or phone")
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    country: str | None = None,
) -> Any:
    """Profiles whose name, e-mail or phone starts with ``q``."""
    return await run_read(request, search_profiles, query=q, limit=limit, country=country)


def show_profile(store: Store, *, reference: str, timeline_limit: int = 20) -> dict[str, Any]:
    """The 360° view of the profile a reference names (an id or ``type:value``)."""
    profile_id = find_profile(store, reference)
    return profile_view(store, profile_id, timeline_limit=timeline_limit)


def profile_timeline(
    store: Store,
    *,
    reference: str,
    limit: int = 50,
    before: str | None = None,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """A page of the timeline of the profile a reference names."""
    profile_id = find_profile(store, reference)
    return timeline(store, profile_id, limit=limit, before=before, sources=sources)


@router.get("/{reference}", response_model=Profile360)
async def show(
    request: Request,
    reference: str,
    timeline_limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Any:
    """The 360° view of a profile (by id or ``type:value``)."""
    return await run_read(request, show_profile, reference=reference, timeline_limit=timeline_limit)


@router.get("/{reference}/timeline", response_model=TimelinePage)
async def events(
    request: Request,
    reference: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: str | None = None,
    source: Annotated[list[str] | None, Query()] = None,
) -> Any:
    """A page of the profile's events from every source, newest first."""
    return await run_read(
        request, profile_timeline, reference=reference, limit=limit, before=before, sources=source
    )


class RefreshOut(BaseModel):
    rows: dict[str, int]
    profiles: int | None
    seconds: float


@traits_router.get("", response_model=list[TraitDefinition])
async def all_traits(request: Request) -> Any:
    """Every computed trait definition."""
    return await run_read(request, list_traits)


@traits_router.get("/{name}", response_model=TraitDefinition)
async def one_trait(request: Request, name: str) -> Any:
    """One computed trait definition."""
    return await run_read(request, get_trait, name=name)


@traits_router.put("/{name}", response_model=TraitDefinition)
async def put_trait(request: Request, name: str, body: dict[str, Any]) -> Any:
    """Create or change a computed trait (the fields of its YAML form; the name is in the path);
    a changed definition recomputes that trait only."""
    definition = _guard(parse_trait, body, name=name)
    await run_write(request, save_trait, definition=definition)
    return definition


@traits_router.delete("/{name}", status_code=204)
async def delete_trait(request: Request, name: str) -> None:
    """Delete a computed trait and its values."""
    await run_write(request, remove_trait, name=name)


def refresh_trait_values(store: Store, *, names: list[str] | None = None) -> dict[str, Any]:
    """Recompute computed traits (all, or ``names``); what was done."""
    return refresh_traits(store, names).as_dict()


@traits_router.post("/refresh", response_model=RefreshOut)
async def refresh(request: Request, names: Annotated[list[str] | None, Query()] = None) -> Any:
    """Recompute computed traits (all, or ``names``) for every profile."""
    return await run_write(request, refresh_trait_values, names=names)
