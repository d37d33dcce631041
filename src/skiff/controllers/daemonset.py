"""DaemonSet controller: one pod on every eligible node.

``should_run(ds, node)`` (pure): the template's nodeSelector/required node
affinity match the node, and every NoSchedule/NoExecute taint is tolerated -
counting the tolerations the controller adds to every daemon pod
(not-ready, unreachable, disk/memory/pid pressure, unschedulable). Pods are
created with a required node affinity on ``metadata.name`` so the default
scheduler binds them to their node. A rolling update replaces pods whose
``controller-revision-hash`` is stale, at most ``maxUnavailable`` (default 1)
unavailable at a time.
"""

from __future__ import annotations

from typing import Any

from skiff.controllers import objects as o
from skiff.controllers.base import Controller, owned_informer, pods_informer
from skiff.controllers.deployment.util import scaled, template_hash
from skiff.controllers.refmanager import claim
from skiff.controllers.revisions import HASH_LABEL, ensure_revision, prune
from skiff.scheduler.plugins.helpers import find_untolerated, node_matches_pod_selector

Obj = dict[str, Any]
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def daemon_tolerations(spec: Obj) -> list[Obj]:
    tols = list(spec.get("tolerations") or [])
    for t in DAEMON_TOLERATIONS:
        if not any(x.get("key") == t["key"] and x.get("effect") == t["effect"] for x in tols):
            tols.append(dict(t))
    return tols


def should_run(ds: Obj, node: Obj) -> bool:
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    md = node["metadata"]
    if not node_matches_pod_selector(spec, md["name"], md.get("labels") or {}):
        return False
    taints = (node.get("spec") or {}).get("taints") or []
    return find_untolerated(taints, daemon_tolerations(spec), ("NoSchedule", "NoExecute")) is None


def target_node(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    for t in terms:
        for f in t.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


def daemon_pod(ds: Obj, node: str, h: str) -> Obj:
    pod = o.pod_from_template(ds["spec"]["template"], ds)
    pod["metadata"]["labels"][HASH_LABEL] = h
    spec = pod["spec"]
    spec["tolerations"] = daemon_tolerations(spec)
    aff = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}
    return pod


class DaemonSetController(Controller):
    name = "daemonset"

    def setup(self) -> None:
        self.sets = self.ctx.informer("daemonsets")
        self.sets.add_event_handler(**self.handlers())
        self.nodes = self.ctx.informer("nodes")
        self.nodes.add_event_handler(on_add=self._all, on_delete=self._all,
                                     on_update=self._node_update)
        self.pods = pods_informer(self.ctx)
        self.pods.add_event_handler(**self.owner_handlers("DaemonSet"))
        self.revisions = owned_informer(self.ctx, "controllerrevisions")

    def _all(self, _obj: Obj) -> None:
        for ds in self.sets.store.list():
            self.enqueue(ds)

    def _node_update(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec") or old["metadata"].get("labels") != \
                new["metadata"].get("labels"):
            self._all(new)

    async def reconcile(self, key: str) -> float | None:
        ds = self.sets.store.get(key)
        if ds is None:
            return None
        ds = o.deep(ds)
        ns = o.namespace(ds)
        owned = await claim(self.client, "pods", ds, ds["spec"].get("selector"),
                            self.pods.store.list(ns))
        h = template_hash(ds["spec"]["template"])
        if not o.deleting(ds):
            await ensure_revision(self.client, self.revisions, ds, h)
        by_node: dict[str, list[Obj]] = {}
        for p in owned:
            if o.is_active(p):
                by_node.setdefault(target_node(p), []).append(p)
        nodes = self.nodes.store.list()
        wanted = {o.name(n) for n in nodes if should_run(ds, n)}
        if not o.deleting(ds):
            for n in sorted(wanted):
                pods = by_node.get(n, [])
                if not pods:
                    await self.client.create("pods", daemon_pod(ds, n, h), ns)
                    self.events.emit(ds, "Normal", "SuccessfulCreate",
                                     f"Created pod on node {n}")
                for extra in pods[1:]:
                    await self._delete(ds, extra)
            for n, pods in by_node.items():
                if n not in wanted:
                    for p in pods:
                        await self._delete(ds, p)
            await self._rolling_update(ds, by_node, wanted, h)
        recheck = await self._status(ds, by_node, wanted, h)
        if not o.deleting(ds):
            in_use = {(p["metadata"].get("labels") or {}).get(HASH_LABEL, "") for p in owned}
            await prune(self.client, self.revisions, ds, {f"{o.name(ds)}-{x}" for x in in_use}
                        | {f"{o.name(ds)}-{h}"})
        return recheck

    async def _rolling_update(self, ds: Obj, by_node: dict[str, list[Obj]], wanted: set[str],
                              h: str) -> None:
        strat = ds["spec"].get("updateStrategy") or {"type": "RollingUpdate"}
        if strat.get("type", "RollingUpdate") != "RollingUpdate":
            return
        max_unavail = scaled((strat.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                             len(wanted), True) or 1
        pods = [p for n in wanted for p in by_node.get(n, [])[:1]]
        unavailable = sum(1 for p in pods if not o.is_ready(p)) + \
            sum(1 for n in wanted if not by_node.get(n))
        for p in pods:
            if unavailable >= max_unavail:
                return
            if (p["metadata"].get("labels") or {}).get(HASH_LABEL) != h:
                await self._delete(ds, p)
                unavailable += 1

    async def _delete(self, ds: Obj, pod: Obj) -> None:
        if await self.delete_if_exists("pods", o.name(pod), o.namespace(pod)):
            self.events.emit(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {o.name(pod)}")

    async def _status(self, ds: Obj, by_node: dict[str, list[Obj]], wanted: set[str],
                      h: str) -> float | None:
        """Write the status; returns when availability next changes (minReadySeconds)."""
        mrs = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock.now()
        on = [by_node[n][0] for n in wanted if by_node.get(n)]
        st = {"desiredNumberScheduled": len(wanted),
              "currentNumberScheduled": len(on),
              "numberMisscheduled": sum(1 for n in by_node if n not in wanted and by_node[n]),
              "numberReady": sum(1 for p in on if o.is_ready(p)),
              "numberAvailable": sum(1 for p in on if o.is_available(p, mrs, now)),
              "updatedNumberScheduled": sum(1 for p in on if (p["metadata"].get("labels") or {})
                                            .get(HASH_LABEL) == h),
              "observedGeneration": ds["metadata"].get("generation", 1)}
        st["numberUnavailable"] = max(0, len(wanted) - st["numberAvailable"])
        if not st["numberUnavailable"]:
            st.pop("numberUnavailable")
        if not st["numberAvailable"]:
            st.pop("numberAvailable")
        await self.write_status("daemonsets", ds, st)
        return o.next_available_in(on, mrs, now)
