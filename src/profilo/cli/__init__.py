"""The ``profilo`` command: a thin edge that calls the same functions as the API."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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
    results: list[dict[str, object]] = []
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
    report = _status_report()
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
    _print_collect(report)


def _print_step(result: Any) -> None:
    summary = result.summary
    if result.step == "identity":
        graph = summary.get("graph", {})
        detail = f"{graph.get('records', 0):,} records → {graph.get('profiles', 0):,} profiles"
    elif result.step == "profiles":
        detail = f"{summary['events']:,} events and {summary['consents']:,} consents attributed"
    elif result.step == "traits":
        detail = f"{len(summary['rows'])} computed traits"
    elif result.step == "cards":
        detail = f"{summary['cards']:,} personalisation cards written ({summary['mode']})"
    else:
        sizes = {n: s.get("members") for n, s in summary["segments"].items()}
        detail = ", ".join(f"{n}: {m:,}" for n, m in sizes.items() if m is not None) or "none"
        detail = f"segments — {detail}"
    out.print(f"{result.step:>10}: {detail} ({result.seconds:.1f} s)")


@app.command(name="run")
def run_(
    full: Annotated[bool, typer.Option(help="Rebuild everything from the raw log.")] = False,
    step: Annotated[
        list[str] | None,
        typer.Option(help="Only these steps: identity, profiles, traits, segments, cards."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the pipeline after collection: identity, profiles, computed traits, segments, cards."""
    from profilo.pipeline import STEPS, run_pipeline

    with _opened(migrate=True) as store:
        results = run_pipeline(
            store, step or STEPS, full=full, on_step=None if as_json else _print_step
        )
    if as_json:
        _print_json([{"step": r.step, "seconds": r.seconds, **r.summary} for r in results])


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
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API at the end.")
    ] = False,
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
    out.rule("4. identity, profiles, computed traits, segments, personalisation cards")
    from profilo.demo.definitions import apply_definitions, write_definitions
    from profilo.pipeline import run_pipeline

    write_definitions(out_dir / "definitions")
    with _opened(migrate=True) as store:
        defined = apply_definitions(store)
        out.print(
            f"{defined['traits']} computed traits and {defined['segments']} segments defined"
            f" (YAML in {out_dir / 'definitions'})"
        )
        run_pipeline(store, on_step=_print_step)
        from profilo.cli.access import DEMO_LOGINS, add_demo_logins

        add_demo_logins(store)
        from profilo.collect.sources import add_source

        website = add_source(store, "website", kind="web")
    out.rule("5. status")
    status(as_json=False)
    out.rule("6. activation: the audiences to a folder and to a local webhook")
    from profilo.cli.activate import print_activation
    from profilo.cli.personalise import add_demo_key
    from profilo.demo.activation import activate_demo

    with _opened(migrate=True) as store:
        shown = activate_demo(store, out_dir)
        personalisation = add_demo_key(store)
    print_activation(list(shown["destinations"].values()))
    received = ", ".join(f"{n:,} {k}" for k, n in shown["webhook"]["received"].items())
    out.print(f"files in {shown['exports']}; the webhook received {received or 'nothing new'}")
    out.print(personalisation, highlight=False, soft_wrap=True)
    out.print(f"demo finished in {time.perf_counter() - started:.1f} s")
    if serve_after:
        out.rule("7. serving")
        out.print("UI at http://127.0.0.1:8000 (API docs at /docs); Ctrl-C stops it")
        for login, role in DEMO_LOGINS:
            out.print(f"  log in as {login} / {login} ({role})")
        key = website["write_key"]
        out.print(
            f"  tracking write key of the source 'website': {key}; try\n"
            f"  curl -u {key}: -H 'Content-Type: application/json' -d"
            """ '{"userId":"demo-1","event":"Tried Profilo"}'"""
            " http://127.0.0.1:8000/v1/track"
        )
        serve(host="127.0.0.1", port=8000, spool=None, ceiling=False)


# -- identity: graph, matching, review, explanations, evaluation -------------------------------

identity_app = typer.Typer(
    help="Identity resolution: the identity graph, matching, review queue and golden profiles.",
    no_args_is_help=True,
)
app.add_typer(identity_app, name="identity")

RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        help="Identity rules YAML (types, limits, blocklist) to keep as the workspace's rules;"
        " the graph is rebuilt when they change.",
    ),
]


