"""Roles and what each may do: one permission table, checked by the UI and the CLI alike.

=========================  =====  ========  =======  ======
permission                 admin  marketer  analyst  viewer
=========================  =====  ========  =======  ======
``view``                   yes    yes       yes      yes
``view_personal_data``     yes    yes       yes      no
``edit_segments``          yes    yes       yes      no
``split_profiles``         yes    no        yes      no
``replay_deliveries``      yes    yes       no       no
``manage_users``           yes    no        no       no
=========================  =====  ========  =======  ======

A role without ``view_personal_data`` sees e-mails, phones, names and addresses masked; the
masking happens on the server (:mod:`profilo.access.masking`), so the clear values never reach
its browser.
"""

from __future__ import annotations

from typing import Literal

from profilo.errors import ConfigError, unknown_choice

__all__ = [
    "LANGUAGES",
    "PERMISSIONS",
    "ROLES",
    "Permission",
    "Role",
    "can",
    "check_language",
    "check_role",
]

Role = Literal["admin", "marketer", "analyst", "viewer"]
Permission = Literal[
    "view",
    "view_personal_data",
    "edit_segments",
    "split_profiles",
    "replay_deliveries",
    "manage_users",
]

ROLES: tuple[Role, ...] = ("admin", "marketer", "analyst", "viewer")
LANGUAGES: tuple[str, ...] = ("en", "fr")

PERMISSIONS: dict[Permission, frozenset[Role]] = {
    "view": frozenset(ROLES),
    "view_personal_data": frozenset({"admin", "marketer", "analyst"}),
    "edit_segments": frozenset({"admin", "marketer", "analyst"}),
    "split_profiles": frozenset({"admin", "analyst"}),
    "replay_deliveries": frozenset({"admin", "marketer"}),
    "manage_users": frozenset({"admin"}),
}


def can(role: str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``.

    >>> can("viewer", "view"), can("viewer", "view_personal_data")
    (True, False)
    """
    return role in PERMISSIONS[permission]


def check_role(role: str) -> Role:
    """``role`` if it is one of :data:`ROLES`, else a :class:`ConfigError` listing them."""
    if role not in ROLES:
        raise ConfigError(unknown_choice("role", role, ROLES))
    return role  # type: ignore[return-value]


def check_language(language: str) -> str:
    """``language`` if the UI speaks it, else a :class:`ConfigError` listing those it does."""
    if language not in LANGUAGES:
        raise ConfigError(unknown_choice("language", language, LANGUAGES))
    return language
