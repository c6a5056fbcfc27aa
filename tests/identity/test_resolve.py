"""Identity resolution in the store, on DuckDB and PostgreSQL."""

from __future__ import annotations

import random
from typing import Any

from profilo.identity.merges import mark_never_same, split_record
from profilo.identity.resolve import profile_id_of, resolve_identities
from profilo.identity.rules import IdentityRules, load_rules, save_rules
from profilo.store import Store

from .conftest import Write, records


def profiles(store: Store) -> dict[str, str]:
    """record key → profile id."""
    table = store.to_arrow(
        store.table("identity_records").select("source", "record_key", "profile_id")
    )
    return {
        f"{s}:{k}": p
        for s, k, p in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
    }


def groups(store: Store) -> set[frozenset[str]]:
    by: dict[str, set[str]] = {}
    for record, profile in profiles(store).items():
        by.setdefault(profile, set()).add(record)
    return {frozenset(g) for g in by.values()}


def test_conflicting_user_ids_never_merge(store: Store, write: Write) -> None:
    write(
        [
            {"key": "1", "ids": {"user_id": "u1", "email": "ann@x.io"}},
            {"key": "2", "ids": {"user_id": "u2", "email": "ann@x.io"}},
            {"key": "3", "ids": {"email": "ann@x.io", "phone": "+441"}},
        ]
    )
    report = resolve_identities(store)
    assert report.left_out_links == 2  # the e-mail, and its SHA-256 that partners would send
    assert groups(store) == {frozenset({"crm:1", "crm:3"}), frozenset({"crm:2"})}
    left = store.table("identity_conflicts")
    conflicts = store.to_arrow(left.filter(left.id_type == "email")).to_pylist()
    assert [(c["record_key"], c["id_type"], c["value"]) for c in conflicts] == [
        ("2", "email", "ann@x.io")
    ]
    assert "user_id" in conflicts[0]["reason"]
    # the profile is named after its oldest record
    assert profiles(store)["crm:1"] == profile_id_of("crm", "1")


def test_blocked_values_and_hubs_never_join(store: Store, write: Write) -> None:
    rows: list[dict[str, Any]] = [
        {"key": "b1", "ids": {"email": "test@test.com", "user_id": "x1"}},
        {"key": "b2", "ids": {"email": "test@test.com", "user_id": "x2"}},
        {"key": "z1", "ids": {"phone": "0000000000"}},
        {"key": "z2", "ids": {"phone": "0000000000"}},
    ]
    # a shop's shared e-mail on the records of 12 different customers
    rows += [
        {"key": f"s{i}", "ids": {"loyalty_id": f"L{i}", "email": "till@shop.it"}} for i in range(12)
    ]
    write(rows)
    report = resolve_identities(store, IdentityRules(hub_threshold=10))
    assert report.hubs == 2 and report.blocked_values == 2  # the shop e-mail and its SHA-256
    assert all(len(g) == 1 for g in groups(store))
    ids = store.table("identities")
    status = dict(
        zip(
            *(
                store.to_arrow(ids.select("value", "status")).column(c).to_pylist()
                for c in ("value", "status")
            ),
            strict=True,
        )
    )
    assert status["till@shop.it"] == "hub" and status["test@test.com"] == "blocked"
    hub = store.to_arrow(ids.filter(ids.value == "till@shop.it").select("records")).column(0)[0]
    assert hub.as_py() == 12


def test_anonymous_activity_joins_the_person_who_identifies(store: Store, write: Write) -> None:
    write(
        [
            {"key": "p1", "ids": {"anonymous_id": "a1"}},
            {"key": "p2", "ids": {"anonymous_id": "a1", "device_id": "d1"}},
            {"key": "id1", "ids": {"anonymous_id": "a1", "user_id": "u1", "email": "bo@x.io"}},
            {"key": "other", "ids": {"anonymous_id": "a9"}},
        ],
        source="web",
    )
    resolve_identities(store)
    assert groups(store) == {frozenset({"web:p1", "web:p2", "web:id1"}), frozenset({"web:other"})}
    graph = store.table("identity_records")
    how = store.to_arrow(graph.filter(graph.record_key == "p2").select("linked_by", "link_type"))
    assert how.to_pylist() == [{"linked_by": "identifier", "link_type": "anonymous_id"}]


def test_alias_joins_two_user_ids(store: Store, write: Write) -> None:
    write(
        [
            {"key": "old", "ids": {"user_id": "u-old", "email": "cy@x.io"}},
            {"key": "new", "ids": {"user_id": "u-new"}},
            {"key": "al", "type": "alias", "previous": "u-old", "ids": {"user_id": "u-new"}},
            {"key": "stranger", "ids": {"user_id": "u-3", "email": "cy@x.io"}},
        ]
    )
    resolve_identities(store)
    assert groups(store) == {
        frozenset({"crm:old", "crm:new", "crm:al"}),
        frozenset({"crm:stranger"}),
    }
    graph = store.table("identity_records")
    how = store.to_arrow(graph.filter(graph.record_key == "al").select("linked_by"))
    assert how.column(0).to_pylist() == ["alias"]


