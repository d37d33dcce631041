"""HTTP handlers for resource paths: one function per verb, all resources alike.

They decode the request (JSON, YAML or protobuf), check fields against the
schema (``fieldValidation``), call the :class:`Registry`, and encode the answer
as JSON or, for ``kubectl get``, as a Table. Errors propagate as exceptions
and become ``Status`` objects in the server's middleware.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from skiff.api.patch import apply_json_patch, apply_merge_patch, apply_strategic_merge_patch
from skiff.api.schema_check import Checker
from skiff.api.scheme import Resource
from skiff.api.selectors import format_label_selector, predicate
from skiff.apiserver import status as st
from skiff.apiserver.registry import DeleteOptions, Registry, WriteOptions
from skiff.apiserver.request import RequestInfo, decode_body, media_type, truthy
from skiff.apiserver.schemas import Schemas
from skiff.apiserver.tables import to_table

Obj = dict[str, Any]
TABLE_MARK = "as=Table"
PATCH_TYPES = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
               "application/strategic-merge-patch+json": "strategic",
               "application/apply-patch+yaml": "apply", "application/apply-patch+json": "apply"}
MAX_OBJECT = 1536 * 1024


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    h = {"Cache-Control": "no-cache, private"}
    if headers:
        h.update(headers)
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers=h)


def wants_table(request: web.Request) -> bool:
    return TABLE_MARK in request.headers.get("Accept", "")


class Handlers:
    def __init__(self, registry: Registry, schemas: Schemas,
                 decode_protobuf: Callable[[bytes], Obj] | None = None) -> None:
        self.registry = registry
        self.schemas = schemas
        self.decode_protobuf = decode_protobuf

    # -- decoding and validation --

    async def read_object(self, request: web.Request, res: Resource) -> Obj:
        raw = await request.read()
        ct = request.headers.get("Content-Type", "application/json")
        if media_type(ct) == "application/vnd.kubernetes.protobuf":
            if self.decode_protobuf is None:
                raise st.APIError(415, "the body of the request was in an unknown format - "
                                       "accepted media types include: application/json", None)
            obj = self.decode_protobuf(raw)
        else:
            obj = decode_body(raw, ct)
        if not isinstance(obj, dict):
            raise st.bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a "
                                 f"{res.kind}: the object provided is not a JSON object")
        return obj

    def check_fields(self, res: Resource, obj: Obj, mode: str, warnings: list[str]) -> None:
        """Type errors -> 400; unknown fields -> 400 (Strict) or warnings (Warn)."""
        kind = obj.get("kind")
        if kind and kind != res.kind and not (res.kind == "Scale" and kind == "Scale"):
            raise st.bad_request(f"the API version in the data ({obj.get('apiVersion')}) and kind "
                                 f"({kind}) do not match the resource {res.group_resource} "
                                 f"({res.kind})")
        schema = self.schemas.root(res)
        if not schema:
            return
        # Unknown fields never reach storage (Go's decoder drops them); Strict makes them errors.
        checker = Checker(lambda n: self.schemas.component(n), prune=True)
        report = checker.check(obj, schema, model=res.kind)
        if report.type_errors and not res.custom:
            raise st.bad_request(f"{res.kind} in version \"{res.version}\" cannot be handled as a "
                                 f"{res.kind}: {report.type_errors[0]}")
        if report.unknown and mode != "Ignore":
            msgs = [f'unknown field "{f}"' for f in report.unknown]
            if mode == "Strict":
                raise st.bad_request("strict decoding error: " + ", ".join(msgs))
            warnings.extend(msgs)

    @staticmethod
    def write_options(request: web.Request) -> WriteOptions:
        q = request.query
        dry = q.getall("dryRun", [])
        if any(d != "All" for d in dry):
            raise st.bad_request(f"Unsupported dryRun value: {dry}")
        fm = q.get("fieldManager", "")
        if len(fm) > 128:
            raise st.bad_request("fieldManager: Too long: may not be more than 128 bytes")
        if not fm:
            ua = request.headers.get("User-Agent", "unknown")
            fm = ua.split("/")[0] if ua else "unknown"
        force = truthy(q.get("force"))
        return WriteOptions(dry_run=bool(dry), field_manager=fm, force=force)

    @staticmethod
    def field_validation(request: web.Request) -> str:
        mode = request.query.get("fieldValidation", "Warn")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise st.bad_request(f"fieldValidation parameter unsupported: {mode}")
        return mode

    def respond(self, request: web.Request, res: Resource, obj: Obj, code: int = 200,
                warnings: list[str] | None = None) -> web.Response:
        headers = {}
        if warnings:
            headers["Warning"] = ", ".join(
                '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
                for w in warnings[:10])
        if wants_table(request):
            return json_response(self.table(request, res, [obj], {
                "resourceVersion": obj["metadata"].get("resourceVersion", "")}), code, headers)
        return json_response(obj, code, headers)

    def table(self, request: web.Request, res: Resource, items: list[Obj], list_meta: Obj) -> Obj:
        include = request.query.get("includeObject", "PartialObjectMetadata")
        cols = None
        if res.custom and res.crd is not None:
            for v in res.crd["spec"]["versions"]:
                if v["name"] == res.version:
                    cols = v.get("additionalPrinterColumns") or []
        return to_table(res.kind, items, list_meta, include, cols)

    # -- verbs --

    async def get(self, request: web.Request, res: Resource, info: RequestInfo) -> web.Response:
        obj = await self.registry.get(res, info.namespace, info.name)
        if info.subresource == "scale":
            return json_response(self.scale_view(res, obj))
        return self.respond(request, res, obj)

    async def list_(self, request: web.Request, res: Resource, info: RequestInfo
                    ) -> web.Response:
        q = request.query
        match = predicate(q.get("labelSelector", ""), q.get("fieldSelector", ""), res.kind,
                          self.selectable_fields(res))
        try:
            limit = int(q.get("limit", "0") or 0)
        except ValueError:
            raise st.bad_request("limit must be an integer") from None
        rv = q.get("resourceVersion", "")
        revision = 0
        if rv and rv != "0" and q.get("resourceVersionMatch") == "Exact":
            revision = _int_rv(rv)
        if match is None and not revision and not wants_table(request):
            raw = await self.registry.list_raw(res, info.namespace, limit, q.get("continue", ""))
            if raw is not None:
                return self._raw_list(res, *raw)
        page = await self.registry.list(res, info.namespace, match, limit, q.get("continue", ""),
                                        revision)
        lmeta: Obj = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            lmeta["continue"] = page.continue_token
            if page.remaining is not None:
                lmeta["remainingItemCount"] = page.remaining
        if wants_table(request):
            return json_response(self.table(request, res, page.items, lmeta))
        for o in page.items:
            o.setdefault("apiVersion", res.api_version)
            o.setdefault("kind", res.kind)
        return json_response({"kind": res.list_kind, "apiVersion": res.api_version,
                              "metadata": lmeta, "items": page.items})

    @staticmethod
    def _raw_list(res: Resource, items: list[bytes], page: Any) -> web.Response:
        lmeta: Obj = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            lmeta["continue"] = page.continue_token
            if page.remaining is not None:
                lmeta["remainingItemCount"] = page.remaining
        head = orjson.dumps({"kind": res.list_kind, "apiVersion": res.api_version,
                             "metadata": lmeta})[:-1]
        body = b"".join((head, b',"items":[', b",".join(items), b"]}"))
        return web.Response(body=body, content_type="application/json",
                            headers={"Cache-Control": "no-cache, private"})

    def selectable_fields(self, res: Resource) -> tuple[str, ...]:
        if res.custom and res.crd is not None:
            for v in res.crd["spec"]["versions"]:
                if v["name"] == res.version:
                    return tuple(f["jsonPath"].lstrip(".") for f in v.get("selectableFields") or [])
        return ()

    async def create(self, request: web.Request, res: Resource, info: RequestInfo
                     ) -> web.Response:
        obj = await self.read_object(request, res)
        warnings: list[str] = []
        self.check_fields(res, obj, self.field_validation(request), warnings)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        _check_size(obj)
        out = await self.registry.create(res, info.namespace, obj, self.write_options(request))
        return self.respond(request, res, out, 201, warnings)

    async def update(self, request: web.Request, res: Resource, info: RequestInfo
                     ) -> web.Response:
        body = await self.read_object(request, res)
        warnings: list[str] = []
        opts = self.write_options(request)
        if info.subresource == "scale":
            out, _ = await self.registry.update(res, info.namespace, info.name,
                                                self.scale_writer(res, lambda s: body), opts)
            return json_response(self.scale_view(res, out))
        self.check_fields(res, body, self.field_validation(request), warnings)
        _check_size(body)
        sub = info.subresource if info.subresource in ("status", "finalize") else ""
        if sub == "finalize":
            sub = ""
        allow_create = res.kind in ("Endpoints", "Lease")
        out, created = await self.registry.update(
            res, info.namespace, info.name, lambda cur: body, opts, sub,
            (lambda: copy.deepcopy(body)) if allow_create else None)
        return self.respond(request, res, out, 201 if created else 200, warnings)

    async def patch(self, request: web.Request, res: Resource, info: RequestInfo
                    ) -> web.Response:
        ptype = PATCH_TYPES.get(media_type(request.headers.get("Content-Type", "")))
        if ptype is None or (ptype == "strategic" and res.custom):
            ct = request.headers.get("Content-Type", "")
            raise st.APIError(415, "the body of the request was in an unknown format - accepted "
                                   "media types include: application/json-patch+json, "
                                   "application/merge-patch+json, application/apply-patch+yaml"
                              + ("" if res.custom else ", application/strategic-merge-patch+json")
                              + (f" (got {ct})" if ct else ""), "UnsupportedMediaType")
        raw = await request.read()
        patch = decode_body(raw, request.headers.get("Content-Type", ""))
        opts = self.write_options(request)
        mode = self.field_validation(request)
        warnings: list[str] = []
        sub = info.subresource if info.subresource == "status" else ""
        if ptype == "apply":
            return await self.apply(request, res, info, patch, opts, mode, warnings, sub)
        schema = self.schemas.root(res) if info.subresource != "scale" else \
            self.schemas.component("Scale")

        def apply_patch(cur: Obj) -> Obj:
            if ptype == "json":
                return apply_json_patch(cur, patch)  # type: ignore[no-any-return]
            if not isinstance(patch, dict):
                raise st.bad_request("patch body must be a JSON object")
            if ptype == "merge":
                return apply_merge_patch(cur, patch)  # type: ignore[no-any-return]
            return apply_strategic_merge_patch(cur, patch, schema,  # type: ignore[no-any-return]
                                               self.schemas.resolve)

        if info.subresource == "scale":
            out, _ = await self.registry.update(res, info.namespace, info.name,
                                                self.scale_writer(res, apply_patch), opts)
            return json_response(self.scale_view(res, out))

        def transform(cur: Obj) -> Obj:
            new = apply_patch(cur)
            if isinstance(new, dict):
                self.check_fields(res, new, mode, warnings)
                _check_size(new)
            return new
        out, _ = await self.registry.update(res, info.namespace, info.name, transform, opts, sub)
        return self.respond(request, res, out, 200, warnings)

    async def apply(self, request: web.Request, res: Resource, info: RequestInfo, patch: Any,
                    opts: WriteOptions, mode: str, warnings: list[str], sub: str
                    ) -> web.Response:
        if not isinstance(patch, dict):
            raise st.bad_request("apply patch must be a YAML or JSON object")
        if not opts.field_manager or "fieldManager" not in request.query:
            raise st.bad_request("PATCH with apply requires a fieldManager parameter")
        self.check_fields(res, patch, mode, warnings)
        managed = self.registry.managed

        def transform(cur: Obj) -> Obj:
            return managed.apply(cur, patch, opts.field_manager, res.api_version, opts.force, sub)

        def create() -> Obj:
            obj = managed.apply(None, patch, opts.field_manager, res.api_version, opts.force)
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            return obj
        registry_opts = WriteOptions(opts.dry_run, opts.field_manager, opts.force, apply=True)
        out, created = await self.registry.update(res, info.namespace, info.name, transform,
                                                  registry_opts, sub, create)
        return self.respond(request, res, out, 201 if created else 200, warnings)

    async def delete(self, request: web.Request, res: Resource, info: RequestInfo
                     ) -> web.Response:
        opts = await self.delete_options(request)
        obj = await self.registry.delete(res, info.namespace, info.name, opts)
        code = 202 if opts.propagation == "Foreground" and obj["metadata"].get(
            "deletionTimestamp") else 200
        return json_response(obj, code)

    async def delete_collection(self, request: web.Request, res: Resource, info: RequestInfo
                                ) -> web.Response:
        opts = await self.delete_options(request)
        q = request.query
        match = predicate(q.get("labelSelector", ""), q.get("fieldSelector", ""), res.kind,
                          self.selectable_fields(res))
        page = await self.registry.list(res, info.namespace, match)
        deleted = []
        for o in page.items:
            try:
                deleted.append(await self.registry.delete(res, o["metadata"].get("namespace", ""),
                                                          o["metadata"]["name"], opts))
            except st.APIError as e:
                if e.http_status != 404:
                    raise
        return json_response({"kind": res.list_kind, "apiVersion": res.api_version,
                              "metadata": {"resourceVersion": str(page.revision)},
                              "items": deleted})

    async def delete_options(self, request: web.Request) -> DeleteOptions:
        q = request.query
        body: Obj = {}
        raw = await request.read()
        if raw.strip():
            b = decode_body(raw, request.headers.get("Content-Type", "application/json"))
            if isinstance(b, dict):
                body = b
        grace = body.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
        prop = str(body.get("propagationPolicy") or q.get("propagationPolicy", ""))
        if body.get("orphanDependents") is True or q.get("orphanDependents") == "true":
            prop = prop or "Orphan"
        if prop and prop not in ("Background", "Foreground", "Orphan"):
            raise st.bad_request(f"propagationPolicy: Unsupported value: \"{prop}\"")
        dry = body.get("dryRun") or q.getall("dryRun", [])
        return DeleteOptions(grace_period=int(grace) if grace is not None else None,
                             propagation=prop, preconditions=body.get("preconditions") or {},
                             dry_run=bool(dry))

    # -- scale subresource --

    def _scale_paths(self, res: Resource) -> tuple[str, str, str]:
        if res.custom and res.crd is not None:
            for v in res.crd["spec"]["versions"]:
                if v["name"] == res.version:
                    sc = (v.get("subresources") or {}).get("scale") or {}
                    return (sc.get("specReplicasPath", ".spec.replicas"),
                            sc.get("statusReplicasPath", ".status.replicas"),
                            sc.get("labelSelectorPath", ""))
        return ".spec.replicas", ".status.replicas", ""

    def scale_view(self, res: Resource, obj: Obj) -> Obj:
        from skiff.apiserver.tables import jsonpath

        spec_p, status_p, sel_p = self._scale_paths(res)
        md = obj["metadata"]
        if sel_p:
            selector = jsonpath(obj, sel_p) or ""
        else:
            selector = format_label_selector((obj.get("spec") or {}).get("selector"))
            if res.kind == "ReplicationController":
                selector = ",".join(f"{k}={v}" for k, v in sorted(
                    ((obj.get("spec") or {}).get("selector") or {}).items()))
        status: Obj = {"replicas": jsonpath(obj, status_p) or 0}
        if selector:
            status["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                "creationTimestamp") if k in md},
                "spec": {"replicas": jsonpath(obj, spec_p) or 0}, "status": status}

    def scale_writer(self, res: Resource, change: Callable[[Obj], Obj]) -> Callable[[Obj], Obj]:
        spec_p, _, _ = self._scale_paths(res)

        def transform(cur: Obj) -> Obj:
            new_scale = change(self.scale_view(res, cur))
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise st.invalid("Scale.autoscaling", "autoscaling", cur["metadata"]["name"], [
                    __import__("skiff.errors", fromlist=["FieldError"]).FieldError(
                        "spec.replicas", f"Invalid value: {replicas}: must be greater than or "
                                         f"equal to 0")])
            rv = (new_scale.get("metadata") or {}).get("resourceVersion")
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise st.conflict(res.group, res.resource, cur["metadata"]["name"])
            node = cur
            keys = spec_p.lstrip(".").split(".")
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = replicas
            cur["metadata"].pop("resourceVersion", None)
            return cur
        return transform


def _int_rv(rv: str) -> int:
    try:
        return int(rv)
    except ValueError:
        raise st.bad_request(f"invalid resource version: {rv!r}") from None


def _check_size(obj: Obj) -> None:
    if len(orjson.dumps(obj)) > MAX_OBJECT:
        raise st.APIError(413, "Request entity too large: limit is 3145728",
                          "RequestEntityTooLarge")
