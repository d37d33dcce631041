"""The async REST client every component uses to reach the API (never storage directly).

Resources are addressed by :class:`GVR` (``GVR("apps", "v1", "deployments")``) or
by name (``"deployments"``, ``"deployments.apps"``, ``"deploy"``) resolved through
discovery. Objects are plain dicts with wire names. Failures raise the
``skiff.errors`` tree (NotFound, AlreadyExists, Conflict, Invalid, Gone, ...)
rebuilt from the server's ``Status``; :class:`APIStatusError` carries the rest.

    async with Client(load_kubeconfig()) as c:
        pod = await c.get("pods", "web-1", namespace="default")
        await c.patch("deployments", "web", {"spec": {"replicas": 3}}, namespace="default")
        async for ev in c.watch("pods", namespace="default", resource_version=rv):
            ...
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from skiff.client.config import Config
from skiff.errors import (
    AlreadyExists,
    Conflict,
    FieldError,
    Gone,
    Invalid,
    NotFound,
    SkiffError,
    Unavailable,
)

Obj = dict[str, Any]
PATCH_CT = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "apply": "application/apply-patch+yaml"}


class APIStatusError(SkiffError):
    """A Status the error tree has no class for (403, 400, 415, 500, ...)."""

    def __init__(self, code: int, reason: str, message: str, status: Obj) -> None:
        super().__init__(message)
        self.http_status = code
        self.reason = reason
        self.status = status


def error_from_status(code: int, body: Obj) -> SkiffError:
    msg = str(body.get("message") or f"HTTP {code}")
    reason = str(body.get("reason") or "")
    if code == 404:
        return NotFound(msg)
    if code == 409:
        return AlreadyExists(msg) if reason == "AlreadyExists" else Conflict(msg)
    if code == 410:
        return Gone(msg)
    if code == 422:
        causes = [FieldError(c.get("field", ""), c.get("message", ""))
                  for c in (body.get("details") or {}).get("causes") or []]
        err = Invalid(msg)
        err.causes = causes
        return err
    if code == 503:
        return Unavailable(msg)
    return APIStatusError(code, reason, msg, body)


@dataclass(frozen=True)
class GVR:
    group: str
    version: str
    resource: str
    namespaced: bool = True
    kind: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.resource}"
        if name:
            base += f"/{quote(name)}"
        if subresource:
            base += f"/{subresource}"
        return base


@dataclass
class WatchEvent:
    type: str            # ADDED MODIFIED DELETED BOOKMARK ERROR
    object: Obj


class Client:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._gvrs: dict[str, GVR] | None = None

    async def __aenter__(self) -> Client:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Accept": "application/json", "User-Agent": "skiff-client/0.1"}
            if self.config.token:
                headers["Authorization"] = f"Bearer {self.config.token}"
            self._session = aiohttp.ClientSession(
                self.config.server, headers=headers,
                connector=aiohttp.TCPConnector(limit=0, ssl=self.config.ssl_context()))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, body: Any = None,
                      params: dict[str, str] | None = None, content_type: str = "") -> Any:
        s = self._open()
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": content_type or "application/json"} if data else {}
        try:
            async with s.request(method, path, data=data, params=params or None,
                                 headers=headers) as r:
                raw = await r.read()
                parsed = orjson.loads(raw) if raw and r.content_type.endswith("json") else raw
                if r.status >= 400:
                    raise error_from_status(r.status, parsed if isinstance(parsed, dict) else
                                            {"message": raw.decode(errors="replace")})
                return parsed
        except aiohttp.ClientConnectionError as e:
            raise Unavailable(f"API server {self.config.server}: {e}") from None

    # -- resource resolution --

    async def discover(self) -> dict[str, GVR]:
        """Name -> GVR for every resource (plural, singular, short names, ``plural.group``)."""
        if self._gvrs is None:
            out: dict[str, GVR] = {}
            accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            for path in ("/api", "/apis"):
                s = self._open()
                async with s.get(path, headers={"Accept": accept}) as r:
                    doc = orjson.loads(await r.read())
                for g in doc.get("items") or []:
                    group = g["metadata"].get("name", "")
                    for v in (g.get("versions") or [])[:1]:
                        for res in v.get("resources") or []:
                            gvr = GVR(group, v["version"], res["resource"],
                                      res.get("scope") == "Namespaced",
                                      res.get("responseKind", {}).get("kind", ""))
                            names = [res["resource"], res.get("singularResource", ""),
                                     *(res.get("shortNames") or [])]
                            for n in names:
                                if n:
                                    out.setdefault(n, gvr)
                                    out[f"{n}.{group}" if group else n] = gvr
                            out.setdefault(f"{gvr.api_version}/{gvr.kind}", gvr)
            self._gvrs = out
        return self._gvrs

    def invalidate_discovery(self) -> None:
        self._gvrs = None

    async def resolve(self, resource: str | GVR) -> GVR:
        if isinstance(resource, GVR):
            return resource
        gvrs = await self.discover()
        if resource not in gvrs:
            self.invalidate_discovery()
            gvrs = await self.discover()
        try:
            return gvrs[resource]
        except KeyError:
            raise NotFound(f'the server doesn\'t have a resource type "{resource}"') from None

    async def gvr_for(self, obj: Obj) -> GVR:
        return await self.resolve(f"{obj['apiVersion']}/{obj['kind']}")

    # -- verbs --

    async def get(self, resource: str | GVR, name: str, namespace: str = "",
                  subresource: str = "") -> Obj:
        r = await self.resolve(resource)
        out: Obj = await self.request("GET", r.path(namespace, name, subresource))
        return out

    async def list(self, resource: str | GVR, namespace: str = "", label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_: str = "",
                   resource_version: str = "") -> Obj:
        r = await self.resolve(resource)
        params = {k: v for k, v in (("labelSelector", label_selector),
                                    ("fieldSelector", field_selector),
                                    ("limit", str(limit) if limit else ""),
                                    ("continue", continue_),
                                    ("resourceVersion", resource_version)) if v}
        out: Obj = await self.request("GET", r.path(namespace), params=params)
        return out

    async def list_all(self, resource: str | GVR, namespace: str = "", label_selector: str = "",
                       field_selector: str = "", page_size: int = 500) -> Obj:
        """A whole list, following ``continue`` tokens (one consistent revision)."""
        out = await self.list(resource, namespace, label_selector, field_selector, page_size)
        items = builtins.list(out.get("items") or [])
        while (out.get("metadata") or {}).get("continue"):
            out = await self.list(resource, namespace, label_selector, field_selector, page_size,
                                  out["metadata"]["continue"])
            items += out.get("items") or []
        out["items"] = items
        out["metadata"].pop("continue", None)
        return out

    def _write_params(self, dry_run: bool, field_manager: str, force: bool = False
                      ) -> dict[str, str]:
        p = {}
        if dry_run:
            p["dryRun"] = "All"
        if field_manager:
            p["fieldManager"] = field_manager
        if force:
            p["force"] = "true"
        return p

    async def create(self, resource: str | GVR, obj: Obj, namespace: str = "",
                     dry_run: bool = False, field_manager: str = "") -> Obj:
        r = await self.resolve(resource)
        ns = namespace or (obj.get("metadata") or {}).get("namespace", "")
        out: Obj = await self.request("POST", r.path(ns), obj,
                                      self._write_params(dry_run, field_manager))
        return out

    async def update(self, resource: str | GVR, obj: Obj, subresource: str = "",
                     dry_run: bool = False, field_manager: str = "") -> Obj:
        r = await self.resolve(resource)
        md = obj.get("metadata") or {}
        out: Obj = await self.request("PUT", r.path(md.get("namespace", ""), md["name"],
                                                    subresource), obj,
                                      self._write_params(dry_run, field_manager))
        return out

    async def update_status(self, resource: str | GVR, obj: Obj, field_manager: str = ""
                            ) -> Obj:
        return await self.update(resource, obj, "status", field_manager=field_manager)

    async def patch(self, resource: str | GVR, name: str, patch: Any, namespace: str = "",
                    patch_type: str = "merge", subresource: str = "", dry_run: bool = False,
                    field_manager: str = "", force: bool = False) -> Obj:
        r = await self.resolve(resource)
        out: Obj = await self.request("PATCH", r.path(namespace, name, subresource), patch,
                                      self._write_params(dry_run, field_manager, force),
                                      PATCH_CT[patch_type])
        return out

    async def apply(self, obj: Obj, field_manager: str, force: bool = False,
                    subresource: str = "") -> Obj:
        """Server-side apply ``obj`` (create or merge; conflicts raise Conflict)."""
        r = await self.gvr_for(obj)
        md = obj["metadata"]
        return await self.patch(r, md["name"], obj, md.get("namespace", ""), "apply",
                                subresource, field_manager=field_manager, force=force)

    async def delete(self, resource: str | GVR, name: str, namespace: str = "",
                     propagation_policy: str = "", grace_period_seconds: int | None = None,
                     preconditions: Obj | None = None, dry_run: bool = False) -> Obj:
        r = await self.resolve(resource)
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        out: Obj = await self.request("DELETE", r.path(namespace, name), body,
                                      self._write_params(dry_run, ""))
        return out

    async def watch(self, resource: str | GVR, namespace: str = "", resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    timeout_seconds: int = 0, allow_bookmarks: bool = True
                    ) -> AsyncIterator[WatchEvent]:
        """Stream events; ends when the server ends the stream (reconnect from the last RV).

        An ``ERROR`` event with code 410 is raised as :class:`~skiff.errors.Gone`.
        """
        r = await self.resolve(resource)
        params = {"watch": "true"}
        for k, v in (("resourceVersion", resource_version), ("labelSelector", label_selector),
                     ("fieldSelector", field_selector),
                     ("timeoutSeconds", str(timeout_seconds) if timeout_seconds else ""),
                     ("allowWatchBookmarks", "true" if allow_bookmarks else "")):
            if v:
                params[k] = v
        s = self._open()
        try:
            async with s.get(r.path(namespace), params=params,
                             timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
                if resp.status >= 400:
                    raise error_from_status(resp.status, orjson.loads(await resp.read()))
                async for line in resp.content:
                    if not line.strip():
                        continue
                    ev = orjson.loads(line)
                    if ev.get("type") == "ERROR":
                        st = ev.get("object") or {}
                        raise error_from_status(int(st.get("code") or 500), st)
                    yield WatchEvent(ev["type"], ev["object"])
        except aiohttp.ClientPayloadError:
            return
        except aiohttp.ClientConnectionError as e:
            raise Unavailable(f"watch {r.resource}: {e}") from None
