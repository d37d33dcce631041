"""Work queue with client-go semantics: fair, stingy, delayed and rate-limited.

* **fair**: items are handed out in the order they were added (FIFO);
* **stingy**: an item is queued at most once however often it is added; an
  item added while being processed is queued again only after ``done`` — so
  one key is never processed by two workers at once;
* ``add_after(item, delay)`` adds later (timers, not tasks: nothing to leak);
* ``add_rate_limited(item)`` adds after a per-item exponential backoff
  (5 ms * 2^failures, capped at 1000 s) and an overall token bucket
  (10/s, burst 100), the larger of the two — client-go's
  ``DefaultControllerRateLimiter``; ``forget`` resets the item's failures;
* ``shutdown`` wakes every waiting ``get`` with :class:`ShutDown`.

Usage (one worker)::

    while True:
        key = await q.get()
        try:
            await reconcile(key)
            q.forget(key)
        except Exception:
            q.add_rate_limited(key)
        finally:
            q.done(key)
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Hashable
from typing import Any


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class RateLimiter:
    """max(per-item exponential backoff, overall token bucket)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0, qps: float = 10.0,
                 burst: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.cap, self.qps, self.burst = base, cap, qps, burst
        self._failures: dict[Hashable, int] = {}
        self._tokens = float(burst)
        self._last = clock()
        self._clock = clock

    def when(self, item: Hashable) -> float:
        n = self._failures.get(item, 0)
        self._failures[item] = n + 1
        backoff = min(self.cap, self.base * (2 ** n))
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        bucket = 0.0 if self._tokens >= 0 else -self._tokens / self.qps
        return float(max(backoff, bucket))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def retries(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class WorkQueue:
    def __init__(self, rate_limiter: RateLimiter | None = None, name: str = "") -> None:
        self.name = name
        self.rate_limiter = rate_limiter or RateLimiter()
        self._queue: collections.deque[Any] = collections.deque()
        self._dirty: set[Any] = set()
        self._processing: set[Any] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timers: set[asyncio.TimerHandle] = set()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: Any) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return                      # re-queued by done()
        self._queue.append(item)
        self._notify()

    def _notify(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def get(self) -> Any:
        """The next item (waits); raises ShutDown when the queue is shut down."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._notify()       # pass the wake-up on to another worker
                raise
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: Any) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._notify()

    def add_after(self, item: Any, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.add(item)
        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def add_rate_limited(self, item: Any) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Any) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: Any) -> int:
        return self.rate_limiter.retries(item)

    def shutdown(self) -> None:
        self._shutting_down = True
        for h in self._timers:
            h.cancel()
        self._timers.clear()

        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
