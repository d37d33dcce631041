"""Namespace controller: a namespace being deleted (phase Terminating) is
emptied - every namespaced resource in it deleted - then finalized
(``PUT /api/v1/namespaces/<ns>/finalize`` without the ``kubernetes``
finalizer), after which the API server removes it.

While content remains, the namespace's conditions say what is left
(``NamespaceContentRemaining``) and the key is looked at again shortly.
"""

from __future__ import annotations

from typing import Any

from skiff.client import GVR
from skiff.controllers import objects as o
from skiff.controllers.base import Controller
from skiff.errors import NotFound, SkiffError

Obj = dict[str, Any]
_SKIP = {"events", "bindings", "localsubjectaccessreviews", "tokenreviews"}


class NamespaceController(Controller):
    name = "namespace"

    def setup(self) -> None:
        self.namespaces = self.ctx.informer("namespaces")
        self.namespaces.add_event_handler(**self.handlers())

    async def _resources(self) -> list[GVR]:
        seen: dict[tuple[str, str], GVR] = {}
        for gvr in (await self.client.discover()).values():
            if gvr.namespaced and gvr.resource not in _SKIP and "/" not in gvr.resource:
                seen.setdefault((gvr.group, gvr.resource), gvr)
        # events last: deleting content makes events
        return [*seen.values(), GVR("", "v1", "events", True, "Event")]

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.store.get(key)
        if ns is None or not o.deleting(ns):
            return None
        remaining: dict[str, int] = {}
        for gvr in await self._resources():
            try:
                items = (await self.client.list(gvr, key)).get("items") or []
            except SkiffError:
                continue
            for item in items:
                remaining[gvr.resource] = remaining.get(gvr.resource, 0) + 1
                if o.deleting(item):
                    continue
                try:
                    await self.client.delete(gvr, item["metadata"]["name"], key,
                                             propagation_policy="Background")
                except SkiffError:
                    pass
        if remaining:
            msg = "Some resources are remaining: " + ", ".join(
                f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
            await self._condition(ns, msg)
            return 1.0
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != "kubernetes"]
        body = {**o.deep(ns), "spec": spec}
        try:
            await self.client.update("namespaces", body, subresource="finalize")
        except NotFound:
            pass
        return None

    async def _condition(self, ns: Obj, msg: str) -> None:
        st = o.deep(ns.get("status") or {})
        if o.set_condition(st, "NamespaceContentRemaining", "True", "SomeResourcesRemain", msg,
                           self.clock.now()):
            try:
                await self.client.update_status("namespaces", {**o.deep(ns), "status": st})
            except SkiffError:
                pass
