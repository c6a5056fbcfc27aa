"""Probabilistic matching: a Fellegi–Sunter model (Splink) for records that share no identifier.

:class:`MatchModel` says which fields to compare and how (names with Jaro–Winkler, dates of birth
with typos and swapped day and month, phones and ids with Damerau–Levenshtein, e-mails, exact
fields), which blocking rules generate candidate pairs and which rules train the model. The model is
trained without labels on each run (prior from deterministic rules, ``u`` from random pairs, ``m``
by expectation maximisation) and scores candidate pairs; :func:`score_pairs` is the engine and is
what the FEBRL benchmark runs too.

:func:`match_records` applies it to the store: person records (anything with a name) are scored;
pairs above the *merge* threshold join (as links of the pseudo identifier type ``match``, which
the graph's limits still check), pairs above the *review* threshold wait in the review queue, the
rest stay apart. Every pair keeps its evidence: each comparison's level and match weight.
A person's decisions (accept, reject, never the same) survive every later run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from profilo.errors import ConfigError, NotFound
from profilo.identity.merges import RecordRef, mark_never_same
from profilo.identity.rules import IdentityRules, load_rules
from profilo.store import Store, new_id

_log = logging.getLogger(__name__)

__all__ = [
    "PERSON_MODEL",
    "MatchField",
    "MatchModel",
    "MatchReport",
    "decide_pair",
    "match_records",
    "person_records",
    "review_queue",
    "score_pairs",
]

FieldKind = Literal["name", "date", "phone", "email", "exact", "code", "text"]


class MatchField(BaseModel):
    """One compared field: its column and how to compare it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    kind: FieldKind
    term_frequencies: bool = False
    date_format: str = "%Y-%m-%d"


