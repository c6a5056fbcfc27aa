"""Log-in sessions: signed random tokens, kept in the store by their hash.

A session token is 32 random bytes. The browser holds ``token.signature`` (an HMAC of the token
with the server's secret key) in an HttpOnly cookie; the store holds only the SHA-256 of the token,
with its user and expiry. A cookie whose signature is wrong is refused without reading the store,
and a copy of the table cannot be turned back into cookies. The CSRF token of a session's forms is
another HMAC of the token, so it needs no storage either.

>>> cookie = sign_token("tok", "secret")
>>> unsign_token(cookie, "secret"), unsign_token(cookie, "other")
('tok', None)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from profilo.access.users import User, authenticate, get_user
from profilo.errors import NotFound
from profilo.store import Store

__all__ = [
    "SESSION_HOURS",
    "Session",
    "csrf_token",
    "end_session",
    "log_in",
    "session_user",
    "sign_token",
    "unsign_token",
]

SESSION_HOURS = 12


@dataclass(frozen=True)
class Session:
    """A session just opened: the cookie value to set, and who it belongs to."""

    cookie: str
    user: User
    expires_at: datetime


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_token(token: str, secret: str) -> str:
    """The cookie value for ``token``: the token and its signature."""
    return f"{token}.{_mac(secret, 'session:' + token)}"


def unsign_token(cookie: str, secret: str) -> str | None:
    """The token of a cookie whose signature is right, else None."""
    token, _, signature = cookie.rpartition(".")
    if not token or not hmac.compare_digest(signature, _mac(secret, "session:" + token)):
        return None
    return token


def csrf_token(cookie: str, secret: str) -> str:
    """The token the session's forms must send back (derived from the session's cookie)."""
    return _mac(secret, "csrf:" + cookie)


def log_in(
    store: Store,
    username: str,
    password: str,
    *,
    secret: str,
    hours: int = SESSION_HOURS,
    now: datetime | None = None,
) -> Session | None:
    """Open a session when the password is right (None otherwise); drops expired sessions."""
    user = authenticate(store, username, password)
    if user is None:
        return None
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=hours)
    sessions = store.table("user_sessions")
    stale = store.to_arrow(sessions.filter(sessions.expires_at < now).select("session_hash"))
    with store.transaction():
        if stale.num_rows:
            store.replace_rows("user_sessions", None, match=stale)
        store.upsert(
            "user_sessions",
            {
                "session_hash": _hash(token),
                "username": user.username,
                "created_at": now,
                "expires_at": expires,
            },
            key=["session_hash"],
        )
    return Session(cookie=sign_token(token, secret), user=user, expires_at=expires)


def session_user(
    store: Store, cookie: str, *, secret: str, now: datetime | None = None
) -> User | None:
    """The user of a live session, or None for a bad, unknown or expired cookie."""
    token = unsign_token(cookie, secret)
    if token is None:
        return None
    sessions = store.table("user_sessions")
    found = store.to_arrow(
        sessions.filter(sessions.session_hash == _hash(token)).select("username", "expires_at")
    ).to_pylist()
    if not found or found[0]["expires_at"] <= (now or datetime.now(UTC)):
        return None
    try:
        return get_user(store, found[0]["username"])
    except NotFound:
        return None


def end_session(store: Store, cookie: str, *, secret: str) -> None:
    """Log out: forget the session (a bad cookie is ignored)."""
    token = unsign_token(cookie, secret)
    if token is not None:
        store.replace_rows("user_sessions", None, match=pa.table({"session_hash": [_hash(token)]}))
