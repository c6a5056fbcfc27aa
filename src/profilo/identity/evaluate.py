"""Score the identity graph against a truth file (source, record_key, person_id).

Pairwise scores count pairs of records: a predicted pair is two records in one profile, a true pair
two records of one person; precision = right predicted pairs / predicted pairs, recall = right
predicted pairs / true pairs. Cluster scores look at whole people: how many are found as exactly
one profile with exactly their records, and B-cubed precision and recall (per record: the share of
its profile that is its person, and of its person that is in its profile).

Only records present in both the truth and the graph are scored; the counts of the others are
reported so nothing is hidden.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from profilo.errors import InputError
from profilo.store import Store

__all__ = [
    "Evaluation",
    "evaluate_clusters",
    "identified_records",
    "read_truth",
    "score",
    "write_clusters",
]


@dataclass
class Evaluation:
    """Pairwise and cluster-level scores of predicted profiles against true people."""

    records: int
    people: int
    profiles: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    precision: float
    recall: float
    f1: float
    exact_clusters: int
    exact_cluster_share: float
    bcubed_precision: float
    bcubed_recall: float
    records_only_in_truth: int = 0
    records_only_in_graph: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pairs(sizes: np.ndarray) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def _codes(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    encoded = pa.chunked_array([values]) if isinstance(values, pa.Array) else values
    return np.asarray(
        encoded.combine_chunks().dictionary_encode().indices.to_numpy(False), np.int64
    )


def score(predicted: np.ndarray, truth: np.ndarray) -> Evaluation:
    """Scores for two labellings of the same records (integer labels).

    >>> e = score(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 6]))
    >>> (e.correct_pairs, e.predicted_pairs, e.true_pairs)
    (1, 2, 3)
    """
    n = len(predicted)
    pred = np.unique(predicted, return_inverse=True)[1]
    true = np.unique(truth, return_inverse=True)[1]
    pred_sizes = np.bincount(pred)
    true_sizes = np.bincount(true)
    joint = pred.astype(np.int64) * (int(true.max()) + 1 if n else 1) + true
    cell_keys, cell_sizes = np.unique(joint, return_counts=True)
    correct = _pairs(cell_sizes)
    predicted_pairs, true_pairs = _pairs(pred_sizes), _pairs(true_sizes)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # a person is found exactly when their records form one whole profile
    width = int(true.max()) + 1 if n else 1
    cell_pred, cell_true = cell_keys // width, cell_keys % width
    exact = int(
        ((cell_sizes == pred_sizes[cell_pred]) & (cell_sizes == true_sizes[cell_true])).sum()
    )
    cell_of = np.searchsorted(cell_keys, joint)
    overlap = cell_sizes[cell_of]
    bcubed_p = float((overlap / pred_sizes[pred]).mean()) if n else 1.0
    bcubed_r = float((overlap / true_sizes[true]).mean()) if n else 1.0
    people = len(true_sizes)
    return Evaluation(
        records=n,
        people=people,
        profiles=len(pred_sizes),
        true_pairs=true_pairs,
        predicted_pairs=predicted_pairs,
        correct_pairs=correct,
        precision=round(precision, 6),
        recall=round(recall, 6),
        f1=round(f1, 6),
        exact_clusters=exact,
        exact_cluster_share=round(exact / people, 6) if people else 1.0,
        bcubed_precision=round(bcubed_p, 6),
        bcubed_recall=round(bcubed_r, 6),
    )


def read_truth(path: Path) -> pa.Table:
    """A truth CSV with columns source, record_key, person_id (all read as text)."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={
                    "source": pa.string(),
                    "record_key": pa.string(),
                    "person_id": pa.string(),
                }
            ),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read truth file {path}: {exc}") from None
    missing = {"source", "record_key", "person_id"} - set(table.column_names)
    if missing:
        raise InputError(f"truth file {path} lacks column(s) {', '.join(sorted(missing))}")
    return table.select(["source", "record_key", "person_id"])


def clusters(store: Store) -> pa.Table:
    """Every record with its profile: source, record_key, profile_id."""
    graph = store.table("identity_records")
    return store.to_arrow(
        graph.select("source", "record_key", "profile_id").order_by(
            ["profile_id", "source", "record_key"]
        )
    )


def write_clusters(store: Store, path: Path) -> int:
    """Write ``clusters`` as CSV for outside tools; returns the number of records."""
    table = clusters(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.column_names)
        for batch in table.to_batches(100_000):
            writer.writerows(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    return table.num_rows


ANONYMOUS_TYPES = ("anonymous_id", "device_id")
NAME_TRAITS = ("first_name", "last_name", "name")


def identified_records(store: Store) -> pa.Table:
    """Records any method could place: those whose component (every record a shared identifier
    reaches, before limits) holds an identifier other than an anonymous or device id, and those
    that name a person. A device that never identified, and a till receipt with nothing on it,
    are not among them: no rule and no model can tell whose they are."""
    graph = store.table("identity_records")
    ids = store.table("identities")
    known = ids.filter(ids.status == "linked", ~ids.id_type.isin(ANONYMOUS_TYPES)).select(
        "component_id"
    )
    traits = store.table("observed_traits")
    named = traits.filter(traits.trait.isin(NAME_TRAITS), traits.value.notnull()).select(
        "source", "record_key"
    )
    in_known = graph.semi_join(known, "component_id").select("source", "record_key")
    return store.to_arrow(
        in_known.union(
            graph.semi_join(named, ["source", "record_key"]).select("source", "record_key")
        )
    )


def evaluate_clusters(
    store: Store, truth: pa.Table, *, identified_only: bool = False
) -> Evaluation:
    """Score the store's profiles against a truth table (source, record_key, person_id).

    ``identified_only`` scores only the records of :func:`identified_records`: how well the
    records that carry evidence are placed, apart from those that carry none.
    """
    predicted = clusters(store)
    if identified_only:
        keep = identified_records(store)
        truth = truth.join(keep, ["source", "record_key"], join_type="left semi", use_threads=False)
        predicted = predicted.join(
            keep, ["source", "record_key"], join_type="left semi", use_threads=False
        )
    both = truth.join(predicted, ["source", "record_key"], join_type="inner", use_threads=False)
    result = score(_codes(both.column("profile_id")), _codes(both.column("person_id")))
    result.records_only_in_truth = truth.num_rows - both.num_rows
    result.records_only_in_graph = predicted.num_rows - both.num_rows
    return result
