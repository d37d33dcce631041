"""ServiceAccount controller: every active namespace has a ``default`` ServiceAccount
(recreated if someone deletes it; the API server creates the first one)."""

from __future__ import annotations

from typing import Any

from skiff.controllers import objects as o
from skiff.controllers.base import Controller
from skiff.errors import AlreadyExists

Obj = dict[str, Any]


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def setup(self) -> None:
        self.namespaces = self.ctx.informer("namespaces")
        self.namespaces.add_event_handler(on_add=self.enqueue,
                                          on_update=lambda a, b: self.enqueue(b))
        self.sas = self.ctx.informer("serviceaccounts")
        self.sas.add_event_handler(on_delete=lambda sa: self.queue.add(o.namespace(sa)))

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.store.get(key)
        if ns is None or o.deleting(ns):
            return None
        if self.sas.store.get_by_name(key, "default") is not None:
            return None
        try:
            await self.client.create("serviceaccounts", {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": key}}, key)
        except AlreadyExists:
            pass
        return None
