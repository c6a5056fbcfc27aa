"""When ``profilo serve`` runs the pipeline by itself: soon after collected messages are stored.

The store worker's loader tells a :class:`PipelineSchedule` about every load
(:meth:`~PipelineSchedule.note_load`, registered as the loader's ``after_load`` hook) and about
every time it finds the spool empty (:meth:`~PipelineSchedule.note_idle`); between two loads the
worker asks :meth:`~PipelineSchedule.run_if_due`. A run is due when messages were stored since the
last run started, the loader is keeping up, and ``every`` seconds have passed since the last run
ended. So while messages keep arriving the steps run at most once every ``every`` seconds, and
after a lull they run right after the load that ends it.

Storing what clients sent goes first: while the loader is behind (its last load filled its whole
batch, so more is waiting in the spool) no run starts, however long that lasts; the run that
follows covers everything stored meanwhile, since every step works on what changed since its own
last run. A failed run is logged and counted, never raised: the next attempt waits twice as long
as the one before (up to five minutes) and the messages stay pending.

These runs leave out probabilistic matching (``run_pipeline(match=False)``): it scores every
person record again whatever changed (about 40 s on the 10,000-customer demo, against about 3 s
for the whole incremental run without it), so records join by identifiers and aliases here, the
pairs matched before still hold, and matching runs when asked (``POST /admin/pipeline/run``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from profilo.pipeline.run import STEPS, StepResult, run_pipeline
from profilo.store import Store

if TYPE_CHECKING:
    from profilo.collect.loader import LoadResult

__all__ = ["PipelineSchedule"]

log = logging.getLogger("profilo.pipeline")

MAX_BACKOFF_SECONDS = 300.0
"""The longest wait before trying again after failed runs."""


@dataclass
class _Counts:
    runs: int = 0
    failures: int = 0
    last_started_at: str | None = None
    last_seconds: float | None = None
    last_result: str | None = None
    last_error: str | None = None
    last_steps: dict[str, float] = field(default_factory=dict)


class PipelineSchedule:
    """Runs the incremental pipeline after loads that stored messages (see the module's docstring).

    ``every`` is the least time between the end of one run and the start of the next (0 turns the
    schedule off); ``batch_bytes`` is the loader's batch size, so a load that filled at least half
    of it says the loader is behind. ``clock`` and ``run`` are injectable for tests.
    """

    def __init__(
        self,
        every: float,
        *,
        batch_bytes: int,
        steps: Sequence[str] = STEPS,
        clock: Callable[[], float] = time.monotonic,
        run: Callable[..., list[StepResult]] = run_pipeline,
    ) -> None:
        self.every = max(float(every), 0.0)
        self.batch_bytes = batch_bytes
        self.steps = tuple(steps)
        self._clock = clock
        self._run = run
        self.pending = False
        self.behind = False
        self._cursor: tuple[int, int] | None = None
        self._last_end = float("-inf")
        self._failed_in_a_row = 0
        self.counts = _Counts()

    @property
    def enabled(self) -> bool:
        return self.every > 0

    # -- what the loader reports ---------------------------------------------------------------

    def note_load(self, store: Store, result: LoadResult) -> None:
        """After a load (the loader's ``after_load`` hook): new messages make a run pending."""
        if result.total().stored:
            self.pending = True
        end = (result.cursor.segment, result.cursor.offset)
        start, self._cursor = self._cursor, end
        # a load that crossed into another segment or read half a batch or more: more is waiting
        self.behind = (
            start is None or start[0] != end[0] or end[1] - start[1] >= self.batch_bytes // 2
        )

    def note_idle(self) -> None:
        """The loader found nothing new in the spool: it has caught up."""
        self.behind = False

    # -- running ---------------------------------------------------------------------------------

    def due(self) -> bool:
        """Whether a run should start now."""
        if not (self.enabled and self.pending) or self.behind:
            return False
        return self._clock() >= self._last_end + self._wait()

    def _wait(self) -> float:
        if not self._failed_in_a_row:
            return self.every
        return min(self.every * 2**self._failed_in_a_row, max(MAX_BACKOFF_SECONDS, self.every))

    def run_if_due(self, store: Store) -> bool:
        """Run the pipeline on ``store`` when due; whether it ran (successfully or not)."""
        if not self.due():
            return False
        self.run(store)
        return True

    def run(self, store: Store) -> list[StepResult] | None:
        """Run the incremental pipeline now; its steps, or None when it failed (logged, counted)."""
        counts = self.counts
        self.pending = False  # messages stored from here on wait for the next run
        counts.runs += 1
        counts.last_started_at = datetime.now(UTC).isoformat()
        started = self._clock()
        try:
            results = self._run(store, self.steps, full=False, match=False)
        except Exception as exc:  # a failed run must not stop the loader: log and count it
            self.pending = True
            self._failed_in_a_row += 1
            counts.failures += 1
            counts.last_result = "error"
            counts.last_error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "the automatic pipeline run failed (%d in a row); trying again in %.0f s",
                self._failed_in_a_row,
                self._wait(),
            )
            return None
        finally:
            self._last_end = self._clock()
            counts.last_seconds = round(self._last_end - started, 3)
        self._failed_in_a_row = 0
        counts.last_result = "ok"
        counts.last_error = None
        counts.last_steps = {r.step: r.seconds for r in results}
        log.debug("automatic pipeline run in %.2f s: %s", counts.last_seconds, counts.last_steps)
        return results

    def state(self) -> dict[str, Any]:
        """Plain data for the worker's state: setting, pending work, runs, failures, last run."""
        counts = self.counts
        return {
            "every": self.every,
            "pending": self.pending,
            "runs": counts.runs,
            "failures": counts.failures,
            "last_started_at": counts.last_started_at,
            "last_seconds": counts.last_seconds,
            "last_result": counts.last_result,
            "last_error": counts.last_error,
            "last_steps": dict(counts.last_steps),
        }
