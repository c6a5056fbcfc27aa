"""Quality and status reports on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from profilo.collect import import_source, parse_mapping
from profilo.collect.report import quality_report, status_report
from profilo.store import Store


def test_quality_and_status_reports(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text("id,mail,city\n1,A@x.fr,PARIS\n2,bad@,Lyon\n2,c@x.fr,Nice\n3,d@x.fr\n")
    mapping = parse_mapping(
        {
            "source": "crm",
            "category": "crm",
            "format": "csv",
            "path": str(path),
            "key": ["id"],
            "identifiers": [{"column": "mail", "type": "email"}],
            "traits": {"city": {"column": "city", "type": "city"}},
        }
    )
    import_source(store, mapping)
    [entry] = quality_report(store)
    assert (entry["source"], entry["party"], entry["category"]) == ("crm", "first", "crm")
    assert entry["rows"] == 2
    assert entry["duplicate_keys"] == 1  # key 2 twice: the later row wins
    assert entry["quarantine"] == {"malformed_row": 1}
    fields = {f["field"]: f for f in entry["fields"]}
    assert (fields["email"]["completeness"], fields["email"]["validity"]) == (1.0, 1.0)
    assert fields["city"]["distinct"] == 2
    assert entry["last_import"]["status"] == "succeeded"
    status = status_report(store)
    assert status["sources"]["crm"]["events"] == 2
    assert status["sources"]["crm"]["quarantine"] == 1
    assert status["tables"]["events"] == 2
