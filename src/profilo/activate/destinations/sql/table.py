"""The ``sql`` destination: one row per profile in a table of any SQL database Profilo can reach.

A row holds ``profile_id``, the change's mapped fields, one boolean flag per segment
(``in_<segment>``) and the time of the last change. The table is created when missing and grows a
column for each new field or segment. A profile's changes in a batch fold in order into one write;
the whole batch is one transaction, so it lands entirely or not at all, and writing it again gives
the same table.

Field names must be plain lower-case SQL names; a field that is not fails its change for good
rather than being renamed behind the user's back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from profilo.activate.destinations.base import Change, DeliveryError, ItemFailure, Outcome
from profilo.activate.destinations.sql.config import SqlSettings
from profilo.errors import ConfigError
from profilo.store.external import (
    KEY,
    ExternalTable,
    ExternalTableError,
    TableWrite,
    column_type_of,
    valid_name,
)

__all__ = ["SqlDestination", "flag_column"]

_NOT_NAME = re.compile(r"[^a-z0-9_]+")


def flag_column(prefix: str, audience: str) -> str:
    """The flag column of a segment: ``prefix`` and the segment key in snake case.

    >>> flag_column("in_", "VIP Customers")
    'in_vip_customers'
    """
    return valid_name(prefix + _NOT_NAME.sub("_", audience.lower()).strip("_"), "flag column")


@dataclass
class _Row:
    change_ids: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    creates: bool = False
    delete_first: bool = False
    cleared: bool = False
    """A remove without segment: every flag goes false."""


class SqlDestination:
    """Upserts profiles with their fields and segment flags into a table; removes delete or flag."""

    kind: ClassVar[str] = "sql"

    def __init__(self, settings: SqlSettings, table: ExternalTable) -> None:
        self.settings = settings
        self.table = table
        self.purposes = settings.purposes
        self.max_batch = settings.max_batch

    def close(self) -> None:
        self.table.close()

    def send(self, batch: Sequence[Change]) -> Outcome:
        outcome = Outcome()
        rows = self._fold(batch, outcome)
        if not rows:
            return outcome
        try:
            self.table.ensure(self._wanted_columns(rows))
            flags = [c for c in self.table.columns() if c.startswith(self.settings.flag_prefix)]
            counts = self.table.write(self._plan(rows, flags))
        except ExternalTableError as exc:
            raise DeliveryError(str(exc), retryable=exc.retryable) from exc
        except ConfigError as exc:
            raise DeliveryError(str(exc), retryable=False) from exc
        outcome.details.update(counts)
        return outcome

    def _fold(self, batch: Sequence[Change], outcome: Outcome) -> dict[str, _Row]:
        settings = self.settings
        rows: dict[str, _Row] = {}
        for change in batch:
            try:
                names = [valid_name(name, "field") for name in change.fields]
                flag = (
                    flag_column(settings.flag_prefix, change.audience) if change.audience else None
                )
            except ConfigError as exc:
                outcome.failed[change.change_id] = ItemFailure(str(exc), retryable=False)
                continue
            reserved = {KEY, settings.updated_column} & set(names)
            if reserved:
                outcome.failed[change.change_id] = ItemFailure(
                    f"field {sorted(reserved)[0]!r} is a column Profilo writes itself",
                    retryable=False,
                )
                continue
            row = rows.setdefault(change.profile_id, _Row())
            row.change_ids.append(change.change_id)
            row.values[settings.updated_column] = change.occurred_at
            if change.action == "upsert":
                row.creates = True
                row.values.update(change.fields)
                if flag:
                    row.values[flag] = True
            elif flag:
                row.values[flag] = False
            elif settings.on_remove == "delete":
                row.delete_first, row.creates, row.cleared = True, False, False
                row.values = {}
            else:
                row.cleared = True
                row.values = {
                    k: v for k, v in row.values.items() if not k.startswith(settings.flag_prefix)
                }
                row.values[settings.updated_column] = change.occurred_at
        return rows

    def _wanted_columns(self, rows: dict[str, _Row]) -> dict[str, str]:
        wanted = {self.settings.updated_column: "timestamptz"}
        for row in rows.values():
            for name, value in row.values.items():
                if name in wanted or value is None:
                    continue
                wanted[name] = self.settings.columns.get(name) or column_type_of(value)
        for name, value_type in self.settings.columns.items():
            wanted.setdefault(name, value_type)
        for row in rows.values():  # a column seen only with None values is text
            for name in row.values:
                wanted.setdefault(name, "text")
        return wanted

    def _plan(self, rows: dict[str, _Row], flags: list[str]) -> TableWrite:
        plan = TableWrite()
        touched: list[str] = []
        for profile_id, row in rows.items():
            values = dict(row.values)
            if row.cleared:
                for flag in flags:
                    values.setdefault(flag, False)
            if row.delete_first:
                plan.delete.append(profile_id)
            if row.creates:
                plan.upsert.append({KEY: profile_id, **values})
            elif values:
                plan.update.append({KEY: profile_id, **values})
            if any(name in flags for name in values) or row.cleared:
                touched.append(profile_id)
        if self.settings.on_remove == "delete":
            removed = [
                p
                for p in touched
                if any(v is False for v in rows[p].values.values()) or rows[p].cleared
            ]
            plan.delete_unflagged = (removed, flags)
        return plan
