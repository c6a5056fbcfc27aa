"""Users of the web UI: who they are, their role, their language, their password (hashed).

Passwords are kept as salted scrypt hashes (``hashlib.scrypt``, N=2**14, r=8, p=1, 16-byte salt),
written ``scrypt$N$r$p$salt$hash`` so the cost can grow later without breaking older hashes.

>>> stored = hash_password("correct horse")
>>> verify_password("correct horse", stored), verify_password("wrong", stored)
(True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from profilo.access.roles import Role, check_language, check_role
from profilo.errors import ConfigError, NotFound
from profilo.store import Store

__all__ = [
    "MIN_PASSWORD",
    "User",
    "add_user",
    "authenticate",
    "get_user",
    "hash_password",
    "list_users",
    "remove_user",
    "set_password",
    "update_user",
    "verify_password",
]

MIN_PASSWORD = 4
"""Shortest password accepted (the demo's is ``demo``; deployments should choose long ones)."""
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@\-]{0,63}$")
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class User:
    """A user as the UI sees it (never with the password hash)."""

    username: str
    display_name: str
    role: Role
    language: str
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password`` in the ``scrypt$N$r$p$salt$hash`` form."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        found = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)


def _check_username(username: str) -> str:
    if not _USERNAME.match(username):
        raise ConfigError(
            f"invalid user name {username!r}: lower-case letters, digits and _ . @ -"
            " (at most 64), starting with a letter or digit"
        )
    return username


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def _rows(store: Store, username: str | None = None) -> list[dict[str, Any]]:
    table = store.table("users")
    if username is not None:
        table = table.filter(table.username == username)
    return list(store.to_arrow(table.order_by("username")).to_pylist())


def _user(row: dict[str, Any]) -> User:
    return User(
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        language=row["language"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def list_users(store: Store) -> list[User]:
    """Every user of the workspace, by name."""
    return [_user(row) for row in _rows(store)]


def get_user(store: Store, username: str) -> User:
    """One user; :class:`NotFound` when there is none by that name."""
    rows = _rows(store, username)
    if not rows:
        raise NotFound(f"unknown user {username!r}")
    return _user(rows[0])


def add_user(
    store: Store,
    username: str,
    password: str,
    *,
    role: str = "viewer",
    language: str = "en",
    display_name: str | None = None,
    replace: bool = False,
) -> User:
    """Create a user (or, with ``replace``, overwrite one of the same name)."""
    _check_username(username)
    _check_password(password)
    checked_role = check_role(role)
    check_language(language)
    old = _rows(store, username)
    if old and not replace:
        raise ConfigError(f"user {username!r} exists already")
    now = datetime.now(UTC)
    store.upsert(
        "users",
        {
            "username": username,
            "display_name": display_name or username,
            "role": checked_role,
            "language": language,
            "password_hash": hash_password(password),
            "created_at": old[0]["created_at"] if old else now,
            "updated_at": now,
        },
        key=["username"],
    )
    return get_user(store, username)


def update_user(
    store: Store,
    username: str,
    *,
    role: str | None = None,
    language: str | None = None,
    display_name: str | None = None,
) -> User:
    """Change a user's role, language or display name."""
    rows = _rows(store, username)
    if not rows:
        raise NotFound(f"unknown user {username!r}")
    row = dict(rows[0])
    row.pop("workspace_id", None)
    if role is not None:
        row["role"] = check_role(role)
    if language is not None:
        row["language"] = check_language(language)
    if display_name is not None:
        row["display_name"] = display_name
    row["updated_at"] = datetime.now(UTC)
    store.upsert("users", row, key=["username"])
    return _user(row)


def set_password(store: Store, username: str, password: str) -> None:
    """Give a user a new password and end every session they had open."""
    rows = _rows(store, username)
    if not rows:
        raise NotFound(f"unknown user {username!r}")
    _check_password(password)
    row = dict(rows[0])
    row.pop("workspace_id", None)
    row["password_hash"] = hash_password(password)
    row["updated_at"] = datetime.now(UTC)
    with store.transaction():
        store.upsert("users", row, key=["username"])
        store.replace_rows("user_sessions", None, match=pa.table({"username": [username]}))


def remove_user(store: Store, username: str) -> None:
    """Delete a user and their sessions."""
    get_user(store, username)
    match = pa.table({"username": [username]})
    with store.transaction():
        store.replace_rows("user_sessions", None, match=match)
        store.replace_rows("users", None, match=match)


_DUMMY_HASH = hash_password("", salt=b"\x00" * 16)


def authenticate(store: Store, username: str, password: str) -> User | None:
    """The user when the password is theirs, else None (as slow for unknown names)."""
    rows = _rows(store, username.strip().lower()) if username else []
    stored = rows[0]["password_hash"] if rows else _DUMMY_HASH
    ok = verify_password(password, stored)
    return _user(rows[0]) if rows and ok else None
