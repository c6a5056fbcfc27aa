"""The web plumbing of the UI: who is logged in, CSRF checks, and rendering pages.

Every page handler is a route of :data:`router` (whose route class turns errors into HTML pages
rather than JSON) and reaches the store only through ``request.app.state.store_runner``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from profilo.access import Permission, User, can, csrf_token, session_user
from profilo.errors import ConfigError, InputError, NotFound, ProfiloError
from profilo.store import StoreRunner
from profilo.ui.i18n import Translator, pick_language

__all__ = [
    "COOKIE",
    "STATIC_DIR",
    "Forbidden",
    "LoginNeeded",
    "UIRoute",
    "Viewer",
    "check_csrf",
    "current_viewer",
    "render",
    "secret_key",
    "store_runner",
]

T = TypeVar("T")

COOKIE = "profilo_session"
LOGIN_COOKIE = "profilo_login"
STATIC_DIR = Path(__file__).with_name("static")
_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self';"
    " script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

NAV = (
    ("overview", "/ui/", "Overview"),
    ("profiles", "/ui/profiles", "Profiles"),
    ("segments", "/ui/segments", "Segments"),
    ("sources", "/ui/sources", "Sources"),
    ("destinations", "/ui/destinations", "Destinations"),
    ("privacy", "/ui/privacy", "Privacy"),
)


class LoginNeeded(Exception):
    """No live session: the page answers with a redirect to the log-in form."""


class Forbidden(Exception):
    """The user's role lacks a permission."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of one request."""

    user: User
    cookie: str
    csrf: str

    @property
    def t(self) -> Translator:
        return Translator(self.user.language)

    @property
    def masked(self) -> bool:
        """Whether personal data must be masked for this user."""
        return not can(self.user.role, "view_personal_data")

    def can(self, permission: Permission) -> bool:
        return can(self.user.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(permission)


def secret_key(request: Request) -> str:
    """The key sessions are signed with (the ``PROFILO_SECRET_KEY`` setting)."""
    settings = getattr(getattr(request.app.state, "runtime", None), "settings", None)
    key = getattr(settings, "secret_key", None)
    return key.get_secret_value() if key is not None else "profilo"


def store_runner(request: Request) -> StoreRunner:
    runner: StoreRunner | None = getattr(request.app.state, "store_runner", None)
    if runner is None:
        raise HTTPException(503, detail={"code": "no_store", "message": "no store runner"})
    return runner


async def current_viewer(request: Request) -> Viewer:
    """The dependency of every page: the session's user, or a redirect to the log-in form."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise LoginNeeded
    secret = secret_key(request)
    user = await store_runner(request).read(session_user, cookie=cookie, secret=secret)
    if user is None:
        raise LoginNeeded
    viewer = Viewer(user=user, cookie=cookie, csrf=csrf_token(cookie, secret))
    request.state.viewer = viewer  # error pages keep the user's language and menu
    return viewer


async def check_csrf(request: Request, viewer: Viewer, sent: str | None = None) -> None:
    """Refuse a state-changing request whose CSRF token is not the session's."""
    if sent is None:
        sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, viewer.csrf):
        raise Forbidden("csrf")


def render(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status: int = 200,
    section: str = "",
    language: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page of ``template`` in the viewer's language, with the security headers."""
    t = viewer.t if viewer else Translator(language or "en")
    html = _TEMPLATES.get_template(template).render(
        t=t,
        viewer=viewer,
        nav=NAV,
        section=section,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/ui/"
    return RedirectResponse(f"/ui/login?next={quote(target, safe='/')}", status_code=303)


class UIRoute(APIRoute):
    """Routes whose failures are pages: a log-in redirect, 403, 404 or 422 in HTML."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginNeeded:
                return _login_redirect(request)
            except Forbidden as exc:
                return _error(request, 403, "You may not do this.", str(exc))
            except NotFound as exc:
                return _error(request, 404, "Not found.", str(exc))
            except (ConfigError, InputError) as exc:
                return _error(request, 422, "This cannot be done.", str(exc))
            except ProfiloError as exc:
                return _error(request, 503, "The store could not answer.", str(exc))

        return guarded


def _error(request: Request, status: int, title: str, detail: str) -> Response:
    if request.url.path.startswith("/ui/api/"):
        from starlette.responses import JSONResponse

        return JSONResponse({"ok": False, "error": title, "detail": detail}, status_code=status)
    language = pick_language(request.headers.get("accept-language"))
    return render(
        request,
        "error.html",
        getattr(request.state, "viewer", None),
        status=status,
        language=language,
        title=title,
        detail=detail,
        status_code=status,
    )
