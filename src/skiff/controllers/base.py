"""The reconcile runner every controller is built on (sample-controller's shape).

A controller declares informers and handlers in ``setup``; handlers only
*enqueue keys*. ``N`` workers take keys from a rate-limited work queue and call
``reconcile(key)``, which reads the informer caches, decides, and writes
through the client. A reconcile returns ``None`` (done) or a number of seconds
after which the key should be looked at again (deadlines, minReadySeconds,
schedules) - measured on the injectable clock. An exception requeues the key
with per-key exponential backoff; success forgets its failures.

``Context`` is what controllers share: the client, one informer factory (one
watch per resource for the whole manager), the clock and the event recorder.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from skiff.client import Client, Informer, RateLimiter, SharedInformerFactory, ShutDown, WorkQueue
from skiff.clock import Clock, RealClock
from skiff.controllers.events import EventRecorder
from skiff.controllers.objects import controller_ref, namespace
from skiff.controllers.objects import key as obj_key
from skiff.errors import Conflict, NotFound, SkiffError

log = logging.getLogger("skiff.controllers")
Obj = dict[str, Any]


class Context:
    def __init__(self, client: Client, clock: Clock | None = None,
                 factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None, component: str = "controller-manager",
                 guard: Callable[[], None] | None = None) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.factory = factory or SharedInformerFactory(client)
        self.events = recorder or EventRecorder(client, component, self.clock)
        self.guard = guard                  # leader election: raises when leadership is lost

    def informer(self, resource: str, namespace: str = "") -> Informer:
        return self.factory.informer(resource, namespace)


class Controller:
    """Base class: a work queue, workers, and enqueue helpers."""

    name = "controller"
    component = ""          # the events' source (upstream names, e.g. deployment-controller)
    workers = 2

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.events = ctx.events.for_component(self.component or f"{self.name}-controller")
        self.queue = WorkQueue(RateLimiter(base=0.005, cap=60.0, qps=50, burst=500),
                               name=self.name)
        self._timers: dict[str, tuple[float, Any]] = {}
        self.setup()

    # -- to override --

    def setup(self) -> None:
        """Request informers and register handlers (which only enqueue)."""

    async def reconcile(self, key: str) -> float | None:
        raise NotImplementedError

    # -- enqueueing --

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(obj_key(obj))

    def enqueue_key(self, key: str) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        """Look at ``key`` again after ``delay`` seconds of the controller's clock.

        Like client-go's delaying queue, the *earliest* pending deadline wins: a
        later request for a key that is already due sooner changes nothing (a
        level-based reconcile at the earlier time schedules whatever it still
        needs), so a routine reconcile can never push a due recheck back.
        """
        if delay <= 0:
            self.queue.add(key)
            return
        deadline = self.clock.monotonic() + delay
        old = self._timers.get(key)
        if old is not None:
            if old[0] <= deadline:
                return
            old[1].cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.queue.add(key)
        self._timers[key] = (deadline, self.clock.call_later(delay, fire))

    def handlers(self, enqueue: Callable[[Obj], None] | None = None) -> dict[str, Any]:
        """add/update/delete handlers that enqueue the object's own key."""
        fn = enqueue or self.enqueue
        return {"on_add": fn, "on_update": lambda old, new: fn(new), "on_delete": fn}

    def enqueue_controller(self, obj: Obj, kind: str) -> bool:
        """Enqueue the ``kind`` that controls ``obj`` (its controller ownerReference); whether it had one."""
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != kind:
            return False
        self.queue.add(f"{namespace(obj)}/{ref['name']}")
        return True

    async def write_status(self, resource: str, obj: Obj, status: Obj) -> bool:
        """Write ``status`` through the status subresource unless it is what ``obj`` already has
        (a no-op write would bump resourceVersion and wake every watcher); whether it wrote."""
        if status == (obj.get("status") or {}):
            return False
        await self.client.update_status(resource, {**obj, "status": status})
        return True

    async def delete_if_exists(self, resource: str, name: str, namespace: str = "", **kw: Any) -> bool:
        """Delete an object; whether it was there (a NotFound means someone else got there first)."""
        try:
            await self.client.delete(resource, name, namespace, **kw)
        except NotFound:
            return False
        return True

    def owner_handlers(self, kind: str) -> dict[str, Any]:
        """Handlers for a dependent resource (pods, jobs, ...): each event enqueues its ``kind`` owner."""
        def enqueue(obj: Obj) -> None:
            self.enqueue_controller(obj, kind)
        return self.handlers(enqueue)

    # -- running --

    async def run(self) -> None:
        await self.ctx.factory.wait_for_cache_sync()
        async with asyncio.TaskGroup() as tg:
            for _ in range(self.workers):
                tg.create_task(self._worker())

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                if self.ctx.guard is not None:
                    self.ctx.guard()
                after = await self.reconcile(key)
                self.queue.forget(key)
                if after is not None:
                    self.enqueue_after(key, after)
            except (Conflict, NotFound) as e:
                # Our cache was stale: the watch will bring the fresh object soon.
                log.debug("%s %s: %s; retrying", self.name, key, e)
                self.queue.add_rate_limited(key)
            except SkiffError as e:
                log.warning("%s %s: %s", self.name, key, e)
                self.queue.add_rate_limited(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s %s: reconcile failed", self.name, key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    def shutdown(self) -> None:
        self.queue.shutdown()
        for _, t in self._timers.values():
            t.cancel()
        self._timers.clear()


class Expectations:
    """How many creates/deletes a controller is still waiting to *see* per key.

    After creating 3 pods, the controller must not count pods again until the
    informer has delivered those 3 adds - otherwise it would create them
    twice. Expectations expire after 5 minutes (a lost event must not wedge the
    controller forever). Upstream ``ControllerExpectations``.
    """

    TTL = 300.0

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or RealClock()
        self._adds: dict[str, int] = {}
        self._dels: dict[str, set[str]] = {}
        self._stamp: dict[str, float] = {}

    def expect(self, key: str, adds: int = 0, deletes: set[str] | None = None) -> None:
        self._adds[key] = self._adds.get(key, 0) + adds
        if deletes:
            self._dels.setdefault(key, set()).update(deletes)
        self._stamp[key] = self.clock.monotonic()

    def creation_observed(self, key: str) -> None:
        if self._adds.get(key, 0) > 0:
            self._adds[key] -= 1

    def creation_failed(self, key: str, n: int = 1) -> None:
        self._adds[key] = max(0, self._adds.get(key, 0) - n)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        s = self._dels.get(key)
        if s is not None:
            s.discard(pod_key)

    def satisfied(self, key: str) -> bool:
        if self._adds.get(key, 0) <= 0 and not self._dels.get(key):
            return True
        return self.clock.monotonic() - self._stamp.get(key, 0.0) > self.TTL

    def forget(self, key: str) -> None:
        self._adds.pop(key, None)
        self._dels.pop(key, None)
        self._stamp.pop(key, None)


def owner_index(obj: Obj) -> list[str]:
    """Index objects by the uid of their controller (``owner`` index)."""
    ref = controller_ref(obj)
    return [str(ref.get("uid", ""))] if ref is not None else []


def node_index(obj: Obj) -> list[str]:
    n = (obj.get("spec") or {}).get("nodeName")
    return [n] if n else []


def pods_informer(ctx: Context) -> Informer:
    """The shared pod informer with the ``owner`` and ``node`` indexes."""
    inf = ctx.informer("pods")
    if not getattr(inf, "_skiff_indexed", False):
        inf.add_indexers({"owner": owner_index, "node": node_index})
        inf._skiff_indexed = True  # type: ignore[attr-defined]
    return inf


def owned_informer(ctx: Context, resource: str) -> Informer:
    inf = ctx.informer(resource)
    if not getattr(inf, "_skiff_indexed", False):
        inf.add_indexers({"owner": owner_index})
        inf._skiff_indexed = True  # type: ignore[attr-defined]
    return inf
