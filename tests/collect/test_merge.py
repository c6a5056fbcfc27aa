"""RudderStack's ``merge`` call (``POST /v1/merge``, ``mergeProperties``): accepted like its other
calls, stored as it came, and its merge properties join the message's ids in identity resolution,
as an alias joins two ids. A malformed one is quarantined with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.collect.test_tracking import spool_frames

from profilo.collect.loader import Loader
from profilo.collect.messages import Rejection, check_message, messages_to_records
from profilo.collect.quarantine import list_quarantine
from profilo.collect.tracking import EVENT_PATHS, accept, message_problem
from profilo.pipeline import run_pipeline
from profilo.profiles.view import find_profile
from profilo.store import Store

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)

MERGE = {
    "userId": "u-42",
    "messageId": "merge-1",
    "mergeProperties": [
        {"type": "anonymousId", "value": "anon-42"},
        {"type": "mobile", "value": "+33 6 12 34 56 78"},
    ],
}


def test_v1_merge_takes_the_type_from_the_path_and_passes_the_request_checks() -> None:
    assert EVENT_PATHS["merge"] == "merge"
    accepted = accept("merge", dict(MERGE), source="web", received_at=NOW)
    frame = orjson.loads(accepted.payload)
    assert frame["m"][0]["type"] == "merge" and frame["q"] == []
    assert message_problem({"type": "merge", **MERGE}) is None


def test_merge_properties_become_identifiers_of_the_message() -> None:
    records = messages_to_records([{"type": "merge", **MERGE}], source="web", received_at=NOW)
    ids = records.identifiers
    assert ids is not None
    kinds, values = ids.column("id_type").to_pylist(), ids.column("value").to_pylist()
    observed = sorted(zip(kinds, values, strict=True))
    assert observed == [
        ("anonymous_id", "anon-42"),
        ("phone", "+33612345678"),
        ("user_id", "u-42"),
    ]
    stored = records.events.to_pylist()[0]
    assert stored["type"] == "merge"
    assert json.loads(stored["properties"])["mergeProperties"] == [
        {"type": "anonymousId", "value": "anon-42"},
        {"type": "mobile", "value": "+33 6 12 34 56 78"},
    ]


@pytest.mark.parametrize(
    "merge_properties",
    [None, [], "email", [{"type": "email"}], [{"value": "a@b.fr"}], [{"type": " ", "value": "x"}]],
)
def test_malformed_merge_properties_are_refused(merge_properties: Any) -> None:
    message = {"type": "merge", "userId": "u1", "mergeProperties": merge_properties}
    with pytest.raises(Rejection) as refused:
        check_message(message, received_at=NOW, default_id=lambda: "m", correct_skew=False)
    assert (refused.value.reason, refused.value.field) == (
        "invalid_merge_properties",
        "mergeProperties",
    )


def test_a_spooled_merge_joins_an_anonymous_visit_and_a_phone_to_the_user(
    store: Store, tmp_path: Path
) -> None:
    visits = accept(
        "batch",
        {
            "batch": [
                {"type": "page", "anonymousId": "anon-42", "name": "Home", "messageId": "p1"},
                {
                    "type": "identify",
                    "userId": "u-42",
                    "messageId": "i1",
                    "traits": {"email": "lea.martin@acme-shop.fr"},
                },
                {"type": "merge", "userId": "u-43", "messageId": "bad", "mergeProperties": {}},
            ]
        },
        source="web",
        received_at=NOW,
    )
    merge = accept("merge", dict(MERGE), source="web", received_at=NOW)
    spool_frames(tmp_path, visits.payload, merge.payload)
    loader = Loader(store, tmp_path)
    assert loader.drain() == 4
    run_pipeline(store, match=False)

    user = find_profile(store, "user_id:u-42")
    assert find_profile(store, "anonymous_id:anon-42") == user
    assert find_profile(store, "phone:+33612345678") == user
    assert find_profile(store, "email:lea.martin@acme-shop.fr") == user
    quarantined = list_quarantine(store)
    assert [(q["reason"], q["field"]) for q in quarantined] == [
        ("invalid_merge_properties", "mergeProperties")
    ]
