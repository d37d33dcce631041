"""Watch semantics over HTTP: selector transitions, bookmarks, timeouts, 410 Expired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from skiff.apiserver import APIServer

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def server() -> AsyncIterator[APIServer]:
    s = APIServer("memory://", port=0, compact_interval=0)
    await s.start()
    yield s
    await s.stop()


async def _events(s: aiohttp.ClientSession, query: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    out = []
    async with s.get(CM + "?watch=true&" + query) as r:
        assert r.status == 200
        async for line in r.content:
            ev = orjson.loads(line)
            out.append((ev["type"], ev["object"]))
    return out


async def test_selector_transitions_bookmark_and_timeout(server: APIServer) -> None:
    async with aiohttp.ClientSession(server.url) as s:
        async with s.get(CM) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        query = ("labelSelector=a%3D1&allowWatchBookmarks=true&timeoutSeconds=2"
                 f"&resourceVersion={rv}")
        watch = asyncio.ensure_future(_events(s, query))
        await asyncio.sleep(0.3)
        async with s.post(CM, json={"metadata": {"name": "t", "labels": {"a": "1"}}}) as r:
            assert r.status == 201
        for value in ("2", "1"):
            async with s.patch(CM + "/t", data=orjson.dumps({"metadata": {"labels": {"a": value}}}),
                               headers={"Content-Type": "application/merge-patch+json"}) as r:
                assert r.status == 200
        async with s.delete(CM + "/t") as r:
            deleted_rv = (await r.json())["metadata"]["resourceVersion"]
        events = await asyncio.wait_for(watch, 10)
    assert [t for t, _ in events] == ["ADDED", "DELETED", "ADDED", "DELETED", "BOOKMARK"]
    assert events[3][1]["metadata"]["resourceVersion"] == deleted_rv
    assert events[4][1]["metadata"]["resourceVersion"] == deleted_rv


async def test_expired_resource_version(server: APIServer) -> None:
    async with aiohttp.ClientSession(server.url) as s:
        for i in range(3):
            async with s.post(CM, json={"metadata": {"name": f"e{i}"}}) as r:
                assert r.status == 201
        await server.storage.compact(await server.storage.current_revision())
        events = await _events(s, "resourceVersion=2&timeoutSeconds=2")
    assert events[0][0] == "ERROR" and events[0][1]["code"] == 410
    assert events[0][1]["reason"] == "Expired" and "too old resource version" in \
        events[0][1]["message"]


async def test_send_initial_events(server: APIServer) -> None:
    async with aiohttp.ClientSession(server.url) as s:
        events = await _events(s, "sendInitialEvents=true&allowWatchBookmarks=true"
                                  "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    assert events[0][0] == "ADDED" and events[0][1]["metadata"]["name"] == "kube-root-ca.crt"
    assert events[1][0] == "BOOKMARK"
    assert events[1][1]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
