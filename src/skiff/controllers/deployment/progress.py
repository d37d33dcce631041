"""Deployment status and conditions (upstream ``sync.go`` calculateStatus and
``progress.go``), pure.

* **Available**: True ("MinimumReplicasAvailable") once available pods >=
  ``replicas - maxUnavailable``.
* **Progressing**: True while the new ReplicaSet gains updated or available
  pods ("ReplicaSetUpdated", ``ReplicaSet "x" is progressing.``), True
  "NewReplicaSetAvailable" when complete, False "ProgressDeadlineExceeded"
  when no progress was made for ``progressDeadlineSeconds`` since the
  condition's ``lastUpdateTime``; Unknown "DeploymentPaused" while paused.

``kubectl rollout status`` reads exactly these (plus observedGeneration and
the replica counts); ``kubectl wait --for=condition=Available`` the first.
"""

from __future__ import annotations

from typing import Any

from skiff.clock import parse_rfc3339
from skiff.controllers.deployment.util import max_unavailable, status_of
from skiff.controllers.objects import set_condition
from skiff.controllers.objects import status_condition as condition

Obj = dict[str, Any]
TIMED_OUT = "ProgressDeadlineExceeded"


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, now: float) -> Obj:
    spec = d.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    available = sum(status_of(r, "availableReplicas") for r in all_rss)
    total = sum(status_of(r, "replicas") for r in all_rss)
    status: Obj = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": total,
        "updatedReplicas": status_of(new_rs, "replicas"),
        "readyReplicas": sum(status_of(r, "readyReplicas") for r in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    old = d.get("status") or {}
    if old.get("collisionCount"):
        status["collisionCount"] = old["collisionCount"]
    status["conditions"] = [dict(c) for c in old.get("conditions") or []]
    if available >= replicas - max_unavailable(d):
        set_condition(status, "Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.", now, update_time=True)
    else:
        set_condition(status, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", now, update_time=True)
    for k in ("readyReplicas", "availableReplicas", "unavailableReplicas", "updatedReplicas",
              "replicas"):
        if not status[k] and k != "replicas":
            status.pop(k)
    return status


def is_complete(d: Obj, st: Obj) -> bool:
    replicas = int((d.get("spec") or {}).get("replicas", 1))
    return bool(st.get("updatedReplicas", 0) == replicas and st.get("replicas", 0) == replicas and
            st.get("availableReplicas", 0) == replicas and
            st.get("observedGeneration", 0) >= d["metadata"].get("generation", 1))


def is_progressing(d: Obj, new: Obj) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return bool(new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or
            new_old < old_old or
            new.get("readyReplicas", 0) > old.get("readyReplicas", 0) or
            new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def timed_out(d: Obj, st: Obj, now: float) -> bool:
    deadline = (d.get("spec") or {}).get("progressDeadlineSeconds")
    if deadline is None:
        return False
    c = condition(st, "Progressing")
    if c is None:
        return False
    if c.get("reason") == TIMED_OUT:
        return True
    since = parse_rfc3339(c.get("lastUpdateTime") or c.get("lastTransitionTime"))
    return since is not None and since + int(deadline) < now


def rollout_conditions(d: Obj, st: Obj, new_rs: Obj | None, now: float) -> float | None:
    """Update Progressing in ``st``; returns seconds until the deadline should be re-checked."""
    spec = d.get("spec") or {}
    deadline = spec.get("progressDeadlineSeconds")
    if spec.get("paused"):
        c = condition(st, "Progressing")
        if c is None or c.get("reason") != "DeploymentPaused":
            set_condition(st, "Progressing", "Unknown", "DeploymentPaused",
                          "Deployment is paused", now, update_time=True)
        return None
    if deadline is None:
        return None
    rs_name = new_rs["metadata"]["name"] if new_rs else ""
    c = condition(st, "Progressing")
    if is_complete(d, st):
        set_condition(st, "Progressing", "True", "NewReplicaSetAvailable",
                      f'ReplicaSet "{rs_name}" has successfully progressed.', now,
                      update_time=True)
        return None
    if c is not None and c.get("reason") == "DeploymentPaused":
        set_condition(st, "Progressing", "Unknown", "DeploymentResumed",
                      "Deployment is resumed", now, update_time=True)
        return float(deadline)
    if new_rs is not None and (c is None or is_progressing(d, st)):
        msg = f'ReplicaSet "{rs_name}" is progressing.'
        if not set_condition(st, "Progressing", "True", "ReplicaSetUpdated", msg, now,
                             update_time=True):
            c = condition(st, "Progressing")
            if c is not None:
                c["lastUpdateTime"] = _ts(now)
        return float(deadline)
    if c is not None and c.get("reason") == TIMED_OUT:
        return None
    if timed_out(d, st, now):
        set_condition(st, "Progressing", "False", TIMED_OUT,
                      f'ReplicaSet "{rs_name}" has timed out progressing.', now, update_time=True)
        return None
    c = condition(st, "Progressing")
    since = parse_rfc3339((c or {}).get("lastUpdateTime")) or now
    return max(0.5, since + int(deadline) - now + 0.5)


def _ts(now: float) -> str:
    from skiff.clock import rfc3339

    return rfc3339(now)
