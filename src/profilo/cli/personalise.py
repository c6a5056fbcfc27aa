"""``profilo personalise``: the keys of the personalisation API (``/v1/personalise``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from profilo.cli import JsonOpt, _local_or_server, _print_json, out

__all__ = ["DEMO_KEY_NAME", "add_demo_key", "personalise_app"]

DEMO_KEY_NAME = "demo web site"

personalise_app = typer.Typer(
    help="The personalisation API: keys for web sites and apps, each with what it may see.",
    no_args_is_help=True,
)
key_app = typer.Typer(help="Create, list and revoke personalisation keys.", no_args_is_help=True)
personalise_app.add_typer(key_app, name="key")

NamesOpt = Annotated[list[str] | None, typer.Option(help="A name it may see, or * for all.")]


def add_demo_key(store: Any) -> str:
    """Create the demo's key (every trait, computed trait and segment, and recommendations);
    the lines that show it, with a curl to try under ``profilo serve``."""
    from urllib.parse import urlencode

    from profilo.activate.personalise import create_key, example_identifier

    key = create_key(store, name=DEMO_KEY_NAME, traits=["*"], computed=["*"], segments=["*"])
    example = example_identifier(store) or ("email", "someone@example.com")
    query = urlencode({"type": example[0], "value": example[1]})
    return (
        f"personalisation key ({DEMO_KEY_NAME}, sees everything): {key['key']}; under"
        f" `profilo serve`, try\n  curl -H 'Authorization: Bearer {key['key']}'"
        f" 'http://127.0.0.1:8000/v1/personalise?{query}'\n  (without a personalisation"
        " consent the answer holds only non-personal recommendations; `profilo personalise key"
        " list` shows the keys)"
    )


@key_app.command("add")
def key_add(
    name: Annotated[str, typer.Argument(help="What the key is for (e.g. 'web site').")],
    trait: NamesOpt = None,
    computed: NamesOpt = None,
    segment: NamesOpt = None,
    recommendations: Annotated[
        bool, typer.Option(help="Whether it gets product recommendations.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it — the only time it is shown (only its hash is stored)."""
    from profilo.activate.personalise import create_key

    args: dict[str, Any] = {
        "traits": trait or [],
        "computed": computed or [],
        "segments": segment or [],
        "recommendations": recommendations,
    }
    created = _local_or_server(
        lambda store: create_key(store, name=name, **args),
        lambda server: server.call("POST", "/personalisation/keys", json={"name": name, **args}),
    )
    if as_json:
        _print_json(created)
        return
    scope = created["scope"]
    out.print(
        f"key {created['key_id']} ({created['name']}): {created['key']}\n"
        f"  sees traits {_names(scope['traits'])}, computed traits {_names(scope['computed'])},"
        f" segments {_names(scope['segments'])};"
        f" recommendations {'yes' if scope['recommendations'] else 'no'}\n"
        "  keep it now: it is not shown again",
        highlight=False,
    )


def _names(names: list[str]) -> str:
    return "all" if "*" in names else ", ".join(names) or "none"


@key_app.command("list")
def key_list(as_json: JsonOpt = False) -> None:
    """Every key with its scope and state (never the secret)."""
    from profilo.activate.personalise import list_keys

    keys = _local_or_server(list_keys, lambda server: server.call("GET", "/personalisation/keys"))
    if as_json:
        _print_json(keys)
        return
    table = Table("key id", "name", "traits", "computed", "segments", "recs", "created", "state")
    for k in keys:
        scope = k["scope"]
        table.add_row(
            k["key_id"],
            k["name"],
            _names(scope["traits"]),
            _names(scope["computed"]),
            _names(scope["segments"]),
            "yes" if scope["recommendations"] else "no",
            str(k["created_at"])[:19],
            "revoked" if k["revoked_at"] else "active",
        )
    out.print(table)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[
        str, typer.Argument(help="The key's id (from `profilo personalise key list`).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: refused from now on (by a running server within a few seconds)."""
    from profilo.activate.personalise import revoke_key

    revoked = _local_or_server(
        lambda store: revoke_key(store, key_id),
        lambda server: server.call("DELETE", f"/personalisation/keys/{key_id}"),
    )
    if as_json:
        _print_json(revoked)
    else:
        out.print(f"key {key_id} ({revoked['name']}) revoked")