def _identity_rules(path: Path | None) -> Any:
    from profilo.identity import IdentityRules

    return IdentityRules.from_yaml(path) if path else IdentityRules()


@identity_app.command("run")
def identity_run(
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild everything from the raw log.")
    ] = False,
    match: Annotated[bool, typer.Option(help="Run probabilistic matching too.")] = True,
    rules: RulesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring the identity graph and golden profiles up to date (incremental unless --full)."""
    from profilo.identity import run_identity, save_rules

    with _opened(migrate=True) as store:
        if rules is not None:
            save_rules(store, _identity_rules(rules))
        summary = run_identity(store, full=full, match=match)
    if as_json:
        _print_json(summary)
        return
    g = summary["graph"]
    out.print(
        f"graph ({g['mode']}): {g['records']:,} records, {g['links']:,} links → {g['profiles']:,} profiles;"
        f" {g['hubs']} hubs, {g['blocked_values']} blocked values, {g['left_out_links']} links left out"
        f" by limits, {g['merges']} merges, {g['splits']} splits ({g['seconds']:.1f} s)"
    )
    if "matching" in summary:
        m = summary["matching"]
        out.print(
            f"matching: {m['records']:,} person records, {m['pairs_scored']:,} pairs scored,"
            f" {m['merged']:,} merged, {m['review']:,} to review ({m['seconds']:.1f} s)"
        )
    out.print(
        f"golden profiles written: {summary.get('profiles_written', 0):,} ({summary['seconds']:.1f} s in all)"
    )


@identity_app.command("explain")
def identity_explain(
    target: Annotated[str, typer.Argument(help="A profile id, or a record as SOURCE:KEY.")],
    other: Annotated[
        str | None, typer.Argument(help="A second record: why are they (not) one?")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Explain a profile (records, identifiers, conflicts, matches, merges, traits) or two records."""
    from profilo.identity import explain_pair, explain_profile, explain_record, parse_record

    with _opened() as store:
        if other is not None:
            data = explain_pair(store, parse_record(target), parse_record(other))
        elif target.startswith("prf_"):
            data = explain_profile(store, target)
        else:
            data = explain_record(store, parse_record(target))
    if as_json:
        _print_json(data)
        return
    if other is not None:
        verdict = "the same profile" if data["same_profile"] else "different profiles"
        out.print(f"{data['left']} and {data['right']} are in {verdict}")
        for step in data["path"]:
            out.print(f"  {step['from']} —{step['via']} {step['value']}→ {step['to']}")
        for m in data["match"]:
            out.print(
                f"  match {m['pair_id']}: weight {m['match_weight']:.2f}, p={m['match_probability']:.4f}, {m['status']}"
            )
            for field, ev in (m["evidence"] or {}).items():
                out.print(f"    {field}: {ev}")
        for n in data["never_same"]:
            out.print(f"  never the same: {n['reason']} ({n['created_by']}, {n['created_at']})")
        for c in data["left_out"]:
            out.print(
                f"  left out: {c['source']}:{c['record_key']} {c['id_type']} {c['value']} — {c['reason']}"
            )
        return
    out.print(f"profile {data['profile_id']}: {data['records']:,} records")
    table = Table(title="traits (survivorship and lineage)", title_justify="left")
    for col in ("trait", "value", "source", "record", "rule", "candidates"):
        table.add_column(col)
    for t in data["traits"]:
        mark = " ⚠" if t["conflict"] else ""
        table.add_row(
            t["trait"],
            str(t["value"]),
            t["source"],
            t["record_key"],
            t["rule"],
            f"{t['candidates']}{mark}",
        )
    out.print(table)
    ids = Table(title="identifiers", title_justify="left")
    for col in ("type", "value", "status", "records"):
        ids.add_column(col)
    for i in data["identifiers"]:
        ids.add_row(i["id_type"], i["value"], i["status"], str(i["records"]))
    out.print(ids)
    recs = Table(title="records and how they joined", title_justify="left")
    for col in ("record", "joined by", "via"):
        recs.add_column(col)
    for r in data["records_shown"][:50]:
        via = f"{r['link_type']} {r['link_value']}" if r["link_type"] else ""
        recs.add_row(f"{r['source']}:{r['record_key']}", r["linked_by"], via)
    out.print(recs)
    for c in data["left_out"]:
        out.print(
            f"left out: {c['source']}:{c['record_key']} {c['id_type']} {c['value']} — {c['reason']}"
        )
    for m in data["matches"]:
        out.print(
            f"match {m['pair_id']} {m['source_l']}:{m['record_key_l']} ~ {m['source_r']}:{m['record_key_r']}"
            f" weight {m['match_weight']:.2f} p={m['match_probability']:.4f} {m['outcome']}/{m['status']}"
        )
    for g in data["merges"]:
        out.print(
            f"{g['created_at']}: {g['kind']} {g['other_profile_id'] or ''} ({g['rule']}) {g['evidence']}"
        )


