"""The scheduling queue: active, backoff and unschedulable pods (upstream
``internal/queue/scheduling_queue.go``).

* **activeQ**: pods ready to be tried, highest priority first, then oldest;
* **backoffQ**: pods that failed and wait ``1 s x 2^(attempts-1)`` (max 10 s);
* **unschedulable**: pods no node fits; they move back (to backoff if their
  backoff has not expired, else active) when a cluster event that could help
  arrives - an event one of the plugins that rejected them registered for -
  or after 5 minutes regardless.

A pod that failed while a move request happened during its cycle goes to
backoff, not unschedulable (the event may already have fixed it).
Time comes from an injectable clock; ``flush()`` is called periodically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from skiff.clock import Clock, RealClock

Obj = dict[str, Any]


@dataclass
class QueuedPod:
    pod: Obj
    key: str
    timestamp: float
    attempts: int = 0
    initial_attempt: float = 0.0
    unschedulable_plugins: set[str] = field(default_factory=set)

    @property
    def priority(self) -> int:
        return int((self.pod.get("spec") or {}).get("priority") or 0)


class SchedulingQueue:
    def __init__(self, clock: Clock | None = None, initial_backoff: float = 1.0,
                 max_backoff: float = 10.0, max_unschedulable: float = 300.0,
                 plugin_events: dict[str, frozenset[str]] | None = None) -> None:
        self.clock = clock or RealClock()
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.max_unschedulable = max_unschedulable
        self.plugin_events = plugin_events or {}
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._pods: dict[str, QueuedPod] = {}          # every queued pod by key
        self._where: dict[str, str] = {}               # key -> active | backoff | unschedulable
        self._in_flight: set[str] = set()
        self._unschedulable: dict[str, QueuedPod] = {}
        self._last_leftover_flush = 0.0
        self._seq = itertools.count()
        self._cycle = 0
        self._move_cycle = -1
        self._wakeup = asyncio.Event()
        self._closed = False

    # -- adding --

    def add(self, pod: Obj) -> None:
        md = pod["metadata"]
        key = f"{md.get('namespace', '')}/{md['name']}"
        if key in self._in_flight:
            qp = self._pods.get(key)
            if qp is not None:
                qp.pod = pod
            return
        qp = self._pods.get(key)
        if qp is not None:
            qp.pod = pod
            if self._where.get(key) == "unschedulable":
                self._move(qp)             # an update may have fixed it
            return
        now = self.clock.monotonic()
        qp = QueuedPod(pod, key, now, initial_attempt=now)
        self._pods[key] = qp
        self._push_active(qp)

    def update(self, pod: Obj) -> None:
        self.add(pod)

    def refresh(self, pod: Obj) -> None:
        """Newer copy of a queued pod (a status-only change): keep its place."""
        md = pod["metadata"]
        qp = self._pods.get(f"{md.get('namespace', '')}/{md['name']}")
        if qp is not None:
            qp.pod = pod
        else:
            self.add(pod)

    def delete(self, key: str) -> None:
        self._pods.pop(key, None)
        self._where.pop(key, None)          # heaps drop stale entries lazily
        self._unschedulable.pop(key, None)

    def _push_active(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.key, None)
        self._where[qp.key] = "active"
        heapq.heappush(self._active, (-qp.priority, qp.timestamp, next(self._seq), qp.key))
        self._wakeup.set()

    def _push_backoff(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.key, None)
        self._where[qp.key] = "backoff"
        heapq.heappush(self._backoff, (self.backoff_expiry(qp), next(self._seq), qp.key))

    def backoff_duration(self, attempts: int) -> float:
        """1, 2, 4, 8, 10, 10, ... seconds for attempts 1, 2, 3, ..."""
        if attempts <= 0:
            return 0.0
        return float(min(self.max_backoff, self.initial_backoff * (2 ** (attempts - 1))))

    def backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.timestamp + self.backoff_duration(qp.attempts)

    # -- popping --

    def pop_nowait(self) -> QueuedPod | None:
        self._flush_backoff()
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            qp = self._pods.get(key)
            if qp is None or self._where.get(key) != "active":
                continue
            del self._where[key]
            qp.attempts += 1
            self._in_flight.add(key)
            self._cycle += 1
            return qp
        return None

    async def pop(self) -> QueuedPod:
        while True:
            qp = self.pop_nowait()
            if qp is not None:
                return qp
            if self._closed:
                raise asyncio.CancelledError
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._next_wait())
            except TimeoutError:
                pass

    def _next_wait(self) -> float:
        if self._backoff:
            return max(0.001, min(1.0, self._backoff[0][0] - self.clock.monotonic()))
        return 1.0

    @property
    def scheduling_cycle(self) -> int:
        return self._cycle

    # -- after a cycle --

    def done(self, key: str) -> None:
        self._in_flight.discard(key)
        if self._where.get(key) is None:
            self._pods.pop(key, None)

    def add_unschedulable(self, qp: QueuedPod, cycle: int) -> None:
        """A pod that did not fit (or failed): unschedulable, or backoff if things moved."""
        self._in_flight.discard(qp.key)
        if qp.key not in self._pods:
            return                               # deleted meanwhile
        qp.timestamp = self.clock.monotonic()
        if self._move_cycle >= cycle or not qp.unschedulable_plugins:
            self._push_backoff(qp)
        else:
            self._where[qp.key] = "unschedulable"
            self._unschedulable[qp.key] = qp

    def move_all(self, event: str) -> int:
        """A cluster event: move unschedulable pods it may help; returns how many moved."""
        self._move_cycle = self._cycle
        moved = 0
        for qp in list(self._unschedulable.values()):
            if self._helps(qp, event):
                self._move(qp)
                moved += 1
        return moved

    def _helps(self, qp: QueuedPod, event: str) -> bool:
        if not qp.unschedulable_plugins:
            return True
        return any(event in self.plugin_events.get(p, frozenset({event}))
                   for p in qp.unschedulable_plugins)

    def _move(self, qp: QueuedPod) -> None:
        if self.backoff_expiry(qp) > self.clock.monotonic():
            self._push_backoff(qp)
        else:
            self._push_active(qp)

    def flush(self) -> None:
        """Backoff pods whose time is up -> active; unschedulable ones older than 5 min too."""
        now = self.clock.monotonic()
        self._flush_backoff()
        if now - self._last_leftover_flush < 30 and now >= self._last_leftover_flush:
            return                       # upstream flushes leftovers every 30 s
        self._last_leftover_flush = now
        for qp in list(self._unschedulable.values()):
            if now - qp.timestamp >= self.max_unschedulable:
                self._move(qp)

    def _flush_backoff(self) -> None:
        now = self.clock.monotonic()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            qp = self._pods.get(key)
            if qp is not None and self._where.get(key) == "backoff":
                self._push_active(qp)

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    # -- introspection (tests, metrics) --

    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def counts(self) -> dict[str, int]:
        out = {"active": 0, "backoff": 0, "unschedulable": 0}
        for w in self._where.values():
            out[w] += 1
        return out