def _random_rows(rng: random.Random, n: int, start: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(start, start + n):
        person = rng.randrange(25)
        ids: dict[str, Any] = {}
        if rng.random() < 0.5:
            ids["user_id"] = f"u{person}" if rng.random() < 0.95 else f"u{rng.randrange(25)}"
        if rng.random() < 0.6:
            ids["email"] = f"e{person}@x.io" if rng.random() < 0.9 else "family@x.io"
        if rng.random() < 0.4:
            ids["phone"] = f"+39{person:06d}"
        if rng.random() < 0.5:
            ids["anonymous_id"] = f"a{person}-{rng.randrange(3)}"
        if rng.random() < 0.05:
            ids["email"] = "test@test.com"
        rows.append({"key": str(i), "ids": ids, "source": rng.choice(["crm", "web", "shop"])})
    return rows


def test_incremental_runs_equal_a_full_rebuild(store: Store, write: Write) -> None:
    rng = random.Random(7)
    start = 0
    for batch in range(4):
        rows = _random_rows(rng, 40, start)
        start += 40
        write(rows, start=start)
        report = resolve_identities(store)
        assert report.mode == ("full" if batch == 0 else "incremental")
    incremental = profiles(store)
    incremental_ids = store.to_arrow(
        store.table("identities").select("id_type", "value", "profile_id", "status", "records")
    ).sort_by([("id_type", "ascending"), ("value", "ascending")])
    assert resolve_identities(store).records == 0  # nothing new: nothing to do
    resolve_identities(store, full=True)
    assert profiles(store) == incremental
    rebuilt_ids = store.to_arrow(
        store.table("identities").select("id_type", "value", "profile_id", "status", "records")
    ).sort_by([("id_type", "ascending"), ("value", "ascending")])
    assert rebuilt_ids.to_pylist() == incremental_ids.to_pylist()


def test_incremental_run_touches_only_reached_components(store: Store, write: Write) -> None:
    write([{"key": str(i), "ids": {"email": f"p{i}@x.io"}} for i in range(50)])
    resolve_identities(store)
    write([{"key": "new", "ids": {"email": "p3@x.io"}}], start=100)
    report = resolve_identities(store)
    assert report.mode == "incremental" and report.records == 2
    assert profiles(store)["crm:new"] == profile_id_of("crm", "3")
    merges = store.to_arrow(store.table("merges").select("kind", "profile_id", "other_profile_id"))
    assert merges.to_pylist() == []  # a new record joining is no merge of profiles


def test_merges_of_existing_profiles_are_logged(store: Store, write: Write) -> None:
    write([{"key": "a", "ids": {"email": "a@x.io"}}, {"key": "b", "ids": {"phone": "+391"}}])
    resolve_identities(store)
    write([{"key": "c", "ids": {"email": "a@x.io", "phone": "+391"}}], start=10)
    report = resolve_identities(store)
    assert report.merges == 1
    log = store.to_arrow(
        store.table("merges").select("kind", "profile_id", "other_profile_id")
    ).to_pylist()
    assert log == [
        {
            "kind": "merge",
            "profile_id": profile_id_of("crm", "a"),
            "other_profile_id": profile_id_of("crm", "b"),
        }
    ]


def test_never_same_and_split_are_respected_on_rerun(store: Store, write: Write) -> None:
    write(
        [
            {"key": "1", "ids": {"email": "dan@x.io"}},
            {"key": "2", "ids": {"email": "dan@x.io", "phone": "+392"}},
            {"key": "3", "ids": {"phone": "+392"}},
        ]
    )
    resolve_identities(store)
    assert len(groups(store)) == 1
    mark_never_same(store, ("crm", "1"), ("crm", "3"), reason="two Dans")
    assert profiles(store)["crm:1"] != profiles(store)["crm:3"]
    assert profiles(store)["crm:1"] == profiles(store)["crm:2"]
    split_record(store, ("crm", "2"))  # leaves Dan 1; it may still join Dan 3 by their phone
    assert groups(store) == {frozenset({"crm:1"}), frozenset({"crm:2", "crm:3"})}
    for full in (False, True):
        write([{"key": "4", "ids": {"email": "dan@x.io"}}], start=50)
        resolve_identities(store, full=full)
        assert groups(store) == {frozenset({"crm:1", "crm:4"}), frozenset({"crm:2", "crm:3"})}
    kinds = store.to_arrow(store.table("merges").select("kind")).column(0).to_pylist()
    assert "never_same" in kinds and "split" in kinds


def test_changed_record_is_resolved_again(store: Store) -> None:
    store.save(
        records(
            [{"key": "1", "ids": {"email": "x@x.io"}}, {"key": "2", "ids": {"email": "x@x.io"}}]
        )
    )
    resolve_identities(store)
    assert len(groups(store)) == 1
    store.save(records([{"key": "2", "ids": {"email": "y@x.io"}}], start=1))  # the CRM row changed
    resolve_identities(store)
    assert len(groups(store)) == 2
    ids = store.table("identities")
    values = (
        store.to_arrow(ids.filter(ids.id_type == "email").select("value")).column(0).to_pylist()
    )
    assert sorted(values) == ["x@x.io", "y@x.io"]


def test_rules_are_stored_and_a_change_rebuilds(store: Store, write: Write) -> None:
    write(
        [{"key": "1", "ids": {"email": "shop@x.io"}}, {"key": "2", "ids": {"email": "shop@x.io"}}]
    )
    assert resolve_identities(store).mode == "full"
    assert len(groups(store)) == 1
    save_rules(store, IdentityRules(blocked_values=("shop@x.io",)))
    assert load_rules(store).blocked_values == ("shop@x.io",)
    report = resolve_identities(store)  # nothing new, but the rules changed
    assert report.mode == "full" and report.blocked_values == 1
    assert len(groups(store)) == 2
    write([{"key": "3", "ids": {"email": "c@x.io"}}], start=10)
    assert resolve_identities(store).mode == "incremental"