class MatchModel(BaseModel):
    """What to compare, how to find candidate pairs and how to train."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: tuple[MatchField, ...]
    blocking: tuple[tuple[str, ...] | str, ...]
    """Candidate pairs: records equal on all columns of one rule (or an SQL condition on l., r.)."""
    deterministic: tuple[tuple[str, ...] | str, ...]
    """Rules almost sure to find matches, to estimate how often two random records match."""
    deterministic_recall: float = 0.8
    training: tuple[tuple[str, ...] | str, ...]
    """Blocking rules for the expectation-maximisation sessions that learn ``m``."""
    link_type: Literal["dedupe_only", "link_only", "link_and_dedupe"] = "dedupe_only"
    unique_id: str = "unique_id"
    u_pairs: int = 1_000_000
    seed: int = 42
    corroborating: tuple[str, ...] = ()
    """For an automatic merge, at least one of these fields must agree (weigh for the match):
    two people who share only a name go to review, however rare the name."""


def _rule(rule: tuple[str, ...] | str) -> Any:
    from splink import block_on

    return block_on(*rule) if isinstance(rule, tuple) else rule


def _comparison(f: MatchField) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    col = f.column
    comparison: Any
    if f.kind == "name":
        comparison = cl.NameComparison(col)
    elif f.kind == "date":
        # exact, one typo, day and month swapped, then closeness in time
        swapped = cll.CustomLevel(
            f"strftime(try_strptime({col}_l, '{f.date_format}'), '%Y-%d-%m')"
            f" = strftime(try_strptime({col}_r, '{f.date_format}'), '%Y-%m-%d')",
            label_for_charts="day and month swapped",
        )
        comparison = cl.CustomComparison(
            output_column_name=col,
            comparison_levels=[
                cll.NullLevel(col),
                cll.ExactMatchLevel(col),
                cll.DamerauLevenshteinLevel(col, 1),
                swapped,
                cll.LevenshteinLevel(col, 2),
                cll.ElseLevel(),
            ],
        )
    elif f.kind == "phone":
        comparison = cl.DamerauLevenshteinAtThresholds(col, [1, 2])
    elif f.kind == "email":
        comparison = cl.EmailComparison(col)
    elif f.kind == "code":
        comparison = cl.DamerauLevenshteinAtThresholds(col, [1, 2])
    elif f.kind == "text":
        comparison = cl.JaroWinklerAtThresholds(col, [0.95, 0.88])
    else:
        comparison = cl.ExactMatch(col)
    if f.term_frequencies:
        comparison = comparison.configure(term_frequency_adjustments=True)
    return comparison


_VANISHING_M = 1e-100
"""An m this small says a level (almost) never holds a match: EM only drives it further down."""


def _hold_vanishing_m(linker: Any) -> int:
    """Fix (keep as they are) the m of levels earlier sessions drove towards zero; how many."""
    held = 0
    for comparison in linker._settings_obj.comparisons:  # Splink has no public setter for this
        for level in comparison._comparison_levels_excluding_null:
            m = level.m_probability
            if isinstance(m, float) and m < _VANISHING_M and not level._fix_m_probability:
                level._fix_m_probability = True
                held += 1
    return held


def _train(linker: Any, rule: tuple[str, ...] | str) -> None:
    """One expectation-maximisation session. A level with (almost) no matches in the block can
    drive m below what a float holds, and Splink then drops the whole session, leaving the
    blocked field's m at Splink's defaults. The session is run again with those levels' m held;
    only if it fails again is it skipped (the other sessions, or the defaults, give m)."""
    for attempt in (1, 2):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                _rule(rule), estimate_without_term_frequencies=True
            )
            return
        except ValueError as exc:
            if attempt == 2 or not _hold_vanishing_m(linker):
                _log.warning("matching: training session on %s skipped: %s", rule, exc)
                return
            _log.info("matching: training session on %s again, near-zero m held", rule)


def score_pairs(
    db_api: Any, tables: Sequence[pa.Table], model: MatchModel, threshold: float
) -> pa.Table:
    """Train the model on ``tables`` and return the candidate pairs scored at least ``threshold``.

    Columns: ``<unique_id>_l``, ``<unique_id>_r``, ``match_weight``, ``match_probability`` and,
    per field, ``mw_<field>`` (its match weight, log2 of the Bayes factor) and, with term
    frequencies, ``mw_tf_adj_<field>``.
    """
    from splink import Linker, SettingsCreator

    logging.getLogger("splink").setLevel(logging.WARNING)
    settings = SettingsCreator(
        unique_id_column_name=model.unique_id,
        link_type=model.link_type,
        blocking_rules_to_generate_predictions=[_rule(r) for r in model.blocking],
        comparisons=[_comparison(f) for f in model.fields],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=False,
    )
    frames = [db_api.register(t) for t in tables]
    linker = Linker(frames if len(frames) > 1 else frames[0], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [_rule(r) for r in model.deterministic], recall=model.deterministic_recall
    )
    model_settings = linker._settings_obj  # Splink offers no public reader for the prior
    if not model_settings._probability_two_random_records_match > 0:
        # the sure rules found nothing (say, every phone mistyped): assume each record has about
        # one match among the others rather than none at all
        rows = sum(t.num_rows for t in tables)
        model_settings._probability_two_random_records_match = 1 / max(rows, 2)
    linker.training.estimate_u_using_random_sampling(max_pairs=model.u_pairs, seed=model.seed)
    for rule in model.training:
        _train(linker, rule)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    keep = [
        f"{model.unique_id}_l",
        f"{model.unique_id}_r",
        "match_weight",
        "match_probability",
    ]
    for f in model.fields:
        keep += [f"mw_{f.column}", f"mw_tf_adj_{f.column}"]
    result: pa.Table = predictions.as_duckdbpyrelation().arrow()
    if isinstance(result, pa.RecordBatchReader):
        result = result.read_all()
    result = result.select([c for c in keep if c in result.column_names])
    db_api.delete_tables_created_by_splink_from_db()
    return result


PERSON_MODEL = MatchModel(
    fields=(
        MatchField(column="first_name", kind="name", term_frequencies=True),
        MatchField(column="last_name", kind="name", term_frequencies=True),
        MatchField(column="birth_date", kind="date"),
        MatchField(column="postal_code", kind="exact", term_frequencies=True),
        MatchField(column="city", kind="exact", term_frequencies=True),
        MatchField(column="street", kind="text"),
        MatchField(column="phone", kind="phone"),
    ),
    blocking=(
        ("last_name", "first_name"),
        ("last_name", "postal_code"),
        ("phone",),
        ("birth_date", "last_name"),
        "l.first_name = r.last_name and l.last_name = r.first_name",
        ("substr(phone, 1, 8)", "first_name"),
    ),
    deterministic=(("first_name", "last_name", "birth_date"), ("first_name", "last_name", "phone")),
    deterministic_recall=0.7,
    training=(("last_name",), ("first_name",)),
    corroborating=("birth_date", "street", "phone"),
)
"""Profilo's default model for people. E-mails are left out on purpose: equal e-mails already
join through the graph (or were kept apart by a limit, which a match must not undo), and similar
ones mostly repeat what the names say (``anne.roux@…``), counting the same evidence twice."""

_PERSON_TRAITS = ("first_name", "last_name", "birth_date", "postal_code", "city", "street")


def person_records(store: Store) -> pa.Table:
    """Every record that names a person, one row each, with its fields for matching."""
    traits = store.table("observed_traits")
    traits = traits.filter(
        traits.is_valid.fill_null(False), traits.trait.isin(_PERSON_TRAITS), traits.value.notnull()
    )
    text = ibis.coalesce(traits.match_key, traits.value)
    wide = traits.group_by(["source", "record_key"]).aggregate(
        **{name: ibis.ifelse(traits.trait == name, text, None).max() for name in _PERSON_TRAITS}
    )
    wide = wide.filter(wide.last_name.notnull() | wide.first_name.notnull())
    ids = store.table("observed_identifiers")
    contact = (
        ids.filter(ids.id_type.isin(("phone", "email")), ids.value.notnull())
        .group_by(["source", "record_key"])
        .aggregate(
            phone=ibis.ifelse(ids.id_type == "phone", ids.value, None).min(),
            email=ibis.ifelse(ids.id_type == "email", ids.value, None).min(),
        )
    )
    graph = store.table("identity_records").select("source", "record_key", "profile_id")
    joined = wide.left_join(contact, ["source", "record_key"]).select(
        wide, contact.phone, contact.email
    )
    joined = joined.left_join(graph, ["source", "record_key"]).select(joined, graph.profile_id)
    table = store.to_arrow(joined.order_by(["source", "record_key"]))
    uid = pc.binary_join_element_wise(table.column("source"), table.column("record_key"), "\x1f")
    return table.append_column("unique_id", uid)


@dataclass
class MatchReport:
    """What one matching run did."""

    records: int = 0
    pairs_scored: int = 0
    merged: int = 0
    review: int = 0
    kept_by_decision: int = 0
    seconds: float = 0.0
    touched: pa.Table | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("touched")
        return data


def _pair_id(a: str, b: str) -> str:
    first, second = sorted([a, b])
    return "mp_" + hashlib.blake2b(f"{first}\x1e{second}".encode(), digest_size=8).hexdigest()


def _evidence(row: dict[str, Any], model: MatchModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in model.fields:
        weight = row.get(f"mw_{f.column}")
        adjust = row.get(f"mw_tf_adj_{f.column}")
        if weight is not None and adjust is not None:
            weight += adjust
        out[f.column] = {
            "weight": round(weight, 3) if weight is not None else None,
            "left": row.get(f"{f.column}_l"),
            "right": row.get(f"{f.column}_r"),
        }
    return out


def match_records(
    store: Store, rules: IdentityRules | None = None, model: MatchModel = PERSON_MODEL
) -> MatchReport:
    """Score person records, store the pairs (merge / review) and return the touched records."""
    started = time.perf_counter()
    rules = rules or load_rules(store)
    report = MatchReport()
    store.analyze("observed_traits", "observed_identifiers", "identity_records", "match_pairs")
    people = person_records(store)
    report.records = people.num_rows
    known = store.table("match_pairs")
    old = store.to_arrow(
        known.select("pair_id", "status", "source_l", "record_key_l", "source_r", "record_key_r")
    )
    if people.num_rows < 2:
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    fields = ["unique_id", *(f.column for f in model.fields)]
    for name in fields:
        if name not in people.column_names:
            raise ConfigError(f"matching field {name!r} is not a person trait or identifier")
    pairs = score_pairs(
        store.splink_db_api(), [people.select(fields)], model, rules.thresholds.review
    )
    report.pairs_scored = pairs.num_rows
    by_id = {
        u: (s, k, p)
        for u, s, k, p in zip(
            people.column("unique_id").to_pylist(),
            people.column("source").to_pylist(),
            people.column("record_key").to_pylist(),
            people.column("profile_id").to_pylist(),
            strict=True,
        )
    }
    decided = {
        pid: status
        for pid, status in zip(
            old.column("pair_id").to_pylist(), old.column("status").to_pylist(), strict=True
        )
        if status in ("accepted", "rejected")
    }
    over = store.table("identity_overrides")
    never_rows = store.to_arrow(
        over.select("source_l", "record_key_l", "source_r", "record_key_r")
    ).to_pylist()
    never = {
        _pair_id(
            f"{r['source_l']}\x1f{r['record_key_l']}", f"{r['source_r']}\x1f{r['record_key_r']}"
        )
        for r in never_rows
    }
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    data = pairs.to_pylist()
    people_rows = {r["unique_id"]: r for r in people.select(fields).to_pylist()}
    for row in data:
        left, right = row["unique_id_l"], row["unique_id_r"]
        (sl, kl, pl), (sr, kr, pr) = by_id[left], by_id[right]
        pid = _pair_id(left, right)
        if pid in decided or pid in never:
            report.kept_by_decision += 1
            continue
        prob = float(row["match_probability"])
        for f in model.fields:
            row[f"{f.column}_l"] = people_rows[left].get(f.column)
            row[f"{f.column}_r"] = people_rows[right].get(f.column)
        evidence = _evidence(row, model)
        corroborated = not model.corroborating or any(
            (evidence[c]["weight"] or 0.0) > 0 for c in model.corroborating
        )
        outcome = "merge" if prob >= rules.thresholds.merge and corroborated else "review"
        if outcome == "review" and pl is not None and pl == pr:
            continue  # already one profile: nothing for a person to decide
        rows.append(
            {
                "pair_id": pid,
                "source_l": sl,
                "record_key_l": kl,
                "source_r": sr,
                "record_key_r": kr,
                "match_weight": float(row["match_weight"]),
                "match_probability": prob,
                "outcome": outcome,
                "status": "auto" if outcome == "merge" else "pending",
                "evidence": evidence,
                "scored_at": now,
            }
        )
    report.merged = sum(r["outcome"] == "merge" for r in rows)
    report.review = len(rows) - report.merged
    new = pa.Table.from_pylist(rows) if rows else None
    undecided = old.filter(pc.is_in(old.column("status"), pa.array(["auto", "pending"])))
    with store.transaction():
        store.replace_rows("match_pairs", None, match=undecided.select(["pair_id"]))
        store.replace_rows("match_pairs", new)
    # records whose links changed: auto pairs that appeared or went away
    was_auto = undecided.filter(pc.equal(undecided.column("status"), "auto"))
    now_auto = {r["pair_id"] for r in rows if r["status"] == "auto"}
    old_auto = set(was_auto.column("pair_id").to_pylist())
    changed = [r for r in rows if r["pair_id"] in now_auto - old_auto]
    gone = [r for r in was_auto.to_pylist() if r["pair_id"] not in now_auto]
    refs = [(r["source_l"], r["record_key_l"]) for r in changed + gone]
    refs += [(r["source_r"], r["record_key_r"]) for r in changed + gone]
    report.touched = pa.table(
        {"source": [s for s, _ in refs], "record_key": [k for _, k in refs]},
        schema=pa.schema([("source", pa.string()), ("record_key", pa.string())]),
    )
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def review_queue(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Pairs waiting for a person, most likely first."""
    pairs = store.table("match_pairs")
    pending = pairs.filter(pairs.status == "pending").order_by(ibis.desc("match_probability"))
    rows = []
    for row in store.to_arrow(pending.limit(limit)).to_pylist():
        row.pop("workspace_id", None)
        if isinstance(row.get("evidence"), str):
            row["evidence"] = json.loads(row["evidence"])
        rows.append(row)
    return rows


