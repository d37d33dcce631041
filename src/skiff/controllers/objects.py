"""Pure helpers on Kubernetes objects that controllers share: owner references,
pod phase/readiness/availability, label selectors, conditions, timestamps.

Worked example of availability: a pod Ready since 12:00:00 with
``minReadySeconds: 10`` is *available* from 12:00:10 on.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from skiff.api.selectors import labels_match, selector_from_label_selector
from skiff.client.cache import meta_namespace_key
from skiff.clock import parse_rfc3339, rfc3339

Obj = dict[str, Any]


def md(obj: Obj) -> Obj:
    m: Obj = obj.setdefault("metadata", {})
    return m


def name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def namespace(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace", ""))


def uid(obj: Obj) -> str:
    return str(obj["metadata"].get("uid", ""))


def key(obj: Obj) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects): the work-queue and cache key."""
    return meta_namespace_key(obj)


def deleting(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def controller_ref(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def owner_ref(owner: Obj, block: bool = True) -> Obj:
    """A controller ownerReference pointing at ``owner``."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name(owner),
            "uid": uid(owner), "controller": True, "blockOwnerDeletion": block}


def selector_matcher(selector: Obj | None) -> Callable[[Obj], bool]:
    """A LabelSelector, parsed once, as a test of objects' labels (an empty selector matches
    nothing here, as controllers treat it)."""
    if not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions")):
        return lambda obj: False
    reqs = selector_from_label_selector(selector)
    return lambda obj: labels_match(reqs, obj["metadata"].get("labels"))


def matches(selector: Obj | None, obj: Obj) -> bool:
    """One object against a LabelSelector (``selector_matcher`` for many)."""
    return selector_matcher(selector)(obj)


def deep(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


# -- pods --

def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Counts toward replicas: not finished and not being deleted."""
    return not is_terminal(pod) and not deleting(pod)


def status_condition(status: Obj, ctype: str) -> Obj | None:
    """A condition of a *status* dict."""
    for c in status.get("conditions") or ():
        if c.get("type") == ctype:
            return c  # type: ignore[no-any-return]
    return None


def condition(obj: Obj, ctype: str) -> Obj | None:
    """A condition of an object (its ``status.conditions``)."""
    return status_condition(obj.get("status") or {}, ctype)


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def ready_since(pod: Obj) -> float | None:
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_rfc3339(c.get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


def next_available_in(pods: list[Obj], min_ready_seconds: int, now: float) -> float | None:
    """Seconds until the first ready-but-not-yet-available pod turns available.

    None when no pod is waiting out ``minReadySeconds``. Controllers return this
    from ``reconcile`` so that availability is recomputed exactly when it changes
    (a fixed ``minReadySeconds`` requeue would be late for pods that became ready
    before the reconcile that schedules it). Readiness times have seconds
    precision; a hundredth of a second is added so that the recheck lands just
    past the boundary rather than on a float rounding of it.
    """
    if min_ready_seconds <= 0:
        return None
    waits = [since + min_ready_seconds - now for p in pods
             if (since := ready_since(p)) is not None and since + min_ready_seconds > now]
    return max(0.0, min(waits)) + 0.01 if waits else None


def set_condition(status: Obj, ctype: str, cstatus: str, reason: str, message: str,
                  now: float, update_time: bool = False) -> bool:
    """Set a condition; keeps ``lastTransitionTime`` when the status does not change.

    Returns True when anything changed. ``update_time`` also maintains
    ``lastUpdateTime`` (Deployment conditions have it).
    """
    conds: list[Obj] = status.setdefault("conditions", [])
    ts = rfc3339(now)
    for c in conds:
        if c.get("type") != ctype:
            continue
        if c.get("status") == cstatus and c.get("reason") == reason and \
                c.get("message") == message:
            return False
        if c.get("status") != cstatus:
            c["lastTransitionTime"] = ts
        c.update(status=cstatus, reason=reason, message=message)
        if update_time:
            c["lastUpdateTime"] = ts
        return True
    new = {"type": ctype, "status": cstatus, "reason": reason, "message": message,
           "lastTransitionTime": ts}
    if update_time:
        new["lastUpdateTime"] = ts
    conds.append(new)
    return True


def remove_condition(status: Obj, ctype: str) -> bool:
    conds = status.get("conditions") or []
    keep = [c for c in conds if c.get("type") != ctype]
    if len(keep) != len(conds):
        status["conditions"] = keep
        return True
    return False


def pod_from_template(template: Obj, owner: Obj, generate_name: str = "",
                      name_: str = "") -> Obj:
    """A new pod from a PodTemplateSpec, controlled by ``owner``."""
    tmd = template.get("metadata") or {}
    meta: Obj = {"labels": dict(tmd.get("labels") or {}), "namespace": namespace(owner),
                 "ownerReferences": [owner_ref(owner)]}
    if tmd.get("annotations"):
        meta["annotations"] = dict(tmd["annotations"])
    if tmd.get("finalizers"):
        meta["finalizers"] = list(tmd["finalizers"])
    if name_:
        meta["name"] = name_
    else:
        meta["generateName"] = generate_name or f"{name(owner)}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}
