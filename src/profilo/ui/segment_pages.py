"""The segment pages: the list, the builder (live size and preview), rename, archive, history.

The builder is a small script (``static/builder.js``) over a plain form: it builds the rule's JSON
tree as conditions are added by clicking, asks ``POST /ui/api/estimate`` for the size and the first
members each time the rule changes, and saves through ``POST /ui/api/segments``. Both take the
same rule JSON as the segments API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from markupsafe import Markup
from starlette.responses import JSONResponse, RedirectResponse, Response

from profilo.ui import segment_data
from profilo.ui.charts import line_chart
from profilo.ui.web import UIRoute, Viewer, check_csrf, current_viewer, render, store_runner

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)

BUILDER_MESSAGES = (
    "Trait", "Computed trait", "Event", "Consent", "Segment", "Has identifier", "Other",
    "is", "is not", "contains", "starts with", "is one of", "is set", "is not set", "on",
    "after", "on or after", "before", "on or before", "at least", "at most", "exactly", "days",
    "weeks", "hours", "minutes", "Condition", "kind", "name", "operator", "value", "true",
    "false", "event", "how often", "times", "times, in the last", "window (empty: ever)", "ever",
    "unit", "purpose", "status", "granted", "denied", "segment", "identifier", "Remove", "Group",
    "Rule", "match", "all of", "any of", "none of", "these conditions", "Add condition",
    "Add group", "Add a condition first.",
)  # fmt: skip
ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def _json_for_script(value: Any) -> Markup:
    """JSON safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@router.get("/ui/segments")
async def segments(request: Request, viewer: ViewerDep) -> Response:
    rows = await store_runner(request).read(segment_data.segments_list)
    return render(request, "segments.html", viewer, section="segments", segments=rows)


async def _builder(request: Request, viewer: Viewer, segment: dict[str, Any] | None) -> Response:
    catalogue = await store_runner(request).read(segment_data.builder_catalogue)
    chart = None
    if segment and segment["history"]:
        t = viewer.t
        chart = line_chart(
            {
                segment["title"]: [
                    (p["at"].isoformat()[:16], p["members"]) for p in segment["history"]
                ]
            },
            title=t("Size over time"),
            label=lambda v: t.number(int(v)),
        )
    return render(
        request,
        "builder.html",
        viewer,
        section="segments",
        segment=segment,
        chart=chart,
        catalogue_json=_json_for_script(catalogue),
        builder_messages=_json_for_script({m: viewer.t(m) for m in BUILDER_MESSAGES}),
        rule_json=_json_for_script(segment["rule"] if segment else None),
    )


@router.get("/ui/segments/new")
async def new_segment(request: Request, viewer: ViewerDep) -> Response:
    return await _builder(request, viewer, None)


@router.get("/ui/segments/{name}")
async def segment(request: Request, viewer: ViewerDep, name: str) -> Response:
    found = await store_runner(request).read(segment_data.segment_detail, name=name)
    return await _builder(request, viewer, found)


@router.post("/ui/segments/{name}/rename")
async def rename(request: Request, viewer: ViewerDep, name: str) -> Response:
    await check_csrf(request, viewer)
    viewer.require("edit_segments")
    form = await request.form()
    await store_runner(request).write(
        segment_data.rename, name=name, title=str(form.get("title") or "")
    )
    return RedirectResponse(f"/ui/segments/{name}", status_code=303)


@router.post("/ui/segments/{name}/archive")
async def archive(request: Request, viewer: ViewerDep, name: str) -> Response:
    await check_csrf(request, viewer)
    viewer.require("edit_segments")
    form = await request.form()
    restore = form.get("restore") == "1"
    await store_runner(request).write(segment_data.archive, name=name, archived=not restore)
    return RedirectResponse(f"/ui/segments/{name}", status_code=303)


@router.post("/ui/api/estimate")
async def estimate(
    request: Request, viewer: ViewerDep, body: Annotated[dict[str, Any], Body()]
) -> Response:
    await check_csrf(request, viewer, request.headers.get("x-csrf-token", ""))
    rule = body.get("rule")
    if not isinstance(rule, dict | str) or not rule:
        return JSONResponse({"ok": False, "problems": [["rule", "add a condition"]]})
    result = await store_runner(request).read(
        segment_data.estimate, rule=rule, masked=viewer.masked
    )
    return JSONResponse(result)


@router.post("/ui/api/segments")
async def save(
    request: Request, viewer: ViewerDep, body: Annotated[dict[str, Any], Body()]
) -> Response:
    await check_csrf(request, viewer, request.headers.get("x-csrf-token", ""))
    viewer.require("edit_segments")
    rule = body.get("rule")
    if not isinstance(rule, dict | str) or not rule:
        return JSONResponse({"ok": False, "problems": [["rule", "add a condition"]]})
    result = await store_runner(request).write(
        segment_data.save,
        name=str(body.get("name") or "").strip(),
        rule=rule,
        description=str(body.get("description") or ""),
        title=str(body.get("title") or ""),
    )
    if result["ok"]:
        result = {"ok": True, "url": f"/ui/segments/{result['segment']['name']}"}
    return JSONResponse(result)
