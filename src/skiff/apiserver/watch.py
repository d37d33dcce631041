"""Watch streams: chunked newline-delimited ``{"type": ..., "object": ...}`` events.

Semantics (upstream ``watch`` + cacher):

* ``resourceVersion`` unset or ``"0"``: synthetic ``ADDED`` for every current
  match first, then changes after the list's revision (``sendInitialEvents``
  does the same and ends the initial part with an annotated BOOKMARK);
* ``resourceVersion=N``: every change after N; N older than the compaction
  horizon gives an ``ERROR`` event with a 410 ``Expired`` Status;
* selectors apply to both states of a change: an object that stops matching
  is sent as ``DELETED``, one that starts matching as ``ADDED``;
* ``allowWatchBookmarks``: a BOOKMARK with the latest revision every
  ``bookmark_interval`` seconds and when the stream ends;
* ``timeoutSeconds`` ends the stream cleanly (the client re-watches from its
  last revision). DELETED carries the deletion's revision.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
from aiohttp import web

from skiff.api.convert import convert
from skiff.api.scheme import Resource
from skiff.api.selectors import Predicate, predicate
from skiff.apiserver import status as st
from skiff.apiserver.handlers import Handlers, wants_table
from skiff.apiserver.request import RequestInfo, truthy
from skiff.errors import Gone
from skiff.storage import DELETE, Event, Watch

Obj = dict[str, Any]
_END = object()


def _obj(raw: bytes, rev: int) -> Obj:
    o: Obj = orjson.loads(raw)
    o.setdefault("metadata", {})["resourceVersion"] = str(rev)
    return o


def classify(ev: Event, match: Predicate | None) -> tuple[str, Obj] | None:
    """Map a storage event to a watch event type under a selector (None = not visible)."""
    cur = _obj(ev.value, ev.revision)
    if ev.type == DELETE:
        return ("DELETED", cur) if match is None or match(cur) else None
    if match is None:
        return ("ADDED" if ev.created or ev.prev_value is None else "MODIFIED"), cur
    now = match(cur)
    before = ev.prev_value is not None and match(orjson.loads(ev.prev_value))
    if now and before:
        return "MODIFIED", cur
    if now:
        return "ADDED", cur
    if before:
        return "DELETED", cur
    return None


async def _pump(w: Watch, queue: asyncio.Queue[object]) -> None:
    try:
        async for ev in w:
            queue.put_nowait(ev)
    except Gone as e:
        queue.put_nowait(e)
    finally:
        queue.put_nowait(_END)


class WatchServer:
    def __init__(self, handlers: Handlers, bookmark_interval: float = 60.0,
                 default_timeout: tuple[int, int] = (1800, 3600)) -> None:
        self.h = handlers
        self.bookmark_interval = bookmark_interval
        self.default_timeout = default_timeout

    async def serve(self, request: web.Request, res: Resource, info: RequestInfo
                    ) -> web.StreamResponse:
        q = request.query
        match = predicate(q.get("labelSelector", ""), q.get("fieldSelector", ""), res.kind,
                          self.h.selectable_fields(res))
        if info.name:
            by_name = predicate("", f"metadata.name={info.name}", res.kind)
            match = by_name if match is None else (lambda o, a=match, b=by_name: a(o) and b(o))  # type: ignore[misc]
        rv = q.get("resourceVersion", "")
        bookmarks = truthy(q.get("allowWatchBookmarks"))
        initial = q.get("sendInitialEvents") == "true" or rv in ("", "0")
        try:
            timeout = float(q.get("timeoutSeconds") or random.randint(*self.default_timeout))
        except ValueError:
            raise st.bad_request("timeoutSeconds must be an integer") from None
        table = wants_table(request)
        registry = self.h.registry
        if not initial:
            try:
                start = int(rv)
            except ValueError:
                raise st.bad_request(f"invalid resource version: {rv!r}") from None
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                       "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        resp.force_close()
        await resp.prepare(request)

        async def send(typ: str, obj: Obj) -> None:
            if typ not in ("BOOKMARK", "ERROR"):
                obj = convert(obj, res.group, res.version)
                if table:
                    obj = self.h.table(request, res, [obj], {
                        "resourceVersion": obj["metadata"].get("resourceVersion", "")})
            await resp.write(orjson.dumps({"type": typ, "object": obj}) + b"\n")

        def bookmark(rev: int, initial_end: bool = False) -> Obj:
            md: Obj = {"resourceVersion": str(rev)}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"kind": res.kind, "apiVersion": res.api_version, "metadata": md}

        try:
            if initial:
                page = await registry.list(res, info.namespace, match)
                start = page.revision
                for obj in page.items:
                    await send("ADDED", obj)
                if q.get("sendInitialEvents") == "true" and bookmarks:
                    await send("BOOKMARK", bookmark(start, True))
            prefix = res.key(info.namespace) if info.namespace or not res.namespaced \
                else res.key("")
            try:
                w = registry.storage.watch(prefix, start)
            except Gone as e:
                await send("ERROR", _expired(str(e)))
                return resp
            await self._stream(w, match, start, timeout, bookmarks, send, bookmark)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        return resp

    async def _stream(self, w: Watch, match: Predicate | None, last: int, timeout: float,
                      bookmarks: bool, send: Any, bookmark: Any) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queue: asyncio.Queue[object] = asyncio.Queue()
        async with asyncio.TaskGroup() as tg:
            pump = tg.create_task(_pump(w, queue))
            try:
                while True:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    wait = min(left, self.bookmark_interval) if bookmarks else left
                    try:
                        item = await asyncio.wait_for(queue.get(), wait)
                    except TimeoutError:
                        if bookmarks and deadline - loop.time() > 0:
                            await send("BOOKMARK", bookmark(last))
                        continue
                    if item is _END:
                        break
                    if isinstance(item, Gone):
                        await send("ERROR", _expired(item.message))
                        return
                    assert isinstance(item, Event)
                    last = item.revision
                    out = classify(item, match)
                    if out is not None:
                        await send(*out)
                if bookmarks:
                    await send("BOOKMARK", bookmark(last))
            finally:
                await w.close()
                pump.cancel()


def _expired(message: str) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": "Expired", "code": 410}
