"""Endpoints and EndpointSlices from Services and their pods.

``build_subsets`` (pure): for a Service with a selector, the pods it selects
that have an IP, ready ones as ``addresses`` and the rest as
``notReadyAddresses``; ports resolved from ``targetPort`` (a number, or a
container port *name* looked up in each pod). ``build_slice_endpoints`` gives
the same in EndpointSlice form with ready/serving/terminating conditions.

Services without a selector are left alone (users manage their endpoints).
The Endpoints object has the Service's name; the EndpointSlice is named
``<service>-<5 chars>``, labelled ``kubernetes.io/service-name`` and owned by
the Service (the garbage collector removes it with the Service).
"""

from __future__ import annotations

from typing import Any

from skiff.client.cache import split_key
from skiff.controllers import objects as o
from skiff.controllers.base import Controller, pods_informer
from skiff.errors import AlreadyExists

Obj = dict[str, Any]
MANAGED_BY = "endpointslice-controller.k8s.io"


def selected_pods(svc: Obj, pods: list[Obj]) -> list[Obj]:
    sel = (svc.get("spec") or {}).get("selector") or {}
    return [p for p in pods if sel and all((p["metadata"].get("labels") or {}).get(k) == v
                                           for k, v in sel.items())
            and (p.get("status") or {}).get("podIP") and not o.is_terminal(p)]


def _target_port(sp: Obj, pod: Obj) -> int | None:
    tp = sp.get("targetPort", sp.get("port"))
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == tp and p.get("protocol", "TCP") == sp.get("protocol", "TCP"):
                return int(p["containerPort"])
    return None


def _address(pod: Obj) -> Obj:
    a: Obj = {"ip": pod["status"]["podIP"], "targetRef": {
        "kind": "Pod", "namespace": o.namespace(pod), "name": o.name(pod), "uid": o.uid(pod)}}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        a["nodeName"] = node
    if (pod.get("spec") or {}).get("hostname"):
        a["hostname"] = pod["spec"]["hostname"]
    return a


def build_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    groups: dict[tuple[tuple[Any, ...], ...], Obj] = {}
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    for pod in sorted(selected_pods(svc, pods), key=lambda p: p["status"]["podIP"]):
        ports = []
        for sp in (svc.get("spec") or {}).get("ports") or []:
            port = _target_port(sp, pod)
            if port is None:
                continue
            ep: Obj = {"port": port, "protocol": sp.get("protocol", "TCP")}
            if sp.get("name"):
                ep["name"] = sp["name"]
            if sp.get("appProtocol"):
                ep["appProtocol"] = sp["appProtocol"]
            ports.append(ep)
        if not ports:
            continue
        k = tuple(tuple(sorted(p.items())) for p in ports)
        sub = groups.setdefault(k, {"ports": ports})
        ready = o.is_ready(pod) and not o.deleting(pod)
        field = "addresses" if ready or publish else "notReadyAddresses"
        sub.setdefault(field, []).append(_address(pod))
    return list(groups.values())


def build_slice_endpoints(svc: Obj, pods: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    endpoints, ports = [], None
    for pod in sorted(selected_pods(svc, pods), key=lambda p: p["status"]["podIP"]):
        pp = []
        for sp in (svc.get("spec") or {}).get("ports") or []:
            port = _target_port(sp, pod)
            if port is not None:
                pp.append({"name": sp.get("name", ""), "port": port,
                           "protocol": sp.get("protocol", "TCP")})
        if ports is None:
            ports = pp
        ready = o.is_ready(pod)
        terminating = o.deleting(pod)
        ep: Obj = {"addresses": [pod["status"]["podIP"]],
                   "conditions": {"ready": ready and not terminating, "serving": ready,
                                  "terminating": terminating},
                   "targetRef": {"kind": "Pod", "namespace": o.namespace(pod),
                                 "name": o.name(pod), "uid": o.uid(pod)}}
        if (pod.get("spec") or {}).get("nodeName"):
            ep["nodeName"] = pod["spec"]["nodeName"]
        if (pod.get("spec") or {}).get("hostname"):
            ep["hostname"] = pod["spec"]["hostname"]
        endpoints.append(ep)
    return endpoints, ports or []


class _ServicePodsController(Controller):
    """Shared plumbing: a service is enqueued when it or a pod it selects changes."""

    def setup(self) -> None:
        self.services = self.ctx.informer("services")
        self.services.add_event_handler(**self.handlers())
        self.pods = pods_informer(self.ctx)
        self.pods.add_event_handler(on_add=self._pod, on_delete=self._pod,
                                    on_update=self._pod_update)

    def _pod(self, pod: Obj) -> None:
        labels = pod["metadata"].get("labels") or {}
        for svc in self.services.store.list(o.namespace(pod)):
            sel = (svc.get("spec") or {}).get("selector") or {}
            if sel and all(labels.get(k) == v for k, v in sel.items()):
                self.enqueue(svc)

    def _pod_update(self, old: Obj, new: Obj) -> None:
        self._pod(new)
        if (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}):
            self._pod(old)


