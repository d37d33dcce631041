"""StatefulSet controller: stable identities ``<set>-<ordinal>``, ordered or
parallel, with per-pod PersistentVolumeClaims that outlive the pods.

Decisions per reconcile (upstream ``stateful_set_control.go``, abridged):

1. ensure a ControllerRevision for the current template (``<set>-<hash>``);
2. for ordinals ``0..replicas-1``: create the PVCs (``<claim>-<set>-<i>``) and
   the pod if missing, replace a failed pod. With ``OrderedReady`` stop at the
   first pod that is not yet Running and Ready - ordinal ``i`` is created only
   when ``0..i-1`` are ready; with ``Parallel`` create them all;
3. delete pods with ordinals ``>= replicas``, highest first, one at a time
   (``OrderedReady``);
4. RollingUpdate: from the highest ordinal down to ``partition``, delete one
   pod whose revision is not the update revision, only when all pods are
   ready; it is recreated from the new template. OnDelete: never.

PVCs are kept (``whenDeleted``/``whenScaled: Retain``, the default); with
``Delete`` they are owned by the set (and removed with it) or deleted on
scale-down.
"""

from __future__ import annotations

import re
from typing import Any

from skiff.controllers import objects as o
from skiff.controllers.base import Controller, owned_informer, pods_informer
from skiff.controllers.deployment.util import template_hash
from skiff.controllers.refmanager import claim
from skiff.controllers.revisions import HASH_LABEL, ensure_revision, prune, template_of
from skiff.errors import AlreadyExists

Obj = dict[str, Any]
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(set_name: str, pod_name: str) -> int | None:
    m = re.fullmatch(re.escape(set_name) + r"-(\d+)", pod_name)
    return int(m[1]) if m else None


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    return f"{template_name}-{set_name}-{ordinal}"


def running_and_ready(pod: Obj) -> bool:
    return o.phase(pod) == "Running" and o.is_ready(pod) and not o.deleting(pod)


def new_pod(sts: Obj, ordinal: int, template: Obj, rev: str) -> Obj:
    name = f"{o.name(sts)}-{ordinal}"
    pod = o.pod_from_template(template, sts, name_=name)
    labels = pod["metadata"]["labels"]
    labels.update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), HASH_LABEL: rev})
    spec = pod["spec"]
    spec["hostname"] = name
    if (sts.get("spec") or {}).get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    vols = [v for v in spec.get("volumes") or []]
    for ct in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
        cname = ct["metadata"]["name"]
        vols = [v for v in vols if v.get("name") != cname]
        vols.append({"name": cname, "persistentVolumeClaim": {
            "claimName": claim_name(cname, o.name(sts), ordinal)}})
    if vols:
        spec["volumes"] = vols
    return pod


