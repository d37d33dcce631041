"""The scheme: which resources exist and what they are.

One :class:`Resource` per group/version/resource, built from the generated
``data/kube-schema.json.gz`` (see ``tools/gen_kube_schema.py``) plus the small
owned tables below (short names, categories, which subresources we serve).
Custom resources are added and removed at run time by the CRD registry.

A resource's storage key is ``/registry/<group>/<resource>/<ns>/<name>``
(cluster-scoped: no ``<ns>``); one key space is shared by every version of a
group-resource, as upstream stores a single version.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass, field
from importlib import resources as importlib_resources
from typing import Any

SHORT_NAMES: dict[str, list[str]] = {
    "pods": ["po"], "services": ["svc"], "replicationcontrollers": ["rc"], "configmaps": ["cm"],
    "namespaces": ["ns"], "nodes": ["no"], "persistentvolumeclaims": ["pvc"],
    "persistentvolumes": ["pv"], "serviceaccounts": ["sa"], "endpoints": ["ep"],
    "events": ["ev"], "limitranges": ["limits"], "resourcequotas": ["quota"],
    "deployments": ["deploy"], "replicasets": ["rs"], "statefulsets": ["sts"],
    "daemonsets": ["ds"], "cronjobs": ["cj"], "horizontalpodautoscalers": ["hpa"],
    "ingresses": ["ing"], "networkpolicies": ["netpol"], "poddisruptionbudgets": ["pdb"],
    "storageclasses": ["sc"], "certificatesigningrequests": ["csr"], "priorityclasses": ["pc"],
    "customresourcedefinitions": ["crd", "crds"], "componentstatuses": ["cs"],
}
CATEGORY_ALL = {"pods", "replicationcontrollers", "services", "daemonsets", "deployments",
                "replicasets", "statefulsets", "horizontalpodautoscalers", "cronjobs", "jobs"}
CATEGORY_API_EXTENSIONS = {"customresourcedefinitions", "mutatingwebhookconfigurations",
                           "validatingwebhookconfigurations", "apiservices"}
SERVED_SUBRESOURCES = {"status", "scale", "binding", "eviction", "finalize", "log", "exec",
                       "attach", "portforward", "ephemeralcontainers", "approval", "token"}
_SUB_GROUPS = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1"),
               "TokenRequest": ("authentication.k8s.io", "v1")}
# Group order in discovery (preferred first, as upstream lists them).
GROUP_ORDER = ["", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
               "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
               "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
               "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
               "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io"]
VERSION_PREFERENCE = {"autoscaling": ["v2", "v1"]}


@dataclass
class Subresource:
    name: str
    verbs: list[str]
    kind: str
    group: str
    version: str


@dataclass
class Resource:
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    verbs: list[str]
    singular: str = ""
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: dict[str, Subresource] = field(default_factory=dict)
    schema_name: str = ""
    list_kind: str = ""
    custom: bool = False           # served from a CRD
    crd: dict[str, Any] | None = None

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` (core: ``pods``), as used in error messages."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps`` (core: ``Pod``), as used in 422 messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def key(self, namespace: str, name: str = "") -> str:
        """Storage key (or prefix when ``name`` is empty)."""
        base = f"/registry/{self.group or 'core'}/{self.resource}/"
        if self.namespaced and namespace:
            base += f"{namespace}/"
        return base + name

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


def _resource_from(doc: dict[str, Any]) -> Resource:
    subs = {}
    for name, s in doc["subresources"].items():
        if name not in SERVED_SUBRESOURCES:
            continue
        group, version = _SUB_GROUPS.get(s["kind"], (doc["group"], doc["version"]))
        verbs = [v for v in s["verbs"] if v in ("get", "create", "update", "patch", "delete")]
        subs[name] = Subresource(name, verbs, s["kind"], group, version)
    r = doc["resource"]
    cats = ["all"] if r in CATEGORY_ALL else \
        ["api-extensions"] if r in CATEGORY_API_EXTENSIONS else []
    return Resource(group=doc["group"], version=doc["version"], resource=r, kind=doc["kind"],
                    namespaced=doc["namespaced"], verbs=doc["verbs"], singular=doc["kind"].lower(),
                    short_names=SHORT_NAMES.get(r, []), categories=cats, subresources=subs,
                    schema_name=doc["model"], list_kind=doc["kind"] + "List")


@functools.cache
def builtin_data() -> dict[str, Any]:
    """The generated resource table and OpenAPI schemas (loaded once)."""
    raw = importlib_resources.files("skiff.api").joinpath("data/kube-schema.json.gz").read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


class Scheme:
    """A mutable registry of resources (built-ins plus CRD-defined ones)."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], Resource] = {}
        self._by_gvk: dict[tuple[str, str, str], Resource] = {}
        self.generation = 0        # bumped on every change: discovery/OpenAPI caches key on it

    @classmethod
    def builtin(cls) -> Scheme:
        s = cls()
        for doc in builtin_data()["resources"]:
            s.add(_resource_from(doc))
        return s

    def add(self, r: Resource) -> None:
        self._by_gvr[(r.group, r.version, r.resource)] = r
        self._by_gvk[(r.group, r.version, r.kind)] = r
        self.generation += 1

    def remove(self, group: str, version: str, resource: str) -> None:
        r = self._by_gvr.pop((group, version, resource), None)
        if r is not None:
            self._by_gvk.pop((r.group, r.version, r.kind), None)
            self.generation += 1

    def get(self, group: str, version: str, resource: str) -> Resource | None:
        return self._by_gvr.get((group, version, resource))

    def by_kind(self, group: str, version: str, kind: str) -> Resource | None:
        return self._by_gvk.get((group, version, kind))

    def all(self) -> list[Resource]:
        return list(self._by_gvr.values())

    def groups(self) -> list[tuple[str, list[str]]]:
        """(group, versions preferred-first) in discovery order."""
        found: dict[str, set[str]] = {}
        for r in self._by_gvr.values():
            found.setdefault(r.group, set()).add(r.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        out = []
        for g in sorted(found, key=lambda g: (order.get(g, len(order)), g)):
            pref = VERSION_PREFERENCE.get(g, [])
            vs = sorted(found[g], key=lambda v: (pref.index(v) if v in pref else len(pref),
                                                 _version_rank(v)))
            out.append((g, vs))
        return out

    def versions_of(self, group: str, resource: str) -> list[Resource]:
        return [r for r in self._by_gvr.values() if (r.group, r.resource) == (group, resource)]


def _version_rank(v: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then higher numbers first."""
    import re

    m = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (3, 0, 0)
    level = {"alpha": 2, "beta": 1, None: 0}[m[2]]
    return (level, -int(m[1]), -int(m[3] or 0))
