"""The conformance suite every storage backend must pass.

Each check is an ``async def check_*(store)`` taking a started, empty store.
Backend test modules run them all (``CHECKS``) with their own fixture, so a new
backend is conformant when ``for check in CHECKS: await check(store)`` passes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from skiff.errors import AlreadyExists, Conflict, Gone, NotFound
from skiff.storage.interface import DELETE, PUT, Event, Storage


def _expect(exc: type[BaseException], what: str) -> AssertionError:
    return AssertionError(f"expected {exc.__name__}: {what}")


async def check_create_get(s: Storage) -> None:
    r1 = await s.create("/t/a", b"1")
    kv = await s.get("/t/a")
    assert (kv.value, kv.revision, kv.create_revision) == (b"1", r1, r1)
    try:
        await s.create("/t/a", b"2")
        raise _expect(AlreadyExists, "second create")
    except AlreadyExists:
        pass
    try:
        await s.get("/t/missing")
        raise _expect(NotFound, "get missing")
    except NotFound:
        pass


async def check_update_cas(s: Storage) -> None:
    r1 = await s.create("/t/u", b"1")
    r2 = await s.update("/t/u", b"2", r1)
    assert r2 > r1
    try:
        await s.update("/t/u", b"3", r1)
        raise _expect(Conflict, "stale update")
    except Conflict:
        pass
    kv = await s.get("/t/u")
    assert (kv.value, kv.revision, kv.create_revision) == (b"2", r2, r1)
    try:
        await s.update("/t/none", b"x", 1)
        raise _expect(NotFound, "update missing")
    except NotFound:
        pass


async def check_delete(s: Storage) -> None:
    r1 = await s.create("/t/d", b"1")
    try:
        await s.delete("/t/d", r1 + 1000)
        raise _expect(Conflict, "stale delete")
    except Conflict:
        pass
    rd = await s.delete("/t/d", r1)
    assert rd > r1
    try:
        await s.get("/t/d")
        raise _expect(NotFound, "get deleted")
    except NotFound:
        pass
    r3 = await s.create("/t/d", b"again")       # re-create after delete
    assert (await s.get("/t/d")).create_revision == r3
    assert await s.current_revision() >= r3


async def check_list_paging_and_revision(s: Storage) -> None:
    for i in range(7):
        await s.create(f"/l/k{i}", str(i).encode())
    await s.create("/lx/other", b"no")           # outside the prefix
    rev = await s.current_revision()
    page = await s.list("/l/", limit=3)
    assert [kv.key for kv in page.items] == ["/l/k0", "/l/k1", "/l/k2"]
    assert page.remaining == 4 and page.revision == rev
    await s.update("/l/k4", b"changed", (await s.get("/l/k4")).revision)
    await s.delete("/l/k5")
    page2 = await s.list("/l/", revision=rev, limit=3, start_after="/l/k2")
    assert [kv.value for kv in page2.items] == [b"3", b"4", b"5"]
    assert page2.remaining == 1
    now = await s.list("/l/")
    assert [kv.key for kv in now.items] == ["/l/k0", "/l/k1", "/l/k2", "/l/k3", "/l/k4", "/l/k6"]
    assert now.items[4].value == b"changed"


async def check_concurrent_writers_one_key(s: Storage) -> None:
    """Many writers race read-modify-write on one counter: no lost update."""
    await s.create("/c/n", b"0")

    async def incr() -> None:
        while True:
            kv = await s.get("/c/n")
            try:
                await s.update("/c/n", str(int(kv.value) + 1).encode(), kv.revision)
                return
            except Conflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(incr() for _ in range(40)))
    assert (await s.get("/c/n")).value == b"40"


async def _collect(s: Storage, prefix: str, rev: int, n: int) -> list[Event]:
    out: list[Event] = []
    w = s.watch(prefix, rev)
    try:
        async with asyncio.timeout(10):
            async for ev in w:
                out.append(ev)
                if len(out) == n:
                    break
    finally:
        await w.close()
    return out


async def check_watch_order_and_replay(s: Storage) -> None:
    start = await s.create("/before", b"")       # revision 0 would mean "from now"
    r1 = await s.create("/w/a", b"1")
    r2 = await s.update("/w/a", b"2", r1)
    await s.create("/other/x", b"-")
    r3 = await s.delete("/w/a")
    evs = await _collect(s, "/w/", start, 3)       # replay from history
    assert [(e.type, e.revision) for e in evs] == [(PUT, r1), (PUT, r2), (DELETE, r3)]
    assert evs[0].created and evs[1].prev_value == b"1" and evs[2].value == b"2"

    w = s.watch("/w/", await s.current_revision())  # live, concurrent writers
    got: list[int] = []

    async def consume() -> None:
        async for ev in w:
            got.append(ev.revision)
            if len(got) == 30:
                return

    async def produce(i: int) -> None:
        for j in range(10):
            await s.create(f"/w/p{i}-{j}", b"v")

    try:
        async with asyncio.timeout(10):
            await asyncio.gather(consume(), *(produce(i) for i in range(3)))
    finally:
        await w.close()
    assert got == sorted(got) and len(set(got)) == 30


async def check_compaction_gone(s: Storage) -> None:
    r1 = await s.create("/g/a", b"1")
    for i in range(5):
        r1 = await s.update("/g/a", str(i).encode(), r1)
    await s.create("/g/b", b"b")
    old = r1 - 3
    await s.compact(r1)
    assert (await s.get("/g/a")).value == b"4"       # current values survive
    assert len((await s.list("/g/")).items) == 2
    for what, call in (("watch", lambda: _collect(s, "/g/", old, 1)),
                       ("list", lambda: s.list("/g/", revision=old))):
        try:
            await call()
            raise _expect(Gone, what)
        except Gone:
            pass
    r2 = await s.update("/g/a", b"after", r1)
    assert r2 > r1 and (await s.get("/g/a")).revision == r2


CHECKS: list[Callable[[Storage], Awaitable[None]]] = [
    check_create_get, check_update_cas, check_delete, check_list_paging_and_revision,
    check_concurrent_writers_one_key, check_watch_order_and_replay, check_compaction_gone,
]
