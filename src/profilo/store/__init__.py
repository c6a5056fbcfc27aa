"""The engine seam: every table, every connection and every raw SQL string of Profilo lives here."""

from profilo.store.core import RecordSet, SaveCounts, Store, new_id, open_store
from profilo.store.schema import TABLES
from profilo.store.url import StoreURL, parse_store_url

__all__ = [
    "TABLES",
    "RecordSet",
    "SaveCounts",
    "Store",
    "StoreURL",
    "new_id",
    "open_store",
    "parse_store_url",
]
