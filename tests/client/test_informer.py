"""Client, informer and work queue against an embedded API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from skiff.apiserver import APIServer
from skiff.client import Client, Config, Informer, SharedInformerFactory
from skiff.errors import AlreadyExists, Conflict, Gone, Invalid, NotFound


@pytest.fixture
async def server() -> AsyncIterator[APIServer]:
    s = APIServer("memory://", port=0, compact_interval=0)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def c(server: APIServer) -> AsyncIterator[Client]:
    async with Client(Config(server.url)) as cl:
        yield cl


async def test_client_verbs(c: Client) -> None:
    cm = await c.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "a"}, "data": {"k": "v"}}, "default")
    with pytest.raises(AlreadyExists):
        await c.create("configmaps", cm, "default")
    got = await c.get("cm", "a", "default")
    assert got["data"] == {"k": "v"}
    got["data"]["k"] = "w"
    await c.update("configmaps", got)
    with pytest.raises(Conflict):
        await c.update("configmaps", got)
    p = await c.patch("configmaps", "a", {"data": {"x": "1"}}, "default")
    assert p["data"] == {"k": "w", "x": "1"}
    ap = await c.apply({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "b", "namespace": "default"}, "data": {"z": "1"}},
                       field_manager="me")
    assert ap["metadata"]["managedFields"][0]["manager"] == "me"
    with pytest.raises(Invalid) as e:
        await c.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                "spec": {"containers": [{"name": "c"}]}}, "default")
    assert e.value.causes[0].field == "spec.containers[0].image"
    lst = await c.list_all("configmaps", "default", page_size=1)
    assert {i["metadata"]["name"] for i in lst["items"]} >= {"a", "b", "kube-root-ca.crt"}
    await c.delete("configmaps", "a", "default")
    with pytest.raises(NotFound):
        await c.get("configmaps", "a", "default")
    dep = await c.create("deployments.apps", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}}}, "default")
    dep["status"] = {"observedGeneration": 1, "replicas": 0}
    out = await c.update_status("deployments", dep)
    assert out["status"]["observedGeneration"] == 1
    assert out["metadata"]["generation"] == 1


async def test_watch_resume_and_gone(c: Client, server: APIServer) -> None:
    first = await c.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "w"}}, "default")
    rv = first["metadata"]["resourceVersion"]
    await c.patch("configmaps", "w", {"data": {"a": "1"}}, "default")
    await c.delete("configmaps", "w", "default")
    types = [ev.type async for ev in c.watch("configmaps", "default", rv, timeout_seconds=1,
                                             allow_bookmarks=False)]
    assert types == ["MODIFIED", "DELETED"]
    await server.storage.compact(await server.storage.current_revision())
    with pytest.raises(Gone):
        async for _ in c.watch("configmaps", "default", rv, timeout_seconds=1):
            pass


async def test_informer_and_shared_factory(c: Client, server: APIServer) -> None:
    factory = SharedInformerFactory(c)
    inf: Informer = factory.informer("configmaps", "default")
    assert factory.informer("configmaps", "default") is inf
    events: list[tuple[str, str]] = []
    inf.add_event_handler(on_add=lambda o: events.append(("add", o["metadata"]["name"])),
                          on_update=lambda o, n: events.append(("update", n["metadata"]["name"])),
                          on_delete=lambda o: events.append(("delete", o["metadata"]["name"])))
    inf.add_indexers({"key": lambda o: list((o.get("data") or {}).keys())})
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(factory.run())
        await asyncio.wait_for(factory.wait_for_cache_sync(), 5)
        assert ("add", "kube-root-ca.crt") in events
        await c.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "i"}, "data": {"x": "1"}}, "default")
        await c.patch("configmaps", "i", {"data": {"y": "2"}}, "default")
        await c.delete("configmaps", "i", "default")
        for _ in range(100):
            if ("delete", "i") in events:
                break
            await asyncio.sleep(0.02)
        assert events[-3:] == [("add", "i"), ("update", "i"), ("delete", "i")]
        await c.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": "j"}, "data": {"x": "1"}}, "default")
        for _ in range(100):
            if inf.store.get("default/j"):
                break
            await asyncio.sleep(0.02)
        assert [o["metadata"]["name"] for o in inf.store.by_index("key", "x")] == ["j"]
        task.cancel()


async def test_binding_and_eviction(c: Client) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"},
           "spec": {"containers": [{"name": "c", "image": "x"}]}}
    await c.create("pods", pod, "default")
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    await c.request("POST", "/api/v1/namespaces/default/pods/b/binding", binding)
    got = await c.get("pods", "b", "default")
    assert got["spec"]["nodeName"] == "n1"
    assert got["status"]["conditions"][0]["type"] == "PodScheduled"
    with pytest.raises(Conflict):
        await c.request("POST", "/api/v1/namespaces/default/bindings", binding)
    await c.request("POST", "/api/v1/namespaces/default/pods/b/eviction", {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "b"},
        "deleteOptions": {"gracePeriodSeconds": 0}})
    with pytest.raises(NotFound):
        await c.get("pods", "b", "default")
