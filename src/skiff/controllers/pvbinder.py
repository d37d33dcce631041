"""PersistentVolume binding with a local hostPath provisioner.

A pending claim is bound to an Available volume that satisfies it (same
storage class, enough capacity, the access modes), smallest first; if none
exists, a hostPath volume ``pvc-<claim uid>`` under ``pv_root`` is
provisioned for it (what StatefulSets' volumeClaimTemplates need on a
single-host or simulated cluster). Binding writes the volume's ``claimRef``
and phase Bound, then the claim's ``volumeName`` and phase Bound.
A volume whose claim is gone is Released, and deleted when its reclaim
policy is Delete.
"""

from __future__ import annotations

import os
from typing import Any

from skiff.api.quantity import value
from skiff.controllers import objects as o
from skiff.controllers.base import Context, Controller
from skiff.errors import AlreadyExists, NotFound

Obj = dict[str, Any]
PROVISIONER = "skiff.dev/hostpath"


def _size(obj: Obj, path: tuple[str, ...]) -> int:
    cur: Any = obj
    for p in path:
        cur = (cur or {}).get(p)
    return value(cur) if cur is not None else 0


def volume_fits(pv: Obj, pvc: Obj) -> bool:
    ps, cs = pv.get("spec") or {}, pvc.get("spec") or {}
    if (ps.get("storageClassName") or "") != (cs.get("storageClassName") or "") and \
            cs.get("storageClassName") is not None:
        return False
    if not set(cs.get("accessModes") or []) <= set(ps.get("accessModes") or []):
        return False
    return _size(pv, ("spec", "capacity", "storage")) >= \
        _size(pvc, ("spec", "resources", "requests", "storage"))


class PersistentVolumeBinder(Controller):
    name = "persistentvolume-binder"
    component = "persistentvolume-controller"

    def __init__(self, ctx: Context, root: str = "/var/lib/skiff/volumes") -> None:
        self.root = root
        super().__init__(ctx)

    def setup(self) -> None:
        self.pvcs = self.ctx.informer("persistentvolumeclaims")
        self.pvcs.add_event_handler(on_add=self.enqueue, on_update=lambda a, b: self.enqueue(b),
                                    on_delete=self._claim_deleted)
        self.pvs = self.ctx.informer("persistentvolumes")

    def _claim_deleted(self, pvc: Obj) -> None:
        for pv in self.pvs.store.list():
            if ((pv.get("spec") or {}).get("claimRef") or {}).get("uid") == o.uid(pvc):
                self.queue.add("pv:" + o.name(pv))

    async def reconcile(self, key: str) -> float | None:
        if key.startswith("pv:"):
            await self._release(key[3:])
            return None
        pvc = self.pvcs.store.get(key)
        if pvc is None or o.deleting(pvc):
            return None
        if (pvc.get("status") or {}).get("phase") == "Bound":
            return None
        pvc = o.deep(pvc)
        pv = None
        if (pvc.get("spec") or {}).get("volumeName"):
            pv = self.pvs.store.get(pvc["spec"]["volumeName"])
        if pv is None:                # a volume we already reserved for this claim
            pv = next((v for v in self.pvs.store.list() if ((v.get("spec") or {}).get(
                "claimRef") or {}).get("uid") == o.uid(pvc)), None)
        if pv is None:
            free = [v for v in self.pvs.store.list()
                    if (v.get("status") or {}).get("phase") == "Available" and
                    not (v.get("spec") or {}).get("claimRef") and volume_fits(v, pvc)]
            free.sort(key=lambda v: _size(v, ("spec", "capacity", "storage")))
            pv = free[0] if free else await self._provision(pvc)
        await self._bind(pv, pvc)
        return None

    async def _provision(self, pvc: Obj) -> Obj:
        name = f"pvc-{o.uid(pvc)}"
        spec = pvc.get("spec") or {}
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        path = os.path.join(self.root, name)
        body = {"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": name, "annotations": {
                    "pv.kubernetes.io/provisioned-by": PROVISIONER}},
                "spec": {"capacity": {"storage": size},
                         "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Delete",
                         "storageClassName": spec.get("storageClassName") or "",
                         "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                         "volumeMode": spec.get("volumeMode", "Filesystem")}}
        try:
            pv = await self.client.create("persistentvolumes", body)
        except AlreadyExists:
            pv = await self.client.get("persistentvolumes", name)
        self.events.emit(pvc, "Normal", "ProvisioningSucceeded",
                         f"Successfully provisioned volume {name} at {path}")
        return pv

    async def _bind(self, pv: Obj, pvc: Obj) -> None:
        pv = o.deep(pv)
        pv["spec"]["claimRef"] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                  "name": o.name(pvc), "namespace": o.namespace(pvc),
                                  "uid": o.uid(pvc),
                                  "resourceVersion": pvc["metadata"].get("resourceVersion", "")}
        pv = await self.client.update("persistentvolumes", pv)
        pv["status"] = {"phase": "Bound"}
        await self.client.update_status("persistentvolumes", pv)
        pvc["spec"]["volumeName"] = o.name(pv)
        pvc["metadata"].setdefault("annotations", {}).update({
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes"})
        pvc = await self.client.update("persistentvolumeclaims", pvc)
        pvc["status"] = {"phase": "Bound", "accessModes": pv["spec"].get("accessModes"),
                         "capacity": pv["spec"].get("capacity")}
        await self.client.update_status("persistentvolumeclaims", pvc)
        self.events.emit(pvc, "Normal", "Bound", f"Bound to volume {o.name(pv)}")

    async def _release(self, name: str) -> None:
        try:
            pv = await self.client.get("persistentvolumes", name)
        except NotFound:
            return
        if pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            await self.delete_if_exists("persistentvolumes", name)
            return
        pv["status"] = {"phase": "Released"}
        await self.client.update_status("persistentvolumes", pv)
