"""The API server: an aiohttp application over a storage backend.

``APIServer`` runs embedded (``await server.start()`` / ``await server.stop()``)
or from ``skiff apiserver``. It owns the storage, the scheme (built-ins plus
CRDs), the registry and the HTTP site, and serves:

* ``/version`` (minor "32": the kubectl dispatcher picks its binary by it),
  ``/healthz`` ``/livez`` ``/readyz``;
* discovery (``/api``, ``/apis`` aggregated or legacy, ``/apis/<g>``,
  ``/api/v1``, ``/apis/<g>/<v>``) and OpenAPI v3 (``/openapi/v3[/<gv>]``);
* every resource path (``handlers`` + ``watch``).

Security: bound to loopback without TLS it may run open (it says so);
bound anywhere else it requires TLS and bearer-token authentication, and
RBAC authorizes every request (``auth``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from skiff.api.meta import now
from skiff.api.scheme import Scheme
from skiff.apiserver import discovery
from skiff.apiserver import status as st
from skiff.apiserver.auth import Authenticator, RBACAuthorizer, User, attributes_for
from skiff.apiserver.crd import CRDController
from skiff.apiserver.handlers import Handlers, json_response
from skiff.apiserver.managedfields import ManagedFields
from skiff.apiserver.openapi import OpenAPI
from skiff.apiserver.protobuf import ProtobufDecoder
from skiff.apiserver.registry import Registry, WriteOptions
from skiff.apiserver.request import RequestInfo, parse_path, truthy
from skiff.apiserver.schemas import Schemas
from skiff.apiserver.seed import namespace_defaults, seed
from skiff.apiserver.watch import WatchServer
from skiff.errors import FieldError
from skiff.storage import Storage, open_storage

log = logging.getLogger("skiff.apiserver")
VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4-skiff", "gitCommit": "skiff",
           "gitTreeState": "clean", "buildDate": "2026-11-26T00:00:00Z", "goVersion": "go1.23.8",
           "compiler": "gc", "platform": "linux/amd64"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class TLSFiles:
    cert: str
    key: str
    ca: str = ""


class APIServer:
    """An embeddable Kubernetes API server."""

    def __init__(self, storage: str | Storage = "memory://", host: str = "127.0.0.1",
                 port: int = 0, *, tls: TLSFiles | None = None,
                 tokens: dict[str, User] | None = None, authorize: bool | None = None,
                 ca_pem: str = "", compact_interval: float = 300.0,
                 compact_retain: int = 10000) -> None:
        self.storage = open_storage(storage) if isinstance(storage, str) else storage
        self.host, self.port = host, port
        self.tls = tls
        self.authn = Authenticator(tokens) if tokens is not None else None
        secure = tls is not None or host not in LOOPBACK
        if host not in LOOPBACK and (tls is None or tokens is None):
            raise st.APIError(500, "refusing to serve beyond loopback without TLS and tokens")
        self.authorize = secure if authorize is None else authorize
        self.ca_pem = ca_pem
        self.compact_interval, self.compact_retain = compact_interval, compact_retain
        self.scheme = Scheme.builtin()
        self.schemas = Schemas(self.scheme)
        self.managed = ManagedFields(self.schemas.for_kind)
        self.registry = Registry(self.storage, self.scheme, self.managed)
        self.openapi = OpenAPI(self.scheme, self.schemas)
        self.handlers = Handlers(self.registry, self.schemas, ProtobufDecoder().decode)
        self.watches = WatchServer(self.handlers)
        self.crds = CRDController(self.registry, self.schemas)
        self.rbac = RBACAuthorizer(self.registry)
        self._runner: web.AppRunner | None = None
        self._background: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # -- lifecycle --

    async def start(self) -> None:
        await self.storage.start()
        svcs = await self.registry.list(self.scheme.get("", "v1", "services"), "")  # type: ignore[arg-type]
        self.registry.allocators.load(svcs.items)
        await self.crds.load()
        self.registry.validate_hook = self.crds.validate
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.tls.cert, self.tls.key)
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ctx, backlog=1024,
                           reuse_address=True)
        await site.start()
        server: Any = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]
        await seed(self.registry, "127.0.0.1" if self.host in ("0.0.0.0", "::") else
                   self.host if self.host != "localhost" else "127.0.0.1", self.port, self.ca_pem)
        if self.compact_interval > 0:
            self._background = asyncio.get_running_loop().create_task(self._compactor())
        if self.authn is None:
            log.warning("serving WITHOUT authentication on %s (loopback only, for development)",
                        self.url)

    async def stop(self) -> None:
        if self._background is not None:
            self._background.cancel()
            try:
                await self._background
            except asyncio.CancelledError:
                pass
            self._background = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.storage.close()

    async def __aenter__(self) -> APIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _compactor(self) -> None:
        """Compact history periodically, keeping the newest ``compact_retain`` revisions."""
        while True:
            await asyncio.sleep(self.compact_interval)
            try:
                rev = await self.storage.current_revision() - self.compact_retain
                if rev > await self.storage.compacted_revision():
                    await self.storage.compact(rev)
            except Exception:   # compaction failure must not stop the server; retried later
                log.exception("compaction failed")

    # -- HTTP --

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if self.authn is not None and not _public(request.path):
                user = self.authn.authenticate(request.headers.get("Authorization", ""))
                request["user"] = user
                if self.authorize and not user.is_admin:
                    await self._authorize(request, user)
            return await handler(request)  # type: ignore[no-any-return]
        except web.HTTPException:
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as e:
            code, body = st.status_of(e)
            if code >= 500:
                log.exception("internal error serving %s %s", request.method, request.path_qs)
            return json_response(body, code)

    async def _authorize(self, request: web.Request, user: User) -> None:
        attrs = attributes_for(request.method, request.path, request.query)
        if not await self.rbac.allowed(user, attrs):
            raise st.forbidden(attrs.forbidden_message(user.name))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path == "/version":
            return json_response(VERSION)
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/",
                                                                           "/readyz/")):
            return web.Response(text="ok", content_type="text/plain")
        if path.startswith("/openapi/"):
            return self._openapi(request, path)
        if path in ("/api", "/apis"):
            return self._discovery(request, path == "/api")
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(self.scheme, parts[1])
            return json_response(doc) if doc else _not_found()
        if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
            g, v = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            doc = discovery.resource_list(self.scheme, g, v)
            return json_response(doc) if doc else _not_found()
        info = parse_path(path)
        if info is None:
            return _not_found()
        return await self._resource(request, info)

    def _discovery(self, request: web.Request, legacy: bool) -> web.Response:
        ct = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if ct:
            body = orjson.dumps(discovery.aggregated(self.scheme, legacy, ct))
            return web.Response(body=body, headers={"Content-Type": ct,
                                                    "Cache-Control": "no-cache, private"})
        if legacy:
            return json_response(discovery.api_versions(f"{self.host}:{self.port}"))
        return json_response(discovery.group_list(self.scheme))

    def _openapi(self, request: web.Request, path: str) -> web.Response:
        if path == "/openapi/v3":
            return json_response(self.openapi.root())
        if path.startswith("/openapi/v3/"):
            try:
                raw, h = self.openapi.document(path[len("/openapi/v3/"):])
            except KeyError:
                return _not_found()
            etag = f'"{h}"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=raw, content_type="application/json",
                                headers={"ETag": etag, "Cache-Control": "public, immutable"
                                         if request.query.get("hash") else "no-cache, private"})
        return _not_found()

    async def _resource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        res = self.scheme.get(info.group, info.version, info.resource)
        if res is None:
            return _not_found()
        if info.subresource and info.subresource not in res.subresources:
            return _not_found()
        if info.namespace and not res.namespaced:
            return _not_found()
        h, m, sub = self.handlers, request.method, info.subresource
        if m == "GET":
            if truthy(request.query.get("watch")):
                return await self.watches.serve(request, res, info)
            if info.name:
                if sub and sub not in ("status", "scale"):
                    raise st.APIError(501, f"the {sub} subresource is served by the kubelet, "
                                           f"which has not registered", "NotImplemented")
                return await h.get(request, res, info)
            return await h.list_(request, res, info)
        if m == "POST" and not info.name and res.resource == "bindings":
            body = await h.read_object(request, res)        # POST …/bindings binds a pod
            pods = self.scheme.get("", "v1", "pods")
            assert pods is not None
            return await self._bind(request, pods, info.namespace,
                                    str((body.get("metadata") or {}).get("name", "")), body)
        if m == "POST" and not info.name:
            resp = await h.create(request, res, info)
            if res.kind == "Namespace" and resp.status == 201 and "dryRun" not in request.query:
                await namespace_defaults(self.registry, _name_of(resp), self.ca_pem)
            await self._after_write(res.group, res.kind, resp)
            return resp
        if m == "POST" and sub in ("binding", "eviction"):
            return await self._pod_action(request, res, info)
        if m == "PUT" and info.name:
            resp = await h.update(request, res, info)
            await self._after_write(res.group, res.kind, resp)
            return resp
        if m == "PATCH" and info.name:
            resp = await h.patch(request, res, info)
            await self._after_write(res.group, res.kind, resp)
            return resp
        if m == "DELETE":
            resp = await (h.delete(request, res, info) if info.name
                          else h.delete_collection(request, res, info))
            await self._after_write(res.group, res.kind, resp, deleted=True)
            return resp
        raise st.APIError(405, "the server does not allow this method on the requested resource",
                          "MethodNotAllowed")

    async def _after_write(self, group: str, kind: str, resp: web.StreamResponse,
                           deleted: bool = False) -> None:
        if group == "rbac.authorization.k8s.io":
            self.rbac.invalidate()
        if kind == "CustomResourceDefinition" and isinstance(resp, web.Response) and resp.body:
            await self.crds.sync_from(orjson.loads(resp.body), deleted)  # type: ignore[arg-type]

    async def _pod_action(self, request: web.Request, res: Any, info: RequestInfo
                          ) -> web.Response:
        body = await self.handlers.read_object(request, self.scheme.get("", "v1", "bindings")  # type: ignore[arg-type]
                                               if info.subresource == "binding" else res)
        if info.subresource == "eviction":
            from skiff.apiserver.registry import DeleteOptions

            dopts = (body.get("deleteOptions") or {})
            await self.registry.delete(res, info.namespace, info.name, DeleteOptions(
                grace_period=dopts.get("gracePeriodSeconds"),
                preconditions=dopts.get("preconditions") or {}))
            return json_response(st.success_status(info.name, "", "pods"), 201)
        return await self._bind(request, res, info.namespace, info.name, body)

    async def _bind(self, request: web.Request, res: Any, namespace: str, name: str,
                    body: dict[str, Any]) -> web.Response:
        """Set a pod's node (once) and its PodScheduled condition: what the scheduler does."""
        opts = WriteOptions(field_manager=self.handlers.write_options(request).field_manager)
        node = (body.get("target") or {}).get("name")
        if not node:
            raise st.invalid("Binding", "", name, [FieldError("target.name", "Required value")])

        def bind(cur: dict[str, Any]) -> dict[str, Any]:
            if cur.get("spec", {}).get("nodeName"):
                raise st.conflict("", "pods", name,
                                  f"pod {name} is already assigned to node "
                                  f"\"{cur['spec']['nodeName']}\"")
            cur["spec"]["nodeName"] = node
            conds = [c for c in cur.setdefault("status", {}).get("conditions") or []
                     if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True",
                          "lastTransitionTime": now()})
            cur["status"]["conditions"] = conds
            return cur
        await self.registry.update(res, namespace, name, bind, opts, "*")
        return json_response(st.success_status(name, "", "pods"), 201)


def _public(path: str) -> bool:
    return path in ("/version", "/healthz", "/livez", "/readyz") or path.startswith(
        ("/healthz/", "/livez/", "/readyz/"))


def _name_of(resp: web.StreamResponse) -> str:
    assert isinstance(resp, web.Response) and resp.body is not None
    return str(orjson.loads(resp.body)["metadata"]["name"])  # type: ignore[arg-type]


def _not_found() -> web.Response:
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": "the server could not find the "
                          "requested resource", "reason": "NotFound",
                          "details": {}, "code": 404}, 404)

