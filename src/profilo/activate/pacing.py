"""How fast and how often: the clock, the retry schedule and the token bucket of the sync engine.

The engine never reads the time or sleeps by itself: it asks a :class:`Clock`, so tests drive it
with a clock of their own and see every wait it asked for.

Retries follow exponential backoff with full jitter (AWS's "Exponential Backoff And Jitter"): the
n-th retry waits a uniformly random time between 0 and ``min(max_seconds, base_seconds·2^(n-1))``,
and never less than what the destination asked for (a 429's ``Retry-After``).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "RetryPolicy", "SystemClock", "TokenBucket"]


class Clock(Protocol):
    """The time, and a way to wait."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass
class RetryPolicy:
    """When to try again, and when to give up."""

    max_attempts: int = 8
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``attempts`` failed tries (full jitter, at least Retry-After)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        wait = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_seconds * 4))
        return wait

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


class TokenBucket:
    """At most ``rate`` requests per second on average, ``burst`` at once."""

    def __init__(self, rate: float | None, clock: Clock, burst: float | None = None) -> None:
        self.rate = rate
        self.clock = clock
        self.capacity = burst if burst is not None else max(1.0, rate or 1.0)
        self.tokens = self.capacity
        self._last = clock.now()
        self.waited = 0.0
        """Seconds spent waiting for tokens so far."""

    def take(self) -> None:
        """Wait (through the clock) until a request may go."""
        if not self.rate:
            return
        while True:
            now = self.clock.now()
            self.tokens = min(
                self.capacity, self.tokens + (now - self._last).total_seconds() * self.rate
            )
            self._last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            wait = (1 - self.tokens) / self.rate
            self.waited += wait
            self.clock.sleep(wait)
