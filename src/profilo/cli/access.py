"""``profilo user``: the people who log in to the web UI, their roles and languages."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from profilo.cli import JsonOpt, _opened, _print_json, out

__all__ = ["DEMO_LOGINS", "add_demo_logins", "user_app"]

DEMO_LOGINS = (("demo", "admin"), ("viewer", "viewer"))
"""The demo's log-ins (the password is the name): an admin, and a viewer who sees data masked."""

user_app = typer.Typer(
    help="Users of the web UI: roles, languages, passwords.", no_args_is_help=True
)

RoleOpt = Annotated[str, typer.Option(help="admin, marketer, analyst or viewer.")]
LanguageOpt = Annotated[str, typer.Option(help="Language of the UI: en or fr.")]


def add_demo_logins(store: Any) -> None:
    """Create (or reset) the demo's log-ins."""
    from profilo.access import add_user

    for login, role in DEMO_LOGINS:
        add_user(store, login, login, role=role, display_name=f"Demo {role}", replace=True)


def _password(given: str | None, name: str) -> str:
    if given is not None:
        return given
    return str(typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Log-in name (lower case).")],
    role: RoleOpt = "viewer",
    language: LanguageOpt = "en",
    name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password (asked when not given; avoid it in shell history).")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite a user of that name.")] = False,
) -> None:
    """Create a user."""
    from profilo.access import add_user

    secret = _password(password, username)
    with _opened(migrate=True) as store:
        user = add_user(
            store,
            username,
            secret,
            role=role,
            language=language,
            display_name=name,
            replace=replace,
        )
    out.print(f"user {user.username} ({user.role}, {user.language}) saved")


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """Every user with their role and language."""
    from profilo.access import list_users

    with _opened(migrate=True) as store:
        users = list_users(store)
    if as_json:
        _print_json([u.as_dict() for u in users])
        return
    table = Table("user", "name", "role", "language", "created")
    for u in users:
        table.add_row(u.username, u.display_name, u.role, u.language, f"{u.created_at:%Y-%m-%d}")
    out.print(table)


@user_app.command("remove")
def user_remove(username: Annotated[str, typer.Argument(help="Log-in name.")]) -> None:
    """Delete a user and end their sessions."""
    from profilo.access import remove_user

    with _opened(migrate=True) as store:
        remove_user(store, username)
    out.print(f"user {username} removed")


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument(help="Log-in name.")],
    password: Annotated[
        str | None, typer.Option(help="New password (asked when not given).")
    ] = None,
) -> None:
    """Set a user's password (their open sessions end)."""
    from profilo.access import set_password

    secret = _password(password, username)
    with _opened(migrate=True) as store:
        set_password(store, username, secret)
    out.print(f"password of {username} changed; their sessions were closed")
