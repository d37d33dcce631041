"""In-process fan-out of committed events to watchers, with a replay window.

A single-process backend (memory, sqlite) commits writes in revision order and
hands each batch of events to :meth:`Broadcaster.publish`. Every open
:class:`QueueWatch` gets the events under its prefix on its own queue, so a
slow watcher never delays the writer or other watchers.

A new watch from revision R is served in two phases, without a gap or a
duplicate: it subscribes first (new events queue up), then replays history
``> R`` (from the in-memory ring, or the backend's ``history`` callback when the
ring no longer reaches back that far), then drains the queue skipping anything
at or below the last replayed revision.

A watcher that falls more than ``max_queue`` events behind is ended with
:class:`~skiff.errors.Gone`, as the real API server drops slow watchers; the
client re-lists.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable

from skiff.errors import Gone
from skiff.storage.interface import Event

History = Callable[[str, int], Awaitable[list[Event]]]
_CLOSED = object()


class QueueWatch:
    """One watcher: an async iterator over its events."""

    def __init__(self, owner: Broadcaster, prefix: str, revision: int, history: History,
                 max_queue: int) -> None:
        self._owner = owner
        self.prefix = prefix
        self._revision = revision
        self._history = history
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._max_queue = max_queue
        self._overflow = False
        self._closed = False

    def offer(self, events: list[Event]) -> None:
        if self._closed:
            return
        for ev in events:
            if ev.key.startswith(self.prefix):
                self._queue.put_nowait(ev)
        if self._queue.qsize() > self._max_queue:
            self._overflow = True
            self._queue.put_nowait(_CLOSED)

    def end(self) -> None:
        self._queue.put_nowait(_CLOSED)

    async def close(self) -> None:
        self._closed = True
        self._owner.unsubscribe(self)
        self._queue.put_nowait(_CLOSED)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        last = self._revision
        if self._revision > 0:
            for ev in await self._owner.replay(self.prefix, self._revision, self._history):
                last = ev.revision
                yield ev
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                if self._overflow:
                    raise Gone("watch fell too far behind; re-list")
                return
            assert isinstance(item, Event)
            if item.revision <= last:
                continue
            last = item.revision
            yield item


class Broadcaster:
    """Holds the watcher set and a ring of the most recent events."""

    def __init__(self, ring_size: int = 20000, max_queue: int = 200000) -> None:
        self._watchers: set[QueueWatch] = set()
        self._ring: collections.deque[Event] = collections.deque(maxlen=ring_size)
        self._max_queue = max_queue

    def subscribe(self, prefix: str, revision: int, history: History) -> QueueWatch:
        w = QueueWatch(self, prefix, revision, history, self._max_queue)
        self._watchers.add(w)
        return w

    def unsubscribe(self, w: QueueWatch) -> None:
        self._watchers.discard(w)

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        self._ring.extend(events)
        for w in list(self._watchers):
            w.offer(events)

    async def replay(self, prefix: str, revision: int, history: History) -> list[Event]:
        """Events under ``prefix`` with revision > ``revision``, oldest first."""
        ring = self._ring
        if ring and ring[0].revision <= revision + 1:
            return [e for e in list(ring) if e.revision > revision and e.key.startswith(prefix)]
        return await history(prefix, revision)

    def close_all(self) -> None:
        for w in list(self._watchers):
            w.end()
        self._watchers.clear()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)
