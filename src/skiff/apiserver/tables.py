"""``meta.k8s.io/v1`` Table conversion for ``kubectl get`` (upstream printers).

Each printer is ``(columns, row_fn)``; ``row_fn(obj) -> cells``. Columns with
``priority: 1`` appear only with ``-o wide``. Rows carry the object's metadata
as a ``PartialObjectMetadata`` (kubectl reads namespace, labels and the RV from
it). Kinds without a printer get ``Name`` and ``Created At``; custom resources
use the CRD's ``additionalPrinterColumns`` (JSONPath) plus ``Age``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from skiff.api.meta import age, parse_time
from skiff.api.selectors import format_label_selector

Obj = dict[str, Any]
Column = tuple[str, str, int]     # name, type, priority
_NAME: Column = ("Name", "string", 0)
_AGE: Column = ("Age", "string", 0)


def _md(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _containers(o: Obj, path: tuple[str, ...] = ("spec", "template", "spec")) -> tuple[str, str]:
    cur: Any = o
    for p in path:
        cur = (cur or {}).get(p)
    cs = (cur or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _pod(o: Obj) -> list[Any]:
    spec, status = o.get("spec") or {}, o.get("status") or {}
    cs = status.get("containerStatuses") or []
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in cs)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for c in cs:
        st = c.get("state") or {}
        for k in ("waiting", "terminated"):
            if st.get(k) and st[k].get("reason"):
                reason = st[k]["reason"]
    if _md(o).get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [_md(o).get("name"), f"{ready}/{len(spec.get('containers') or [])}", reason, restarts,
            age(_md(o).get("creationTimestamp")), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            f"{len(gates)}/{len(gates)}" if gates else "<none>"]


def _deployment(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    c, i = _containers(o)
    return [_md(o).get("name"), f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            age(_md(o).get("creationTimestamp")), c, i,
            format_label_selector(spec.get("selector"))]


def _replicaset(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    c, i = _containers(o)
    return [_md(o).get("name"), spec.get("replicas", 0), st.get("replicas", 0),
            st.get("readyReplicas", 0), age(_md(o).get("creationTimestamp")), c, i,
            format_label_selector(spec.get("selector"))]


def _statefulset(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    c, i = _containers(o)
    return [_md(o).get("name"), f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            age(_md(o).get("creationTimestamp")), c, i]


def _daemonset(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    c, i = _containers(o)
    sel = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [_md(o).get("name"), st.get("desiredNumberScheduled", 0),
            st.get("currentNumberScheduled", 0), st.get("numberReady", 0),
            st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>",
            age(_md(o).get("creationTimestamp")), c, i,
            format_label_selector(spec.get("selector"))]


def _service(o: Obj) -> list[Any]:
    spec = o.get("spec") or {}
    ports = []
    for p in spec.get("ports") or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        ports.append(f"{s}/{p.get('protocol', 'TCP')}")
    ext = spec.get("externalIPs") or [i.get("ip") or i.get("hostname") for i in
                                      ((o.get("status") or {}).get("loadBalancer") or {})
                                      .get("ingress") or []]
    ext_s = ",".join(x for x in ext if x) or ("<pending>" if spec.get("type") == "LoadBalancer"
                                              else "<none>")
    if spec.get("type") == "ExternalName":
        ext_s = spec.get("externalName", "<none>")
    sel = spec.get("selector") or {}
    return [_md(o).get("name"), spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            ext_s, ",".join(ports) or "<none>", age(_md(o).get("creationTimestamp")),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _job(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = "Complete" if conds.get("Complete") == "True" else "Failed" if \
        conds.get("Failed") == "True" else "Suspended" if spec.get("suspend") else "Running"
    comp = f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}"
    dur = ""
    if st.get("startTime"):
        end = st.get("completionTime")
        secs = int(((parse_time(end) if end else None) or __import__("datetime").datetime.now(
            __import__("datetime").UTC)).timestamp() - parse_time(st["startTime"]).timestamp())
        dur = f"{secs}s" if secs < 120 else f"{secs // 60}m"
    c, i = _containers(o)
    return [_md(o).get("name"), status, comp, dur, age(_md(o).get("creationTimestamp")), c, i,
            format_label_selector(spec.get("selector"))]


def _event(o: Obj) -> list[Any]:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or _md(o).get("creationTimestamp")
    return [age(last), o.get("type", ""), o.get("reason", ""),
            f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}", o.get("message", "")]


def _hpa(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    targets = []
    for m in spec.get("metrics") or []:
        t = ((m.get("resource") or {}).get("target") or {}).get("averageUtilization")
        if t is not None:
            targets.append(f"cpu: <unknown>/{t}%")
    if spec.get("targetCPUUtilizationPercentage") is not None:
        targets.append(f"cpu: <unknown>/{spec['targetCPUUtilizationPercentage']}%")
    return [_md(o).get("name"), f"{ref.get('kind')}/{ref.get('name')}",
            ", ".join(targets) or "<none>", spec.get("minReplicas", 1), spec.get("maxReplicas"),
            st.get("currentReplicas", 0), age(_md(o).get("creationTimestamp"))]


def _node(o: Obj) -> list[Any]:
    st = o.get("status") or {}
    ready = next((c.get("status") for c in st.get("conditions") or []
                  if c.get("type") == "Ready"), None)
    status = "Ready" if ready == "True" else "NotReady" if ready else "Unknown"
    if (o.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (_md(o).get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    info = st.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
    return [_md(o).get("name"), status, ",".join(roles) or "<none>",
            age(_md(o).get("creationTimestamp")), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _cronjob(o: Obj) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    last = st.get("lastScheduleTime")
    return [_md(o).get("name"), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            str(bool(spec.get("suspend"))), len(st.get("active") or []),
            age(last) if last else "<none>", age(_md(o).get("creationTimestamp"))]


def _simple(*fns: Callable[[Obj], Any]) -> Callable[[Obj], list[Any]]:
    return lambda o: [_md(o).get("name"), *(f(o) for f in fns),
                      age(_md(o).get("creationTimestamp"))]


def _col(name: str, prio: int = 0, typ: str = "string") -> Column:
    return (name, typ, prio)


PRINTERS: dict[str, tuple[list[Column], Callable[[Obj], list[Any]]]] = {
    "Pod": ([_NAME, _col("Ready"), _col("Status"), _col("Restarts", 0, "string"), _AGE,
             _col("IP", 1), _col("Node", 1), _col("Nominated Node", 1),
             _col("Readiness Gates", 1)], _pod),
    "Deployment": ([_NAME, _col("Ready"), _col("Up-to-date", 0, "integer"),
                    _col("Available", 0, "integer"), _AGE, _col("Containers", 1),
                    _col("Images", 1), _col("Selector", 1)], _deployment),
    "ReplicaSet": ([_NAME, _col("Desired", 0, "integer"), _col("Current", 0, "integer"),
                    _col("Ready", 0, "integer"), _AGE, _col("Containers", 1), _col("Images", 1),
                    _col("Selector", 1)], _replicaset),
    "ReplicationController": ([_NAME, _col("Desired", 0, "integer"), _col("Current", 0, "integer"),
                               _col("Ready", 0, "integer"), _AGE, _col("Containers", 1),
                               _col("Images", 1), _col("Selector", 1)], _replicaset),
    "StatefulSet": ([_NAME, _col("Ready"), _AGE, _col("Containers", 1), _col("Images", 1)],
                    _statefulset),
    "DaemonSet": ([_NAME, _col("Desired", 0, "integer"), _col("Current", 0, "integer"),
                   _col("Ready", 0, "integer"), _col("Up-to-date", 0, "integer"),
                   _col("Available", 0, "integer"), _col("Node Selector"), _AGE,
                   _col("Containers", 1), _col("Images", 1), _col("Selector", 1)], _daemonset),
    "Service": ([_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
                 _AGE, _col("Selector", 1)], _service),
    "ConfigMap": ([_NAME, _col("Data", 0, "integer"), _AGE],
                  _simple(lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))),
    "Secret": ([_NAME, _col("Type"), _col("Data", 0, "integer"), _AGE],
               _simple(lambda o: o.get("type", "Opaque"), lambda o: len(o.get("data") or {}))),
    "Namespace": ([_NAME, _col("Status"), _AGE],
                  _simple(lambda o: (o.get("status") or {}).get("phase", "Active"))),
    "ServiceAccount": ([_NAME, _col("Secrets", 0, "integer"), _AGE],
                       _simple(lambda o: len(o.get("secrets") or []))),
    "Node": ([_NAME, _col("Status"), _col("Roles"), _AGE, _col("Version"), _col("Internal-IP", 1),
              _col("External-IP", 1), _col("OS-Image", 1), _col("Kernel-Version", 1),
              _col("Container-Runtime", 1)], _node),
    "Job": ([_NAME, _col("Status"), _col("Completions"), _col("Duration"), _AGE,
             _col("Containers", 1), _col("Images", 1), _col("Selector", 1)], _job),
    "CronJob": ([_NAME, _col("Schedule"), _col("Timezone"), _col("Suspend", 0, "boolean"),
                 _col("Active", 0, "integer"), _col("Last Schedule"), _AGE], _cronjob),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
              _event),
    "HorizontalPodAutoscaler": ([_NAME, _col("Reference"), _col("Targets"),
                                 _col("MinPods", 0, "integer"), _col("MaxPods", 0, "integer"),
                                 _col("Replicas", 0, "integer"), _AGE], _hpa),
    "Endpoints": ([_NAME, _col("Endpoints"), _AGE], _simple(lambda o: ",".join(
        f"{a.get('ip')}:{p.get('port')}" for s in o.get("subsets") or []
        for a in s.get("addresses") or [] for p in s.get("ports") or []) or "<none>")),
    "Lease": ([_NAME, _col("Holder"), _AGE],
              _simple(lambda o: (o.get("spec") or {}).get("holderIdentity", ""))),
    "PersistentVolumeClaim": ([_NAME, _col("Status"), _col("Volume"), _col("Capacity"),
                               _col("Access Modes"), _col("StorageClass"), _AGE], _simple(
        lambda o: (o.get("status") or {}).get("phase", ""),
        lambda o: (o.get("spec") or {}).get("volumeName", ""),
        lambda o: ((o.get("status") or {}).get("capacity") or {}).get("storage", ""),
        lambda o: ",".join((o.get("spec") or {}).get("accessModes") or []),
        lambda o: (o.get("spec") or {}).get("storageClassName") or "<unset>")),
}
_DEFAULT_COLS: list[Column] = [_NAME, ("Created At", "date", 0)]
_DESCRIPTIONS = {"Name": "Name must be unique within a namespace. Is required when creating "
                         "resources, although some resources may allow a client to request the "
                         "generation of an appropriate name automatically."}


def jsonpath(obj: Any, path: str) -> Any:
    """Evaluate the simple JSONPath of a printer column: ``.spec.replicas``, ``.a[0].b``."""
    path = path.strip().lstrip("{").rstrip("}").lstrip("$")
    cur = obj
    for part in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", path):
        key, idx = part
        if key:
            cur = cur.get(key) if isinstance(cur, dict) else None
        else:
            cur = cur[int(idx)] if isinstance(cur, list) and int(idx) < len(cur) else None
        if cur is None:
            return None
    return cur


def _partial(o: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": o.get("metadata") or {}}


def to_table(kind: str, objs: list[Obj], list_meta: Obj, include: str = "PartialObjectMetadata",
             custom_columns: list[Obj] | None = None, no_headers: bool = False) -> Obj:
    row_fn: Callable[[Obj], list[Any]]
    if custom_columns is not None:
        cols = [_NAME] + [(c["name"], c.get("type", "string"), int(c.get("priority", 0)))
                          for c in custom_columns]
        has_age = any(c["name"] == "Age" for c in custom_columns)
        if not has_age:
            cols.append(_AGE)

        def custom_row(o: Obj) -> list[Any]:
            cells = [_md(o).get("name")]
            for c in custom_columns or []:
                v = jsonpath(o, c["jsonPath"])
                if c.get("type") == "date" and v:
                    v = age(v)
                cells.append(v)
            if not has_age:
                cells.append(age(_md(o).get("creationTimestamp")))
            return cells
        row_fn = custom_row
        cols = [(n, "string" if t == "date" else t, p) for n, t, p in cols]
    elif kind in PRINTERS:
        cols, row_fn = PRINTERS[kind]
    else:
        cols = _DEFAULT_COLS

        def default_row(o: Obj) -> list[Any]:
            return [_md(o).get("name"), _md(o).get("creationTimestamp")]
        row_fn = default_row
    rows = []
    for o in objs:
        row: Obj = {"cells": row_fn(o)[: len(cols)]}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = _partial(o)
        rows.append(row)
    table: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
                  "rows": rows}
    if not no_headers:
        table["columnDefinitions"] = [
            {"name": n, "type": t, "format": "name" if n == "Name" else "",
             "description": _DESCRIPTIONS.get(n, n), "priority": p} for n, t, p in cols]
    return table