@identity_app.command("review")
def identity_review(
    accept: Annotated[str | None, typer.Option(help="Accept this pair: its records join.")] = None,
    reject: Annotated[str | None, typer.Option(help="Reject this pair: never the same.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the merge log).")] = None,
    limit: Annotated[int, typer.Option(help="How many pending pairs to list.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List pairs waiting for review, or accept / reject one."""
    from profilo.identity import decide_pair, review_queue

    with _opened() as store:
        if accept or reject:
            result = decide_pair(store, str(accept or reject), accept=bool(accept), reason=reason)
            if as_json:
                _print_json(result)
            else:
                out.print(f"pair {result['pair_id']} {result['status']}")
            return
        pending = review_queue(store, limit)
    if as_json:
        _print_json(pending)
        return
    table = Table(title=f"{len(pending)} pairs to review (most likely first)", title_justify="left")
    for col in ("pair", "left", "right", "p", "evidence"):
        table.add_column(col)
    for p in pending:
        shown = ", ".join(
            f"{k} {v['left']}~{v['right']} ({v['weight']:+.1f})"
            for k, v in (p["evidence"] or {}).items()
            if v.get("weight")
        )
        table.add_row(
            p["pair_id"],
            f"{p['source_l']}:{p['record_key_l']}",
            f"{p['source_r']}:{p['record_key_r']}",
            f"{p['match_probability']:.3f}",
            shown,
        )
    out.print(table)


@identity_app.command("split")
def identity_split(
    record: Annotated[
        str, typer.Argument(help="The record to take out of its profile, SOURCE:KEY.")
    ],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the merge log).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Split a wrongly merged profile: the record leaves it, and later runs keep it out."""
    from profilo.identity import parse_record, split_record

    with _opened() as store:
        report = split_record(store, parse_record(record), reason=reason)
    _print_json(report.as_dict()) if as_json else out.print(
        f"{record} split off ({report.profiles} profiles re-resolved)"
    )


@identity_app.command("never-same")
def identity_never_same(
    left: Annotated[str, typer.Argument(help="A record, SOURCE:KEY.")],
    right: Annotated[str, typer.Argument(help="Another record, SOURCE:KEY.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the merge log).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark two records as different people; every later run keeps them apart."""
    from profilo.identity import mark_never_same, parse_record

    with _opened() as store:
        report = mark_never_same(store, parse_record(left), parse_record(right), reason=reason)
    _print_json(report.as_dict()) if as_json else out.print(f"{left} and {right} kept apart")


@identity_app.command("evaluate")
def identity_evaluate(
    truth: Annotated[Path, typer.Option("--truth", help="CSV with source, record_key, person_id.")],
    identified_only: Annotated[
        bool,
        typer.Option(
            "--identified-only",
            help="Score only records that carry evidence (an identifier beyond anonymous and"
            " device ids in their component, or a name).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Score the profiles against a truth file: pairwise precision, recall, F1; cluster scores."""
    from profilo.identity import evaluate_clusters, read_truth

    with _opened() as store:
        result = evaluate_clusters(store, read_truth(truth), identified_only=identified_only)
    if as_json:
        _print_json(result.as_dict())
        return
    out.print(
        f"{result.records:,} records of {result.people:,} people in {result.profiles:,} profiles\n"
        f"pairwise  precision {result.precision:.4f}  recall {result.recall:.4f}  F1 {result.f1:.4f}"
        f"  ({result.correct_pairs:,} of {result.predicted_pairs:,} predicted pairs right,"
        f" {result.true_pairs:,} true pairs)\n"
        f"clusters  exact {result.exact_clusters:,} ({result.exact_cluster_share:.1%})"
        f"  B-cubed precision {result.bcubed_precision:.4f}  recall {result.bcubed_recall:.4f}\n"
        f"records only in the truth: {result.records_only_in_truth:,}; only in the graph:"
        f" {result.records_only_in_graph:,}"
    )


@identity_app.command("clusters")
def identity_clusters(
    out_file: Annotated[
        Path, typer.Option("--out", help="CSV to write: source, record_key, profile_id.")
    ],
) -> None:
    """Write every record with its profile, so any outside tool can score the result."""
    from profilo.identity import write_clusters

    with _opened() as store:
        n = write_clusters(store, out_file)
    out.print(f"{n:,} records written to {out_file}")


# -- the tracking API: serve, sources, plans, quarantine -------------------------------------------

source_app = typer.Typer(help="Tracking sources: write keys, tracking plans.", no_args_is_help=True)
quarantine_app = typer.Typer(
    help="Messages that failed validation: list, fix, replay.", no_args_is_help=True
)
app.add_typer(source_app, name="source")
app.add_typer(quarantine_app, name="quarantine")


def _local_or_server(local: Callable[[Any], Any], remote: Callable[[Any], Any]) -> Any:
    """Run ``local(store)``; when a running ``profilo serve`` holds the DuckDB file, ask it."""
    from profilo.api.client import find_server
    from profilo.errors import StoreError

    try:
        with _opened(migrate=True) as store:
            return local(store)
    except StoreError:
        server = find_server(state.store_url, state.workspace)
        if server is None:
            raise
        return remote(server)


def _status_report() -> dict[str, Any]:
    from profilo.collect.stats import collect_status

    report: dict[str, Any] = _local_or_server(collect_status, lambda s: s.call("GET", "/status"))
    return report


def _print_collect(report: dict[str, Any]) -> None:
    counters = ("received", "stored", "duplicates", "conflicts", "quarantined")
    counted = {n: c["collect"] for n, c in report["sources"].items() if c.get("collect")}
    if counted:
        table = Table(title="tracking API per source", title_justify="left")
        table.add_column("source")
        for col in counters:
            table.add_column(col, justify="right")
        for name, c in counted.items():
            table.add_row(name, *(f"{c[k]:,}" for k in counters))
        out.print(table)
    server = report.get("server")
    if server:
        out.print(
            f"served by pid {server['pid']} · spool {server['spool']}"
            f" · {server['spool_backlog_bytes']:,} bytes not yet stored"
        )
        pipeline = server.get("pipeline")
        if pipeline and pipeline.get("every"):
            last = pipeline.get("last_started_at") or "never"
            outcome = pipeline.get("last_result") or "none yet"
            if pipeline.get("last_error"):
                outcome += f" ({pipeline['last_error']})"
            out.print(
                f"automatic pipeline every {pipeline['every']:g} s · last run {last}: {outcome}"
                f" · {pipeline['runs']:,} runs, {pipeline['failures']:,} failed"
                + (" · messages waiting for the next run" if pipeline.get("pending") else ""),
                highlight=False,
            )


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on; env PROFILO_HOST.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port; env PROFILO_PORT.")] = None,
    spool: Annotated[
        Path | None, typer.Option(help="Spool directory (one per server); env PROFILO_SPOOL_DIR.")
    ] = None,
    ceiling: Annotated[
        bool, typer.Option(hidden=True, help="Add the benchmark's parse-only endpoint.")
    ] = False,
) -> None:
    """Serve the Segment-compatible tracking API (and the admin API) until interrupted."""
    from profilo.api import ServeSettings
    from profilo.api import serve as run

    given: dict[str, Any] = {"store": state.store_url, "workspace": state.workspace}
    for name, value in (("host", host), ("port", port), ("spool_dir", spool)):
        if value is not None:
            given[name] = value
    run(ServeSettings(**given), ceiling_endpoint=ceiling)


@source_app.command("add")
def source_add(
    name: Annotated[str, typer.Argument(help="Source name (letters, digits, _ - .).")],
    kind: Annotated[str, typer.Option(help="web, app, server, shop, webhook, crm, …")] = "server",
    party: Annotated[str, typer.Option(help="first, second or third party.")] = "first",
    rate_limit: Annotated[
        float | None, typer.Option(help="Messages per second for its key (0: none).")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="Webhook mapping (YAML or JSON) for a webhook source.")
    ] = None,
    rotate_key: Annotated[bool, typer.Option(help="Issue a new write key.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a tracking source and print its write key."""
    from profilo.collect.sources import add_source

    args: dict[str, Any] = {
        "kind": kind,
        "party": party,
        "rate_limit": rate_limit,
        "webhook": _read_document(mapping) if mapping else None,
        "rotate_key": rotate_key,
    }
    created = _local_or_server(
        lambda store: add_source(store, name, **args),
        lambda server: server.call("POST", "/sources", json={"name": name, **args}),
    )
    if as_json:
        _print_json(created)
    else:
        out.print(
            f"source {created['source']} ({created['kind']}): write key {created['write_key']}"
        )


@source_app.command("list")
def source_list(as_json: JsonOpt = False) -> None:
    """Every source, with the write keys of tracking sources."""
    from profilo.collect.sources import list_sources

    rows = _local_or_server(list_sources, lambda server: server.call("GET", "/sources"))
    if as_json:
        _print_json(rows)
        return
    table = Table(title="sources", title_justify="left")
    for col in ("source", "kind", "party", "origin", "write key", "plan"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row["source"],
            row["kind"],
            row["party"],
            row["origin"],
            row["write_key"] or "—",
            "yes" if row["tracking_plan"] else "—",
        )
    out.print(table)


def _read_document(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfiloError(f"cannot read {path}: {exc}") from None


@source_app.command("plan")
def source_plan(
    name: Annotated[str, typer.Argument(help="Source name.")],
    plan: Annotated[Path | None, typer.Argument(help="Tracking plan (YAML or JSON).")] = None,
    remove: Annotated[bool, typer.Option(help="Remove the source's plan.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show, set or remove a source's tracking plan."""
    from profilo.collect.sources import get_plan, set_plan

    if plan is None and not remove:
        shown = _local_or_server(
            lambda store: get_plan(store, name),
            lambda server: server.call("GET", f"/sources/{name}/plan"),
        )
        _print_json(shown)
        return
    document = None if remove or plan is None else _read_document(plan)
    result = _local_or_server(
        lambda store: set_plan(store, name, document).model_dump(exclude_none=True),
        lambda server: (
            server.call("DELETE", f"/sources/{name}/plan")
            if remove
            else server.call("PUT", f"/sources/{name}/plan", json=document)
        ),
    )
    if as_json:
        _print_json(result)
    else:
        out.print(f"tracking plan of {name} {'removed' if remove else 'set'}")


@quarantine_app.command("list")
def quarantine_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    status: Annotated[str, typer.Option(help="open, replayed, conflict or all.")] = "open",
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Quarantined messages, oldest first."""
    from profilo.collect.quarantine import list_quarantine

    wanted = None if status == "all" else status
    query = {"source": source, "reason": reason, "status": wanted, "limit": limit}
    rows = _local_or_server(
        lambda store: list_quarantine(
            store, source=source, reason=reason, status=wanted, limit=limit
        ),
        lambda server: server.call(
            "GET", "/quarantine", params={k: v for k, v in query.items() if v is not None}
        ),
    )
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"quarantine ({len(rows)})", title_justify="left")
    for col in ("id", "source", "reason", "field", "received", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row["quarantine_id"],
            row["source"],
            row["reason"],
            row["field"] or "",
            str(row["received_at"])[:19],
            (row["detail"] or "")[:60],
        )
    out.print(table)


@quarantine_app.command("fix")
def quarantine_fix(
    quarantine_id: Annotated[str, typer.Argument(help="Id from `quarantine list`.")],
    raw: Annotated[str | None, typer.Option(help="The corrected message as JSON.")] = None,
    file: Annotated[Path | None, typer.Option(help="A file holding the corrected message.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a quarantined message's JSON (then `quarantine replay` it)."""
    from profilo.collect.quarantine import fix_quarantined

    text = raw if raw is not None else file.read_text() if file else None
    if text is None:
        raise ProfiloError("give the corrected message with --raw JSON or --file PATH")
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProfiloError(f"the corrected message is not valid JSON: {exc}") from None
    row = _local_or_server(
        lambda store: fix_quarantined(store, quarantine_id, message),
        lambda server: server.call("PUT", f"/quarantine/{quarantine_id}", json={"raw": message}),
    )
    if as_json:
        _print_json(row)
    else:
        out.print(f"{quarantine_id} fixed; run `profilo quarantine replay {quarantine_id}`")


@quarantine_app.command("replay")
def quarantine_replay(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Ids to replay (default: all open).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check open quarantined messages again and store those that now pass."""
    from profilo.collect.quarantine import replay_quarantined

    chosen = list(ids) if ids else None
    result = _local_or_server(
        lambda store: replay_quarantined(store, ids=chosen, source=source, reason=reason),
        lambda server: server.call(
            "POST", "/quarantine/replay", json={"ids": chosen, "source": source, "reason": reason}
        ),
    )
    if as_json:
        _print_json(result)
    else:
        out.print(
            f"{result['checked']} checked: {result['replayed']} replayed ({result['stored']} stored,"
            f" {result['duplicates']} already stored), {result['still_invalid']} still invalid"
        )


# -- profiles, computed traits and segments ------------------------------------------------------

profile_app = typer.Typer(
    help="Profiles: 360° view, timeline, search, refresh.", no_args_is_help=True
)
trait_app = typer.Typer(help="Computed traits declared as data.", no_args_is_help=True)
segment_app = typer.Typer(
    help="Segments: rules, sizes, members, runs, the outbox.", no_args_is_help=True
)
app.add_typer(profile_app, name="profile")
app.add_typer(trait_app, name="trait")
app.add_typer(segment_app, name="segment")

AsOfOpt = Annotated[
    datetime | None,
    typer.Option("--as-of", help="Count windows back from this time (default: now)."),
]


def _as_of(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@profile_app.command("show")
def profile_show(
    reference: Annotated[str, typer.Argument(help="Profile id or type:value (email:ana@x.fr).")],
    timeline_limit: Annotated[int, typer.Option("--timeline", help="Events to show.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The 360° view of a profile: traits with lineage, identities, consents, segments, events."""
    from profilo.profiles import find_profile, profile_view

    with _opened() as store:
        view = profile_view(store, find_profile(store, reference), timeline_limit=timeline_limit)
    if as_json:
        _print_json(view)
        return
    out.print(
        f"[bold]{view['profile_id']}[/bold] · {view['records']} records from"
        f" {', '.join(view['sources'])} · seen {view['first_seen']} → {view['last_seen']}"
    )
    traits = Table(title="traits", title_justify="left")
    for col in ("trait", "value", "source", "rule", "conflict"):
        traits.add_column(col)
    for name, t in view["traits"].items():
        traits.add_row(
            name, str(t["value"]), str(t["source"]), t["rule"], "yes" if t["conflict"] else ""
        )
    out.print(traits)
    out.print(
        "identities: " + ", ".join(f"{i['id_type']}:{i['value']}" for i in view["identities"])
    )
    out.print("consents: " + ", ".join(f"{p} {c['status']}" for p, c in view["consents"].items()))
    out.print(
        "computed: " + ", ".join(f"{n}={c['value']}" for n, c in view["computed_traits"].items())
    )
    out.print("segments: " + ", ".join(s["segment"] for s in view["segments"]))
    for e in view["timeline"]["events"]:
        out.print(f"  {e['timestamp']}  {e['source']:>18}  {e['type']:<8} {e['event'] or ''}")


@profile_app.command("timeline")
def profile_timeline(
    reference: Annotated[str, typer.Argument(help="Profile id or type:value.")],
    limit: Annotated[int, typer.Option(help="Events per page.")] = 50,
    before: Annotated[str | None, typer.Option(help="Cursor of the page (from 'next').")] = None,
    as_json: JsonOpt = False,
) -> None:
    """A page of the profile's events from every source, newest first."""
    from profilo.profiles import find_profile, timeline

    with _opened() as store:
        page = timeline(store, find_profile(store, reference), limit=limit, before=before)
    if as_json:
        _print_json(page)
        return
    for e in page["events"]:
        out.print(f"{e['timestamp']}  {e['source']:>18}  {e['type']:<8} {e['event'] or ''}")
    if page["next"]:
        out.print(f"more: --before {page['next']}")


@profile_app.command("search")
def profile_search(
    query: Annotated[str, typer.Argument(help="Start of a name, an e-mail or a phone number.")],
    limit: Annotated[int, typer.Option(help="At most this many profiles.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Profiles whose name, e-mail or phone starts with QUERY."""
    from profilo.profiles import search_profiles

    with _opened() as store:
        hits = search_profiles(store, query, limit=limit)
    if as_json:
        _print_json(hits)
        return
    for hit in hits:
        matched = ", ".join(f"{m['field']}={m['value']}" for m in hit["matches"])
        out.print(f"{hit['profile_id']}  {hit.get('name') or ''}  ({matched})")


@profile_app.command("refresh")
def profile_refresh(
    full: Annotated[bool, typer.Option(help="Rebuild everything instead of what changed.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring events by profile, consents, computed traits and memberships up to date."""
    from profilo.audiences.refresh import update_audiences

    with _opened(migrate=True) as store:
        report = update_audiences(store, full=full)
    if as_json:
        _print_json(report)
    else:
        out.print(report)


@trait_app.command("add")
def trait_add(
    name: Annotated[str, typer.Argument(help="Trait name (lower case, digits, _).")],
    definition: Annotated[Path, typer.Option("--def", help="YAML or JSON definition file.")],
    as_json: JsonOpt = False,
) -> None:
    """Create or change a computed trait and compute it (a changed definition rebuilds it only)."""
    from profilo.profiles import load_trait_file, save_trait

    (parsed,) = load_trait_file(definition, name=name)
    with _opened(migrate=True) as store:
        changed = save_trait(store, parsed)
    result = {"trait": name, "changed": changed, "value_kind": parsed.value_kind}
    if as_json:
        _print_json(result)
    else:
        out.print(f"trait {name}: {'changed and computed' if changed else 'unchanged'}")


@trait_app.command("list")
def trait_list(as_json: JsonOpt = False) -> None:
    """Every computed trait definition."""
    from profilo.profiles import list_traits

    with _opened() as store:
        defs = [d.model_dump(mode="json", exclude_defaults=True) for d in list_traits(store)]
    if as_json:
        _print_json(defs)
    else:
        for d in defs:
            out.print(f"{d['name']}: {d['aggregate']} of {d.get('events') or d.get('type')}")


@trait_app.command("remove")
def trait_remove(name: Annotated[str, typer.Argument(help="Trait name.")]) -> None:
    """Delete a computed trait and its values."""
    from profilo.profiles import remove_trait

    with _opened() as store:
        remove_trait(store, name)
    out.print(f"trait {name} removed")


@trait_app.command("refresh")
def trait_refresh(
    names: Annotated[list[str] | None, typer.Argument(help="Traits (default: all).")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute computed traits for every profile."""
    from profilo.profiles import refresh_traits

    with _opened() as store:
        report = refresh_traits(store, names or None, as_of=_as_of(as_of)).as_dict()
    if as_json:
        _print_json(report)
    else:
        out.print(report)


def _rule_source(value: str) -> Any:
    """A rule given as text, as JSON, or as a file holding either (YAML too)."""
    path = Path(value)
    if (
        len(value) < 4096
        and path.suffix in (".json", ".yaml", ".yml", ".txt", ".rule")
        and path.is_file()
    ):
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(text)
        return text
    return value


@segment_app.command("add")
def segment_add(
    name: Annotated[str, typer.Argument(help="Segment name (lower case, digits, _).")],
    rule: Annotated[str, typer.Option(help="Rule as text, JSON, or a .json/.yaml/.txt file.")],
    description: Annotated[str, typer.Option(help="What the segment is for.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create or change a segment (checked against the workspace; members follow at its next run)."""
    from profilo.audiences import save_segment

    with _opened(migrate=True) as store:
        segment = save_segment(store, name, _rule_source(rule), description=description)
    if as_json:
        _print_json(segment.as_dict())
    else:
        out.print(f"segment {segment.name}: {segment.text}")


@segment_app.command("list")
def segment_list(as_json: JsonOpt = False) -> None:
    """Every segment with its rule and last size."""
    from profilo.audiences import list_segments

    with _opened() as store:
        found = [s.as_dict() for s in list_segments(store)]
    if as_json:
        _print_json(found)
    else:
        for s in found:
            size = "not run yet" if s["members"] is None else f"{s['members']:,} members"
            out.print(f"{s['name']} ({size}): {s['text']}")


@segment_app.command("remove")
def segment_remove(name: Annotated[str, typer.Argument(help="Segment name.")]) -> None:
    """Delete a segment and its current memberships (the history stays)."""
    from profilo.audiences import remove_segment

    with _opened() as store:
        remove_segment(store, name)
    out.print(f"segment {name} removed")


@segment_app.command("size")
def segment_size(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    fresh: Annotated[bool, typer.Option(help="Run the rule now instead of the last run.")] = False,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many members a segment has (last run, or now with --fresh)."""
    from profilo.audiences import estimate_size, get_segment

    with _opened() as store:
        segment = get_segment(store, name)
        if fresh or segment.members is None or as_of is not None:
            result = {
                "segment": name,
                "members": estimate_size(store, segment.rule, as_of=_as_of(as_of)),
                "as_of": (_as_of(as_of) or datetime.now(UTC)).isoformat(),
            }
        else:
            result = {
                "segment": name,
                "members": segment.members,
                "as_of": "last run",
                "evaluated_at": segment.evaluated_at,
            }
    if as_json:
        _print_json(result)
    else:
        out.print(f"{name}: {result['members']:,} members ({result['as_of']})")


@segment_app.command("members")
def segment_members_command(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    limit: Annotated[int, typer.Option(help="At most this many.")] = 1000,
    after: Annotated[str | None, typer.Option(help="Start after this profile id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Members of a segment as of its last run, by profile id."""
    from profilo.audiences.memberships import segment_members

    with _opened() as store:
        ids = segment_members(store, name, limit=limit, after=after)
    if as_json:
        _print_json(
            {"segment": name, "members": ids, "next": ids[-1] if len(ids) == limit else None}
        )
    else:
        for pid in ids:
            out.print(pid)


@segment_app.command("preview")
def segment_preview(
    rule: Annotated[str, typer.Option(help="Rule as text, JSON, or a file.")],
    limit: Annotated[int, typer.Option(help="Members to show.")] = 10,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Size and first members of a rule, without storing it."""
    from profilo.audiences import estimate_size, preview_members, read_rule, rule_text

    with _opened() as store:
        parsed = read_rule(_rule_source(rule))
        size = estimate_size(store, parsed, as_of=_as_of(as_of))
        members = preview_members(store, parsed, limit=limit, as_of=_as_of(as_of)).to_pylist()
    result = {"text": rule_text(parsed), "size": size, "members": members}
    if as_json:
        _print_json(result)
    else:
        out.print(f"{size:,} profiles: {result['text']}")
        for m in members:
            out.print(f"  {m['profile_id']}  {m['traits']}")


@segment_app.command("overlap")
def segment_overlap(
    first: Annotated[str, typer.Argument(help="A segment.")],
    second: Annotated[str, typer.Argument(help="Another segment.")],
    fresh: Annotated[bool, typer.Option(help="Run both rules now.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Members in each of two segments, in both and in one only."""
    from profilo.audiences import overlap

    with _opened() as store:
        result = overlap(store, first, second, stored=not fresh)
    if as_json:
        _print_json(result)
    else:
        out.print(
            f"{first}: {result['first']['members']:,} · {second}: {result['second']['members']:,}"
            f" · both: {result['both']:,} (Jaccard {result['jaccard']})"
        )


@segment_app.command("run")
def segment_run(
    names: Annotated[list[str] | None, typer.Argument(help="Segments (default: all).")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate segments and record who entered and who left (history and outbox)."""
    from profilo.audiences import evaluate_segments

    with _opened() as store:
        run = evaluate_segments(store, names or None, as_of=_as_of(as_of)).as_dict()
    if as_json:
        _print_json(run)
        return
    for name, s in run["segments"].items():
        out.print(
            f"{name}: {s['members']:,} members, +{s['entered']:,} −{s['exited']:,} ({s['seconds']} s)"
        )


@segment_app.command("outbox")
def segment_outbox(
    after: Annotated[int, typer.Option(help="Messages after this position.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Pending entries and exits for activation, in order."""
    from profilo.audiences import read_outbox

    with _opened() as store:
        messages = read_outbox(store, after=after, limit=limit)
    if as_json:
        _print_json(messages)
    else:
        for m in messages:
            out.print(
                f"{m['position']:>8}  {m['changed_at']}  {m['change']:<5} {m['segment']}  {m['profile_id']}"
            )


from profilo.cli.access import user_app  # noqa: E402  (it imports the helpers above)

app.add_typer(user_app, name="user")

from profilo.cli.activate import destination_app, sync_command  # noqa: E402

app.add_typer(destination_app, name="destination")
app.command("sync")(sync_command)

from profilo.cli.personalise import personalise_app  # noqa: E402

app.add_typer(personalise_app, name="personalise")


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
