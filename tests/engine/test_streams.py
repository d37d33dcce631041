"""Streaming a worker thread's output as an HTTP response body."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from skiff.engine.docker_api.streams import stream_from_thread


class _Gone:
    """A response whose client hangs up after the first piece."""

    def __init__(self) -> None:
        self.pieces = 0

    async def write(self, data: bytes) -> None:
        self.pieces += 1
        if self.pieces > 1:
            raise ConnectionResetError("client went away")

    async def end(self) -> None:
        pass


class _Request:
    def __init__(self, out: Any) -> None:
        self.out = out

    async def stream(self, **_: Any) -> Any:
        return self.out


def test_a_producer_stops_when_the_client_goes_away() -> None:
    ended = threading.Event()
    seen: list[BaseException] = []

    def produce(sink: Any) -> None:
        try:
            for _ in range(64):  # 64 MiB: far more than the queue holds
                sink.write(b"x" * (1 << 20))
        except BaseException as e:
            seen.append(e)
            raise
        finally:
            ended.set()

    async def main() -> None:
        with pytest.raises(ConnectionResetError):
            await stream_from_thread(_Request(_Gone()), produce, "application/x-tar")  # type: ignore[arg-type]
        assert await asyncio.to_thread(ended.wait, 10)

    asyncio.run(main())
    assert seen and isinstance(seen[0], BrokenPipeError)
