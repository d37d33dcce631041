"""Group commit: many concurrent writers, one transaction per batch.

Callers ``submit`` an operation and await its result. One task takes every
operation queued so far, runs them together through ``apply`` on a single
worker thread (so the event loop never waits for an fsync), publishes the
resulting events, then wakes the callers. While one batch commits the next one
accumulates, so under load each fsync is shared by many writes.

``apply(ops) -> (results, events)``: a result that is an exception instance
is raised in that caller only; an exception from ``apply`` itself fails the
whole batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from skiff.errors import Unavailable
from skiff.storage.interface import Event

Apply = Callable[[list[Any]], tuple[list[Any], list[Event]]]


class BatchWriter:
    def __init__(self, apply: Apply, publish: Callable[[list[Event]], None],
                 max_batch: int = 512) -> None:
        self._apply = apply
        self._publish = publish
        self._max_batch = max_batch
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        if self._task is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="storage-writer")
            self._task = asyncio.get_running_loop().create_task(self._run(), name="storage-writer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(Unavailable("storage closed"))
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, op: Any) -> Any:
        if self._task is None:
            raise Unavailable("storage not started")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        self._wake.set()
        result = await fut
        if isinstance(result, BaseException):
            raise result
        return result

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results, events = await loop.run_in_executor(
                        self._executor, self._apply, [op for op, _ in batch])
                except asyncio.CancelledError:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(Unavailable("storage closed"))
                    raise
                except Exception as e:  # the whole batch failed: every caller sees why
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(e)
                    continue
                self._publish(events)
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
