"""Schema migrations of the access capability (users, roles, sessions): versions 70–79."""

from __future__ import annotations

from profilo.store.migration import Migration

__all__ = ["MIGRATIONS"]

_USERS = (
    # People who log in to the web UI; the password is kept only as a salted scrypt hash.
    """CREATE TABLE IF NOT EXISTS users (
        workspace_id VARCHAR NOT NULL,
        username VARCHAR NOT NULL,
        display_name VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        language VARCHAR NOT NULL,
        password_hash VARCHAR NOT NULL,
        created_at {ts} NOT NULL,
        updated_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, username)
    )""",
    # Open sessions, by the SHA-256 of their token (a stolen table cannot be replayed as cookies).
    """CREATE TABLE IF NOT EXISTS user_sessions (
        workspace_id VARCHAR NOT NULL,
        session_hash VARCHAR NOT NULL,
        username VARCHAR NOT NULL,
        created_at {ts} NOT NULL,
        expires_at {ts} NOT NULL,
        PRIMARY KEY (workspace_id, session_hash)
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(70, "access: users and sessions", _USERS, tables=("users", "user_sessions")),
)