class EndpointsController(_ServicePodsController):
    name = "endpoints"
    component = "endpoint-controller"

    def setup(self) -> None:
        super().setup()
        self.endpoints = self.ctx.informer("endpoints")

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        svc = self.services.store.get(key)
        if svc is None:
            cur = self.endpoints.store.get(key)
            if cur is not None and name != "kubernetes":
                await self.delete_if_exists("endpoints", name, ns)
            return None
        if not (svc.get("spec") or {}).get("selector"):
            return None
        subsets = build_subsets(svc, self.pods.store.list(ns))
        cur = self.endpoints.store.get(key)
        labels = dict(svc["metadata"].get("labels") or {})
        if cur is None:
            body = {"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "subsets": subsets}
            try:
                await self.client.create("endpoints", body, ns)
            except AlreadyExists:
                pass
            return None
        if (cur.get("subsets") or []) == subsets and (cur["metadata"].get("labels") or {}) == \
                labels:
            return None
        upd = o.deep(cur)
        upd["subsets"] = subsets
        upd["metadata"]["labels"] = labels
        await self.client.update("endpoints", upd)
        return None


class EndpointSliceController(_ServicePodsController):
    name = "endpointslice"

    def setup(self) -> None:
        super().setup()
        self.slices = self.ctx.informer("endpointslices")

    def _slices_of(self, ns: str, name: str) -> list[Obj]:
        return [s for s in self.slices.store.list(ns)
                if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name
                and (s["metadata"].get("labels") or {}).get(
                    "endpointslice.kubernetes.io/managed-by") == MANAGED_BY]

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        svc = self.services.store.get(key)
        if svc is None or not (svc.get("spec") or {}).get("selector"):
            return None                    # the garbage collector removes owned slices
        endpoints, ports = build_slice_endpoints(svc, self.pods.store.list(ns))
        if not ports:
            ports = [{"name": sp.get("name", ""), "port": sp.get("targetPort", sp.get("port"))
                      if isinstance(sp.get("targetPort", sp.get("port")), int) else sp.get("port"),
                      "protocol": sp.get("protocol", "TCP")}
                     for sp in (svc.get("spec") or {}).get("ports") or []]
        existing = self._slices_of(ns, name)
        labels = {"kubernetes.io/service-name": name,
                  "endpointslice.kubernetes.io/managed-by": MANAGED_BY}
        if not existing:
            body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": f"{name}-", "namespace": ns, "labels": labels,
                                 "ownerReferences": [o.owner_ref(svc)]},
                    "addressType": "IPv4", "endpoints": endpoints, "ports": ports}
            await self.client.create("endpointslices", body, ns)
            return None
        cur = existing[0]
        if (cur.get("endpoints") or []) == endpoints and cur.get("ports") == ports and \
                len(existing) == 1:
            return None
        upd = o.deep(cur)
        upd["endpoints"] = endpoints
        upd["ports"] = ports
        await self.client.update("endpointslices", upd)
        for extra in existing[1:]:
            await self.delete_if_exists("endpointslices", o.name(extra), ns)
        return None
