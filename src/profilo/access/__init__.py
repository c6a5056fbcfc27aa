"""Access: users, roles, sessions and what each role may see.

This layer sits just above the store: the UI and the CLI use it, and it imports only
:mod:`profilo.store`.
"""

from __future__ import annotations

from profilo.access.masking import (
    MASK,
    PERSONAL_IDENTIFIERS,
    PERSONAL_TRAITS,
    mask_email,
    mask_identifier,
    mask_phone,
    mask_trait,
    mask_tree,
)
from profilo.access.roles import LANGUAGES, PERMISSIONS, ROLES, Permission, Role, can
from profilo.access.sessions import (
    SESSION_HOURS,
    Session,
    csrf_token,
    end_session,
    log_in,
    session_user,
)
from profilo.access.users import (
    User,
    add_user,
    authenticate,
    get_user,
    hash_password,
    list_users,
    remove_user,
    set_password,
    update_user,
    verify_password,
)

__all__ = [
    "LANGUAGES",
    "MASK",
    "PERMISSIONS",
    "PERSONAL_IDENTIFIERS",
    "PERSONAL_TRAITS",
    "ROLES",
    "SESSION_HOURS",
    "Permission",
    "Role",
    "Session",
    "User",
    "add_user",
    "authenticate",
    "can",
    "csrf_token",
    "end_session",
    "get_user",
    "hash_password",
    "list_users",
    "log_in",
    "mask_email",
    "mask_identifier",
    "mask_phone",
    "mask_trait",
    "mask_tree",
    "remove_user",
    "session_user",
    "set_password",
    "update_user",
    "verify_password",
]
