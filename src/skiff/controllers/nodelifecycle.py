"""Node lifecycle: heartbeats -> Ready/Unknown, taints, and taint-based eviction.

Every ``monitor_period`` each node is checked. Its heartbeat is its Lease in
``kube-node-lease`` (and the Ready condition's ``lastHeartbeatTime``); when
neither has *changed* for ``grace_period`` seconds of our clock, the node's
conditions become Unknown ("Kubelet stopped posting node status.").

Taints follow the Ready condition: False -> ``node.kubernetes.io/not-ready``,
Unknown -> ``node.kubernetes.io/unreachable``, each with NoSchedule (the
scheduler stops placing pods) and NoExecute (pods are evicted). Eviction
(``decide_eviction``): a pod that does not tolerate a NoExecute taint goes at
once; one that tolerates it for ``tolerationSeconds`` goes that long after the
taint was added; a toleration without seconds keeps it forever.

``PodGCController`` force-deletes pods bound to nodes that no longer exist
(after a short quarantine, as upstream's PodGC).
"""

from __future__ import annotations

from typing import Any

from skiff.clock import parse_rfc3339, rfc3339
from skiff.controllers import objects as o
from skiff.controllers.base import Context, Controller, pods_informer
from skiff.errors import NotFound, SkiffError
from skiff.scheduler.plugins.helpers import tolerates

Obj = dict[str, Any]
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


def desired_taints(node: Obj, now: float) -> list[Obj]:
    """The node's taints with the lifecycle ones matching its Ready condition."""
    ready = o.condition(node, "Ready")
    # A node that never posted status is left alone until the grace period makes its
    # Ready condition Unknown (upstream: NodeStatusNeverUpdated).
    status = (ready or {}).get("status", "True")
    keep = [t for t in (node.get("spec") or {}).get("taints") or []
            if t.get("key") not in (NOT_READY, UNREACHABLE)]
    cur = {(t.get("key"), t.get("effect")): t for t in (node.get("spec") or {}).get("taints")
           or []}
    key = None if status == "True" else (NOT_READY if status == "False" else UNREACHABLE)
    if key is not None:
        for effect in ("NoSchedule", "NoExecute"):
            old = cur.get((key, effect))
            keep.append(old if old is not None else {"key": key, "effect": effect,
                                                     "timeAdded": rfc3339(now)})
    return keep


