"""Streaming helpers shared by the API handlers.

``relay_progress`` turns pull/push progress events into Docker's JSON
message stream while the transfer task runs; ``stream_from_thread`` streams
what a blocking producer (a tar writer running in a worker thread) writes,
sending the response headers only once the first bytes exist, so an early
failure is still a plain HTTP error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from skiff.engine.docker_api.http import Request, StreamWriter


async def relay_progress(task: asyncio.Task[Any], q: asyncio.Queue[Any], out: StreamWriter) -> Any:
    """Write each queued progress event until ``task`` is done and the queue empty; its result."""
    while not (task.done() and q.empty()):
        getter = asyncio.ensure_future(q.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            continue
        p = getter.result()
        detail = {"current": p.current, "total": p.total} if p.total else {}
        await out.write_json({"status": p.action, "progressDetail": detail, "id": p.id})
    return task.result()


class _ThreadPipe:
    """A file-like sink that hands what a worker thread writes to the event loop.

    Writes are gathered into 1 MiB pieces: a hand-over costs a round trip
    between the threads, and tar writers write headers of 512 bytes and data
    in small blocks. Once the reader is gone (``closed`` set: the client hung
    up), every write raises ``BrokenPipeError`` so the producer stops instead
    of waiting forever for room in the queue.
    """

    PIECE = 1 << 20

    def __init__(self, loop: asyncio.AbstractEventLoop, q: asyncio.Queue[Any], closed: threading.Event) -> None:
        self.loop, self.q, self.closed = loop, q, closed
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        if self.closed.is_set():
            raise BrokenPipeError("the client went away")
        self.buf += data
        if len(self.buf) >= self.PIECE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buf:
            piece, self.buf = bytes(self.buf), bytearray()
            self.put(piece)

    def put(self, item: Any) -> None:
        if self.closed.is_set():
            raise BrokenPipeError("the client went away")
        asyncio.run_coroutine_threadsafe(self.q.put(item), self.loop).result()


async def stream_from_thread(req: Request, produce: Callable[[BinaryIO], None], content_type: str,
                             headers: dict[str, str] | None = None) -> None:
    """Run ``produce(sink)`` in a thread and stream what it writes as the response body."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[bytes | None | BaseException] = asyncio.Queue(maxsize=4)
    closed = threading.Event()
    pipe = _ThreadPipe(loop, q, closed)

    def work() -> None:
        try:
            produce(pipe)  # type: ignore[arg-type]
            pipe.flush()
            pipe.put(None)
        except BaseException as e:
            with contextlib.suppress(BrokenPipeError):
                pipe.put(e)

    threading.Thread(target=work, daemon=True).start()
    try:
        first = await q.get()
        if isinstance(first, BaseException):
            raise first
        out = await req.stream(content_type=content_type, headers=headers)
        item: bytes | None | BaseException = first
        while isinstance(item, bytes):
            await out.write(item)
            item = await q.get()
        if isinstance(item, BaseException):
            raise ConnectionAbortedError(str(item))  # headers are out: cut the stream
        await out.end()
    finally:
        closed.set()
        while not q.empty():  # wake a producer blocked on a full queue; it sees `closed` next
            q.get_nowait()
