"""Rolling-update arithmetic (upstream ``rolling.go``), pure.

``new_rs_replicas``: scale the new ReplicaSet up while the total stays within
``replicas + maxSurge``. ``old_rs_scale_down``: how far the old ReplicaSets may
shrink while at least ``replicas - maxUnavailable`` pods stay available,
unhealthy old pods first.

Worked example: 10 replicas, 25 %/25 % (surge 3, unavailable 2), an old RS at
10 all available, a new RS at 0 -> new RS to 3 (13 total); old RS may drop by
13 - 8 - 3 (new, not yet available) = 2 -> 8.
"""

from __future__ import annotations

from typing import Any

from skiff.controllers.deployment.util import fenceposts, replicas_of, status_of

Obj = dict[str, Any]


def new_rs_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    replicas = int((d.get("spec") or {}).get("replicas", 1))
    cur = replicas_of(new_rs)
    if cur >= replicas:
        return replicas
    surge, _ = fenceposts(d)
    total = sum(replicas_of(r) for r in all_rss)
    max_total = replicas + surge
    if total >= max_total:
        return cur
    return cur + min(max_total - total, replicas - cur)


def old_rs_scale_down(d: Obj, all_rss: list[Obj], old_rss: list[Obj], new_rs: Obj | None
                      ) -> dict[str, int]:
    """New ``spec.replicas`` for old ReplicaSets (by name) this step; empty: nothing to do."""
    if sum(replicas_of(r) for r in old_rss) == 0:
        return {}
    replicas = int((d.get("spec") or {}).get("replicas", 1))
    _, unavail = fenceposts(d)
    min_available = replicas - unavail
    new_unavailable = replicas_of(new_rs) - status_of(new_rs, "availableReplicas")
    total = sum(replicas_of(r) for r in all_rss)
    max_scaled_down = total - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    out: dict[str, int] = {}
    oldest_first = sorted(old_rss, key=_created)
    # 1. unhealthy replicas first: they serve nothing.
    cleaned = 0
    for rs in oldest_first:
        if cleaned >= max_scaled_down:
            break
        n = replicas_of(rs)
        unhealthy = n - status_of(rs, "availableReplicas")
        if n == 0 or unhealthy <= 0:
            continue
        drop = min(max_scaled_down - cleaned, unhealthy)
        out[rs["metadata"]["name"]] = n - drop
        cleaned += drop
    # 2. then healthy ones, never below min_available in total.
    avail = sum(status_of(r, "availableReplicas") for r in all_rss)
    if avail > min_available:
        budget = min(avail - min_available, max_scaled_down - cleaned)
        for rs in oldest_first:
            if budget <= 0:
                break
            n = out.get(rs["metadata"]["name"], replicas_of(rs))
            if n == 0:
                continue
            drop = min(n, budget)
            out[rs["metadata"]["name"]] = n - drop
            budget -= drop
    return out


def _created(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"])


def proportional_scale(d: Obj, active: list[Obj]) -> dict[str, int]:
    """Spread a replicas change over several active ReplicaSets (mid-rollout scaling).

    Each gets its share of ``replicas + maxSurge`` in proportion to its size;
    the rounding leftover goes to the largest (newest on ties).
    """
    replicas = int((d.get("spec") or {}).get("replicas", 1))
    surge, _ = fenceposts(d) if replicas else (0, 0)
    allowed = replicas + surge
    total = sum(replicas_of(r) for r in active)
    to_add = allowed - total
    if to_add == 0 or total == 0:
        return {}
    order = sorted(active, key=lambda r: (-replicas_of(r), _created(r)), reverse=False)
    out: dict[str, int] = {}
    added = 0
    for rs in order:
        share = replicas_of(rs) * to_add // total if to_add > 0 else \
            -((replicas_of(rs) * -to_add) // total)
        out[rs["metadata"]["name"]] = replicas_of(rs) + share
        added += share
    leftover = to_add - added
    if order and leftover:
        first = order[0]["metadata"]["name"]
        out[first] = max(0, out[first] + leftover)
    return {k: max(0, v) for k, v in out.items()}
