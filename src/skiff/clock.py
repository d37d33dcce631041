"""Time as a dependency: a real clock for production, a fake one for tests.

Controllers and the scheduler never call ``time.time()`` or ``asyncio.sleep``
directly where a test must control time (HPA stabilisation windows, CronJob
schedules, backoff, node timeouts); they take a :class:`Clock`.

* ``now()`` is wall time in Unix seconds (for timestamps written to objects);
* ``monotonic()`` is for durations;
* ``sleep(s)`` waits ``s`` seconds of this clock's time;
* ``call_later(s, fn)`` runs ``fn`` after ``s`` seconds; returns a handle
  with ``cancel()``.

:class:`FakeClock` only moves when ``advance()`` is called; sleepers and timers
whose deadline has passed then run, in deadline order. It must be advanced
from the event loop thread (tests in another thread use
``loop.call_soon_threadsafe(clock.advance, s)``).
"""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...
    def monotonic(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...
    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(0.0, delay), fn)


class _Timer:
    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told to (``advance``/``set``)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def call_later(self, delay: float, fn: Callable[[], None]) -> Cancellable:
        t = _Timer(fn)
        heapq.heappush(self._timers, (self._mono + max(0.0, delay), next(self._seq), t))
        if delay <= 0:
            self._fire()
        return t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)
        t = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            t.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward, firing due timers in order (each sees its own deadline as now)."""
        target = self._mono + seconds
        while self._timers and self._timers[0][0] <= target:
            deadline, _, t = heapq.heappop(self._timers)
            self._now += deadline - self._mono
            self._mono = deadline
            if not t.cancelled:
                t.fn()
        self._now += target - self._mono
        self._mono = target

    def _fire(self) -> None:
        self.advance(0.0)

    @property
    def pending_timers(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.cancelled)


def rfc3339(ts: float) -> str:
    """Unix seconds -> ``2024-01-02T03:04:05Z`` (seconds precision, as the API writes)."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(s: str | None) -> float | None:
    """``2024-01-02T03:04:05Z`` -> Unix seconds; None for empty input."""
    if not s:
        return None
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
