"""The engine seam: every table, every connection and every raw SQL string of Profilo lives here."""

from profilo.store.core import RecordSet, SaveCounts, Store, new_id, open_store
from profilo.store.prepared import PreparedQuery
from profilo.store.runner import LocalRunner, StoreRunner
from profilo.store.schema import TABLES
from profilo.store.url import StoreURL, parse_store_url

__all__ = [
    "TABLES",
    "LocalRunner",
    "PreparedQuery",
    "RecordSet",
    "SaveCounts",
    "Store",
    "StoreRunner",
    "StoreURL",
    "new_id",
    "open_store",
    "parse_store_url",
]
