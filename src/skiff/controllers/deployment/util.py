"""Pure Deployment helpers: template hash, revisions, fenceposts, annotations.

``pod-template-hash``: FNV-1a (32 bit) over the template's canonical JSON
(plus the collision count), rendered in the "safe" alphabet upstream uses
(``bcdfghjklmnpqrstvwxz2456789``), so names never spell words.

Fenceposts (upstream ``ResolveFenceposts``): ``maxSurge`` percentages round
*up*, ``maxUnavailable`` percentages round *down*; both zero means
maxUnavailable 1. Worked example: 10 replicas at 25 %/25 % -> surge 3,
unavailable 2; 1 replica -> surge 1, unavailable 0.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import orjson

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_SKIP_COPY = {"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
              DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(n: int) -> str:
    """Upstream ``rand.SafeEncodeString(fmt.Sprint(hash))``: each decimal digit's byte
    mapped into the safe alphabet."""
    return "".join(_SAFE[ord(ch) % len(_SAFE)] for ch in str(n))


def _normalize(v: Any) -> Any:
    """Drop nulls and empty containers so server-defaulted and client-sent templates compare
    equal (``creationTimestamp: null``, ``resources: {}``)."""
    if isinstance(v, dict):
        out = {k: _normalize(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [])}
    if isinstance(v, list):
        return [_normalize(x) for x in v]
    return v


def template_without_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return _normalize(t)  # type: ignore[no-any-return]


def templates_equal(a: Obj, b: Obj) -> bool:
    return bool(template_without_hash(a) == template_without_hash(b))


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    data = orjson.dumps(template_without_hash(template), option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(fnv32a(data))


def revision(obj: Obj | None) -> int:
    if not obj:
        return 0
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision(r) for r in rss), default=0)


def scaled(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString against ``total``: ``"25%"`` of 10 = 3 (up) or 2 (down)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    s = str(value)
    if s.endswith("%"):
        pct = int(s[:-1])
        v = pct * total / 100
        return math.ceil(v) if round_up else math.floor(v)
    return int(s)


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for a RollingUpdate deployment."""
    spec = d.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    ru = ((spec.get("strategy") or {}).get("rollingUpdate") or {})
    surge = scaled(ru.get("maxSurge", "25%"), replicas, True)
    unavailable = scaled(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_unavailable(d: Obj) -> int:
    spec = d.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    if (spec.get("strategy") or {}).get("type") == "Recreate" or replicas == 0:
        return 0
    return min(fenceposts(d)[1], replicas)


def is_rolling(d: Obj) -> bool:
    return bool(((d.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") !=
                "Recreate")


def replicas_of(rs: Obj | None) -> int:
    return int(((rs or {}).get("spec") or {}).get("replicas") or 0)


def status_of(rs: Obj | None, field: str) -> int:
    return int(((rs or {}).get("status") or {}).get(field) or 0)


def copy_annotations(d: Obj, rs_annotations: dict[str, str]) -> bool:
    """Copy the deployment's annotations onto a ReplicaSet (not the controller's own)."""
    changed = False
    for k, v in (((d.get("metadata") or {}).get("annotations")) or {}).items():
        if k in _SKIP_COPY or rs_annotations.get(k) == v:
            continue
        rs_annotations[k] = v
        changed = True
    return changed


def rollback_annotations(rs: Obj) -> dict[str, str]:
    """The annotations ``kubectl rollout undo`` copies from a ReplicaSet (for tests/tools)."""
    return {k: v for k, v in (rs["metadata"].get("annotations") or {}).items()
            if k not in _SKIP_COPY}