class StatefulSetController(Controller):
    name = "statefulset"
    workers = 2

    def setup(self) -> None:
        self.sets = self.ctx.informer("statefulsets")
        self.sets.add_event_handler(**self.handlers())
        self.pods = pods_informer(self.ctx)
        self.pods.add_event_handler(**self.owner_handlers("StatefulSet"))
        self.revisions = owned_informer(self.ctx, "controllerrevisions")
        self.pvcs = self.ctx.informer("persistentvolumeclaims")

    async def _ensure_revision(self, sts: Obj, h: str) -> Obj:
        return await ensure_revision(self.client, self.revisions, sts, h)

    def _template_for(self, sts: Obj, rev_name: str) -> Obj:
        t = template_of(self.revisions.store.get_by_name(o.namespace(sts), rev_name))
        return t if t is not None else sts["spec"]["template"]

    async def _ensure_pvcs(self, sts: Obj, ordinal: int) -> None:
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        for ct in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            name = claim_name(ct["metadata"]["name"], o.name(sts), ordinal)
            if self.pvcs.store.get_by_name(o.namespace(sts), name) is not None:
                continue
            md = {"name": name, "namespace": o.namespace(sts),
                  "labels": {**((sts["spec"].get("selector") or {}).get("matchLabels") or {}),
                             **(ct["metadata"].get("labels") or {})}}
            if policy.get("whenDeleted") == "Delete":
                md["ownerReferences"] = [{**o.owner_ref(sts), "controller": False}]
            try:
                await self.client.create("persistentvolumeclaims", {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md,
                    "spec": o.deep(ct.get("spec") or {})}, o.namespace(sts))
                self.events.emit(sts, "Normal", "SuccessfulCreate",
                                 f"create Claim {name} Pod {o.name(sts)}-{ordinal} in "
                                 f"StatefulSet {o.name(sts)} success")
            except AlreadyExists:
                pass

    async def reconcile(self, key: str) -> float | None:
        sts = self.sets.store.get(key)
        if sts is None:
            return None
        sts = o.deep(sts)
        spec = sts["spec"]
        ns, sname = o.namespace(sts), o.name(sts)
        owned = await claim(self.client, "pods", sts, spec.get("selector"),
                            self.pods.store.list(ns))
        by_ord: dict[int, Obj] = {}
        for p in owned:
            i = ordinal_of(sname, o.name(p))
            if i is not None:
                by_ord[i] = p
        h = template_hash(spec["template"])
        update_rev = f"{sname}-{h}"
        if not o.deleting(sts):
            await self._ensure_revision(sts, h)
        status = sts.get("status") or {}
        current_rev = status.get("currentRevision") or update_rev
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy = spec.get("updateStrategy") or {"type": "RollingUpdate"}
        partition = int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)
        if not o.deleting(sts):
            await self._step(sts, by_ord, replicas, ordered, strategy, partition, update_rev,
                             current_rev)
        recheck = await self._status(sts, by_ord, replicas, update_rev, current_rev)
        if not o.deleting(sts):
            in_use = {(p["metadata"].get("labels") or {}).get(HASH_LABEL, "")
                      for p in by_ord.values()} | {update_rev, current_rev}
            await prune(self.client, self.revisions, sts, in_use)
        return recheck

    async def _step(self, sts: Obj, by_ord: dict[int, Obj], replicas: int, ordered: bool,
                    strategy: Obj, partition: int, update_rev: str, current_rev: str) -> None:
        ns, sname = o.namespace(sts), o.name(sts)
        for i in range(replicas):
            pod = by_ord.get(i)
            if pod is None:
                rev = current_rev if i < partition else update_rev
                await self._ensure_pvcs(sts, i)
                tmpl = self._template_for(sts, rev) if rev != update_rev else \
                    sts["spec"]["template"]
                try:
                    await self.client.create("pods", new_pod(sts, i, tmpl, rev), ns)
                    self.events.emit(sts, "Normal", "SuccessfulCreate",
                                     f"create Pod {sname}-{i} in StatefulSet {sname} successful")
                except AlreadyExists:
                    pass
                if ordered:
                    return
                continue
            if o.is_terminal(pod) and not o.deleting(pod):
                await self._delete_pod(sts, pod)
                if ordered:
                    return
                continue
            if ordered and not running_and_ready(pod):
                return
        for i in sorted((i for i in by_ord if i >= replicas), reverse=True):
            pod = by_ord[i]
            if not o.deleting(pod):
                await self._delete_pod(sts, pod)
                await self._scaled_down_pvcs(sts, i)
            if ordered:
                return
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        if not all(running_and_ready(by_ord[i]) for i in range(replicas) if i in by_ord) or \
                any(i not in by_ord for i in range(replicas)):
            return
        for i in range(replicas - 1, partition - 1, -1):
            pod = by_ord.get(i)
            if pod is not None and (pod["metadata"].get("labels") or {}).get(HASH_LABEL) != \
                    update_rev:
                await self._delete_pod(sts, pod)
                return

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        if await self.delete_if_exists("pods", o.name(pod), o.namespace(pod), preconditions={"uid": o.uid(pod)}):
            self.events.emit(sts, "Normal", "SuccessfulDelete",
                             f"delete Pod {o.name(pod)} in StatefulSet {o.name(sts)} successful")

    async def _scaled_down_pvcs(self, sts: Obj, ordinal: int) -> None:
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        for ct in (sts.get("spec") or {}).get("volumeClaimTemplates") or []:
            await self.delete_if_exists("persistentvolumeclaims",
                                        claim_name(ct["metadata"]["name"], o.name(sts), ordinal), o.namespace(sts))

    async def _status(self, sts: Obj, by_ord: dict[int, Obj], replicas: int, update_rev: str,
                      current_rev: str) -> float | None:
        """Write the status; returns when availability next changes (minReadySeconds)."""
        pods = [p for p in by_ord.values() if not o.deleting(p) and not o.is_terminal(p)]
        mrs = int(sts["spec"].get("minReadySeconds") or 0)
        now = self.clock.now()
        updated = sum(1 for p in pods if p["metadata"].get("labels", {}).get(HASH_LABEL) ==
                      update_rev)
        current = sum(1 for p in pods if p["metadata"].get("labels", {}).get(HASH_LABEL) ==
                      current_rev)
        ready = sum(1 for p in pods if o.is_ready(p))
        if updated == replicas and ready == replicas and len(pods) == replicas:
            current_rev, current = update_rev, updated
        st = {"observedGeneration": sts["metadata"].get("generation", 1),
              "replicas": len(pods), "readyReplicas": ready,
              "availableReplicas": sum(1 for p in pods if o.is_available(p, mrs, now)),
              "currentReplicas": current, "updatedReplicas": updated,
              "currentRevision": current_rev, "updateRevision": update_rev,
              "collisionCount": 0}
        st = {k: v for k, v in st.items() if v or k in ("replicas", "collisionCount",
                                                         "availableReplicas")}
        await self.write_status("statefulsets", sts, st)
        return o.next_available_in(pods, mrs, now)
