"""Golden records: survivorship strategies and lineage."""

from __future__ import annotations

from profilo.identity.resolve import profile_id_of, resolve_identities
from profilo.identity.survivorship import SurvivorshipRules, build_profiles
from profilo.store import Store

from .conftest import Write


def test_survivorship_strategies_and_lineage(store: Store, write: Write) -> None:
    write(
        [
            {
                "key": "1",
                "ids": {"email": "eve@x.io"},
                "traits": {"first_name": "Eve", "city": "Lyon", "street": "3 rue Neuve"},
            },
            {
                "key": "2",
                "ids": {"email": "eve@x.io"},
                "traits": {"first_name": "Eve", "city": "Paris"},
            },
        ],
        source="crm",
    )
    write(
        [
            {
                "key": "9",
                "ids": {"email": "eve@x.io"},
                "traits": {"first_name": "Eva", "city": "Nice", "street": "3 rue Neuve, apt 2"},
            }
        ],
        source="shop",
        start=10,
    )
    resolve_identities(store)
    assert build_profiles(store) == 1
    pid = profile_id_of("crm", "1")
    rows = {r["trait"]: r for r in store.to_arrow(store.table("profile_traits")).to_pylist()}
    assert rows["first_name"]["value"] == "Eve" and rows["first_name"]["rule"] == "most_frequent"
    assert rows["first_name"]["conflict"] and rows["first_name"]["candidates"] == 2
    assert (rows["city"]["value"], rows["city"]["source"], rows["city"]["record_key"]) == (
        "Nice",
        "shop",
        "9",
    )
    assert rows["street"]["value"] == "3 rue Neuve, apt 2"
    profile = store.to_arrow(store.table("profiles")).to_pylist()[0]
    assert (
        profile["profile_id"] == pid
        and profile["records"] == 3
        and profile["sources"] == "crm,shop"
    )
    # the CRM is trusted first for cities
    rules = SurvivorshipRules(traits={"city": "source_priority"}, source_priority=("crm",))
    build_profiles(store, rules, profile_ids=None)
    city = store.table("profile_traits").filter(lambda t: t.trait == "city")
    assert store.to_arrow(city.select("value")).column(0).to_pylist() == ["Paris"]
