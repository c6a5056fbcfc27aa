"""Batch import on DuckDB and PostgreSQL: idempotent, nothing lost, bad input quarantined."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from profilo.collect import import_source, parse_mapping
from profilo.errors import InputError, MappingError
from profilo.store import Store, open_store

CRM_CSV = """contact_id,first_name,last_name,email,mobile,dob,city,country,optin,optin_at
C1,éloïse,MARTIN, Eloise.Martin@Gmail.com ,06 12 34 56 78,02/03/1985,PARIS,France,yes,2024-01-05T10:00:00Z
C2,John,Smith,john.smith@,07700 900123,31/02/1985,London,UK,no,
C3,Ana,"Lopez, Jr",ana@example.es,,15/07/1990,Madrid,España,,
C4,broken,row,with,too,many,fields,here,x,y,z,w
"""


def crm_mapping(path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "source": "crm",
        "category": "crm",
        "format": "csv",
        "path": str(path),
        "default_country": "FR",
        "key": ["contact_id"],
        "identifiers": [
            {"column": "contact_id", "type": "crm_id"},
            {"column": "email", "type": "email"},
            {"column": "mobile", "type": "phone"},
        ],
        "traits": {
            "first_name": {"column": "first_name", "type": "name"},
            "last_name": {"column": "last_name", "type": "name"},
            "birth_date": {"column": "dob", "type": "date", "format": "%d/%m/%Y"},
            "city": {"column": "city", "type": "city"},
            "country": {"column": "country", "type": "country"},
        },
        "consents": [{"purpose": "email_marketing", "column": "optin", "time": "optin_at"}],
        **overrides,
    }


def rows(store: Store, table: str, *columns: str) -> list[dict[str, Any]]:
    expr = store.table(table).select(*columns).order_by(list(columns))
    return store.to_arrow(expr).to_pylist()


@pytest.fixture
def crm_file(tmp_path: Path) -> Path:
    path = tmp_path / "crm.csv"
    path.write_text(CRM_CSV, encoding="utf-8")
    return path


def test_csv_import_normalises_keeps_raw_and_quarantines(store: Store, crm_file: Path) -> None:
    result = import_source(store, parse_mapping(crm_mapping(crm_file)))
    assert result.status == "succeeded"
    assert result.rows_read == 4
    assert (result.inserted, result.quarantined) == (3, 1)
    assert result.quarantine_reasons == {"malformed_row": 1}

    ids = {
        (r["record_key"], r["id_type"]): r
        for r in rows(
            store, "observed_identifiers", "record_key", "id_type", "raw_value", "value", "is_valid"
        )
    }
    assert ids[("C1", "email")]["value"] == "eloise.martin@gmail.com"
    assert ids[("C1", "email")]["raw_value"] == " Eloise.Martin@Gmail.com "
    assert ids[("C1", "phone")]["value"] == "+33612345678"
    # an invalid e-mail is kept, flagged, not quarantined: the rest of the row is good
    assert ids[("C2", "email")]["is_valid"] is False
    assert ("C3", "phone") not in ids  # absent identifiers are not observations

    traits = {
        (r["record_key"], r["trait"]): r
        for r in rows(
            store,
            "observed_traits",
            "record_key",
            "trait",
            "raw_value",
            "value",
            "match_key",
            "is_valid",
        )
    }
    assert traits[("C1", "first_name")]["value"] == "Éloïse"
    assert traits[("C1", "first_name")]["match_key"] == "eloise"
    assert traits[("C1", "birth_date")]["value"] == "1985-03-02"
    assert traits[("C2", "birth_date")]["is_valid"] is False
    assert traits[("C2", "birth_date")]["raw_value"] == "31/02/1985"
    assert traits[("C3", "country")]["value"] == "ES"
    assert traits[("C2", "country")]["value"] == "GB"
    assert traits[("C3", "last_name")]["value"] == "Lopez, Jr"

    consents = rows(store, "consents", "record_key", "purpose", "status")
    assert consents == [
        {"record_key": "C1", "purpose": "email_marketing", "status": "granted"},
        {"record_key": "C2", "purpose": "email_marketing", "status": "denied"},
    ]
    quarantined = rows(store, "quarantine", "reason", "raw", "detail")
    assert quarantined[0]["reason"] == "malformed_row"
    assert "C4,broken,row" in quarantined[0]["raw"]


def test_reimport_is_idempotent_and_changed_rows_update(store: Store, crm_file: Path) -> None:
    mapping = parse_mapping(crm_mapping(crm_file))
    import_source(store, mapping)
    before = store.count_rows()
    again = import_source(store, mapping)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert store.count_rows() == {**before, "imports": before["imports"] + 1}

    crm_file.write_text(CRM_CSV.replace("ana@example.es", "ana.lopez@example.es"), encoding="utf-8")
    changed = import_source(store, mapping)
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 2)
    emails = [
        r["value"]
        for r in rows(store, "observed_identifiers", "record_key", "id_type", "value")
        if r["record_key"] == "C3" and r["id_type"] == "email"
    ]
    assert emails == ["ana.lopez@example.es"]

    # the raw text of an identifier changes, its clean value does not: still an update
    crm_file.write_text(
        CRM_CSV.replace("ana@example.es", "ana.lopez@example.es").replace(
            " Eloise.Martin@Gmail.com ", "eloise.martin@gmail.com"
        ),
        encoding="utf-8",
    )
    respelled = import_source(store, mapping)
    assert (respelled.inserted, respelled.updated, respelled.unchanged) == (0, 1, 2)
    raw = [
        r["raw_value"]
        for r in rows(store, "observed_identifiers", "record_key", "id_type", "raw_value")
        if r["record_key"] == "C1" and r["id_type"] == "email"
    ]
    assert raw == ["eloise.martin@gmail.com"]
    assert store.count_rows()["observed_identifiers"] == before["observed_identifiers"]


def test_consent_history_keeps_every_change(store: Store, crm_file: Path) -> None:
    mapping = parse_mapping(crm_mapping(crm_file))
    import_source(store, mapping)
    crm_file.write_text(
        CRM_CSV.replace(",yes,2024-01-05T10:00:00Z", ",no,2025-06-01T08:00:00Z"), encoding="utf-8"
    )
    import_source(store, mapping)
    history = [
        r
        for r in rows(store, "consents", "record_key", "consented_at", "status")
        if r["record_key"] == "C1"
    ]
    assert [r["status"] for r in history] == ["granted", "denied"]


ORDERS = [
    {
        "order_id": "O1",
        "email": "a@x.fr",
        "at": "2026-01-02T10:00:00+01:00",
        "total": "12,50",
        "items": [{"sku": "S1", "qty": 2}],
    },
    {"order_id": "O2", "email": "b@x.fr", "at": "", "total": "3"},
    {"order_id": "O3", "email": "c@x.fr", "at": "2026-01-03T10:00:00Z", "total": "abc"},
    {"order_id": "O4", "email": "d@x.fr", "at": "not a date", "total": "1"},
    {"order_id": "", "email": "e@x.fr", "at": "2026-01-03T10:00:00Z", "total": "1"},
]


def orders_mapping(path: Path, fmt: str = "jsonl") -> dict[str, Any]:
    return {
        "source": "orders",
        "category": "ecommerce",
        "format": fmt,
        "path": str(path),
        "key": ["order_id"],
        "identifiers": [{"column": "email", "type": "email"}],
        "event": {
            "name": "Order Completed",
            "timestamp": {"column": "at", "type": "datetime"},
            "properties": {
                "order_id": "order_id",
                "revenue": {"column": "total", "type": "float"},
                "items": {"column": "items", "type": "json"},
            },
        },
    }


def test_jsonl_events_with_bad_rows(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    lines = [json.dumps(o) for o in ORDERS] + ["{not json", "[1, 2]"]
    path.write_text("\n".join(lines) + "\n")
    result = import_source(store, parse_mapping(orders_mapping(path)))
    assert result.rows_read == 7
    assert result.inserted == 1
    assert result.quarantine_reasons == {
        "invalid_json": 1,
        "not_an_object": 1,
        "missing_timestamp": 1,
        "invalid_value": 1,
        "invalid_timestamp": 1,
        "missing_key": 1,
    }
    # nothing lost: every row read is stored or quarantined
    assert result.inserted + result.quarantined == result.rows_read
    event = store.to_arrow(store.table("events")).to_pylist()[0]
    props = (
        event["properties"]
        if isinstance(event["properties"], dict)
        else json.loads(event["properties"])
    )
    assert props["revenue"] == 12.5
    assert event["event"] == "Order Completed"
    assert event["timestamp"].isoformat() == "2026-01-02T09:00:00+00:00"
    assert "revenue" in json.dumps(props) and "S1" in json.dumps(props)


def test_parquet_import_and_truncated_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    table = pa.table(
        {
            "order_id": ["O1", "O2"],
            "email": ["A@X.fr", "b@x.fr"],
            "at": pa.array(["2026-01-02T10:00:00Z", "2026-01-02T11:00:00Z"]),
            "total": [12.5, 3.0],
            "items": ["[]", "[]"],
        }
    )
    pq.write_table(table, path)
    result = import_source(store, parse_mapping(orders_mapping(path, "parquet")))
    assert result.inserted == 2
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(path.read_bytes()[:-30])
    mapping = parse_mapping({**orders_mapping(truncated, "parquet"), "source": "orders_bad"})
    with pytest.raises(InputError, match="truncated or not Parquet"):
        import_source(store, mapping)
    failed = [r for r in rows(store, "imports", "source", "status") if r["source"] == "orders_bad"]
    assert failed == [{"source": "orders_bad", "status": "failed"}]
    reasons = [r["reason"] for r in rows(store, "quarantine", "reason")]
    assert reasons == ["unreadable_source"]


def test_unknown_column_names_the_column_and_the_file_columns(store: Store, crm_file: Path) -> None:
    mapping = parse_mapping(crm_mapping(crm_file, key=["contact_idd"]))
    with pytest.raises(MappingError) as info:
        import_source(store, mapping)
    assert "'contact_idd'" in str(info.value)
    assert "its columns are: contact_id, first_name" in str(info.value)


def test_sql_source_from_postgres(store: Store, pg_schema: str) -> None:
    source = open_store(pg_schema, migrate=True)  # only to create the schema and reach it
    source.close()
    import psycopg

    dsn, schema = pg_schema.split("?schema=")
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"CREATE TABLE {schema}.shop_customers (id int, mail text, city text)")
        con.execute(
            f"INSERT INTO {schema}.shop_customers VALUES (1, 'X@Y.fr', 'LYON'), (2, NULL, 'Nice')"
        )
    mapping = parse_mapping(
        {
            "source": "shop",
            "format": "sql",
            "url": dsn,
            "query": f"SELECT * FROM {schema}.shop_customers",
            "key": ["id"],
            "identifiers": [{"column": "mail", "type": "email"}],
            "traits": {"city": {"column": "city", "type": "city"}},
        }
    )
    result = import_source(store, mapping)
    assert result.inserted == 2
    assert [r["value"] for r in rows(store, "observed_identifiers", "value")] == ["x@y.fr"]
    assert [r["value"] for r in rows(store, "observed_traits", "value")] == ["Lyon", "Nice"]


def test_segment_messages_file(store: Store, tmp_path: Path) -> None:
    messages = [
        {
            "type": "page",
            "anonymousId": "anon-1",
            "messageId": "m1",
            "name": "Home",
            "timestamp": "2026-01-01T10:00:00.000Z",
        },
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "U1",
            "messageId": "m2",
            "traits": {"email": " Ana@X.fr", "firstName": "ana"},
            "timestamp": "2026-01-01T10:01:00Z",
        },
        {"type": "track", "userId": "U1", "messageId": "m3", "timestamp": "2026-01-01T10:02:00Z"},
        {"type": "track", "event": "Product Viewed", "messageId": "m4"},
    ]
    path = tmp_path / "web.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n")
    mapping = parse_mapping({"source": "web", "format": "segment", "path": str(path)})
    result = import_source(store, mapping)
    assert (result.inserted, result.quarantined) == (2, 2)
    assert result.quarantine_reasons == {"missing_event": 1, "missing_id": 1}
    ids = rows(store, "observed_identifiers", "message_id", "id_type", "value")
    assert {"message_id": "m2", "id_type": "email", "value": "ana@x.fr"} in ids
    assert {"message_id": "m2", "id_type": "anonymous_id", "value": "anon-1"} in ids
    traits = rows(store, "observed_traits", "trait", "value")
    assert {"trait": "first_name", "value": "Ana"} in traits
    again = import_source(store, mapping)
    assert (again.inserted, again.unchanged) == (0, 2)


def _snapshot(url: str, crm_file: Path) -> dict[str, list[dict[str, Any]]]:
    store = open_store(url, migrate=True)
    import_source(store, parse_mapping(crm_mapping(crm_file)))
    snap = {
        "identifiers": rows(
            store, "observed_identifiers", "record_key", "id_type", "raw_value", "value", "is_valid"
        ),
        "traits": rows(
            store,
            "observed_traits",
            "record_key",
            "trait",
            "raw_value",
            "value",
            "match_key",
            "is_valid",
        ),
        "consents": rows(store, "consents", "consent_id", "status"),
        "quarantine": rows(store, "quarantine", "quarantine_id", "reason", "raw"),
    }
    store.close()
    return snap


def test_duckdb_and_postgres_give_identical_results(
    tmp_path: Path, crm_file: Path, pg_schema: str
) -> None:
    duck = _snapshot(f"duckdb:///{tmp_path / 'a.duckdb'}", crm_file)
    pg = _snapshot(pg_schema, crm_file)
    assert duck == pg


def test_consent_log_with_a_purpose_per_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "consents.csv"
    path.write_text(
        "id,email,purpose,status,at\n"
        "1,a@x.fr,email_marketing,granted,2024-01-01T00:00:00Z\n"
        "2,a@x.fr,email_marketing,Withdrawn,2024-06-01T00:00:00Z\n"
        "3,a@x.fr,sms_marketing,yes,2024-01-01T00:00:00Z\n"
        "4,a@x.fr,telepathy,granted,2024-01-01T00:00:00Z\n"
        "5,a@x.fr,ad_targeting,maybe,2024-01-01T00:00:00Z\n"
    )
    mapping = parse_mapping(
        {
            "source": "consent_log",
            "format": "csv",
            "path": str(path),
            "key": ["id"],
            "identifiers": [{"column": "email", "type": "email"}],
            "consents": [{"purpose_column": "purpose", "column": "status", "time": "at"}],
        }
    )
    result = import_source(store, mapping)
    assert result.consents == 3  # an unknown purpose or status is no consent record
    got = rows(store, "consents", "record_key", "purpose", "status")
    assert got == [
        {"record_key": "1", "purpose": "email_marketing", "status": "granted"},
        {"record_key": "2", "purpose": "email_marketing", "status": "denied"},
        {"record_key": "3", "purpose": "sms_marketing", "status": "granted"},
    ]


def test_phones_and_postal_codes_are_read_in_each_rows_country(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "id,phone,zip,country\n"
        "1,06 12 34 56 78,75011,France\n"
        "2,07700 900123,sw1a1aa,United Kingdom\n"
        "3,0470 12 34 56,1000,Belgique\n"
        "4,06 12 34 56 79,1000,\n"
    )
    mapping = parse_mapping(
        {
            "source": "crm",
            "format": "csv",
            "path": str(path),
            "default_country": "FR",
            "key": ["id"],
            "identifiers": [{"column": "phone", "type": "phone"}],
            "traits": {
                "postal_code": {"column": "zip", "type": "postal_code"},
                "country": {"column": "country", "type": "country"},
            },
        }
    )
    import_source(store, mapping)
    phones = [r["value"] for r in rows(store, "observed_identifiers", "record_key", "value")]
    assert phones == ["+33612345678", "+447700900123", "+32470123456", "+33612345679"]
    zips = [
        (r["record_key"], r["value"], r["is_valid"])
        for r in rows(store, "observed_traits", "record_key", "trait", "value", "is_valid")
        if r["trait"] == "postal_code"
    ]
    assert zips == [
        ("1", "75011", True),
        ("2", "SW1A 1AA", True),
        ("3", "1000", True),
        ("4", "01000", True),
    ]


def test_batch_size_changes_nothing_but_the_batches(store: Store, tmp_path: Path) -> None:
    """Batches cut inside the reader's blocks (and across bad lines) store the same rows."""
    lines = ["contact_id,email,mobile"]
    for i in range(1, 11):
        lines.append(f"C{i},p{i}@example.com,06 12 34 56 {i:02d}")
    lines[4] = "C4,too,many,fields"  # malformed: quarantined with its line
    lines[7] = ",nokey@example.com,0612345607"  # missing key: quarantined with its row
    lines.append("C2,p2.again@example.com,")  # a later row of a key wins
    path = tmp_path / "small.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = {
        "category": "crm",
        "format": "csv",
        "path": str(path),
        "default_country": "FR",
        "key": ["contact_id"],
        "identifiers": [
            {"column": "email", "type": "email"},
            {"column": "mobile", "type": "phone"},
        ],
    }
    seen = []
    for source, batch_rows in (("whole", 1000), ("by_three", 3)):
        result = import_source(
            store, parse_mapping({**mapping, "source": source}), batch_rows=batch_rows
        )
        ids = store.table("observed_identifiers")
        ids = ids.filter(ids.source == source)
        quarantine = store.table("quarantine")
        quarantine = quarantine.filter(quarantine.source == source)
        seen.append(
            (
                (result.rows_read, result.inserted, result.quarantined),
                store.to_arrow(
                    ids.select("record_key", "id_type", "value").order_by(["record_key", "id_type"])
                ).to_pylist(),
                store.to_arrow(
                    quarantine.select("location", "reason").order_by("location")
                ).to_pylist(),
            )
        )
    assert seen[0] == seen[1]
    counts, ids, quarantined = seen[0]
    assert counts == (11, 8, 2)
    assert {"record_key": "C2", "id_type": "email", "value": "p2.again@example.com"} in ids
    assert quarantined == [
        {"location": "a line", "reason": "malformed_row"},
        {"location": "key @row 6", "reason": "missing_key"},  # rows counted as read
    ]
