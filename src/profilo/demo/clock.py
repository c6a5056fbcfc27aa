"""The demo's fixed calendar: the activity window, European summer time and hours of the day.

Times are int64 seconds since the Unix epoch (UTC). The window is fixed, not "now", so that two
runs with the same seed write the same bytes on any day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY",
    "END",
    "START",
    "UTC_OFFSET_HOURS",
    "at_local_hour",
    "clip",
    "epoch",
    "local_offset_hours",
]

DAY = 86_400


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Seconds since the Unix epoch of a UTC date and time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


START = epoch(2024, 1, 1)
"""First instant of the demo's activity (UTC)."""
END = epoch(2026, 10, 31, 22, 0)
"""Last instant of the demo's activity: 2026-10-31 23:00 in Paris."""

UTC_OFFSET_HOURS = {"FR": 1, "BE": 1, "GB": 0}
"""Standard-time offsets; summer time adds one hour in all three countries."""


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, 1, tzinfo=UTC) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _summer_bounds() -> npt.NDArray[np.int64]:
    # EU rule (France, Belgium and the UK alike): last Sunday of March 01:00 UTC to the last
    # Sunday of October 01:00 UTC.
    bounds: list[int] = []
    for year in range(1900, 2031):
        bounds.append(int(_last_sunday(year, 3).timestamp()))
        bounds.append(int(_last_sunday(year, 10).timestamp()))
    return np.array(bounds, dtype=np.int64)


_SUMMER = _summer_bounds()


def local_offset_hours(
    utc_seconds: npt.ArrayLike, standard_offset_hours: npt.ArrayLike
) -> npt.NDArray[np.int64]:
    """UTC offset in hours at each instant, for zones with the given standard offsets."""
    inside = np.searchsorted(_SUMMER, np.asarray(utc_seconds), side="right") % 2
    return np.asarray(standard_offset_hours, dtype=np.int64) + inside


def at_local_hour(
    days: npt.ArrayLike,
    local_seconds_of_day: npt.ArrayLike,
    standard_offset_hours: npt.ArrayLike,
) -> npt.NDArray[np.int64]:
    """UTC instants of wall-clock times on given days (days since epoch) in a zone."""
    naive = np.asarray(days, dtype=np.int64) * DAY + np.asarray(local_seconds_of_day)
    guess = naive - np.asarray(standard_offset_hours, dtype=np.int64) * 3600
    return naive - local_offset_hours(guess, standard_offset_hours) * 3600


def clip(seconds: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Keep instants inside the demo window."""
    return np.clip(np.asarray(seconds, dtype=np.int64), START, END)
