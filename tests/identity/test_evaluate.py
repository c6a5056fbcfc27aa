"""Scores against a truth file, and the clusters export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from profilo.identity.evaluate import evaluate_clusters, read_truth, score, write_clusters
from profilo.identity.resolve import resolve_identities
from profilo.store import Store

from .conftest import Write


def test_pairwise_and_cluster_scores() -> None:
    result = score(np.array([0, 0, 0, 1, 2]), np.array([7, 7, 8, 8, 9]))
    assert (result.true_pairs, result.predicted_pairs, result.correct_pairs) == (2, 3, 1)
    assert result.precision == round(1 / 3, 6) and result.recall == 0.5
    assert result.exact_clusters == 1  # person 9
    perfect = score(np.array([3, 3, 4]), np.array([1, 1, 2]))
    assert perfect.f1 == 1.0 and perfect.exact_cluster_share == 1.0


def test_evaluate_against_truth_file(store: Store, write: Write, tmp_path: Path) -> None:
    write(
        [
            {"key": "1", "ids": {"email": "a@x.io"}},
            {"key": "2", "ids": {"email": "a@x.io"}},
            {"key": "3", "ids": {"email": "b@x.io"}},
        ]
    )
    resolve_identities(store)
    truth = tmp_path / "truth.csv"
    truth.write_text("source,record_key,person_id\ncrm,1,P1\ncrm,2,P1\ncrm,3,P1\ncrm,4,P2\n")
    result = evaluate_clusters(store, read_truth(truth))
    assert (result.precision, result.recall) == (1.0, round(1 / 3, 6))
    assert result.records_only_in_truth == 1
    out = tmp_path / "clusters.csv"
    assert write_clusters(store, out) == 3
    assert out.read_text().splitlines()[0] == "source,record_key,profile_id"


def test_identified_only_leaves_out_records_without_evidence(
    store: Store, write: Write, tmp_path: Path
) -> None:
    write(
        [
            {"key": "1", "ids": {"email": "a@x.io", "anonymous_id": "dev1"}},
            {"key": "2", "ids": {"anonymous_id": "dev1"}},
            {"key": "3", "ids": {"anonymous_id": "dev9"}},  # a device that never identified
        ],
        source="web",
    )
    resolve_identities(store)
    truth = tmp_path / "truth.csv"
    truth.write_text("source,record_key,person_id\nweb,1,P\nweb,2,P\nweb,3,P\n")
    assert evaluate_clusters(store, read_truth(truth)).recall == round(1 / 3, 6)
    only = evaluate_clusters(store, read_truth(truth), identified_only=True)
    assert (only.records, only.recall) == (2, 1.0)
