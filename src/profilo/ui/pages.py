"""The UI's pages: log-in, overview, profiles, sources, destinations, privacy, and the language.

Handlers are thin: they check the session and the role, ask the store runner for a module-level
function of :mod:`profilo.ui.data` or :mod:`profilo.ui.profile_data`, and render a template.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from profilo.access import SESSION_HOURS, end_session, log_in, update_user
from profilo.ui import data, profile_data
from profilo.ui.charts import bar_chart, line_chart
from profilo.ui.i18n import pick_language
from profilo.ui.web import (
    COOKIE,
    LOGIN_COOKIE,
    UIRoute,
    Viewer,
    check_csrf,
    current_viewer,
    render,
    secret_key,
    store_runner,
)

__all__ = ["router"]

router = APIRouter(route_class=UIRoute, include_in_schema=False)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def _local(target: str | None) -> str:
    """Only a path of the UI may follow a log-in (never another site)."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui/"


@router.get("/")
@router.get("/ui")
async def home() -> Response:
    return RedirectResponse("/ui/", status_code=303)


@router.get("/ui/login")
async def login_form(request: Request, next: str | None = None, failed: bool = False) -> Response:
    language = pick_language(request.headers.get("accept-language"))
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        language=language,
        next=_local(next),
        login_csrf=token,
        failed=failed,
        status=401 if failed else 200,
    )
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/ui/login")
    return response


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    target = _local(str(form.get("next") or ""))
    expected = request.cookies.get(LOGIN_COOKIE)
    sent = str(form.get("csrf") or "")
    if not expected or not secrets.compare_digest(sent, expected):
        return RedirectResponse(f"/ui/login?next={target}", status_code=303)
    session = await store_runner(request).write(
        log_in, username=username, password=password, secret=secret_key(request)
    )
    if session is None:
        return RedirectResponse(f"/ui/login?failed=1&next={target}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session.cookie,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=SESSION_HOURS * 3600,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/ui/logout")
async def logout(request: Request, viewer: ViewerDep) -> Response:
    await check_csrf(request, viewer)
    await store_runner(request).write(end_session, cookie=viewer.cookie, secret=secret_key(request))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/ui/language")
async def language(request: Request, viewer: ViewerDep) -> Response:
    await check_csrf(request, viewer)
    form = await request.form()
    chosen = str(form.get("language") or "en")
    await store_runner(request).write(update_user, username=viewer.user.username, language=chosen)
    return RedirectResponse(_local(str(form.get("back") or "")), status_code=303)


@router.get("/ui/")
async def overview(request: Request, viewer: ViewerDep) -> Response:
    found = await store_runner(request).read(data.overview)
    t = viewer.t
    per_day = found["events_per_day"]
    events_chart = bar_chart(
        [(t.date(p["day"]), p["n"]) for p in per_day],
        title=t("Events per day"),
        label=lambda v: t.number(int(v)),
    )
    history: dict[str, list[tuple[str, float]]] = {
        str(name): [(p["day"].isoformat(), float(p["n"])) for p in points]
        for name, points in found["segment_history"].items()
        if points
    }
    segments_chart = line_chart(
        history, title=t("Segment sizes over time"), label=lambda v: t.number(int(v))
    )
    return render(
        request,
        "overview.html",
        viewer,
        section="overview",
        o=found,
        events_chart=events_chart,
        segments_chart=segments_chart,
    )


@router.get("/ui/profiles")
async def profiles(
    request: Request,
    viewer: ViewerDep,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    hits = None
    if len(q.strip()) >= 2:
        hits = await store_runner(request).read(
            profile_data.search_page, query=q, masked=viewer.masked
        )
    return render(request, "profiles.html", viewer, section="profiles", q=q, hits=hits)


@router.get("/ui/profiles/{profile_id}")
async def profile(
    request: Request,
    viewer: ViewerDep,
    profile_id: str,
    source: Annotated[list[str] | None, Query()] = None,
    before: str | None = None,
) -> Response:
    view = await store_runner(request).read(
        profile_data.profile_page,
        profile_id=profile_id,
        masked=viewer.masked,
        sources=source or None,
        before=before,
    )
    return render(
        request,
        "profile.html",
        viewer,
        section="profiles",
        p=view,
        chosen_sources=source or [],
        split_done=request.query_params.get("split"),
    )


@router.post("/ui/profiles/{profile_id}/split")
async def split(request: Request, viewer: ViewerDep, profile_id: str) -> Response:
    await check_csrf(request, viewer)
    viewer.require("split_profiles")
    form = await request.form()
    result = await store_runner(request).write(
        profile_data.split_profile_record,
        record=str(form.get("record") or ""),
        reason=str(form.get("reason") or ""),
        by=f"ui:{viewer.user.username}",
    )
    target = result["profile_id"] or profile_id
    return RedirectResponse(f"/ui/profiles/{target}?split=1", status_code=303)


@router.get("/ui/sources")
async def sources(request: Request, viewer: ViewerDep) -> Response:
    rows = await store_runner(request).read(data.sources_page)
    return render(request, "sources.html", viewer, section="sources", sources=rows)


@router.get("/ui/sources/{name}")
async def source(request: Request, viewer: ViewerDep, name: str) -> Response:
    found = await store_runner(request).read(data.source_page, source=name, masked=viewer.masked)
    return render(request, "source.html", viewer, section="sources", s=found)


@router.get("/ui/destinations")
async def destinations(request: Request, viewer: ViewerDep) -> Response:
    found = await store_runner(request).read(data.destinations_page)
    return render(request, "destinations.html", viewer, section="destinations", d=found)


@router.post("/ui/destinations/{name}/replay")
async def replay(request: Request, viewer: ViewerDep, name: str) -> Response:
    await check_csrf(request, viewer)
    viewer.require("replay_deliveries")
    await store_runner(request).write(data.replay_dead_letters, destination=name)
    return RedirectResponse("/ui/destinations", status_code=303)


@router.get("/ui/privacy")
async def privacy(request: Request, viewer: ViewerDep) -> Response:
    found = await store_runner(request).read(data.privacy_page)
    return render(request, "privacy.html", viewer, section="privacy", p=found)
