"""Per-kind defaulting, as pure functions on dicts (mirrors upstream ``SetDefaults_*``).

``apply_defaults(kind, obj)`` fills what the API server fills, so clients see
complete objects (``describe`` shows ``StrategyType: RollingUpdate``, ports show
``80/TCP``) and the Python client's strict models accept every response.
Defaults never overwrite a value the user set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]


def _d(obj: Obj, key: str, value: Any) -> Any:
    """setdefault that also replaces an explicit null."""
    if obj.get(key) is None:
        obj[key] = value
    return obj[key]


def _image_pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    tag = tail.split(":", 1)[1] if ":" in tail else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def container(c: Obj) -> None:
    _d(c, "terminationMessagePath", "/dev/termination-log")
    _d(c, "terminationMessagePolicy", "File")
    if isinstance(c.get("image"), str):
        _d(c, "imagePullPolicy", _image_pull_policy(c["image"]))
    _d(c, "resources", {})
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            _d(p, "protocol", "TCP")
    for env in c.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            _d(ref, "apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        p = c.get(probe)
        if isinstance(p, dict):
            for k, v in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                         ("failureThreshold", 3)):
                _d(p, k, v)
            hg = p.get("httpGet")
            if isinstance(hg, dict):
                _d(hg, "path", "/")
                _d(hg, "scheme", "HTTP")


def pod_spec(spec: Obj) -> None:
    _d(spec, "restartPolicy", "Always")
    _d(spec, "terminationGracePeriodSeconds", 30)
    _d(spec, "dnsPolicy", "ClusterFirst")
    _d(spec, "securityContext", {})
    _d(spec, "schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                container(c)
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        for src, mode in (("secret", "defaultMode"), ("configMap", "defaultMode"),
                          ("projected", "defaultMode"), ("downwardAPI", "defaultMode")):
            if isinstance(v.get(src), dict):
                _d(v[src], mode, 420)
        if isinstance(v.get("emptyDir"), dict) is False and len(v) == 1:
            v["emptyDir"] = {}


def pod(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    pod_spec(spec)
    _d(spec, "serviceAccountName", spec.get("serviceAccount") or "default")
    _d(spec, "serviceAccount", spec["serviceAccountName"])
    _d(spec, "enableServiceLinks", True)
    _d(spec, "priority", 0)
    _d(spec, "preemptionPolicy", "PreemptLowerPriority")
    tolerations = _d(spec, "tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(isinstance(t, dict) and t.get("key") == key for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300})


def _template(obj: Obj, *path: str) -> None:
    cur: Any = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    if isinstance(cur, dict) and isinstance(cur.get("spec"), dict):
        pod_spec(cur["spec"])


def deployment(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    _d(spec, "replicas", 1)
    strategy = _d(spec, "strategy", {})
    _d(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate", {})
        _d(ru, "maxUnavailable", "25%")
        _d(ru, "maxSurge", "25%")
    _d(spec, "revisionHistoryLimit", 10)
    _d(spec, "progressDeadlineSeconds", 600)
    _template(obj, "spec", "template")


def replica_set(obj: Obj) -> None:
    _d(_d(obj, "spec", {}), "replicas", 1)
    _template(obj, "spec", "template")


def replication_controller(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    _d(spec, "replicas", 1)
    tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if not spec.get("selector") and tmpl_labels:
        spec["selector"] = dict(tmpl_labels)
    _template(obj, "spec", "template")


def stateful_set(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    _d(spec, "replicas", 1)
    _d(spec, "podManagementPolicy", "OrderedReady")
    us = _d(spec, "updateStrategy", {"type": "RollingUpdate"})
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        _d(_d(us, "rollingUpdate", {}), "partition", 0)
    _d(spec, "revisionHistoryLimit", 10)
    _d(spec, "persistentVolumeClaimRetentionPolicy",
       {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _template(obj, "spec", "template")


def daemon_set(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    us = _d(spec, "updateStrategy", {"type": "RollingUpdate"})
    if us.get("type", "RollingUpdate") == "RollingUpdate":
        ru = _d(us, "rollingUpdate", {})
        _d(ru, "maxUnavailable", 1)
        _d(ru, "maxSurge", 0)
    _d(spec, "revisionHistoryLimit", 10)
    _template(obj, "spec", "template")


def job_spec(spec: Obj) -> None:
    _d(spec, "parallelism", 1)
    if spec.get("completions") is None and spec.get("parallelism") == 1:
        spec["completions"] = 1
    _d(spec, "backoffLimit", 6)
    _d(spec, "completionMode", "NonIndexed")
    _d(spec, "suspend", False)
    _d(spec, "manualSelector", spec.get("manualSelector"))
    if spec.get("manualSelector") is None:
        spec.pop("manualSelector")
    _d(spec, "podReplacementPolicy", "TerminatingOrFailed")
    tmpl = spec.get("template")
    if isinstance(tmpl, dict) and isinstance(tmpl.get("spec"), dict):
        pod_spec(tmpl["spec"])


def job(obj: Obj) -> None:
    job_spec(_d(obj, "spec", {}))


def cron_job(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    _d(spec, "concurrencyPolicy", "Allow")
    _d(spec, "suspend", False)
    _d(spec, "successfulJobsHistoryLimit", 3)
    _d(spec, "failedJobsHistoryLimit", 1)
    jt = spec.get("jobTemplate")
    if isinstance(jt, dict) and isinstance(jt.get("spec"), dict):
        job_spec(jt["spec"])


def service(obj: Obj) -> None:
    spec = _d(obj, "spec", {})
    _d(spec, "type", "ClusterIP")
    _d(spec, "sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        _d(spec, "ipFamilyPolicy", "SingleStack")
        _d(spec, "ipFamilies", ["IPv4"])
        _d(spec, "internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        _d(spec, "externalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            _d(p, "protocol", "TCP")
            if p.get("targetPort") is None and "port" in p:
                p["targetPort"] = p["port"]


def namespace(obj: Obj) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        _d(obj["metadata"], "labels", {})["kubernetes.io/metadata.name"] = name
    _d(_d(obj, "spec", {}), "finalizers", ["kubernetes"])
    _d(_d(obj, "status", {}), "phase", "Active")


def secret(obj: Obj) -> None:
    _d(obj, "type", "Opaque")


def hpa(obj: Obj) -> None:
    _d(_d(obj, "spec", {}), "minReplicas", 1)


def pvc(obj: Obj) -> None:
    _d(_d(obj, "spec", {}), "volumeMode", "Filesystem")
    _d(_d(obj, "status", {}), "phase", "Pending")


def priority_class(obj: Obj) -> None:
    _d(obj, "preemptionPolicy", "PreemptLowerPriority")


def pod_template(obj: Obj) -> None:
    _template(obj, "template")


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Pod": pod, "Deployment": deployment, "ReplicaSet": replica_set,
    "ReplicationController": replication_controller, "StatefulSet": stateful_set,
    "DaemonSet": daemon_set, "Job": job, "CronJob": cron_job, "Service": service,
    "Namespace": namespace, "Secret": secret, "HorizontalPodAutoscaler": hpa,
    "PersistentVolumeClaim": pvc, "PriorityClass": priority_class, "PodTemplate": pod_template,
}


def apply_defaults(kind: str, obj: Obj) -> None:
    """Fill server defaults for ``kind`` in place (a no-op for kinds without any)."""
    fn = DEFAULTERS.get(kind)
    if fn is not None:
        fn(obj)
