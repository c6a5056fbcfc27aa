"""Dates and datetimes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pyarrow as pa
import pytest

from profilo.prepare import normalise

UTC = dt.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def clean(
    kind: str, values: list[Any], value_type: pa.DataType | None = None, **options: Any
) -> tuple[list[Any], list[bool | None]]:
    result = normalise(kind, pa.array(values, value_type), **options)
    return result.value.to_pylist(), result.valid.to_pylist()


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_date_reads_iso_and_drops_a_time_part() -> None:
    assert clean(
        "date", ["2021-02-28", "2020-02-29", "2021-02-28T23:59:59+05:00", "2021-02-28 10:00"]
    ) == (
        [dt.date(2021, 2, 28), dt.date(2020, 2, 29), dt.date(2021, 2, 28), dt.date(2021, 2, 28)],
        [True, True, True, True],
    )


@pytest.mark.parametrize(
    "raw",
    [
        "2021-02-29",
        "2021-02-30",
        "2021-04-31",
        "2021-13-01",
        "2021-00-10",
        "28/02/2021",
        "02/28/2021",
        "yesterday",
        "2021-2-3",
    ],
)
def test_date_refuses_impossible_and_ambiguous_dates(raw: str) -> None:
    assert clean("date", [raw]) == ([None], [False])


def test_date_one_impossible_date_leaves_the_others_alone() -> None:
    assert clean("date", ["2021-02-28", "2021-02-30", "", None]) == (
        [dt.date(2021, 2, 28), None, None, None],
        [True, False, None, None],
    )


def test_date_with_a_format() -> None:
    assert clean(
        "date", ["28/02/2021", "1/2/2021", "30/02/2021", "2021-02-28"], fmt="%d/%m/%Y"
    ) == (
        [dt.date(2021, 2, 28), dt.date(2021, 2, 1), None, None],
        [True, True, False, False],
    )


def test_date_with_a_format_python_alone_knows() -> None:
    assert clean("date", ["17 May 2024", "17 Mai 2024"], fmt="%d %B %Y") == (
        [dt.date(2024, 5, 17), None],
        [True, False],
    )


def test_date_from_an_integer_column_with_a_format() -> None:
    assert clean("date", [20210315, 20210230], pa.int64(), fmt="%Y%m%d") == (
        [dt.date(2021, 3, 15), None],
        [True, False],
    )


def test_date_from_typed_columns() -> None:
    assert clean("date", [dt.date(2021, 1, 1)], pa.date32()) == ([dt.date(2021, 1, 1)], [True])
    assert clean("date", [dt.date(2021, 1, 1)], pa.date64()) == ([dt.date(2021, 1, 1)], [True])
    assert clean("date", [dt.datetime(2021, 1, 1, 23, 30)], pa.timestamp("ms")) == (
        [dt.date(2021, 1, 1)],
        [True],
    )
    # an instant's date is the date where the data lives
    late_evening_utc = [dt.datetime(2021, 1, 1, 23, 30, tzinfo=UTC)]
    assert clean("date", late_evening_utc, pa.timestamp("us", "UTC"), timezone="Europe/Paris") == (
        [dt.date(2021, 1, 2)],
        [True],
    )


def test_datetime_reads_iso_with_and_without_offset() -> None:
    raw = [
        "2021-02-03T10:11:12Z",
        "2021-02-03 10:11:12+01:00",
        "2021-02-03T10:11:12.250-0500",
        "2021-02-03T10:11:12",
        "2021-02-03T10:11",
        "2021-02-03",
    ]
    assert clean("datetime", raw, timezone="Europe/Paris") == (
        [
            at(2021, 2, 3, 10, 11, 12),
            at(2021, 2, 3, 9, 11, 12),
            at(2021, 2, 3, 15, 11, 12, 250000),
            at(2021, 2, 3, 9, 11, 12),
            at(2021, 2, 3, 9, 11),
            at(2021, 2, 2, 23, 0),
        ],
        [True] * 6,
    )


def test_datetime_naive_values_follow_daylight_saving_time() -> None:
    winter, summer = clean(
        "datetime", ["2021-01-15T12:00:00", "2021-07-15T12:00:00"], timezone="Europe/Paris"
    )[0]
    assert winter == at(2021, 1, 15, 11)
    assert summer == at(2021, 7, 15, 10)


@pytest.mark.parametrize(
    "wall_clock",
    [
        dt.datetime(2021, 3, 28, 2, 30),  # in the spring-forward gap
        dt.datetime(2021, 10, 31, 2, 30),  # happens twice in the autumn
        dt.datetime(2021, 3, 28, 1, 59, 59),
        dt.datetime(2021, 3, 28, 3, 0),
    ],
)
def test_datetime_daylight_saving_edges_match_zoneinfo(wall_clock: dt.datetime) -> None:
    expected = wall_clock.replace(tzinfo=PARIS).astimezone(UTC)
    assert (
        clean("datetime", [wall_clock.isoformat(), "2021-06-01T00:00:00"], timezone="Europe/Paris")[
            0
        ][0]
        == expected
    )


@pytest.mark.parametrize(
    "raw",
    [
        "2021-02-30T10:00:00",
        "2021-02-03T25:00:00",
        "not a date",
        "03/02/2021 10:00",
        "2021-02-03T10:00:00+25:00",
    ],
)
def test_datetime_refuses_what_is_not_an_instant(raw: str) -> None:
    assert clean("datetime", [raw, "2021-02-03T10:00:00Z"]) == (
        [None, at(2021, 2, 3, 10)],
        [False, True],
    )


def test_datetime_reads_other_iso_spellings_through_python() -> None:
    assert clean(
        "datetime",
        ["2021-02-03T10:11:12.123456789Z", "20210203T101112Z", "2021-02-03T10:11:12,5+00:00"],
    ) == (
        [
            at(2021, 2, 3, 10, 11, 12, 123456),
            at(2021, 2, 3, 10, 11, 12),
            at(2021, 2, 3, 10, 11, 12, 500000),
        ],
        [True, True, True],
    )


def test_datetime_with_a_format() -> None:
    raw = ["03/02/2021 10:11", "3/2/2021 10:11", "31/02/2021 10:11", "2021-02-03T10:11"]
    assert clean("datetime", raw, fmt="%d/%m/%Y %H:%M", timezone="Europe/Paris") == (
        [at(2021, 2, 3, 9, 11), at(2021, 2, 3, 9, 11), None, None],
        [True, True, False, False],
    )


def test_datetime_with_a_format_carrying_the_offset() -> None:
    assert clean("datetime", ["03 Feb 2021 10:11 +0200"], fmt="%d %b %Y %H:%M %z") == (
        [at(2021, 2, 3, 8, 11)],
        [True],
    )


def test_datetime_from_epoch_integers() -> None:
    seconds, millis = 1_700_000_000, 1_700_000_000_123
    assert clean("datetime", [seconds, millis, None], pa.int64()) == (
        [at(2023, 11, 14, 22, 13, 20), at(2023, 11, 14, 22, 13, 20, 123000), None],
        [True, True, None],
    )


def test_datetime_from_an_integer_column_with_a_format() -> None:
    assert clean("datetime", [202103151030], pa.int64(), fmt="%Y%m%d%H%M") == (
        [at(2021, 3, 15, 10, 30)],
        [True],
    )


def test_datetime_from_epoch_text() -> None:
    assert clean("datetime", ["1700000000", "1700000000123"])[0] == [
        at(2023, 11, 14, 22, 13, 20),
        at(2023, 11, 14, 22, 13, 20, 123000),
    ]


def test_datetime_from_epoch_floats() -> None:
    assert clean("datetime", [1_700_000_000.5, float("nan"), float("inf")], pa.float64()) == (
        [at(2023, 11, 14, 22, 13, 20, 500000), None, None],
        [True, False, False],
    )


def test_datetime_from_timestamp_columns() -> None:
    aware = pa.array([dt.datetime(2021, 1, 1, 12, tzinfo=UTC)], pa.timestamp("ns", "Asia/Tokyo"))
    assert normalise("datetime", aware).value.to_pylist() == [at(2021, 1, 1, 12)]
    naive = pa.array([dt.datetime(2021, 1, 1, 12)], pa.timestamp("ms"))
    assert normalise("datetime", naive, timezone="Europe/Paris").value.to_pylist() == [
        at(2021, 1, 1, 11)
    ]
    day = pa.array([dt.date(2021, 7, 1)], pa.date32())
    assert normalise("datetime", day, timezone="Europe/Paris").value.to_pylist() == [
        at(2021, 6, 30, 22)
    ]


def test_datetime_blank_is_missing() -> None:
    assert clean("datetime", ["", "  ", None]) == ([None, None, None], [None, None, None])
