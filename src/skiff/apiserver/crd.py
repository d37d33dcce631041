"""CustomResourceDefinitions: turning stored CRDs into served resources.

When a CRD is written the controller registers one :class:`Resource` per
served version (discovery and OpenAPI see it immediately — the scheme's
generation changes the OpenAPI hash), records its schema for structural
validation and pruning, and sets the ``NamesAccepted`` and ``Established``
conditions. Deleting a CRD removes its resources and every stored instance.
"""

from __future__ import annotations

import logging
from typing import Any

from skiff.api.schema_check import Checker
from skiff.api.scheme import Resource, Subresource
from skiff.apiserver.registry import Registry, WriteOptions
from skiff.apiserver.schemas import Schemas
from skiff.errors import FieldError

log = logging.getLogger("skiff.apiserver.crd")
Obj = dict[str, Any]


def crd_errors(crd: Obj) -> list[FieldError]:
    """Upstream-style validation of a CRD's spec (the parts that matter for serving)."""
    errs: list[FieldError] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group"), names.get("plural")
    for f, v in (("spec.group", group), ("spec.names.plural", plural),
                 ("spec.names.kind", names.get("kind")), ("spec.scope", spec.get("scope"))):
        if not v:
            errs.append(FieldError(f, "Required value"))
    if spec.get("scope") and spec["scope"] not in ("Namespaced", "Cluster"):
        errs.append(FieldError("spec.scope", f'Unsupported value: "{spec["scope"]}": supported '
                               f'values: "Cluster", "Namespaced"'))
    name = (crd.get("metadata") or {}).get("name")
    if group and plural and name != f"{plural}.{group}":
        errs.append(FieldError("metadata.name", f'Invalid value: "{name}": must be spec.names.'
                               f'plural+"."+spec.group'))
    versions = spec.get("versions") or []
    if not versions:
        errs.append(FieldError("spec.versions", "Invalid value: null: must have exactly one "
                               "version marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(FieldError("spec.versions", "Invalid value: must have exactly one version "
                               "marked as storage version"))
    for i, v in enumerate(versions):
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            errs.append(FieldError(f"spec.versions[{i}].schema.openAPIV3Schema",
                                   "Required value: schemas are required"))
        elif schema.get("type") != "object":
            errs.append(FieldError(f"spec.versions[{i}].schema.openAPIV3Schema.type",
                                   'Required value: must be object at the root'))
    return errs


class CRDController:
    def __init__(self, registry: Registry, schemas: Schemas) -> None:
        self.registry = registry
        self.schemas = schemas
        self.res = registry.scheme.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        self._served: dict[str, list[tuple[str, str, str, str]]] = {}

    async def load(self) -> None:
        assert self.res is not None
        page = await self.registry.list(self.res, "")
        for crd in page.items:
            self.register(crd)

    def validate(self, res: Resource, obj: Obj) -> list[FieldError]:
        if res.kind == "CustomResourceDefinition" and res.group == "apiextensions.k8s.io":
            return crd_errors(obj)
        if not res.custom:
            return []
        schema = self.schemas.root(res)
        if not schema:
            return []
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        s = {**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items()
                                      if k not in ("apiVersion", "kind", "metadata")}}
        report = Checker(self.schemas.component, prune=True, structural=True).check(body, s)
        for k in [k for k in obj if k not in ("apiVersion", "kind", "metadata")]:
            if k in body:
                obj[k] = body[k]
            else:
                del obj[k]
        return report.invalid

    def register(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        self.unregister(name)
        spec = crd["spec"]
        names = spec["names"]
        served = []
        for v in spec.get("versions") or []:
            if not v.get("served", True):
                continue
            subs: dict[str, Subresource] = {}
            sr = v.get("subresources") or {}
            if "status" in sr:
                subs["status"] = Subresource("status", ["get", "patch", "update"], names["kind"],
                                             spec["group"], v["name"])
            if "scale" in sr:
                subs["scale"] = Subresource("scale", ["get", "patch", "update"], "Scale",
                                            "autoscaling", "v1")
            r = Resource(group=spec["group"], version=v["name"], resource=names["plural"],
                         kind=names["kind"], namespaced=spec.get("scope") == "Namespaced",
                         verbs=["create", "delete", "deletecollection", "get", "list", "patch",
                                "update", "watch"],
                         singular=names.get("singular") or names["kind"].lower(),
                         short_names=list(names.get("shortNames") or []),
                         categories=list(names.get("categories") or []), subresources=subs,
                         list_kind=names.get("listKind") or names["kind"] + "List", custom=True,
                         crd=crd)
            schema = (v.get("schema") or {}).get("openAPIV3Schema") or {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}
            self.schemas.set_custom(spec["group"], v["name"], names["kind"], schema)
            self.registry.scheme.add(r)
            served.append((spec["group"], v["name"], names["plural"], names["kind"]))
        self._served[name] = served

    def unregister(self, name: str) -> None:
        for group, version, plural, kind in self._served.pop(name, []):
            self.registry.scheme.remove(group, version, plural)
            self.schemas.set_custom(group, version, kind, None)

    async def sync_from(self, crd: Obj, deleted: bool) -> None:
        """Apply a CRD write the server just made: (un)serve it and set its conditions."""
        if crd.get("kind") != "CustomResourceDefinition":
            return
        name = crd["metadata"]["name"]
        if deleted:
            if crd["metadata"].get("deletionTimestamp") and crd["metadata"].get("finalizers"):
                return
            await self._delete_instances(crd)
            self.unregister(name)
            return
        self.register(crd)
        await self._set_established(crd)

    async def _delete_instances(self, crd: Obj) -> None:
        spec = crd["spec"]
        storage = self.registry.storage
        prefix = f"/registry/{spec['group']}/{spec['names']['plural']}/"
        page = await storage.list(prefix)
        for kv in page.items:
            try:
                await storage.delete(kv.key)
            except Exception:   # already gone: fine
                log.debug("instance %s vanished during CRD cleanup", kv.key)

    async def _set_established(self, crd: Obj) -> None:
        assert self.res is not None
        from skiff.api.meta import now

        names = dict(crd["spec"]["names"])
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
        stored = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]

        def status(cur: Obj) -> Obj:
            conds = {c["type"]: c for c in (cur.get("status") or {}).get("conditions") or []}
            t = now()
            for typ, reason, msg in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                                     ("Established", "InitialNamesAccepted",
                                      "the initial names have been accepted")):
                if conds.get(typ, {}).get("status") != "True":
                    conds[typ] = {"type": typ, "status": "True", "lastTransitionTime": t,
                                  "reason": reason, "message": msg}
            prev = (cur.get("status") or {}).get("storedVersions") or []
            cur["status"] = {"conditions": list(conds.values()), "acceptedNames": names,
                             "storedVersions": sorted(set(prev) | set(stored))}
            return cur
        try:
            await self.registry.update(self.res, "", crd["metadata"]["name"], status,
                                       WriteOptions(field_manager="skiff-apiextensions"),
                                       "status")
        except Exception:  # the CRD was deleted meanwhile
            log.debug("could not set CRD status", exc_info=True)
