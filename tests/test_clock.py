"""The fake clock fires timers and sleepers in deadline order."""

from __future__ import annotations

import asyncio

from skiff.clock import FakeClock, parse_rfc3339, rfc3339


async def test_fake_clock_sleep_and_timers() -> None:
    c = FakeClock(start=0)
    fired: list[str] = []
    c.call_later(5, lambda: fired.append("b"))
    c.call_later(1, lambda: fired.append("a"))
    t = c.call_later(3, lambda: fired.append("x"))
    t.cancel()
    task = asyncio.create_task(c.sleep(2))
    await asyncio.sleep(0)
    c.advance(2)
    await asyncio.wait_for(task, 1)
    assert fired == ["a"] and c.now() == 2
    c.advance(10)
    assert fired == ["a", "b"] and c.now() == 12 and c.pending_timers == 0


def test_rfc3339_roundtrip() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert parse_rfc3339("1970-01-01T00:01:00Z") == 60
    assert parse_rfc3339("") is None
