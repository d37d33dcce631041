"""What the scheduler knows about pods and nodes: precomputed, cheap to test.

:class:`PodInfo` wraps a pod dict with what every cycle needs (requests,
host ports, affinity terms, tolerations) computed once. :class:`NodeInfo`
is a node plus the pods on it (bound or assumed) and their summed requests,
used ports and image sizes - upstream ``framework.NodeInfo``.

Requests (upstream ``resource.PodRequests``): the sum over containers, at
least the largest init container, plus ``spec.overhead``. For *scoring* a
container without a cpu/memory request counts as 100m / 200Mi
(``NonZeroRequested``) so empty pods still spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from skiff.api.quantity import milli_value, value
from skiff.api.selectors import Requirement, selector_from_label_selector

Obj = dict[str, Any]
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024
_NATIVE = ("cpu", "memory", "ephemeral-storage", "pods")


@dataclass
class Resource:
    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, rl: Obj | None) -> Resource:
        r = cls()
        for k, q in (rl or {}).items():
            r.set(k, q)
        return r

    def set(self, name: str, q: Any) -> None:
        if name == "cpu":
            self.milli_cpu = milli_value(q)
        elif name == "memory":
            self.memory = value(q)
        elif name == "ephemeral-storage":
            self.ephemeral_storage = value(q)
        elif name == "pods":
            self.allowed_pods = value(q)
        elif "/" in name or name.startswith("hugepages-"):
            self.scalar[name] = value(q)

    def add(self, o: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * o.milli_cpu
        self.memory += sign * o.memory
        self.ephemeral_storage += sign * o.ephemeral_storage
        for k, v in o.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + sign * v

    def max_with(self, o: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, o.milli_cpu)
        self.memory = max(self.memory, o.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, o.ephemeral_storage)
        for k, v in o.scalar.items():
            self.scalar[k] = max(self.scalar.get(k, 0), v)


def pod_requests(spec: Obj) -> tuple[Resource, int, int]:
    """(requests, non-zero milli cpu, non-zero memory) of a pod spec."""
    total = Resource()
    nz_cpu = nz_mem = 0
    for c in spec.get("containers") or ():
        req = (c.get("resources") or {}).get("requests")
        r = Resource.from_list(req) if req else Resource()
        total.add(r)
        nz_cpu += r.milli_cpu if req and "cpu" in req else DEFAULT_MILLI_CPU
        nz_mem += r.memory if req and "memory" in req else DEFAULT_MEMORY
    for c in spec.get("initContainers") or ():
        req = (c.get("resources") or {}).get("requests")
        if req:
            total.max_with(Resource.from_list(req))
    if spec.get("overhead"):
        oh = Resource.from_list(spec["overhead"])
        total.add(oh)
        nz_cpu += oh.milli_cpu
        nz_mem += oh.memory
    return total, nz_cpu, nz_mem


@dataclass
class AffinityTerm:
    selector: list[Requirement]
    topology_key: str
    namespaces: frozenset[str] | None      # None: every namespace
    weight: int = 0

    def matches(self, pod: PodInfo) -> bool:
        if self.namespaces is not None and pod.namespace not in self.namespaces:
            return False
        labels = pod.labels
        return all(r.matches(labels) for r in self.selector)


def _terms(pod_ns: str, affinity: Obj | None, key: str, required: bool) -> list[AffinityTerm]:
    section = (affinity or {}).get(key) or {}
    out = []
    if required:
        raw = [(t, 0) for t in section.get("requiredDuringSchedulingIgnoredDuringExecution") or ()]
    else:
        raw = [(w.get("podAffinityTerm") or {}, int(w.get("weight", 0)))
               for w in section.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]
    for t, weight in raw:
        nss: frozenset[str] | None
        if t.get("namespaces"):
            nss = frozenset(t["namespaces"])
        elif t.get("namespaceSelector") is not None and not t["namespaceSelector"]:
            nss = None                       # {} selects every namespace
        else:
            nss = frozenset([pod_ns])
        out.append(AffinityTerm(selector_from_label_selector(t.get("labelSelector")) if
                                t.get("labelSelector") is not None else [Requirement("\0", "in")],
                                t.get("topologyKey", ""), nss, weight))
    return out


class PodInfo:
    """A pod plus the parts the scheduler reads on every cycle, computed once."""

    __slots__ = ("_shape", "affinity", "anti_affinity", "host_ports", "key", "labels", "name",
                 "namespace", "node_name", "non_zero_cpu", "non_zero_mem", "pod",
                 "preferred_affinity", "preferred_anti_affinity", "priority", "requests",
                 "tolerations", "uid")

    def __init__(self, pod: Obj) -> None:
        md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        self.pod = pod
        self.name: str = md.get("name", "")
        self.namespace: str = md.get("namespace", "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = md.get("uid", "")
        self.labels: dict[str, str] = md.get("labels") or {}
        self.node_name: str = spec.get("nodeName") or ""
        self.priority = int(spec.get("priority") or 0)
        self.requests, self.non_zero_cpu, self.non_zero_mem = pod_requests(spec)
        self.tolerations: list[Obj] = spec.get("tolerations") or []
        self.host_ports = [(p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP",
                            int(p["hostPort"]))
                           for c in spec.get("containers") or () for p in c.get("ports") or ()
                           if p.get("hostPort")]
        aff = spec.get("affinity") or {}
        self.affinity = _terms(self.namespace, aff, "podAffinity", True)
        self.anti_affinity = _terms(self.namespace, aff, "podAntiAffinity", True)
        self.preferred_affinity = _terms(self.namespace, aff, "podAffinity", False)
        self.preferred_anti_affinity = _terms(self.namespace, aff, "podAntiAffinity", False)
        self._shape: str | None = None

    @property
    def shape(self) -> str:
        """Everything node-local plugins read from this pod, as one string.

        Pods of one template share it, so a node's verdict for one of them holds for
        the next as long as the node has not changed (its ``generation``).
        """
        if self._shape is None:
            spec = self.spec
            parts = {
                "n": spec.get("nodeName"), "t": spec.get("tolerations"),
                "s": spec.get("nodeSelector"), "sn": spec.get("schedulerName"),
                "a": (spec.get("affinity") or {}).get("nodeAffinity"),
                "c": [((c.get("resources") or {}).get("requests"),
                       [p for p in c.get("ports") or () if p.get("hostPort")])
                      for c in spec.get("containers") or ()],
                "i": [(c.get("resources") or {}).get("requests")
                      for c in spec.get("initContainers") or ()],
                "o": spec.get("overhead")}
            self._shape = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS).decode()
        return self._shape
    @property
    def spec(self) -> Obj:
        spec: Obj = self.pod.get("spec") or {}
        return spec


def parse_taints(node: Obj) -> list[Obj]:
    return list((node.get("spec") or {}).get("taints") or [])


class NodeInfo:
    """A node and the pods assigned to it, with running totals."""

    __slots__ = ("allocatable", "generation", "image_sizes", "labels", "memo", "name", "node",
                 "non_zero_cpu", "non_zero_mem", "pods", "pods_with_affinity",
                 "pods_with_required_anti_affinity", "requested", "taints", "unschedulable",
                 "used_ports")

    def __init__(self, node: Obj | None = None) -> None:
        self.pods: dict[str, PodInfo] = {}
        self.requested = Resource()
        self.non_zero_cpu = 0
        self.non_zero_mem = 0
        self.used_ports: dict[tuple[str, int], list[str]] = {}
        self.pods_with_affinity = 0
        self.pods_with_required_anti_affinity = 0
        self.generation = 0
        # (pod shape, plugin) -> (generation, verdict): node-local Filter/Score results
        self.memo: dict[tuple[str, str], tuple[int, object]] = {}
        self.node: Obj = {}
        self.name = ""
        self.labels: dict[str, str] = {}
        self.allocatable = Resource()
        self.taints: list[Obj] = []
        self.unschedulable = False
        self.image_sizes: dict[str, int] = {}
        if node is not None:
            self.set_node(node)

    def set_node(self, node: Obj) -> None:
        self.node = node
        md, status = node.get("metadata") or {}, node.get("status") or {}
        self.name = md.get("name", "")
        self.labels = md.get("labels") or {}
        self.allocatable = Resource.from_list(status.get("allocatable") or status.get("capacity"))
        self.taints = parse_taints(node)
        self.unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        sizes: dict[str, int] = {}
        for img in status.get("images") or ():
            for n in img.get("names") or ():
                sizes[normalize_image(n)] = int(img.get("sizeBytes") or 0)
        self.image_sizes = sizes
        self.generation += 1

    def add_pod(self, pi: PodInfo) -> None:
        self.pods[pi.key] = pi
        self._account(pi, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        pi = self.pods.pop(key, None)
        if pi is not None:
            self._account(pi, -1)
        return pi

    def _account(self, pi: PodInfo, sign: int) -> None:
        self.requested.add(pi.requests, sign)
        self.non_zero_cpu += sign * pi.non_zero_cpu
        self.non_zero_mem += sign * pi.non_zero_mem
        for ip, proto, port in pi.host_ports:
            users = self.used_ports.setdefault((proto, port), [])
            if sign > 0:
                users.append(ip)
            else:
                users.remove(ip)
                if not users:
                    del self.used_ports[(proto, port)]
        if pi.affinity or pi.anti_affinity:
            self.pods_with_affinity += sign
        if pi.anti_affinity:
            self.pods_with_required_anti_affinity += sign
        self.generation += 1


def normalize_image(name: str) -> str:
    """``busybox`` -> ``docker.io/library/busybox:latest`` (how node images are compared)."""
    if "@" not in name.rsplit("/", 1)[-1] and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        return "docker.io/library/" + name
    if "." not in first and ":" not in first and first != "localhost":
        return "docker.io/" + name
    return name
