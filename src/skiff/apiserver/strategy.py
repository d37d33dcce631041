"""Per-kind behaviour of the generic store (upstream: each registry's ``strategy.go``).

Pure decisions about an object on create, update and delete: which fields the
server resets, whether ``generation`` is tracked, which status a new object
starts with, what a pod's QoS class is. Stateful allocation (cluster IPs, node
ports) lives in ``allocators``.
"""

from __future__ import annotations

from typing import Any

from skiff.api.scheme import Resource

Obj = dict[str, Any]
_GENERATION_GROUPS = {"apps", "batch", "autoscaling", "policy", "networking.k8s.io",
                      "apiextensions.k8s.io", "admissionregistration.k8s.io",
                      "flowcontrol.apiserver.k8s.io", "scheduling.k8s.io"}


def tracks_generation(res: Resource) -> bool:
    return res.custom or res.group in _GENERATION_GROUPS


def qos_class(pod: Obj) -> str:
    """BestEffort without any requests/limits, Guaranteed when limits == requests for all."""
    containers = (pod.get("spec") or {}).get("containers") or []
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if limits or requests:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or str(requests.get(r, limits[r])) != str(limits[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def initial_status(res: Resource, obj: Obj) -> Obj | None:
    """The status a new object starts with, or None to keep what the client sent."""
    if res.kind == "Pod":
        return {"phase": "Pending", "qosClass": qos_class(obj)}
    if res.kind == "HorizontalPodAutoscaler":
        return {"currentReplicas": 0, "desiredReplicas": 0} if res.version == "v1" else \
            {"desiredReplicas": 0}
    if res.kind == "Namespace":
        return {"phase": "Active"}
    if res.kind == "Service":
        return {"loadBalancer": {}}
    if res.kind in ("PersistentVolumeClaim", "PersistentVolume"):
        return {"phase": "Pending" if res.kind == "PersistentVolumeClaim" else "Available"}
    if res.kind == "CustomResourceDefinition":
        return None
    if res.has_status:
        return {} if not res.custom else None
    return None


def prepare_for_create(res: Resource, obj: Obj) -> None:
    if res.has_status:
        st = initial_status(res, obj)
        if st is None:
            obj.pop("status", None)
        else:
            obj["status"] = st
    if res.kind == "Job" and not (obj.get("spec") or {}).get("manualSelector"):
        uid = obj["metadata"]["uid"]
        name = obj["metadata"].get("name", "")
        labels = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                  "batch.kubernetes.io/job-name": name, "job-name": name}
        spec = obj.setdefault("spec", {})
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        tmeta = spec.setdefault("template", {}).setdefault("metadata", {})
        tmeta.setdefault("labels", {}).update(labels)


def prepare_for_update(res: Resource, new: Obj, old: Obj, subresource: str) -> None:
    """Status isolation: the main resource keeps the stored status, /status keeps the rest."""
    if subresource == "status":
        keep = {k: v for k, v in old.items() if k not in ("status", "metadata")}
        status = new.get("status")
        md = new.get("metadata") or {}
        new.clear()
        new.update(keep)
        new["metadata"] = dict(old["metadata"])
        for k in ("labels", "annotations", "resourceVersion"):   # upstream lets these through
            if k in md:
                new["metadata"][k] = md[k]
        if status is not None:
            new["status"] = status
        else:
            new.pop("status", None)
    elif res.has_status and subresource == "":
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
