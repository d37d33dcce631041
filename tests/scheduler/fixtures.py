"""Builders for nodes and pods in scheduler tests."""

from __future__ import annotations

from typing import Any

from skiff.scheduler.cache import Cache
from skiff.scheduler.nodeinfo import PodInfo

Obj = dict[str, Any]


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
         labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
         unschedulable: bool = False, images: list[Obj] | None = None, **extra: str) -> Obj:
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods), **extra}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": alloc, "capacity": alloc, "images": images or []}}


def pod(name: str, cpu: str = "", memory: str = "", ns: str = "default",
        labels: dict[str, str] | None = None, node_name: str = "", priority: int = 0,
        **spec: Any) -> Obj:
    req = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    c: Obj = {"name": "c", "image": "busybox", "resources": {"requests": req} if req else {}}
    if "ports" in spec:
        c["ports"] = spec.pop("ports")
    if "extended" in spec:
        c["resources"].setdefault("requests", {}).update(spec.pop("extended"))
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}",
                         "labels": labels or {}},
            "spec": {"containers": [c], "nodeName": node_name, "priority": priority, **spec},
            "status": {"phase": "Pending"}}


def cache_with(nodes: list[Obj], pods: list[Obj] = ()) -> Cache:  # type: ignore[assignment]
    c = Cache()
    for n in nodes:
        c.add_node(n)
    for p in pods:
        c.add_pod(p)
    return c


def info(p: Obj) -> PodInfo:
    return PodInfo(p)
