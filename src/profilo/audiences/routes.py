"""HTTP routes of audiences: segments, sizes, members, previews, overlaps, runs and the outbox.

The store is reached the same way as by the profile routes
(:func:`profilo.profiles.routes.run_read`). A rule is sent either as its JSON tree
(``rule``) or as its one-line text form (``text``); an invalid rule answers 422 with every problem
and its path.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from profilo.audiences.memberships import (
    evaluate_segments,
    mark_delivered,
    read_outbox,
    segment_members,
)
from profilo.audiences.rules import RuleError
from profilo.audiences.segments import (
    estimate_size,
    get_segment,
    list_segments,
    overlap,
    preview_members,
    read_rule,
    remove_segment,
    save_segment,
)
from profilo.audiences.text import rule_text
from profilo.errors import ProfiloError
from profilo.profiles.routes import problem, run_read, run_write
from profilo.store import Store

__all__ = ["router"]

router = APIRouter(prefix="/segments", tags=["segments"])


def _guard(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except RuleError as exc:
        raise HTTPException(
            422,
            detail={
                "code": "invalid_rule",
                "message": str(exc),
                "field": exc.problems[0][0] if exc.problems else None,
            },
        ) from None
    except ProfiloError as exc:
        raise problem(exc) from None


class RuleIn(BaseModel):
    """A rule as its JSON tree or as its text form (one of the two)."""

    model_config = ConfigDict(extra="forbid")
    rule: dict[str, Any] | None = Field(default=None, examples=[{"identity": "email"}])
    text: str | None = Field(default=None, max_length=20_000, examples=["has email"])

    @model_validator(mode="after")
    def _one(self) -> RuleIn:
        if (self.rule is None) == (self.text is None):
            raise ValueError("give exactly one of 'rule' (JSON) or 'text'")
        return self

    @property
    def source(self) -> str | dict[str, Any]:
        return self.rule if self.rule is not None else str(self.text)


class SegmentIn(RuleIn):
    description: str = Field(default="", max_length=2000)


class PreviewIn(RuleIn):
    limit: int = Field(default=20, ge=0, le=1000)
    as_of: datetime | None = None


class SegmentOut(BaseModel):
    name: str
    rule: dict[str, Any]
    text: str
    description: str
    created_at: datetime
    updated_at: datetime
    evaluated_at: datetime | None
    members: int | None


class SizeOut(BaseModel):
    segment: str
    members: int
    as_of: str = Field(description="'last run' or the time the rule ran for this answer")


class MembersOut(BaseModel):
    segment: str
    members: list[str]
    next: str | None = Field(description="pass as 'after' for the next page")


class PreviewMember(BaseModel):
    profile_id: str
    traits: dict[str, Any]


class PreviewOut(BaseModel):
    text: str
    size: int
    members: list[PreviewMember]


class OverlapSide(BaseModel):
    segment: str
    members: int


class OverlapOut(BaseModel):
    first: OverlapSide
    second: OverlapSide
    both: int
    only_first: int
    only_second: int
    jaccard: float


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    names: list[str] | None = None
    as_of: datetime | None = None


class SegmentRunOut(BaseModel):
    members: int
    entered: int
    exited: int
    seconds: float


class RunOut(BaseModel):
    run_id: str
    trigger: str
    as_of: str
    segments: dict[str, SegmentRunOut]
    seconds: float


class OutboxMessage(BaseModel):
    position: int
    change_id: str
    segment: str
    profile_id: str
    change: str
    changed_at: datetime
    payload: dict[str, Any]
    delivered_at: datetime | None


class DeliveredIn(BaseModel):
    positions: list[int] = Field(max_length=10_000)


def _out(segment: Any) -> dict[str, Any]:
    data: dict[str, Any] = segment.as_dict()
    return data


async def _run(request: Request, fn: Any, /, write: bool = False, **kwargs: Any) -> Any:
    try:
        if write:
            return await run_write(request, fn, **kwargs)
        return await run_read(request, fn, **kwargs)
    except HTTPException as exc:
        cause = exc.__context__
        if isinstance(cause, RuleError):
            raise _guard_rule(cause) from None
        raise


def _guard_rule(exc: RuleError) -> HTTPException:
    return HTTPException(
        422,
        detail={
            "code": "invalid_rule",
            "message": str(exc),
            "field": exc.problems[0][0] if exc.problems else None,
        },
    )


def all_segments(store: Store) -> list[dict[str, Any]]:
    """Every segment as plain data."""
    return [_out(s) for s in list_segments(store)]


def one_segment(store: Store, *, name: str) -> dict[str, Any]:
    return _out(get_segment(store, name))


def store_segment(store: Store, *, name: str, source: Any, description: str) -> dict[str, Any]:
    return _out(save_segment(store, name, source, description=description))


def preview_rule(
    store: Store, *, source: Any, limit: int, as_of: datetime | None
) -> dict[str, Any]:
    """Size and first members of a rule (nothing is stored)."""
    rule = read_rule(source)
    size = estimate_size(store, rule, as_of=as_of)
    table = preview_members(store, rule, limit=limit, as_of=as_of)
    members = [
        {"profile_id": row["profile_id"], "traits": json.loads(row["traits"] or "{}")}
        for row in table.to_pylist()
    ]
    return {"text": rule_text(rule), "size": size, "members": members}


def run_segments(
    store: Store, *, names: list[str] | None, as_of: datetime | None
) -> dict[str, Any]:
    return evaluate_segments(store, names, as_of=as_of).as_dict()


def segment_size(store: Store, *, name: str, fresh: bool, as_of: datetime | None) -> dict[str, Any]:
    found = get_segment(store, name)
    if fresh or found.members is None:
        n = estimate_size(store, found.rule, as_of=as_of)
        return {"segment": name, "members": n, "as_of": (as_of.isoformat() if as_of else "now")}
    return {"segment": name, "members": found.members, "as_of": "last run"}


@router.get("", response_model=list[SegmentOut])
async def segments(request: Request) -> Any:
    """Every segment, by name."""
    return await _run(request, all_segments)


@router.post("/preview", response_model=PreviewOut)
async def preview(request: Request, body: PreviewIn) -> Any:
    """Size and first members of a rule being written (nothing is stored)."""
    _guard(read_rule, body.source)
    return await _run(request, preview_rule, source=body.source, limit=body.limit, as_of=body.as_of)


@router.post("/evaluate", response_model=RunOut)
async def evaluate(request: Request, body: RunIn) -> Any:
    """Evaluate segments (all by default) and record who entered and left."""
    return await _run(request, run_segments, write=True, names=body.names, as_of=body.as_of)


@router.get("/outbox", response_model=list[OutboxMessage])
async def outbox(
    request: Request,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    pending: bool = True,
) -> Any:
    """Entries and exits for activation, in order."""
    return await _run(request, read_outbox, after=after, limit=limit, pending=pending)


@router.post("/outbox/delivered")
async def delivered(request: Request, body: DeliveredIn) -> dict[str, int]:
    """Mark outbox messages as delivered."""
    marked = await _run(request, mark_delivered, write=True, positions=body.positions)
    return {"marked": marked}


@router.get("/{name}", response_model=SegmentOut)
async def segment(request: Request, name: str) -> Any:
    """One segment."""
    return await _run(request, one_segment, name=name)


@router.put("/{name}", response_model=SegmentOut)
async def put_segment(request: Request, name: str, body: SegmentIn) -> Any:
    """Create or change a segment (its members follow at the next run)."""
    _guard(read_rule, body.source)
    return await _run(
        request,
        store_segment,
        write=True,
        name=name,
        source=body.source,
        description=body.description,
    )


@router.delete("/{name}", status_code=204)
async def delete_segment(request: Request, name: str) -> None:
    """Delete a segment and its current memberships (the history stays)."""
    await _run(request, remove_segment, write=True, name=name)


@router.get("/{name}/size", response_model=SizeOut)
async def size(
    request: Request,
    name: str,
    fresh: Annotated[
        bool, Query(description="run the rule now instead of reading the last run")
    ] = False,
    as_of: datetime | None = None,
) -> Any:
    """How many members a segment has."""
    return await _run(request, segment_size, name=name, fresh=fresh, as_of=as_of)


@router.get("/{name}/members", response_model=MembersOut)
async def members(
    request: Request,
    name: str,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    after: str | None = None,
) -> Any:
    """Members of a segment as of its last run, by profile id, a page at a time."""
    ids = await _run(request, segment_members, name=name, limit=limit, after=after)
    return {"segment": name, "members": ids, "next": ids[-1] if len(ids) == limit else None}


@router.get("/{first}/overlap/{second}", response_model=OverlapOut)
async def overlaps(request: Request, first: str, second: str, fresh: bool = False) -> Any:
    """Members in each of two segments, in both and in one only."""
    return await _run(request, overlap, first=first, second=second, stored=not fresh)
