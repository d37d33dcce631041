"""Informers: keep a local cache in sync with the API by list + watch.

``Informer.run()`` lists (at one revision), replaces the cache, then watches
from the list's resourceVersion, applying each event to the cache and calling
the registered handlers. When the watch ends (server timeout, connection
drop) it resumes from the last seen resourceVersion; when the server answers
410 Gone it re-lists (client-go's Reflector). Every ``resync_period`` seconds
handlers get ``on_update(obj, obj)`` for every cached object, so level-driven
controllers revisit everything.

Handlers are plain (synchronous) callables — typically they only enqueue a
key into a :class:`~skiff.client.workqueue.WorkQueue`. A re-list reports
what changed while the watch was down (adds, updates, deletes), so handlers
never miss a transition's end state.

``SharedInformerFactory`` hands out one informer per (resource, namespace,
selectors) and runs them all in one TaskGroup::

    factory = SharedInformerFactory(client)
    pods = factory.informer("pods")
    pods.add_event_handler(on_add=lambda o: q.add(key(o)))
    async with asyncio.TaskGroup() as tg:
        tg.create_task(factory.run())
        await factory.wait_for_cache_sync()
        ...
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skiff.client.cache import Indexer, IndexFunc, meta_namespace_key
from skiff.client.rest import GVR, Client
from skiff.errors import Gone, SkiffError

log = logging.getLogger("skiff.client.informer")
Obj = dict[str, Any]


@dataclass
class Handler:
    on_add: Callable[[Obj], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj], None] | None = None


class Informer:
    def __init__(self, client: Client, resource: str | GVR, namespace: str = "",
                 label_selector: str = "", field_selector: str = "",
                 resync_period: float = 0.0, indexers: dict[str, IndexFunc] | None = None,
                 watch_timeout: tuple[int, int] = (300, 600)) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector, self.field_selector = label_selector, field_selector
        self.resync_period = resync_period
        self.store = Indexer(indexers)
        self.watch_timeout = watch_timeout
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self.last_resource_version = ""

    # -- registration --

    def add_event_handler(self, on_add: Callable[[Obj], None] | None = None,
                          on_update: Callable[[Obj, Obj], None] | None = None,
                          on_delete: Callable[[Obj], None] | None = None) -> None:
        h = Handler(on_add, on_update, on_delete)
        self._handlers.append(h)
        if self._synced.is_set() and on_add is not None:
            for obj in self.store.list():
                on_add(obj)

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    # -- dispatch --

    def _emit(self, kind: str, obj: Obj, old: Obj | None = None) -> None:
        for h in self._handlers:
            try:
                if kind == "add" and h.on_add:
                    h.on_add(obj)
                elif kind == "update" and h.on_update:
                    h.on_update(old or obj, obj)
                elif kind == "delete" and h.on_delete:
                    h.on_delete(obj)
            except Exception:      # one handler's bug must not stop the informer
                log.exception("informer %s: %s handler failed", self.resource, kind)

    # -- list and watch --

    async def _relist(self) -> None:
        lst = await self.client.list_all(self.resource, self.namespace, self.label_selector,
                                         self.field_selector)
        fresh = {meta_namespace_key(o): o for o in lst.get("items") or []}
        old = {k: self.store.get(k) for k in self.store.keys()}  # noqa: SIM118
        self.store.replace(list(fresh.values()))
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                self._emit("add", o)
            elif prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                self._emit("update", o, prev)
        for k, prev in old.items():
            if k not in fresh and prev is not None:
                self._emit("delete", prev)
        self.last_resource_version = lst["metadata"]["resourceVersion"]
        self._synced.set()

    async def _watch_once(self) -> None:
        timeout = random.randint(*self.watch_timeout)
        async for ev in self.client.watch(self.resource, self.namespace,
                                          self.last_resource_version, self.label_selector,
                                          self.field_selector, timeout):
            obj = ev.object
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if ev.type == "BOOKMARK":
                if rv:
                    self.last_resource_version = rv
                continue
            if ev.type in ("ADDED", "MODIFIED"):
                old = self.store.upsert(obj)
                self._emit("add" if old is None else "update", obj, old)
            elif ev.type == "DELETED":
                old = self.store.remove(obj)
                self._emit("delete", obj if old is None else {**old, "metadata": {
                    **old["metadata"], "resourceVersion": rv}})
            if rv:
                self.last_resource_version = rv

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            for obj in self.store.list():
                self._emit("update", obj, obj)

    async def run(self) -> None:
        """List and watch until cancelled."""
        async with asyncio.TaskGroup() as tg:
            if self.resync_period > 0:
                tg.create_task(self._resync())
            backoff = 0.2
            need_list = True
            while True:
                try:
                    if need_list:
                        await self._relist()
                        need_list = False
                    await self._watch_once()
                    backoff = 0.2
                except Gone:
                    need_list = True
                except SkiffError as e:
                    log.warning("informer %s: %s; retrying in %.1fs", self.resource, e, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    need_list = need_list or not self.last_resource_version


class SharedInformerFactory:
    def __init__(self, client: Client, resync_period: float = 0.0) -> None:
        self.client = client
        self.resync_period = resync_period
        self._informers: dict[tuple[Any, ...], Informer] = {}
        self._started = False

    def informer(self, resource: str | GVR, namespace: str = "", label_selector: str = "",
                 field_selector: str = "") -> Informer:
        key = (resource, namespace, label_selector, field_selector)
        if key not in self._informers:
            if self._started:
                raise RuntimeError("informers must be requested before run()")
            self._informers[key] = Informer(self.client, resource, namespace, label_selector,
                                            field_selector, self.resync_period)
        return self._informers[key]

    async def run(self) -> None:
        self._started = True
        async with asyncio.TaskGroup() as tg:
            for inf in self._informers.values():
                tg.create_task(inf.run())

    async def wait_for_cache_sync(self) -> None:
        await asyncio.gather(*(i.wait_for_sync() for i in self._informers.values()))
