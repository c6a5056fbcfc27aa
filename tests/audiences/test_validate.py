"""Rules are checked against the workspace when they are written, with errors that say what is wrong."""

from __future__ import annotations

import pytest

from profilo.audiences import RuleError, read_rule, save_segment
from profilo.audiences.segments import segment_catalogue
from profilo.audiences.validate import validate_rule
from profilo.errors import ConfigError
from profilo.profiles.catalogue import Catalogue
from profilo.profiles.traits import parse_trait, save_trait
from profilo.store import Store

from .conftest import AS_OF, Person, write_world

CATALOGUE = Catalogue(
    traits={
        "country": "string", "city": "string", "first_name": "string", "note": "string",
        "household_size": "number", "birth_date": "date", "crm_created_at": "date",
        "vip": "boolean",
    },
    computed={"orders": "number", "last_seen": "date"},
    identifier_types={"email", "phone", "user_id"},
    purposes={"email_marketing", "sms_marketing", "ad_targeting"},
)  # fmt: skip


@pytest.fixture
def ready(store: Store) -> Store:
    write_world(store, [Person("p1", traits={"country": "FR"}, ids=[("email", "a")])])
    save_trait(
        store, parse_trait({"name": "orders", "aggregate": "count", "events": "x"}), as_of=AS_OF
    )
    save_trait(
        store,
        parse_trait({"name": "last_seen", "aggregate": "last", "events": "x"}),
        as_of=AS_OF,
    )
    return store


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ('trait contry = "FR"', "rule.trait", "unknown trait 'contry'; did you mean country?"),
        ("trait country > 3", "rule.op", "operator 'gt' does not apply to string trait 'country'"),
        ("trait household_size = \"3\"", "rule.value", "is a number: '3' is a string"),
        ("trait household_size contains 3", "rule.op", "valid: eq, ne, gt"),
        ('trait birth_date < "01/02/1990"', "rule.value", "compare it with a date written YYYY-MM-DD"),
        ("trait birth_date < 1990", "rule.value", "is a date"),
        ("trait vip = \"yes\"", "rule.value", "is a boolean"),
        ("computed order > 1", "rule.computed", "unknown computed trait 'order'; did you mean orders?"),
        ('computed orders = "many"', "rule.value", "is a number"),
        ('computed last_seen > "2026-13-01"', "rule.value", "YYYY-MM-DD"),
        ("has emial", "rule.identity", "unknown identifier type 'emial'; did you mean email?"),
        ("consent newsletter", "rule.consent", "unknown consent purpose 'newsletter'"),
        ("in segment nobody", "rule.segment", "unknown segment 'nobody'"),
        ("has email and (has phone or trait nope is set)", "rule.all[1].any[1].trait", "unknown trait"),
    ],
)  # fmt: skip
def test_validation_names_the_condition(text: str, path: str, words: str) -> None:
    with pytest.raises(RuleError) as info:
        validate_rule(read_rule(text), CATALOGUE)
    assert any(p == path and words in m for p, m in info.value.problems), info.value.problems


def test_the_store_gives_the_same_catalogue(ready: Store) -> None:
    catalogue = segment_catalogue(ready)
    assert catalogue.traits == CATALOGUE.traits
    assert catalogue.computed == CATALOGUE.computed
    assert {"email"} <= catalogue.identifier_types
    assert catalogue.purposes == CATALOGUE.purposes


def test_valid_rules_pass() -> None:
    for text in (
        'trait country in ["FR", "BE"] and trait household_size >= 2.5',
        'trait birth_date < "1990-02-01" and trait vip = true and computed orders >= 1',
        'computed last_seen >= "2026-01-01" and has email and consent email_marketing',
    ):
        validate_rule(read_rule(text), CATALOGUE)


def test_segments_cannot_refer_to_themselves_or_in_cycles(ready: Store) -> None:
    save_segment(ready, "a", "has email")
    save_segment(ready, "b", "in segment a")
    with pytest.raises(RuleError, match="cannot contain itself"):
        save_segment(ready, "c", "has email and in segment c")
    with pytest.raises(ConfigError, match=r"cycle: a → b → a"):
        save_segment(ready, "a", "in segment b")
    with pytest.raises(ConfigError, match="invalid segment name"):
        save_segment(ready, "Bad Name", "has email")


def test_json_and_text_sources_are_both_read(ready: Store) -> None:
    a = save_segment(ready, "from_json", '{"identity": "email"}')
    b = save_segment(ready, "from_text", "has email")
    assert a.rule == b.rule and a.text == "has email"
    with pytest.raises(RuleError, match="invalid JSON"):
        read_rule('{"identity": ')
