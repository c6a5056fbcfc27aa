"""On the demo data, a realistic segment returns exactly what a hand-written query finds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from profilo.audiences import estimate_size, evaluate_segments, save_segment
from profilo.audiences.realtime import RealtimeSegments
from profilo.collect import import_source, load_mapping
from profilo.demo import generate_demo
from profilo.identity import resolve_identities
from profilo.identity.survivorship import build_profiles
from profilo.profiles.events import refresh_profiles
from profilo.store import Store, open_store

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SEGMENT = (
    'trait country = "FR" and did ["Order Completed", "In-Store Purchase"] at least 2 times'
    ' in last 90 days and did "opened" in last 30 days and consent email_marketing'
)
HAND_WRITTEN = """
WITH buys AS (
    SELECT r.profile_id FROM events e JOIN identity_records r
      ON r.workspace_id = e.workspace_id AND r.source = e.source AND r.record_key = e.record_key
    WHERE e.workspace_id = 'default' AND e.event IN ('Order Completed', 'In-Store Purchase')
      AND e.timestamp >= TIMESTAMPTZ '2026-08-03 00:00:00+00'
      AND e.timestamp <= TIMESTAMPTZ '2026-11-01 00:00:00+00'
    GROUP BY r.profile_id HAVING count(*) >= 2
), opens AS (
    SELECT DISTINCT r.profile_id FROM events e JOIN identity_records r
      ON r.workspace_id = e.workspace_id AND r.source = e.source AND r.record_key = e.record_key
    WHERE e.workspace_id = 'default' AND e.event = 'opened'
      AND e.timestamp >= TIMESTAMPTZ '2026-10-02 00:00:00+00'
      AND e.timestamp <= TIMESTAMPTZ '2026-11-01 00:00:00+00'
), consented AS (
    SELECT profile_id FROM (
        SELECT r.profile_id, c.status, row_number() OVER (
            PARTITION BY r.profile_id
            ORDER BY coalesce(c.consented_at, c.recorded_at) DESC, c.status) AS n
        FROM consents c JOIN identity_records r
          ON r.workspace_id = c.workspace_id AND r.source = c.source AND r.record_key = c.record_key
        WHERE c.workspace_id = 'default' AND c.purpose = 'email_marketing'
    ) latest WHERE n = 1 AND status = 'granted'
), french AS (
    SELECT profile_id FROM profile_traits
    WHERE workspace_id = 'default' AND trait = 'country' AND value = 'FR'
)
SELECT profile_id FROM french
INTERSECT SELECT profile_id FROM buys
INTERSECT SELECT profile_id FROM opens
INTERSECT SELECT profile_id FROM consented
"""


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, customers=600, seed=42)
    return out


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def demo_store(
    request: pytest.FixtureRequest, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    schema = None
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('db') / 'demo.duckdb'}"
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        url = f"{dsn}?schema={schema}"
    store = open_store(url, migrate=True)
    for path in sorted((demo_dir / "mappings").glob("*.yaml")):
        import_source(store, load_mapping(path))
    resolve_identities(store)
    build_profiles(store)
    refresh_profiles(store)
    yield store
    store.close()
    if schema is not None:
        with psycopg.connect(request.getfixturevalue("postgres_dsn"), autocommit=True) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _hand_written(store: Store) -> set[str]:
    rows = store.backend.con.execute(HAND_WRITTEN).fetchall()
    return {row[0] for row in rows}


def test_segment_equals_the_hand_written_query(demo_store: Store) -> None:
    expected = _hand_written(demo_store)
    assert len(expected) >= 3  # the demo holds such customers
    save_segment(demo_store, "fr_buyers_engaged", SEGMENT)
    run = evaluate_segments(demo_store, ["fr_buyers_engaged"], as_of=AS_OF)
    members = demo_store.table("memberships")
    got = set(
        demo_store.to_arrow(members.filter(members.segment == "fr_buyers_engaged"))
        .column("profile_id")
        .to_pylist()
    )
    assert got == expected
    assert run.segments["fr_buyers_engaged"]["entered"] == len(expected)
    assert estimate_size(demo_store, SEGMENT, as_of=AS_OF) == len(expected)


def test_real_time_agrees_with_batch_on_the_demo(demo_store: Store) -> None:
    save_segment(demo_store, "fr_buyers_engaged", SEGMENT)
    save_segment(demo_store, "lapsed", 'did not "opened" in last 90 days and has email')
    evaluate_segments(demo_store, as_of=AS_OF)
    realtime = RealtimeSegments(demo_store)
    profiles = demo_store.to_arrow(demo_store.table("profiles").select("profile_id"))
    ids = profiles.column("profile_id").to_pylist()
    _, answer = realtime.evaluate(ids, as_of=AS_OF)
    members = demo_store.to_arrow(demo_store.table("memberships").select("segment", "profile_id"))
    batch: dict[str, set[str]] = {}
    for segment, pid in zip(
        members.column("segment").to_pylist(), members.column("profile_id").to_pylist(), strict=True
    ):
        batch.setdefault(pid, set()).add(segment)
    assert {pid: s for pid, s in answer.items() if s} == batch
