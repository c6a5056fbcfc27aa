"""HTTP routes of the personalisation API (``/v1/personalise``), for web sites and apps.

The caller authenticates with a personalisation key (``Authorization: Bearer pk_…`` or
``X-Profilo-Key``), names the person by any identifier, and gets what the key's scope allows:
``GET /v1/personalise?type=email&value=ana@x.fr``, or ``POST /v1/personalise`` with
``{"type": "email", "value": "ana@x.fr"}`` (which keeps the identifier out of URLs and logs).
Answers: 200 with the card, 401 for a missing or refused key, 404 for an identifier no profile
holds, 422 for an invalid identifier. The work runs on the store through
``app.state.store_runner``.

Keys are managed under the admin token: ``POST /admin/personalisation/keys`` (the secret is in
that answer and nowhere else, ever), ``GET /admin/personalisation/keys``,
``DELETE /admin/personalisation/keys/{key_id}`` (revoked at once in this process, within
:data:`~profilo.activate.personalise.KEY_CACHE_SECONDS` in the others).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from profilo.activate.personalise import (
    KeyRefused,
    create_key,
    list_keys,
    personalise,
    revoke_key,
)
from profilo.errors import InputError, NotFound, ProfiloError
from profilo.profiles.routes import run_read, run_write

__all__ = ["keys_router", "router"]

router = APIRouter(prefix="/v1/personalise", tags=["personalisation"])
keys_router = APIRouter(prefix="/personalisation/keys", tags=["personalisation"])
"""Key management, mounted under ``/admin`` behind the admin token."""


class Recommendation(BaseModel):
    sku: str
    name: str | None
    category: str | None
    reason: str = Field(description="bought_together, popular_in_segment or popular")


class Personalisation(BaseModel):
    """What the calling key may see about one person."""

    personalised: bool = Field(
        description="False when the person has no personalisation consent: then only"
        " non-personal defaults are given, and ``reason`` says why"
    )
    reason: str | None = None
    profile_id: str | None = None
    traits: dict[str, Any]
    computed_traits: dict[str, Any]
    segments: list[str]
    recommendations: list[Recommendation]
    updated_at: datetime | None = None


class IdentifierIn(BaseModel):
    type: str = Field(min_length=1, max_length=40, examples=["email"])
    value: str = Field(min_length=1, max_length=512, examples=["ana@example.com"])
    country: str | None = Field(None, max_length=2, description="Region of national phones")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Personalisation},
    401: {"description": "Missing, unknown or revoked key"},
    404: {"description": "No profile holds this identifier"},
    422: {"description": "Invalid identifier"},
}


def _header(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    }


_KEY_HEADERS = [_header("authorization"), _header("x-profilo-key")]
_LIMITS = {"type": (1, 40), "value": (1, 512), "country": (0, 2)}
_QUERY = [
    {
        "name": name,
        "in": "query",
        "required": name != "country",
        "schema": {"type": "string", "minLength": low, "maxLength": high}
        if name != "country"
        else {"anyOf": [{"type": "string", "maxLength": high}, {"type": "null"}]},
        "description": {"type": "Identifier type", "value": "Identifier value"}.get(
            name, "Region of national phones"
        ),
    }
    for name, (low, high) in _LIMITS.items()
]


def _key(request: Request) -> str:
    headers = request.headers
    given = headers.get("x-profilo-key")
    if given:
        return given.strip()
    authorization = headers.get("authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    raise HTTPException(
        401,
        detail={"code": "invalid_key", "message": "a personalisation key is required"},
        headers={"WWW-Authenticate": "Bearer"},
    )


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(
        422, detail={"code": "invalid_request", "message": message, "field": field}
    )


def _query(request: Request) -> tuple[str, str, str | None]:
    """The identifier of a ``GET``, checked as its documented parameters say (read by hand: the
    framework's parameter machinery costs more than the rest of the request)."""
    params = request.query_params
    found: dict[str, str | None] = {}
    for name, (low, high) in _LIMITS.items():
        value = params.get(name)
        if value is None:
            if name != "country":
                raise _invalid(name, "Field required")
        elif not low <= len(value) <= high:
            raise _invalid(name, f"{name} must be {low} to {high} characters long")
        found[name] = value
    return str(found["type"]), str(found["value"]), found["country"]


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


async def _answer(
    request: Request, key: str, id_type: str, value: str, country: str | None
) -> Response:
    runner = getattr(request.app.state, "store_runner", None)
    if runner is None:
        raise HTTPException(503, detail={"code": "no_store", "message": "no store runner"})
    try:
        found = await runner.read(
            personalise, key=key, id_type=id_type, value=value, country=country
        )
    except KeyRefused as exc:
        raise HTTPException(
            401,
            detail={"code": "invalid_key", "message": str(exc)},
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    except NotFound as exc:
        raise HTTPException(404, detail={"code": "not_found", "message": str(exc)}) from None
    except InputError as exc:
        raise HTTPException(
            422, detail={"code": "invalid", "message": str(exc), "field": "type"}
        ) from None
    except ProfiloError as exc:
        raise HTTPException(503, detail={"code": "store_error", "message": str(exc)}) from None
    # the card is plain JSON already: no model validation on the hot path
    return Response(
        orjson.dumps(found, default=_json_default),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "",
    responses=_RESPONSES,
    response_model=Personalisation,
    openapi_extra={"parameters": [*_QUERY, *_KEY_HEADERS]},
)
async def personalise_get(request: Request) -> Response:
    """Traits, computed traits, segments and recommendations of the person an identifier names,
    as far as the key's scope allows."""
    identifier = _query(request)
    return await _answer(request, _key(request), *identifier)


@router.post(
    "",
    responses=_RESPONSES,
    response_model=Personalisation,
    openapi_extra={"parameters": _KEY_HEADERS},
)
async def personalise_post(request: Request, body: IdentifierIn) -> Response:
    """The same as ``GET``, with the identifier in the body (kept out of URLs and logs)."""
    return await _answer(request, _key(request), body.type, body.value, body.country)


# -- key management (admin) -------------------------------------------------------------------


class KeyIn(BaseModel):
    """A personalisation key to create: what it may see (names, or ``"*"`` for all)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, examples=["web site"])
    traits: list[str] = Field(default_factory=list, examples=[["first_name", "country"]])
    computed: list[str] = Field(default_factory=list, examples=[["*"]])
    segments: list[str] = Field(default_factory=list, examples=[["*"]])
    recommendations: bool = True


class KeyScope(BaseModel):
    traits: list[str]
    computed: list[str]
    segments: list[str]
    recommendations: bool


class KeyCreated(BaseModel):
    """A new key: ``key`` is the secret, shown in this answer only."""

    key_id: str
    key: str
    name: str
    scope: KeyScope


class KeyOut(BaseModel):
    """A key as it is listed (never its secret nor its hash)."""

    key_id: str
    name: str
    scope: KeyScope
    created_at: datetime
    revoked_at: datetime | None


@keys_router.post("", status_code=201, response_model=KeyCreated)
async def add_key(request: Request, body: KeyIn) -> Any:
    """Create a key; the answer holds its secret, which is stored only as a hash."""
    return await run_write(request, create_key, **body.model_dump())


@keys_router.get("", response_model=list[KeyOut])
async def keys(request: Request) -> Any:
    """Every key with its scope and state."""
    return await run_read(request, list_keys)


@keys_router.delete(
    "/{key_id}", response_model=KeyOut, responses={404: {"description": "No such key"}}
)
async def revoke(request: Request, key_id: str) -> Any:
    """Revoke a key (refused at once here, within a few seconds everywhere)."""
    return await run_write(request, revoke_key, key_id=key_id)
