"""What the client models do not say about lists: patch strategies and list types.

Upstream these come from Go struct tags (``patchStrategy``, ``patchMergeKey``,
``listType``, ``listMapKeys``) and reach clients as OpenAPI extensions. The
Python client's models drop them, so the project owns this table; the schema
generator (``tools/gen_kube_schema.py``) copies it into the served OpenAPI and
the strategic-merge-patch and server-side-apply code read it from there.

Keys are ``<Kind>.<wireField>`` with the version prefix stripped from model
names (``V1PodSpec`` -> ``PodSpec``).
"""

from __future__ import annotations

from typing import Any


def _merge(key: str | None, *map_keys: str, retain: bool = False) -> dict[str, Any]:
    if key is None:   # a set of primitives merged by value
        return {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"}
    out: dict[str, Any] = {
        "x-kubernetes-patch-strategy": "merge,retainKeys" if retain else "merge",
        "x-kubernetes-patch-merge-key": key,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": list(map_keys or (key,)),
    }
    return out


_CONDITIONS = ["PodStatus", "NodeStatus", "DeploymentStatus", "ReplicaSetStatus",
               "StatefulSetStatus", "DaemonSetStatus", "JobStatus", "NamespaceStatus",
               "ReplicationControllerStatus", "PersistentVolumeClaimStatus",
               "CustomResourceDefinitionStatus", "HorizontalPodAutoscalerStatus",
               "ServiceStatus", "PodDisruptionBudgetStatus", "CronJobStatus"]

LIST_META: dict[str, dict[str, Any]] = {
    **{f"{c}.{f}": _merge("name") for c in ("PodSpec",)
       for f in ("containers", "initContainers", "ephemeralContainers", "imagePullSecrets",
                 "schedulingGates")},
    "PodSpec.volumes": _merge("name", retain=True),
    "PodSpec.resourceClaims": _merge("name", retain=True),
    "PodSpec.hostAliases": _merge("ip"),
    "PodSpec.topologySpreadConstraints": _merge("topologyKey", "topologyKey",
                                                "whenUnsatisfiable"),
    **{f"{c}.env": _merge("name") for c in ("Container", "EphemeralContainer")},
    **{f"{c}.ports": _merge("containerPort", "containerPort", "protocol")
       for c in ("Container", "EphemeralContainer")},
    **{f"{c}.volumeMounts": _merge("mountPath") for c in ("Container", "EphemeralContainer")},
    **{f"{c}.volumeDevices": _merge("devicePath") for c in ("Container", "EphemeralContainer")},
    "ServiceSpec.ports": _merge("port", "port", "protocol"),
    "ServiceAccount.secrets": _merge("name"),
    "ObjectMeta.ownerReferences": _merge("uid"),
    "ObjectMeta.finalizers": _merge(None),
    "NodeSpec.podCIDRs": _merge(None),
    "PodStatus.podIPs": _merge("ip"),
    "PodStatus.hostIPs": _merge("ip"),
    "NodeStatus.addresses": _merge("type"),
    "DeploymentSpec.strategy": {"x-kubernetes-patch-strategy": "retainKeys"},
    **{f"{c}.conditions": _merge("type") for c in _CONDITIONS},
}

QUANTITY_FIELDS: frozenset[str] = frozenset({
    "ResourceRequirements.limits", "ResourceRequirements.requests",
    "VolumeResourceRequirements.limits", "VolumeResourceRequirements.requests",
    "NodeStatus.capacity", "NodeStatus.allocatable", "ResourceQuotaSpec.hard",
    "ResourceQuotaStatus.hard", "ResourceQuotaStatus.used", "PersistentVolumeSpec.capacity",
    "PersistentVolumeClaimStatus.capacity", "PersistentVolumeClaimStatus.allocatedResources",
    "LimitRangeItem.max", "LimitRangeItem.min", "LimitRangeItem.default",
    "LimitRangeItem.defaultRequest", "LimitRangeItem.maxLimitRequestRatio",
    "EmptyDirVolumeSource.sizeLimit", "PodSpec.overhead", "ContainerStatus.allocatedResources",
})