def decide_eviction(pod: Obj, taints: list[Obj], now: float) -> float | None:
    """Seconds until ``pod`` must be evicted (0: now), or None to keep it."""
    tols = (pod.get("spec") or {}).get("tolerations") or []
    wait: float | None = None
    for t in taints:
        if t.get("effect") != "NoExecute":
            continue
        matching = [tol for tol in tols if tolerates(tol, t)]
        if not matching:
            return 0.0
        secs = [tol.get("tolerationSeconds") for tol in matching]
        if any(s is None for s in secs):
            continue
        added = parse_rfc3339(t.get("timeAdded")) or now
        left = added + max(0, min(int(s) for s in secs if s is not None)) - now
        wait = max(0.0, left) if wait is None else min(wait, max(0.0, left))
    return wait


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    component = "node-controller"

    def __init__(self, ctx: Context, grace_period: float = 40.0, monitor_period: float = 5.0
                 ) -> None:
        self.grace_period = grace_period
        self.monitor_period = monitor_period
        self._heartbeat: dict[str, tuple[str, float]] = {}
        super().__init__(ctx)

    def setup(self) -> None:
        self.nodes = self.ctx.informer("nodes")
        self.nodes.add_event_handler(**self.handlers())
        self.leases = self.ctx.informer("leases")
        self.leases.add_event_handler(
            on_add=self._lease, on_update=lambda old, new: self._lease(new))
        self.pods = pods_informer(self.ctx)

    def _lease(self, lease: Obj) -> None:
        if o.namespace(lease) == "kube-node-lease":
            self.queue.add(o.name(lease))

    def _heartbeat_age(self, node: Obj) -> float:
        """Seconds since this node's heartbeat last *changed* (our clock)."""
        name = o.name(node)
        lease = self.leases.store.get_by_name("kube-node-lease", name)
        ready = o.condition(node, "Ready") or {}
        mark = f"{((lease or {}).get('spec') or {}).get('renewTime')}|" \
               f"{ready.get('lastHeartbeatTime')}"
        now = self.clock.monotonic()
        seen = self._heartbeat.get(name)
        if seen is None or seen[0] != mark:
            self._heartbeat[name] = (mark, now)
            return 0.0
        return now - seen[1]

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.store.get(key)
        if node is None:
            self._heartbeat.pop(key, None)
            return None
        node = o.deep(node)
        now = self.clock.now()
        if self._heartbeat_age(node) > self.grace_period:
            node = await self._mark_unknown(node, now)
        taints = desired_taints(node, now)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            node = await self.client.patch("nodes", key, {"spec": {"taints": taints}})
        again = await self._evict(node, taints, now)
        return min(self.monitor_period, again) if again is not None else self.monitor_period

    async def _mark_unknown(self, node: Obj, now: float) -> Obj:
        st = node.setdefault("status", {})
        changed = False
        if o.condition(node, "Ready") is None:
            st.setdefault("conditions", []).append({
                "type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
                "lastTransitionTime": rfc3339(now), "lastHeartbeatTime": None})
            changed = True
        for c in st.get("conditions") or []:
            if c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown",
                         message="Kubelet stopped posting node status.",
                         lastTransitionTime=rfc3339(now))
                changed = True
        if not changed:
            return node
        self.events.emit(node, "Normal", "NodeNotReady",
                         f"Node {o.name(node)} status is now: NodeNotReady")
        return await self.client.update_status("nodes", node)

    async def _evict(self, node: Obj, taints: list[Obj], now: float) -> float | None:
        if not any(t.get("effect") == "NoExecute" for t in taints):
            return None
        soonest: float | None = None
        for pod in self.pods.store.by_index("node", o.name(node)):
            if o.deleting(pod) or o.is_terminal(pod):
                continue
            wait = decide_eviction(pod, taints, now)
            if wait is None:
                continue
            if wait <= 0:
                self.events.recorder.emit(pod, "Normal", "TaintManagerEviction",
                                          f"Marking for deletion Pod {o.key(pod)}",
                                          "taint-eviction-controller")
                await self.delete_if_exists("pods", o.name(pod), o.namespace(pod),
                                            preconditions={"uid": o.uid(pod)})
            else:
                soonest = wait if soonest is None else min(soonest, wait)
        return soonest

    async def run(self) -> None:
        import asyncio

        async with asyncio.TaskGroup() as tg:
            tg.create_task(super().run())
            tg.create_task(self._monitor())

    async def _monitor(self) -> None:
        await self.ctx.factory.wait_for_cache_sync()
        while True:
            for k in list(self.nodes.store.keys()):
                self.queue.add(k)
            await self.clock.sleep(self.monitor_period)


class PodGCController(Controller):
    name = "podgc"
    component = "pod-garbage-collector"

    def __init__(self, ctx: Context, quarantine: float = 40.0) -> None:
        self.quarantine = quarantine
        self._missing_since: dict[str, float] = {}
        super().__init__(ctx)

    def setup(self) -> None:
        self.nodes = self.ctx.informer("nodes")
        self.nodes.add_event_handler(on_delete=self._node_deleted)
        self.pods = pods_informer(self.ctx)

    def _node_deleted(self, node: Obj) -> None:
        self.queue.add(o.name(node))

    async def reconcile(self, key: str) -> float | None:
        if self.nodes.store.get(key) is not None:
            self._missing_since.pop(key, None)
            return None
        since = self._missing_since.setdefault(key, self.clock.monotonic())
        left = since + self.quarantine - self.clock.monotonic()
        if left > 0:
            return left
        # Confirm with the API: the cache may lag behind a re-registration.
        try:
            await self.client.get("nodes", key)
            return None
        except NotFound:
            pass
        for pod in self.pods.store.by_index("node", key):
            self.events.emit(pod, "Normal", "PodGC", f"Deleting orphaned pod {o.key(pod)}: "
                             f"node {key} does not exist")
            try:
                await self.client.delete("pods", o.name(pod), o.namespace(pod),
                                         grace_period_seconds=0,
                                         preconditions={"uid": o.uid(pod)})
            except (NotFound, SkiffError):
                pass
        self._missing_since.pop(key, None)
        return None