def decide_pair(
    store: Store,
    pair_id: str,
    *,
    accept: bool,
    by: str = "cli",
    reason: str | None = None,
    rules: IdentityRules | None = None,
) -> dict[str, Any]:
    """Accept a pair (its records join) or reject it (they are never the same), then re-resolve."""
    from profilo.identity.resolve import resolve_identities

    pairs = store.table("match_pairs")
    found = store.to_arrow(pairs.filter(pairs.pair_id == pair_id)).to_pylist()
    if not found:
        raise NotFound(f"match pair {pair_id!r} does not exist; see `profilo identity review`")
    pair = found[0]
    left: RecordRef = (pair["source_l"], pair["record_key_l"])
    right: RecordRef = (pair["source_r"], pair["record_key_r"])
    pair.pop("workspace_id", None)
    pair.update(
        status="accepted" if accept else "rejected", decided_at=datetime.now(UTC), decided_by=by
    )
    table = pa.Table.from_pylist([pair])
    store.replace_rows("match_pairs", table, match=table.select(["pair_id"]))
    store.replace_rows(
        "merges",
        pa.Table.from_pylist(
            [
                {
                    "merge_id": new_id(),
                    "run_id": "manual",
                    "kind": "review_accept" if accept else "review_reject",
                    "rule": "match",
                    "score": pair["match_weight"],
                    "evidence": {
                        "pair_id": pair_id,
                        "left": ":".join(left),
                        "right": ":".join(right),
                        "reason": reason,
                    },
                    "created_at": datetime.now(UTC),
                    "created_by": by,
                }
            ]
        ),
    )
    if accept:
        touched = pa.table({"source": [left[0], right[0]], "record_key": [left[1], right[1]]})
        report = resolve_identities(store, rules, touched=touched)
    else:
        report = mark_never_same(
            store, left, right, reason=reason or "review rejected", by=by, rules=rules
        )
    return {"pair_id": pair_id, "status": pair["status"], "resolve": report.as_dict()}
