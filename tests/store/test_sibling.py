"""``Store.sibling``: another connection to the same database and workspace, for another thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pyarrow as pa

from profilo.store import Store


def _cursor(destination: str) -> pa.Table:
    return pa.table(
        {"destination": [destination], "feed": ["f"], "updated_at": [datetime.now(UTC)]}
    )


def test_a_sibling_shares_the_data_on_another_thread(store: Store) -> None:
    with store.sibling() as other:
        assert other.workspace == store.workspace
        done = threading.Thread(target=lambda: other.replace_rows("sync_cursors", _cursor("a")))
        done.start()
        done.join()
        store.replace_rows("sync_cursors", _cursor("b"))
        for seen in (store, other):
            table = seen.table("sync_cursors")
            found = seen.to_arrow(table.select("destination").order_by("destination"))
            assert found.column(0).to_pylist() == ["a", "b"]
        # temporaries are each connection's own
        temp = other.temporary(pa.table({"profile_id": ["x"]}))
        assert other.to_arrow(temp).num_rows == 1
        other.drop_temporaries()
    # closing the sibling leaves the store open
    assert store.count_rows()["sync_cursors"] == 2
