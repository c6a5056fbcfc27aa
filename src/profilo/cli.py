"""The ``profilo`` command: a thin edge that calls the same functions as the API."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from profilo.errors import ProfiloError
from profilo.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="profilo",
    help="Profilo, an open-source Customer Data Platform: collect, unify, segment, activate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
demo_app = typer.Typer(
    help="The demo: `profilo demo` runs it all; `profilo demo generate` writes the data only.",
    invoke_without_command=True,
)
app.add_typer(demo_app, name="demo")

out = Console()
err = Console(stderr=True, soft_wrap=True)


class _State:
    store_url: str
    workspace: str


state = _State()

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store", help="Store URL (duckdb:///path.duckdb or postgresql://…); env PROFILO_STORE."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.callback()
def _root(
    store: StoreOpt = None,
    workspace: Annotated[str | None, typer.Option(help="Workspace; env PROFILO_WORKSPACE.")] = None,
) -> None:
    settings = Settings()
    state.store_url = store or settings.store
    state.workspace = workspace or settings.workspace


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


@contextmanager
def _opened(migrate: bool = False) -> Iterator[Any]:
    from profilo.store import open_store

    store = open_store(state.store_url, workspace=state.workspace, migrate=migrate)
    try:
        yield store
    finally:
        store.close()


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create the store's schema, or bring it up to date (safe to run again)."""
    with _opened(migrate=True) as store:
        version = store.schema_version()
    if as_json:
        _print_json({"store": state.store_url, "schema_version": version})
    else:
        out.print(f"store {state.store_url} ready (schema version {version})")


