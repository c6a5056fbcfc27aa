"""The ``sql`` destination: reverse ETL of profiles, fields and segment flags into a table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profilo.activate.destinations._settings import parse_settings
from profilo.activate.destinations.base import register
from profilo.activate.destinations.sql.config import SqlSettings
from profilo.activate.destinations.sql.table import SqlDestination, flag_column
from profilo.store.external import ExternalTable

__all__ = ["SqlDestination", "SqlSettings", "flag_column", "make_sql"]


@register("sql")
def make_sql(settings: Mapping[str, Any], credentials: Mapping[str, str]) -> SqlDestination:
    """A ``sql`` destination; the optional credential ``password`` is the database user's."""
    config = parse_settings("sql", SqlSettings, settings)
    table = ExternalTable(config.url, config.table, password=credentials.get("password"))
    return SqlDestination(config, table)
