"""Probabilistic matching: shop records with mistyped phones find their CRM contact."""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest

from profilo.identity import (
    IdentityRules,
    MatchThresholds,
    decide_pair,
    match_records,
    resolve_identities,
    review_queue,
)
from profilo.identity.explain import explain_pair
from profilo.store import Store

from .conftest import Write

FIRST = [
    "anne",
    "marc",
    "lucie",
    "paul",
    "emma",
    "hugo",
    "lea",
    "jules",
    "chloe",
    "louis",
    "ines",
    "noah",
]
LAST = [
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
    "laurent",
    "lefebvre",
    "michel",
    "garcia",
    "david",
    "bertrand",
    "roux",
    "vincent",
    "fournier",
]


def _typo(phone: str, rng: random.Random) -> str:
    i = rng.randrange(4, len(phone))
    return phone[:i] + str((int(phone[i]) + 1) % 10) + phone[i + 1 :]


def people(rng: random.Random, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    crm, shop = [], []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        phone = f"+336{rng.randrange(10**7, 10**8)}"
        born = f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
        crm.append(
            {
                "key": f"C{i}",
                "ids": {"crm_id": f"C{i}", "phone": phone},
                "traits": {
                    "first_name": first,
                    "last_name": last,
                    "birth_date": born,
                    "city": "lyon",
                },
            }
        )
        if i % 2 == 0:
            shop.append(
                {
                    "key": f"S{i}",
                    "ids": {"loyalty_id": f"L{i}"},
                    "traits": {"first_name": first, "last_name": last},
                    "phone": _typo(phone, rng),
                }
            )
    return crm, shop


def test_mistyped_phone_matches_and_review_decisions_hold(store: Store, write: Write) -> None:
    rng = random.Random(3)
    crm, shop = people(rng, 300)
    write(crm, source="crm")
    write(shop, source="shop", start=1000)
    # the shop's phones are mistyped: invalid identifiers that never join, but the matcher sees them
    phones = [
        {
            "message_id": f"shop:{r['key']}",
            "source": "shop",
            "record_key": r["key"],
            "id_type": "phone",
            "raw_value": r["phone"],
            "value": r["phone"],
            "is_valid": False,
            "observed_at": None,
        }
        for r in shop
    ]
    store.replace_rows("observed_identifiers", pa.Table.from_pylist(phones))
    resolve_identities(store)
    rules = IdentityRules(thresholds=MatchThresholds(merge=0.99, review=0.5))
    report = match_records(store, rules)
    assert report.merged >= 100
    resolve_identities(store, touched=report.touched)
    # scoring again changes nothing: merged pairs stay, nothing is touched
    assert match_records(store, rules).touched.num_rows == 0  # type: ignore[union-attr]
    graph = store.to_arrow(
        store.table("identity_records").select("source", "record_key", "profile_id")
    )
    profile = {
        f"{s}:{k}": p
        for s, k, p in zip(*(graph.column(c).to_pylist() for c in graph.column_names), strict=True)
    }
    right = sum(profile[f"shop:S{i}"] == profile[f"crm:C{i}"] for i in range(0, 300, 2))
    wrong = sum(
        profile[f"shop:S{i}"] == profile[f"crm:C{j}"]
        for i in range(0, 300, 2)
        for j in range(300)
        if j != i
    )
    assert right >= 100 and wrong == 0
    why = explain_pair(store, ("shop", "S0"), ("crm", "C0"))
    assert why["same_profile"] and why["path"][0]["via"] == "match"
    evidence = why["match"][0]["evidence"]
    assert evidence["phone"]["weight"] > 0 and evidence["first_name"]["weight"] > 0
    # a person rejects an automatic merge: the records part, and stay apart on the next run
    pair_id = why["match"][0]["pair_id"]
    decide_pair(store, pair_id, accept=False, reason="different people")
    assert not explain_pair(store, ("shop", "S0"), ("crm", "C0"))["same_profile"]
    again = match_records(store, rules)
    assert again.kept_by_decision >= 1
    resolve_identities(store, touched=again.touched)
    assert not explain_pair(store, ("shop", "S0"), ("crm", "C0"))["same_profile"]
    # accepting a pair from the review queue joins its records
    pending = review_queue(store)
    assert pending and pending[0]["status"] == "pending"
    first = pending[0]
    decide_pair(store, first["pair_id"], accept=True)
    left = (first["source_l"], first["record_key_l"])
    right = (first["source_r"], first["record_key_r"])
    assert explain_pair(store, left, right)["same_profile"]


def test_a_training_session_that_underflows_runs_again_with_vanishing_levels_held(
    store: Store, caplog: Any
) -> None:
    """A level EM has (almost) ruled out drives m below a float; the session still trains."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on

    from profilo.identity.matching import _train

    rng = random.Random(3)
    rows = []
    for i in range(300):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city = rng.choice(["paris", "lyon", "lille", "nantes"])
        for copy in range(2):
            rows.append({"unique_id": f"{i}-{copy}", "first_name": first, "last_name": last,
                         "city": city})  # fmt: skip
    for i, first in enumerate(FIRST[:8]):  # pairs in the "nowhere" level are never matches
        for tag in "xy":
            rows.append({"unique_id": f"n{i}{tag}", "first_name": first,
                         "last_name": tag + first, "city": "nowhere"})  # fmt: skip
    nowhere = cll.CustomLevel(
        "city_l = 'nowhere' and city_r = 'nowhere'", label_for_charts="nowhere"
    ).configure(m_probability=1e-290)
    city = cl.CustomComparison(
        output_column_name="city",
        comparison_levels=[cll.NullLevel("city"), nowhere, cll.ExactMatchLevel("city"),
                           cll.ElseLevel()],
    )  # fmt: skip
    settings = SettingsCreator(
        unique_id_column_name="unique_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[block_on("first_name")],
        comparisons=[cl.ExactMatch("first_name"), cl.ExactMatch("last_name"), city],
    )

    def linker() -> Any:
        api = store.splink_db_api()
        made = Linker(api.register(pa.Table.from_pylist(rows)), settings)
        made.training.estimate_u_using_random_sampling(max_pairs=100_000, seed=1)
        return made

    with pytest.raises(ValueError, match="below the minimum allowed"):  # Splink on its own
        linker().training.estimate_parameters_using_expectation_maximisation(block_on("first_name"))
    trained = linker()
    with caplog.at_level("INFO", logger="profilo.identity.matching"):
        _train(trained, ("first_name",))
    assert "again, near-zero m held" in caplog.text and "skipped" not in caplog.text
    (last_name,) = [
        c for c in trained._settings_obj.comparisons if c.output_column_name == "last_name"
    ]
    exact = last_name._comparison_levels_excluding_null[0]
    assert exact.m_probability > 0.9  # learned from the data, not Splink's default 0.95
    assert exact.m_probability != 0.95
