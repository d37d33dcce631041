"""WorkQueue: fair, stingy, delayed, rate-limited, shut down."""

from __future__ import annotations

import asyncio

import pytest

from skiff.client.cache import Indexer, meta_namespace_key
from skiff.client.workqueue import RateLimiter, ShutDown, WorkQueue


async def test_fair_and_stingy() -> None:
    q = WorkQueue()
    for k in ("a", "b", "a", "c", "b"):
        q.add(k)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    q.add("a")                    # re-added while processing: held until done
    assert len(q) == 0
    q.done("a")
    assert len(q) == 1 and await q.get() == "a"
    q.done("a")
    q.done("b")
    q.done("c")


async def test_one_key_never_processed_twice_concurrently() -> None:
    q = WorkQueue()
    active: set[str] = set()
    overlaps = 0
    processed = 0

    async def worker() -> None:
        nonlocal overlaps, processed
        while True:
            try:
                k = await q.get()
            except ShutDown:
                return
            if k in active:
                overlaps += 1
            active.add(k)
            await asyncio.sleep(0.001)
            active.discard(k)
            processed += 1
            q.done(k)

    async with asyncio.TaskGroup() as tg:
        for _ in range(4):
            tg.create_task(worker())
        for i in range(200):
            q.add(f"k{i % 5}")
            await asyncio.sleep(0)
        await asyncio.sleep(0.2)
        q.shutdown()
    assert overlaps == 0 and processed >= 5


async def test_add_after_and_rate_limit() -> None:
    q = WorkQueue(RateLimiter(base=0.01, cap=1.0, qps=1000, burst=1000))
    q.add_after("later", 0.05)
    assert len(q) == 0
    await asyncio.sleep(0.1)
    assert await q.get() == "later"
    q.done("later")
    assert q.rate_limiter.when("x") == pytest.approx(0.01)
    assert q.rate_limiter.when("x") == pytest.approx(0.02)
    assert q.num_requeues("x") == 2
    q.forget("x")
    assert q.num_requeues("x") == 0
    q.add_rate_limited("y")
    await asyncio.sleep(0.05)
    assert await q.get() == "y"


async def test_shutdown_wakes_getters() -> None:
    q = WorkQueue()

    async def getter() -> None:
        with pytest.raises(ShutDown):
            await q.get()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(getter())
        await asyncio.sleep(0.01)
        q.shutdown()


def test_indexer() -> None:
    idx = Indexer({"node": lambda o: [o.get("spec", {}).get("nodeName", "")]})
    a = {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"nodeName": "n1"}}
    b = {"metadata": {"name": "b", "namespace": "ns"}, "spec": {"nodeName": "n2"}}
    idx.upsert(a)
    idx.upsert(b)
    assert meta_namespace_key(a) == "ns/a"
    assert [o["metadata"]["name"] for o in idx.by_index("node", "n1")] == ["a"]
    idx.upsert({**a, "spec": {"nodeName": "n2"}})
    assert idx.by_index("node", "n1") == [] and len(idx.by_index("node", "n2")) == 2
    idx.remove(b)
    assert len(idx.list("ns")) == 1 and idx.get("ns/b") is None