def _progress(label: str, quiet: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(
        desc=label, unit=" rows", unit_scale=True, disable=quiet, file=sys.stderr, leave=False
    )
    return bar.update, bar.close


@app.command(name="import")
def import_(
    mappings: Annotated[list[Path], typer.Argument(help="Mapping YAML files, one per source.")],
    as_json: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import sources described by mapping files (idempotent: the same rows twice add nothing)."""
    from profilo.collect import import_source, load_mapping

    loaded = [load_mapping(path) for path in mappings]  # every mapping is checked before any import
    results = []
    failures = 0
    with _opened(migrate=True) as store:
        for mapping in loaded:
            update, close = _progress(mapping.source, quiet or as_json)
            try:
                result = import_source(store, mapping, on_progress=update)
            except ProfiloError as exc:
                close()
                failures += 1
                err.print(f"[red]error[/red] importing {mapping.source}: {exc}")
                results.append({"source": mapping.source, "status": "failed", "error": str(exc)})
                continue
            close()
            results.append(result.as_dict())
            if not as_json:
                out.print(
                    f"{mapping.source}: {result.rows_read} rows read, {result.inserted} new,"
                    f" {result.updated} updated, {result.unchanged} unchanged,"
                    f" {result.quarantined} quarantined, {result.consents} consents"
                    f" ({result.seconds:.1f} s)"
                )
    if as_json:
        _print_json(results)
    if failures:
        raise typer.Exit(1)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@app.command()
def quality(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-source data quality: rows, completeness and validity per field, duplicates, quarantine."""
    from profilo.collect.report import quality_report

    with _opened() as store:
        report = quality_report(store, source)
    if as_json:
        _print_json(report)
        return
    for entry in report:
        quarantined = sum(entry["quarantine"].values())
        table = Table(
            title=f"{entry['source']} ({entry.get('party', '?')} party, {entry.get('category', '?')}):"
            f" {entry['rows']} rows, {entry['duplicate_keys']} duplicate keys,"
            f" {quarantined} quarantined",
            title_justify="left",
        )
        for col in ("field", "kind", "present", "complete", "valid", "distinct"):
            table.add_column(col, justify="left" if col in ("field", "kind") else "right")
        for f in entry["fields"]:
            table.add_row(
                f["field"],
                f["kind"],
                str(f["present"]),
                _pct(f["completeness"]),
                _pct(f["validity"]),
                str(f["distinct"]),
            )
        out.print(table)
        if entry["quarantine"]:
            reasons = ", ".join(f"{reason}: {n}" for reason, n in entry["quarantine"].items())
            out.print(f"  quarantined by reason — {reasons}")


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Rows per table and per source."""
    from profilo.collect.report import status_report

    with _opened() as store:
        report = status_report(store)
    if as_json:
        _print_json(report)
        return
    out.print(
        f"store {report['store']} · workspace {report['workspace']} · schema v{report['schema_version']}"
    )
    tables = Table(title="rows per table", title_justify="left")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, n in report["tables"].items():
        tables.add_row(name, f"{n:,}")
    out.print(tables)
    sources = Table(title="rows per source", title_justify="left")
    sources.add_column("source")
    for col in ("events", "identifiers", "traits", "consents", "quarantine"):
        sources.add_column(col, justify="right")
    for name, c in report["sources"].items():
        sources.add_row(
            name,
            f"{c['events']:,}",
            f"{c['observed_identifiers']:,}",
            f"{c['observed_traits']:,}",
            f"{c['consents']:,}",
            f"{c['quarantine']:,}",
        )
    out.print(sources)


@demo_app.command("generate")
def demo_generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the dataset to.")] = Path(
        "demo-data"
    ),
    customers: Annotated[int, typer.Option(min=10, help="How many people.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 42,
    as_json: JsonOpt = False,
) -> None:
    """Write the multi-source demo dataset, its mappings and its ground truth."""
    from profilo.demo import generate_demo

    started = time.perf_counter()
    summary = generate_demo(out_dir, customers=customers, seed=seed, progress=not as_json)
    data = _summary_dict(summary)
    data["seconds"] = round(time.perf_counter() - started, 2)
    if as_json:
        _print_json(data)
    else:
        out.print(
            f"demo data for {customers:,} customers written to {out_dir} in {data['seconds']} s"
        )


def _summary_dict(summary: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    return (
        asdict(summary)
        if is_dataclass(summary) and not isinstance(summary, type)
        else dict(summary)
    )


@demo_app.callback()
def demo_run(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the demo data.")] = Path(
        "demo-data"
    ),
    customers: Annotated[int, typer.Option(min=10, help="How many people.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    fresh: Annotated[bool, typer.Option(help="Regenerate the data even when it exists.")] = False,
) -> None:
    """Run the whole demo: generate the data, import every source, report quality and status."""
    if ctx.invoked_subcommand is not None:
        return
    from profilo.collect import import_source, load_mapping
    from profilo.demo import generate_demo

    started = time.perf_counter()
    mapping_dir = out_dir / "mappings"
    if fresh or not mapping_dir.exists():
        out.rule("1. generate the demo dataset")
        generate_demo(out_dir, customers=customers, seed=seed, progress=True)
        out.print(
            f"{customers:,} customers written to {out_dir} ({time.perf_counter() - started:.1f} s)"
        )
    out.rule(f"2. import every source into {state.store_url}")
    with _opened(migrate=True) as store:
        for path in sorted(mapping_dir.glob("*.yaml")):
            mapping = load_mapping(path)
            update, close = _progress(mapping.source, False)
            result = import_source(store, mapping, on_progress=update)
            close()
            out.print(
                f"{mapping.source:>20}: {result.rows_read:>8,} rows, {result.inserted:>8,} new,"
                f" {result.updated:>6,} updated, {result.unchanged:>8,} unchanged,"
                f" {result.quarantined:>5,} quarantined ({result.seconds:.1f} s)"
            )
    out.rule("3. data quality")
    quality(source=None, as_json=False)
    out.rule("4. status")
    status(as_json=False)
    out.print(f"demo finished in {time.perf_counter() - started:.1f} s")


def main() -> None:
    """Entry point: run the CLI, turning Profilo's errors into one clear line and exit code 2."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except ProfiloError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
