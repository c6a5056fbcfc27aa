"""Probabilistic matching: shop records with mistyped phones find their CRM contact."""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa

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
