"""What a source's generator hands back for one chunk of people: rows, record keys and truth."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["Counters", "Rows"]


@dataclass(frozen=True)
class Rows:
    """One chunk of one source: its rows, their record keys and who each row really is."""

    source: str
    keys: pa.Array
    """The record key of each row (the mapping's ``key`` columns joined with "|")."""
    persons: pa.Array
    """The ``person_id`` each row belongs to (the ground truth)."""
    columns: dict[str, pa.Array] | None = None
    """CSV sources: every column as text, in file order ("" for a missing value)."""
    lines: Iterable[pa.Array] | None = None
    """JSON Lines sources: one JSON document per row, each ending with a newline, in order
    (possibly produced lazily, a slice at a time, while being written)."""

    def __len__(self) -> int:
        return len(self.keys)


@dataclass
class Counters:
    """Running numbers across the chunks of a run, so ids stay unique and dense."""

    width: int = 6
    """Digits in zero-padded sequential ids (grows with the number of customers)."""
    _next: dict[str, int] = field(default_factory=dict)

    def take(self, name: str, count: int) -> npt.NDArray[np.int64]:
        """The next ``count`` numbers of the sequence ``name``, starting at 1."""
        start = self._next.get(name, 1)
        self._next[name] = start + count
        return np.arange(start, start + count, dtype=np.int64)
