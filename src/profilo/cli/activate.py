"""``profilo destination`` and ``profilo sync``: destinations, their deliveries, and syncing."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from profilo.cli import JsonOpt, _opened, _print_json, out, state

__all__ = ["destination_app", "print_activation", "sync_command"]

destination_app = typer.Typer(
    help="Destinations: where audiences and traits go, with consent, retries and a delivery log.",
    no_args_is_help=True,
)


def _admin() -> Any:
    from profilo.activate import admin

    return admin


@destination_app.command("add")
def destination_add(
    definition: Annotated[Path, typer.Argument(help="YAML or JSON file: one or more definitions.")],
    as_json: JsonOpt = False,
) -> None:
    """Create or change destinations from a file (credentials are stored encrypted)."""
    import yaml

    from profilo.errors import ConfigError

    try:
        data = yaml.safe_load(definition.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read destination definitions from {definition}: {exc}") from None
    if isinstance(data, dict) and "destinations" in data and "kind" not in data:
        data = data["destinations"]
    items = data if isinstance(data, list) else [data]
    results = []
    with _opened(migrate=True) as store:
        for item in items:
            results.append(_admin().apply_destination(store, item))
    if as_json:
        _print_json(results)
        return
    for result in results:
        name = result["destination"]["name"]
        out.print(f"destination {name}: {'saved' if result['changed'] else 'unchanged'}")


@destination_app.command("list")
def destination_list(as_json: JsonOpt = False) -> None:
    """Every destination, with its deliveries by status (credentials never shown)."""
    with _opened() as store:
        rows = _admin().describe_destinations(store)
    if as_json:
        _print_json(rows)
        return
    table = Table("name", "kind", "purposes", "audiences", "schedule", "deliveries", "last sync")
    for row in rows:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(row["deliveries"].items()))
        table.add_row(
            row["name"],
            row["kind"],
            ", ".join(row["purposes"]),
            ", ".join(row["audiences"]) + (" + traits" if row["traits"] else ""),
            row["schedule"],
            counts or "-",
            str(row["last_sync_at"] or "never"),
        )
    out.print(table)


@destination_app.command("show")
def destination_show(
    name: Annotated[str, typer.Argument(help="Destination name.")],
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the definition as YAML.")] = False,
) -> None:
    """One destination: definition, cursors, deliveries (credentials by name only)."""
    with _opened() as store:
        if as_yaml:
            from profilo.activate import dump_destinations, get_destination

            out.print(dump_destinations([get_destination(store, name)]), end="", highlight=False)
            return
        _print_json(_admin().describe_destination(store, name))


@destination_app.command("remove")
def destination_remove(name: Annotated[str, typer.Argument(help="Destination name.")]) -> None:
    """Forget a destination (its delivery log stays)."""
    with _opened() as store:
        _admin().drop_destination(store, name)
    out.print(f"destination {name} removed")


@destination_app.command("dead")
def destination_dead(
    name: Annotated[str, typer.Argument(help="Destination name.")],
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Dead letters: changes given up on, with the reason."""
    with _opened() as store:
        rows = _admin().dead_letters(store, name, limit)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        out.print(f"{row['change_id']}  {row['action']:<6} {row['profile_id']}  {row['reason']}")
    out.print(f"{len(rows)} dead letter(s)")


@destination_app.command("replay")
def destination_replay(
    name: Annotated[str, typer.Argument(help="Destination name.")],
    change: Annotated[list[str] | None, typer.Option("--change", help="Only these ids.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue dead letters again (after fixing the cause); the next sync sends them."""
    with _opened() as store:
        result = _admin().replay(store, name, change)
    if as_json:
        _print_json(result)
    else:
        out.print(
            f"{result['replayed']} queued again, {result['superseded']} superseded by later changes"
        )


@destination_app.command("log")
def destination_log(
    reference: Annotated[str, typer.Argument(help="Profile id or identifier (email:a@b.fr).")],
    destination: Annotated[str | None, typer.Option(help="Only this destination.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """What was sent (or skipped, or is waiting) about one person: where, when, what."""
    with _opened() as store:
        rows = _admin().log_of(store, reference, destination, status, limit)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        when = row["delivered_at"] or row["updated_at"]
        what = json.dumps(row["payload"]["fields"], default=str) if row["payload"] else ""
        out.print(
            f"{when}  {row['destination']:<16} {row['status']:<10} {row['action']:<6}"
            f" {row['audience'] or '(traits)':<20} {row['reason'] or what}",
            highlight=False,
        )


@destination_app.command("new-key")
def destination_new_key() -> None:
    """Print a new activation key (for PROFILO_ACTIVATION_KEY)."""
    from profilo.activate import new_key

    out.print(new_key())


def print_activation(reports: list[dict[str, Any]]) -> None:
    """One line per destination: sent, skipped (with why), waiting, dead."""
    for r in reports:
        reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(r["skip_reasons"].items()))
        out.print(
            f"{r['destination']:>16}: {r['delivered']:>7,} sent ({r['upserts']:,} upserts,"
            f" {r['removes']:,} removes), {r['skipped']:>6,} skipped"
            + (f" ({reasons})" if reasons else "")
            + f", {r['pending']:,} waiting, {r['dead']:,} dead",
            highlight=False,
        )
        for error in r["errors"][:3]:
            out.print(f"{'':>18}[yellow]{error}[/yellow]")


def sync_command(
    names: Annotated[list[str] | None, typer.Argument(help="Destinations (default: all).")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep syncing, near real time, until Ctrl-C.")
    ] = False,
    every: Annotated[float, typer.Option(help="Seconds between passes with --follow.")] = 2.0,
    drain: Annotated[
        bool, typer.Option(help="Wait for retries until nothing is pending (or only dead).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sync destinations once (all, or the ones named), or keep syncing with --follow."""
    from profilo.activate import follow as follow_loop
    from profilo.activate import sync_all
    from profilo.activate.admin import sync_options

    with _opened(migrate=True) as store:
        options = sync_options(store, drain=drain)
        if not follow:
            reports = [r.as_dict() for r in sync_all(store, names, options)]
            if as_json:
                _print_json(reports)
            else:
                print_activation(reports)
            return
        stopping = {"now": False}

        def stop(*_: Any) -> None:
            stopping["now"] = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        out.print(f"syncing {state.store_url} every {every} s; Ctrl-C stops")

        def show(report: Any) -> None:
            if report.delivered or report.skipped or report.errors or report.dead:
                print_activation([report.as_dict()])

        follow_loop(
            store, options, names=names, every=every, stop=lambda: stopping["now"], on_report=show
        )
