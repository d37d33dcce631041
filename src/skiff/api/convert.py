"""Conversion between versions of one group-resource (pure functions).

Objects are stored in one version per group-resource (the preferred one) and
converted on the way in and out. Built-in kinds with several served versions:
only ``autoscaling`` HorizontalPodAutoscaler (v1 <-> v2). Custom resources use
the ``None`` strategy: only ``apiVersion`` changes.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def _hpa_v2_to_v1(obj: Obj) -> Obj:
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "status")}
    spec = obj.get("spec") or {}
    s1: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    for m in spec.get("metrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            util = (res.get("target") or {}).get("averageUtilization")
            if util is not None:
                s1["targetCPUUtilizationPercentage"] = util
    out["spec"] = s1
    st = obj.get("status") or {}
    st1: Obj = {k: st[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                   "desiredReplicas") if k in st}
    st1.setdefault("currentReplicas", 0)
    st1.setdefault("desiredReplicas", 0)
    for m in st.get("currentMetrics") or []:
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            cur = (res.get("current") or {}).get("averageUtilization")
            if cur is not None:
                st1["currentCPUUtilizationPercentage"] = cur
    out["status"] = st1
    return out


def _hpa_v1_to_v2(obj: Obj) -> Obj:
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "status")}
    spec = obj.get("spec") or {}
    s2: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    if spec.get("targetCPUUtilizationPercentage") is not None:
        s2["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": spec["targetCPUUtilizationPercentage"]}}}]
    out["spec"] = s2
    st = obj.get("status") or {}
    st2: Obj = {k: st[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                   "desiredReplicas") if k in st}
    st2.setdefault("desiredReplicas", 0)
    if st.get("currentCPUUtilizationPercentage") is not None:
        st2["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": st["currentCPUUtilizationPercentage"]}}}]
    out["status"] = st2
    return out


def convert(obj: Obj, group: str, to_version: str) -> Obj:
    """Return ``obj`` as ``group/to_version`` (the same dict if already there)."""
    api_version = f"{group}/{to_version}" if group else to_version
    if obj.get("apiVersion") == api_version:
        return obj
    frm = str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]
    if group == "autoscaling" and obj.get("kind") == "HorizontalPodAutoscaler":
        if frm == "v2" and to_version == "v1":
            obj = _hpa_v2_to_v1(obj)
        elif frm == "v1" and to_version == "v2":
            obj = _hpa_v1_to_v2(obj)
    obj = dict(obj)
    obj["apiVersion"] = api_version
    return obj
