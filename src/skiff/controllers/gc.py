"""Garbage collector: ownerReferences by uid, with the three propagation policies.

A graph of every object of the monitored resources: uid -> (identity, owners),
plus the reverse edges (owner uid -> dependents). Work items are uids.

* **Background** (the default): the owner is deleted at once; when its
  DELETED event arrives, each dependent whose owners are *all* gone is deleted.
  A dependent with another live owner only loses the dangling reference.
* **Foreground**: the API server marks the owner with ``deletionTimestamp``
  and the ``foregroundDeletion`` finalizer; we delete its dependents (those
  with ``blockOwnerDeletion`` in foreground themselves) and remove the
  finalizer once none is left. Cycles (A owns B owns A, both in foreground)
  are detected as a closed set of objects that only wait for each other, and
  are released together.
* **Orphan**: the ``orphan`` finalizer: we remove the owner's reference from
  every dependent, then the finalizer.

An owner missing from our caches is verified with a live GET (by name,
checking the uid) before anything is deleted: caches lag, deletions don't
come back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from skiff.client import GVR, Informer
from skiff.controllers.base import Controller
from skiff.errors import NotFound, SkiffError

log = logging.getLogger("skiff.controllers.gc")
Obj = dict[str, Any]
MONITORED = ["pods", "replicasets", "deployments", "statefulsets", "daemonsets", "jobs",
             "cronjobs", "services", "endpoints", "endpointslices", "configmaps", "secrets",
             "persistentvolumeclaims", "controllerrevisions", "horizontalpodautoscalers",
             "serviceaccounts", "leases", "nodes", "namespaces", "persistentvolumes"]


@dataclass
class GraphNode:
    uid: str
    resource: str
    namespace: str
    name: str
    owners: list[Obj] = field(default_factory=list)
    deleting: bool = False
    finalizers: tuple[str, ...] = ()


class Graph:
    """uid -> node and owner uid -> dependent uids (pure bookkeeping)."""

    def __init__(self) -> None:
        self.nodes: dict[str, GraphNode] = {}
        self.dependents: dict[str, set[str]] = {}

    def upsert(self, resource: str, obj: Obj) -> GraphNode:
        m = obj["metadata"]
        old = self.nodes.get(m["uid"])
        if old is not None:
            for r in old.owners:
                self.dependents.get(r.get("uid", ""), set()).discard(old.uid)
        n = GraphNode(m["uid"], resource, m.get("namespace", ""), m["name"],
                      list(m.get("ownerReferences") or []), bool(m.get("deletionTimestamp")),
                      tuple(m.get("finalizers") or ()))
        self.nodes[n.uid] = n
        for r in n.owners:
            self.dependents.setdefault(r.get("uid", ""), set()).add(n.uid)
        return n

    def remove(self, uid: str) -> GraphNode | None:
        n = self.nodes.pop(uid, None)
        if n is not None:
            for r in n.owners:
                deps = self.dependents.get(r.get("uid", ""))
                if deps is not None:
                    deps.discard(uid)
                    if not deps:
                        del self.dependents[r.get("uid", "")]
        return n

    def deps(self, uid: str) -> list[GraphNode]:
        return [self.nodes[d] for d in self.dependents.get(uid, ()) if d in self.nodes]

    def blocking_closure(self, uid: str) -> set[str] | None:
        """If ``uid``'s foreground deletion only waits on objects that themselves wait
        (in foreground) on this same set, the set; else None."""
        seen, todo = set(), [uid]
        while todo:
            u = todo.pop()
            if u in seen:
                continue
            seen.add(u)
            n = self.nodes.get(u)
            if n is None or not n.deleting or "foregroundDeletion" not in n.finalizers:
                return None
            todo.extend(d.uid for d in self.deps(u))
        return seen


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 4

    def setup(self) -> None:
        self.graph = Graph()
        self.informers: dict[str, Any] = {}
        for res in MONITORED:
            inf = self.ctx.informer(res)
            self.informers[res] = inf
            inf.add_event_handler(**self._handlers_for(res))
        # Custom resources join the graph as their CRDs appear (and leave with them).
        self.crds = self.ctx.informer("customresourcedefinitions")
        self.crds.add_event_handler(
            on_add=lambda c: self.queue.add("crd:" + c["metadata"]["name"]),
            on_update=lambda a, c: self.queue.add("crd:" + c["metadata"]["name"]),
            on_delete=lambda c: self.queue.add("crd:" + c["metadata"]["name"]))
        self._crd_tasks: dict[str, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            tg.create_task(super().run())

    def _watch_custom(self, key: str) -> None:
        """Start (or stop) monitoring the custom resource a CRD serves."""
        name = key[4:]
        crd = self.crds.store.get(name)
        if crd is None or crd["metadata"].get("deletionTimestamp"):
            task = self._crd_tasks.pop(name, None)
            if task is not None:
                task.cancel()
            return
        if name in self._crd_tasks or self._tg is None:
            return
        spec = crd.get("spec") or {}
        version = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")),
                       None)
        if version is None:
            return
        plural = spec["names"]["plural"]
        gvr = GVR(spec["group"], version, plural, spec.get("scope") == "Namespaced",
                  spec["names"]["kind"])
        res = f"{plural}.{spec['group']}"
        inf = Informer(self.client, gvr)
        inf.add_event_handler(**self._handlers_for(res))
        self.informers[res] = inf
        self._crd_tasks[name] = self._tg.create_task(inf.run())
        log.info("garbage collector: monitoring %s", res)

    def _handlers_for(self, res: str) -> dict[str, Any]:
        def add(obj: Obj) -> None:
            self._changed(res, obj)

        def update(old: Obj, new: Obj) -> None:
            self._changed(res, new)
        return {"on_add": add, "on_update": update, "on_delete": self._deleted}

    def _changed(self, resource: str, obj: Obj) -> None:
        n = self.graph.upsert(resource, obj)
        if n.owners or (n.deleting and {"orphan", "foregroundDeletion"} & set(n.finalizers)):
            self.queue.add(n.uid)
        for r in n.owners:                       # a dependent changed: owner may be done
            owner = self.graph.nodes.get(r.get("uid", ""))
            if owner is not None and owner.deleting:
                self.queue.add(owner.uid)

    def _deleted(self, obj: Obj) -> None:
        n = self.graph.remove(obj["metadata"]["uid"])
        for d in self.graph.deps(obj["metadata"]["uid"]):
            self.queue.add(d.uid)
        if n is not None:
            for r in n.owners:
                if r.get("uid") in self.graph.nodes:
                    self.queue.add(r["uid"])

    def _obj(self, n: GraphNode) -> Obj | None:
        got: Obj | None = self.informers[n.resource].store.get_by_name(n.namespace, n.name)
        return got

    async def reconcile(self, key: str) -> float | None:
        if key.startswith("crd:"):
            self._watch_custom(key)
            return None
        n = self.graph.nodes.get(key)
        if n is None:
            return None
        if n.deleting and "orphan" in n.finalizers:
            await self._orphan(n)
            return None
        if n.deleting and "foregroundDeletion" in n.finalizers:
            return await self._foreground(n)
        if n.owners and not n.deleting:
            await self._check_owners(n)
        return None

    # -- policies --

    async def _orphan(self, n: GraphNode) -> None:
        for d in self.graph.deps(n.uid):
            await self._drop_refs(d, {n.uid})
        await self._remove_finalizer(n, "orphan")

    async def _foreground(self, n: GraphNode) -> float | None:
        deps = self.graph.deps(n.uid)
        if not deps:
            await self._remove_finalizer(n, "foregroundDeletion")
            return None
        closure = self.graph.blocking_closure(n.uid)
        if closure is not None:                  # a cycle waiting on itself: release all
            for u in closure:
                m = self.graph.nodes.get(u)
                if m is not None:
                    await self._remove_finalizer(m, "foregroundDeletion")
            return None
        for d in deps:
            if d.deleting:
                continue
            ref = next((r for r in d.owners if r.get("uid") == n.uid), {})
            policy = "Foreground" if ref.get("blockOwnerDeletion") else "Background"
            await self._delete(d, policy)
        return 5.0                                # safety net; events normally requeue us

    async def _check_owners(self, n: GraphNode) -> None:
        alive: list[Obj] = []
        gone: list[Obj] = []
        waiting: list[Obj] = []
        for ref in n.owners:
            state = await self._owner_state(n, ref)
            {"alive": alive, "gone": gone, "waiting": waiting}[state].append(ref)
        if alive:
            if gone:
                await self._drop_refs(n, {r["uid"] for r in gone})
            return
        if waiting:
            blocks = any(r.get("blockOwnerDeletion") for r in waiting)
            await self._delete(n, "Foreground" if blocks else "Background")
            return
        if gone:
            await self._delete(n, "Background")

    async def _owner_state(self, n: GraphNode, ref: Obj) -> str:
        """alive | gone | waiting (being deleted in foreground)."""
        owner = self.graph.nodes.get(ref.get("uid", ""))
        if owner is not None:
            if owner.deleting and "foregroundDeletion" in owner.finalizers:
                return "waiting"
            return "alive"
        try:
            gvr = await self.client.resolve(f"{ref['apiVersion']}/{ref['kind']}")
            live = await self.client.get(gvr, ref["name"], n.namespace if gvr.namespaced else "")
        except NotFound:
            return "gone"
        if live["metadata"].get("uid") != ref.get("uid"):
            return "gone"
        fins = live["metadata"].get("finalizers") or []
        if live["metadata"].get("deletionTimestamp") and "foregroundDeletion" in fins:
            return "waiting"
        return "alive"

    # -- writes --

    async def _delete(self, n: GraphNode, policy: str) -> None:
        if await self.delete_if_exists(n.resource, n.name, n.namespace, propagation_policy=policy,
                                       preconditions={"uid": n.uid}):
            log.debug("deleted %s %s/%s (%s)", n.resource, n.namespace, n.name, policy)

    async def _drop_refs(self, n: GraphNode, uids: set[str]) -> None:
        obj = self._obj(n)
        if obj is None:
            return
        refs = [r for r in obj["metadata"].get("ownerReferences") or []
                if r.get("uid") not in uids]
        try:
            await self.client.patch(n.resource, n.name, {"metadata": {
                "ownerReferences": refs, "uid": n.uid}}, n.namespace)
        except NotFound:
            pass

    async def _remove_finalizer(self, n: GraphNode, fin: str) -> None:
        try:
            cur = await self.client.get(n.resource, n.name, n.namespace)
        except NotFound:
            return
        if cur["metadata"].get("uid") != n.uid:
            return
        fins = [f for f in cur["metadata"].get("finalizers") or [] if f != fin]
        if len(fins) == len(cur["metadata"].get("finalizers") or []):
            return
        cur["metadata"]["finalizers"] = fins
        try:
            await self.client.update(n.resource, cur)
        except SkiffError as e:
            log.debug("finalizer %s on %s: %s", fin, n.name, e)
            raise


