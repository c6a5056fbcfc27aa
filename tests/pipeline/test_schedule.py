"""When the store worker runs the pipeline by itself: after stored messages, debounced, never while
the loader is behind, and a failing run is counted and retried later instead of raised."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from profilo.collect.loader import LoadResult, SourceCounts
from profilo.collect.spool import Cursor
from profilo.errors import StoreError
from profilo.pipeline import STEPS, PipelineSchedule, StepResult

BATCH = 1000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Runner:
    """Stands in for run_pipeline: records its calls, takes ``seconds`` of the clock, may fail."""

    def __init__(self, clock: Clock, seconds: float = 0.5) -> None:
        self.clock = clock
        self.seconds = seconds
        self.calls: list[tuple[tuple[str, ...], bool, bool]] = []
        self.fail: Exception | None = None

    def __call__(
        self, store: Any, steps: Sequence[str], *, full: bool, match: bool
    ) -> list[StepResult]:
        self.calls.append((tuple(steps), full, match))
        self.clock.now += self.seconds
        if self.fail is not None:
            raise self.fail
        return [StepResult(step, self.seconds / len(steps)) for step in steps]


def load(schedule: PipelineSchedule, *, stored: int, start: int, end: int) -> None:
    """Report a load that read the spool from byte ``start`` to ``end`` of segment 1."""
    schedule._cursor = (1, start)
    result = LoadResult(frames=1, cursor=Cursor(1, end), sources={"web": SourceCounts()})
    result.sources["web"].stored = stored
    schedule.note_load(store=None, result=result)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(clock: Clock) -> Runner:
    return Runner(clock)


def schedule_of(clock: Clock, runner: Runner, every: float = 2.0) -> PipelineSchedule:
    return PipelineSchedule(every, batch_bytes=BATCH, clock=clock, run=runner)


def test_a_load_that_stored_messages_runs_the_incremental_pipeline_once(
    clock: Clock, runner: Runner
) -> None:
    schedule = schedule_of(clock, runner)
    assert not schedule.run_if_due(None)  # type: ignore[arg-type]
    load(schedule, stored=3, start=0, end=100)
    assert schedule.run_if_due(None)  # type: ignore[arg-type]
    assert runner.calls == [(STEPS, False, False)]  # incremental, without matching
    assert not schedule.run_if_due(None)  # type: ignore[arg-type]  # nothing new since
    state = schedule.state()
    assert state["runs"] == 1 and state["failures"] == 0 and state["pending"] is False
    assert state["last_result"] == "ok" and state["last_seconds"] == 0.5
    assert set(state["last_steps"]) == set(STEPS) and state["last_started_at"]


def test_loads_of_duplicates_or_quarantine_only_run_nothing(clock: Clock, runner: Runner) -> None:
    schedule = schedule_of(clock, runner)
    load(schedule, stored=0, start=0, end=100)
    assert not schedule.run_if_due(None)  # type: ignore[arg-type]
    assert runner.calls == []


def test_runs_are_at_least_every_seconds_apart_while_messages_keep_arriving(
    clock: Clock, runner: Runner
) -> None:
    schedule = schedule_of(clock, runner, every=2.0)
    ran = []
    for tick in range(60):  # a message stored every 0.1 s for 6 s
        load(schedule, stored=1, start=tick, end=tick + 1)
        if schedule.run_if_due(None):  # type: ignore[arg-type]
            ran.append(clock.now)
        clock.now += 0.1
    gaps = [b - a for a, b in itertools.pairwise(ran)]
    # each run takes 0.5 s and the next one starts 2 s after it ended at the soonest
    assert len(ran) >= 2 and all(gap >= 2.5 - 1e-9 for gap in gaps)
    clock.now += 5.0
    assert schedule.run_if_due(None)  # type: ignore[arg-type]  # what came after the last run


def test_no_run_while_the_loader_is_behind_one_as_soon_as_it_caught_up(
    clock: Clock, runner: Runner
) -> None:
    schedule = schedule_of(clock, runner)
    for start in range(0, 10 * BATCH, BATCH):  # full batches: more is waiting in the spool
        load(schedule, stored=500, start=start, end=start + BATCH)
        clock.now += 60.0
        assert not schedule.run_if_due(None)  # type: ignore[arg-type]
    schedule.note_idle()  # the next load found the spool empty
    assert schedule.run_if_due(None)  # type: ignore[arg-type]
    assert len(runner.calls) == 1


def test_a_load_into_the_next_segment_counts_as_behind(clock: Clock, runner: Runner) -> None:
    schedule = schedule_of(clock, runner)
    schedule._cursor = (1, 900)
    schedule.note_load(
        None,  # type: ignore[arg-type]
        LoadResult(frames=1, cursor=Cursor(2, 10), sources={"web": SourceCounts(stored=1)}),
    )
    assert schedule.behind and not schedule.due()
    load(schedule, stored=1, start=10, end=20)  # a small load: it keeps up
    assert schedule.due()


def test_a_failed_run_is_counted_kept_pending_and_retried_later_and_later(
    clock: Clock, runner: Runner
) -> None:
    schedule = schedule_of(clock, runner, every=2.0)
    runner.fail = StoreError("the store is gone")
    load(schedule, stored=1, start=0, end=10)
    assert schedule.run_if_due(None)  # type: ignore[arg-type]  # raises nothing
    state = schedule.state()
    assert state["failures"] == 1 and state["last_result"] == "error" and state["pending"]
    assert "StoreError: the store is gone" in state["last_error"]
    clock.now += 3.9
    assert not schedule.due()  # 2 s doubled after one failure
    clock.now += 0.2
    assert schedule.run_if_due(None)  # type: ignore[arg-type]
    clock.now += 7.9
    assert not schedule.due()  # doubled again after a second one
    runner.fail = None
    clock.now += 0.2
    assert schedule.run_if_due(None)  # type: ignore[arg-type]
    state = schedule.state()
    assert (state["runs"], state["failures"], state["last_result"]) == (3, 2, "ok")
    assert state["last_error"] is None and not state["pending"]
    load(schedule, stored=1, start=10, end=20)
    clock.now += 2.0
    assert schedule.due()  # back to every 2 s after a success


def test_any_exception_in_a_run_is_caught(clock: Clock, runner: Runner) -> None:
    schedule = schedule_of(clock, runner)
    runner.fail = ZeroDivisionError("a bug in a step")
    load(schedule, stored=1, start=0, end=10)
    assert schedule.run(None) is None  # type: ignore[arg-type]
    assert schedule.state()["last_error"] == "ZeroDivisionError: a bug in a step"


def test_every_zero_turns_the_schedule_off(clock: Clock, runner: Runner) -> None:
    schedule = schedule_of(clock, runner, every=0)
    assert not schedule.enabled
    load(schedule, stored=10, start=0, end=10)
    clock.now += 1000
    assert not schedule.run_if_due(None)  # type: ignore[arg-type]
    assert schedule.state()["every"] == 0
