"""OpenAPI v3: the root index and one document per group-version.

kubectl fetches ``/openapi/v3`` then ``/openapi/v3/<gv>?hash=H`` before
``apply``/``create -f``/``diff``/``explain``. What it needs (see the spec):

* a path per resource whose POST/PUT/PATCH operations declare the
  ``fieldValidation`` query parameter (kubectl then validates server-side);
* PATCH request bodies listing ``application/strategic-merge-patch+json`` for
  built-ins (and *not* for custom resources, so kubectl merge-patches them);
* ``components.schemas`` with ``x-kubernetes-group-version-kind`` and the
  patch-strategy extensions, for ``explain`` and client-side apply.

Documents are built lazily and cached per scheme generation; the hash in the
root's ``serverRelativeURL`` is the SHA-512 of the document, so it changes
exactly when a CRD changes the group-version.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from skiff.api.scheme import Resource, Scheme
from skiff.apiserver.schemas import Schemas

_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                "application/apply-patch+yaml"]


def _param(name: str, typ: str = "string", where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "schema": {"type": typ}, "uniqueItems": True}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(res: Resource, verb: str, schema: str, body: bool, params: list[str],
        ctypes: list[str] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{verb}{res.kind}",
        "parameters": [_param(p) for p in params],
        "responses": {"200": {"description": "OK", "content": {
            "application/json": {"schema": _ref(schema)}}}},
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": res.group, "version": res.version,
                                            "kind": res.kind},
    }
    if body:
        op["requestBody"] = {"content": {c: {"schema": _ref(schema) if c == "application/json"
                                             else {"type": "object"}}
                                         for c in (ctypes or ["application/json"])},
                             "required": True}
    return op


class OpenAPI:
    def __init__(self, scheme: Scheme, schemas: Schemas) -> None:
        self.scheme = scheme
        self.schemas = schemas
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._generation = -1

    def _refresh(self) -> None:
        if self._generation != self.scheme.generation:
            self._cache.clear()
            self._generation = self.scheme.generation

    def gv_paths(self) -> list[str]:
        return sorted({(f"apis/{r.group}/{r.version}" if r.group else f"api/{r.version}")
                       for r in self.scheme.all()})

    def root(self) -> dict[str, Any]:
        paths = {}
        for p in self.gv_paths():
            _, h = self.document(p)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"}
        return {"paths": paths}

    def document(self, gv_path: str) -> tuple[bytes, str]:
        """(JSON bytes, hash) of the document for ``api/v1`` or ``apis/<g>/<v>``."""
        self._refresh()
        if gv_path not in self._cache:
            doc = self._build(gv_path)
            raw = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
            self._cache[gv_path] = (raw, hashlib.sha512(raw).hexdigest()[:128].upper())
        return self._cache[gv_path]

    def _build(self, gv_path: str) -> dict[str, Any]:
        parts = gv_path.split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        resources = [r for r in self.scheme.all() if (r.group, r.version) == (group, version)]
        if not resources:
            raise KeyError(gv_path)
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        roots: list[str] = ["Status", "DeleteOptions"]
        for r in resources:
            name = r.schema_name if not r.custom else f"{r.group}.{r.version}.{r.kind}"
            if r.custom:
                s = dict(self.schemas.root(r))
                s["x-kubernetes-group-version-kind"] = [{"group": r.group, "version": r.version,
                                                          "kind": r.kind}]
                schemas[name] = s
                list_name = f"{name}List"
                schemas[list_name] = {"type": "object", "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "items": {"type": "array", "items": _ref(name)},
                    "metadata": _ref("ListMeta")}, "required": ["items"],
                    "x-kubernetes-group-version-kind": [{"group": r.group, "version": r.version,
                                                         "kind": f"{r.kind}List"}]}
                roots.append("ObjectMeta")
            else:
                roots.append(name)
                roots.append(name.replace(r.kind, r.kind + "List", 1)
                             if name.endswith(r.kind) else name + "List")
            paths.update(self._paths(r, name))
        self._closure(roots, schemas)
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.4"},
                "paths": paths, "components": {"schemas": schemas}}

    def _paths(self, r: Resource, schema: str) -> dict[str, Any]:
        base = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
        coll = f"{base}/namespaces/{{namespace}}/{r.resource}" if r.namespaced \
            else f"{base}/{r.resource}"
        write = ["dryRun", "fieldManager", "fieldValidation", "pretty"]
        patch_types = list(_PATCH_TYPES)
        if not r.custom:
            patch_types.insert(2, "application/strategic-merge-patch+json")
        out: dict[str, Any] = {
            coll: {"get": _op(r, "list", schema + "List", False,
                              ["labelSelector", "fieldSelector", "limit", "continue",
                               "resourceVersion", "watch"])},
        }
        if "create" in r.verbs:
            out[coll]["post"] = _op(r, "post", schema, True, write)
        item: dict[str, Any] = {"get": _op(r, "get", schema, False, ["pretty"])}
        if "update" in r.verbs:
            item["put"] = _op(r, "put", schema, True, write)
        if "patch" in r.verbs:
            item["patch"] = _op(r, "patch", schema, True, [*write, "force"], patch_types)
        if "delete" in r.verbs:
            item["delete"] = _op(r, "delete", schema, True, ["dryRun", "gracePeriodSeconds",
                                                             "propagationPolicy"])
        out[f"{coll}/{{name}}"] = item
        for sub in ("status", "scale"):
            if sub in r.subresources:
                sschema = "Scale" if sub == "scale" else schema
                out[f"{coll}/{{name}}/{sub}"] = {
                    "get": _op(r, "get", sschema, False, []),
                    "put": _op(r, "put", sschema, True, write),
                    "patch": _op(r, "patch", sschema, True, [*write, "force"], patch_types)}
        return out

    def _closure(self, roots: list[str], out: dict[str, Any]) -> None:
        todo = list(roots)
        while todo:
            name = todo.pop()
            if name in out:
                continue
            s = self.schemas.component(name)
            if not s:
                continue
            out[name] = s
            _collect_refs(s, todo)


def _collect_refs(node: Any, acc: list[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            acc.append(ref.rsplit("/", 1)[-1])
        for v in node.values():
            _collect_refs(v, acc)
    elif isinstance(node, list):
        for v in node:
            _collect_refs(v, acc)
