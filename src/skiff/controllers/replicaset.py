"""ReplicaSet controller: keep ``spec.replicas`` pods matching the template.

Decisions (pure, tested alone):

* ``replica_diff``: active pods - desired (negative: create, positive: delete);
* ``slow_start_batches``: creations in batches of 1, 2, 4, 8, ... so a broken
  template (quota, admission) fails after one pod, not five hundred;
* ``deletion_order``: which pods go first - unscheduled, then pending, then
  not ready, then those sharing a node with more siblings, then the most
  recently ready, most restarted, newest (upstream ``ActivePodsWithRanks``);
* ``calculate_status``: replicas, fullyLabeledReplicas, ready, available
  (``minReadySeconds``) and observedGeneration.

Expectations keep the controller from acting twice on one decision before
the watch shows its effect.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from skiff.clock import parse_rfc3339
from skiff.controllers import objects as o
from skiff.controllers.base import Context, Controller, Expectations, owned_informer, pods_informer
from skiff.controllers.refmanager import claim
from skiff.errors import SkiffError

Obj = dict[str, Any]
BURST_REPLICAS = 500
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def replica_diff(active: int, desired: int) -> int:
    return active - desired


def slow_start_batches(count: int, initial: int = 1) -> list[int]:
    """Worked example: 10 -> [1, 2, 4, 3]."""
    out, size = [], initial
    while count > 0:
        b = min(size, count)
        out.append(b)
        count -= b
        size *= 2
    return out


def _restarts(pod: Obj) -> int:
    return sum(int(c.get("restartCount") or 0)
               for c in (pod.get("status") or {}).get("containerStatuses") or ())


def deletion_order(pods: list[Obj], related: list[Obj] | None = None) -> list[Obj]:
    """Pods sorted so that the ones to delete first come first."""
    per_node = Counter((p.get("spec") or {}).get("nodeName") for p in (related or pods)
                       if o.is_active(p))

    def rank(p: Obj) -> tuple[Any, ...]:
        node = (p.get("spec") or {}).get("nodeName") or ""
        ready = o.is_ready(p)
        since = o.ready_since(p) or 0.0
        created = parse_rfc3339(p["metadata"].get("creationTimestamp")) or 0.0
        return (1 if node else 0, _PHASE_RANK.get(o.phase(p), 3), 1 if ready else 0,
                -per_node.get(node, 0) if node else 0, -since if ready else 0.0,
                -_restarts(p), -created)
    return sorted(pods, key=rank)


def calculate_status(rs: Obj, pods: list[Obj], now: float, create_error: str = "") -> Obj:
    spec = rs.get("spec") or {}
    tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    mrs = int(spec.get("minReadySeconds") or 0)
    status: Obj = {
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(1 for p in pods if all(
            (p["metadata"].get("labels") or {}).get(k) == v for k, v in tlabels.items())),
        "readyReplicas": sum(1 for p in pods if o.is_ready(p)),
        "availableReplicas": sum(1 for p in pods if o.is_available(p, mrs, now)),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }
    conds = [c for c in (rs.get("status") or {}).get("conditions") or []
             if c.get("type") != "ReplicaFailure"]
    if create_error:
        o.set_condition(status, "ReplicaFailure", "True", "FailedCreate", create_error, now)
        conds = [*conds, *status["conditions"]]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)
    return status


def _clean(status: Obj) -> Obj:
    return {k: v for k, v in status.items() if v not in (0, None) or k in ("replicas",)}


class ReplicaSetController(Controller):
    name = "replicaset"
    resource = "replicasets"
    kind = "ReplicaSet"
    workers = 4

    def setup(self) -> None:
        self.expectations = Expectations(self.clock)
        self.owners = owned_informer(self.ctx, self.resource)
        self.owners.add_event_handler(**self.handlers())
        self.pods = pods_informer(self.ctx)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    # -- handlers: find the owner and enqueue it --

    def _owner_key(self, pod: Obj) -> str | None:
        ref = o.controller_ref(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        owner = self.owners.store.get_by_name(o.namespace(pod), ref.get("name", ""))
        if owner is None or o.uid(owner) != ref.get("uid"):
            return None
        return o.key(owner)

    def _orphan_owners(self, pod: Obj) -> None:
        for rs in self.owners.store.list(o.namespace(pod)):
            if o.matches((rs.get("spec") or {}).get("selector"), pod):
                self.enqueue(rs)

    def _pod_added(self, pod: Obj) -> None:
        k = self._owner_key(pod)
        if k is not None:
            self.expectations.creation_observed(k)
            self.queue.add(k)
        elif o.controller_ref(pod) is None:
            self._orphan_owners(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        k = self._owner_key(new)
        if k is not None:
            self.queue.add(k)
        old_k = self._owner_key(old)
        if old_k is not None and old_k != k:
            self.queue.add(old_k)
        if o.controller_ref(new) is None:
            self._orphan_owners(new)

    def _pod_deleted(self, pod: Obj) -> None:
        k = self._owner_key(pod)
        if k is not None:
            self.expectations.deletion_observed(k, o.key(pod))
            self.queue.add(k)

    # -- reconcile --

    async def reconcile(self, key: str) -> float | None:
        rs = self.owners.store.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        ns = o.namespace(rs)
        selector = (rs.get("spec") or {}).get("selector")
        candidates = [p for p in self.pods.store.list(ns) if o.is_active(p) or
                      o.controller_ref(p) is not None]
        owned = await claim(self.client, "pods", rs, selector, candidates)
        active = [p for p in owned if o.is_active(p)]
        err = ""
        if self.expectations.satisfied(key) and not o.deleting(rs):
            err = await self.manage_replicas(rs, active, key)
        now = self.clock.now()
        status = calculate_status(rs, active, now, err)
        await self.update_status(rs, status)
        mrs = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        return o.next_available_in(active, mrs, now)

    async def update_status(self, rs: Obj, status: Obj) -> None:
        cur = rs.get("status") or {}
        if _clean(cur) == _clean(status):
            return
        new = o.deep(rs)
        new["status"] = status
        await self.client.update_status(self.resource, new)

    async def manage_replicas(self, rs: Obj, active: list[Obj], key: str) -> str:
        desired = int((rs.get("spec") or {}).get("replicas", 1))
        diff = replica_diff(len(active), desired)
        if diff < 0:
            return await self._create(rs, min(-diff, BURST_REPLICAS), key)
        if diff > 0:
            victims = deletion_order(active)[:min(diff, BURST_REPLICAS)]
            self.expectations.expect(key, deletes={o.key(p) for p in victims})
            await asyncio.gather(*(self._delete(rs, p, key) for p in victims))
        return ""

    async def _create(self, rs: Obj, count: int, key: str) -> str:
        template = (rs.get("spec") or {}).get("template") or {}
        self.expectations.expect(key, adds=count)
        batches = slow_start_batches(count)
        for i, size in enumerate(batches):
            results = await asyncio.gather(*(self.client.create(
                "pods", o.pod_from_template(template, rs), o.namespace(rs))
                for _ in range(size)), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if isinstance(r, dict):
                    self.events.emit(rs, "Normal", "SuccessfulCreate",
                                     f"Created pod: {r['metadata']['name']}")
            if errors:
                skipped = sum(batches[i + 1:])
                self.expectations.creation_failed(key, len(errors) + skipped)
                msg = str(errors[0])
                self.events.emit(rs, "Warning", "FailedCreate", f"Error creating: {msg}")
                if not isinstance(errors[0], SkiffError):
                    raise errors[0]
                return msg
        return ""

    async def _delete(self, rs: Obj, pod: Obj, key: str) -> None:
        if await self.delete_if_exists("pods", o.name(pod), o.namespace(pod)):
            self.events.emit(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {o.name(pod)}")
        else:
            self.expectations.deletion_observed(key, o.key(pod))


def new_replicaset_controller(ctx: Context) -> ReplicaSetController:
    return ReplicaSetController(ctx)
