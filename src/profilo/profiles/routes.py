"""HTTP routes of profiles: lookup, 360° view, timeline, search, computed traits.

Routes reach the store through ``app.state.profilo_stores``, a :class:`StoreProvider` the
application sets: :class:`SharedStore` (one open store, one request at a time, e.g. a DuckDB file
this process owns) or :class:`StorePerThread` (a connection per worker thread, e.g. PostgreSQL).
Request and response models are separate from stored rows. Errors answer JSON: 404 for an
unknown profile or trait, 422 for an invalid definition or input.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Request
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
from profilo.store import Store, open_store

__all__ = [
    "SharedStore",
    "StorePerThread",
    "StoreProvider",
    "current_store",
    "problem",
    "router",
    "traits_router",
]


class StoreProvider(Protocol):
    """Hands a store to one request at a time."""

    def __call__(self) -> contextlib.AbstractContextManager[Store]: ...


class SharedStore:
    """One open store shared by all requests, used by one request at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Store]:
        with self._lock:
            yield self.store


class StorePerThread:
    """A store per worker thread, opened on first use (an engine with many connections)."""

    def __init__(self, url: str, workspace: str = "default") -> None:
        self.url = url
        self.workspace = workspace
        self._local = threading.local()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Store]:
        store = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.url, workspace=self.workspace)
            self._local.store = store
        yield store


def problem(exc: ProfiloError) -> HTTPException:
    """The HTTP answer for one of Profilo's errors."""
    if isinstance(exc, NotFound):
        return HTTPException(404, detail={"code": "not_found", "message": str(exc)})
    if isinstance(exc, ConfigError | InputError):
        problems = getattr(exc, "problems", None)
        field = problems[0][0] if problems else None
        return HTTPException(422, detail={"code": "invalid", "message": str(exc), "field": field})
    return HTTPException(503, detail={"code": "store_error", "message": str(exc)})


def current_store(request: Request) -> Iterator[Store]:
    """The dependency every route of profiles and audiences uses."""
    provider: StoreProvider | None = getattr(request.app.state, "profilo_stores", None)
    if provider is None:
        raise HTTPException(
            503,
            detail={
                "code": "no_store",
                "message": "this process has no store for the profile API"
                " (set app.state.profilo_stores)",
            },
        )
    try:
        with provider() as store:
            yield store
    except ProfiloError as exc:
        raise problem(exc) from None


StoreDep = Annotated[Store, Depends(current_store)]

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


def _guard(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except ProfiloError as exc:
        raise problem(exc) from None


@router.get("/lookup", response_model=ProfileSummary)
def lookup(
    store: StoreDep,
    identifier: Annotated[str, Query(description="type:value (email:ana@x.fr) or a profile id")],
    country: Annotated[str | None, Query(description="Region of national phone numbers")] = None,
) -> Any:
    """Find a profile by any identifier and return its golden record."""
    return _guard(lookup_profile, store, identifier, country=country)


@router.get("/search", response_model=list[SearchHit])
def search(
    store: StoreDep,
    q: Annotated[
        str, Query(min_length=2, max_length=200, description="Start of a name, e-mail or phone")
    ],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    country: str | None = None,
) -> Any:
    """Profiles whose name, e-mail or phone starts with ``q``."""
    return _guard(search_profiles, store, q, limit=limit, country=country)


@router.get("/{reference}", response_model=Profile360)
def show(
    store: StoreDep,
    reference: str,
    timeline_limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Any:
    """The 360° view of a profile (by id or ``type:value``)."""
    profile_id = _guard(find_profile, store, reference)
    return _guard(profile_view, store, profile_id, timeline_limit=timeline_limit)


@router.get("/{reference}/timeline", response_model=TimelinePage)
def events(
    store: StoreDep,
    reference: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: str | None = None,
    source: Annotated[list[str] | None, Query()] = None,
) -> Any:
    """A page of the profile's events from every source, newest first."""
    profile_id = _guard(find_profile, store, reference)
    return _guard(timeline, store, profile_id, limit=limit, before=before, sources=source)


class RefreshOut(BaseModel):
    rows: dict[str, int]
    profiles: int | None
    seconds: float


@traits_router.get("", response_model=list[TraitDefinition])
def all_traits(store: StoreDep) -> Any:
    """Every computed trait definition."""
    return _guard(list_traits, store)


@traits_router.get("/{name}", response_model=TraitDefinition)
def one_trait(store: StoreDep, name: str) -> Any:
    """One computed trait definition."""
    return _guard(get_trait, store, name)


@traits_router.put("/{name}", response_model=TraitDefinition)
def put_trait(store: StoreDep, name: str, body: dict[str, Any]) -> Any:
    """Create or change a computed trait (the fields of its YAML form; the name is in the path);
    a changed definition recomputes that trait only."""
    definition = _guard(parse_trait, body, name=name)
    _guard(save_trait, store, definition)
    return definition


@traits_router.delete("/{name}", status_code=204)
def delete_trait(store: StoreDep, name: str) -> None:
    """Delete a computed trait and its values."""
    _guard(remove_trait, store, name)


@traits_router.post("/refresh", response_model=RefreshOut)
def refresh(store: StoreDep, names: Annotated[list[str] | None, Query()] = None) -> Any:
    """Recompute computed traits (all, or ``names``) for every profile."""
    return _guard(refresh_traits, store, names).as_dict()
