"""Events (core/v1): what a controller decided and why, in plain words.

``EventRecorder.emit(obj, type, reason, message)`` is synchronous (handlers and
reconcilers call it freely); a single ``run()`` task, started in the manager's
TaskGroup, writes them. Repeats of the same (object, type, reason, message)
within 10 minutes bump ``count`` and ``lastTimestamp`` instead of creating a
new Event, as upstream's correlator does. Failures to write are logged and
dropped: events are best-effort by design.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from skiff.client import Client
from skiff.clock import Clock, RealClock, rfc3339
from skiff.errors import NotFound, SkiffError

log = logging.getLogger("skiff.controllers.events")
Obj = dict[str, Any]


def involved(obj: Obj) -> Obj:
    m = obj["metadata"]
    ref = {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""),
           "name": m.get("name", ""), "uid": m.get("uid", ""),
           "resourceVersion": m.get("resourceVersion", "")}
    if m.get("namespace"):
        ref["namespace"] = m["namespace"]
    return ref


class EventRecorder:
    def __init__(self, client: Client, component: str, clock: Clock | None = None,
                 host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock or RealClock()
        # Bounded like upstream's broadcaster (1,000 queued, then dropped): events are
        # best-effort and must never hold back the decisions they describe.
        self._pending: asyncio.Queue[tuple[Obj, str, str, str, str]] = asyncio.Queue(1000)
        self.dropped = 0
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int, float]] = {}
        self.emitted: list[tuple[str, str, str]] = []       # (object key, reason, message)

    def for_component(self, component: str) -> ComponentRecorder:
        """The same writer, reporting as ``component`` (``kubectl describe``'s From)."""
        return ComponentRecorder(self, component)

    def emit(self, obj: Obj, etype: str, reason: str, message: str, component: str = "") -> None:
        m = obj.get("metadata") or {}
        self.emitted.append((f"{m.get('namespace', '')}/{m.get('name', '')}", reason, message))
        if len(self.emitted) > 1000:
            del self.emitted[:500]
        try:
            self._pending.put_nowait((involved(obj), etype, reason, message,
                                      component or self.component))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                log.warning("%s: event queue full, %d events dropped so far (as upstream's "
                            "broadcaster does under overload)", self.component, self.dropped)

    async def run(self) -> None:
        while True:
            ref, etype, reason, message, component = await self._pending.get()
            try:
                await self._write(ref, etype, reason, message, component)
            except SkiffError as e:
                log.debug("event %s %s not written: %s", reason, ref.get("name"), e)

    async def _write(self, ref: Obj, etype: str, reason: str, message: str,
                     component: str) -> None:
        ns = ref.get("namespace") or "default"
        now = self.clock.now()
        k = (ref.get("uid", ""), etype, reason, message)
        seen = self._seen.get(k)
        if seen is not None and now - seen[3] < 600:
            ev_ns, ev_name, count, _ = seen
            try:
                await self.client.patch("events", ev_name, {
                    "count": count + 1, "lastTimestamp": rfc3339(now)}, ev_ns)
                self._seen[k] = (ev_ns, ev_name, count + 1, now)
                return
            except NotFound:
                pass
        ev_name = f"{ref.get('name', 'x')}.{secrets.token_hex(8)}"
        ts = rfc3339(now)
        await self.client.create("events", {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": ev_name, "namespace": ns},
            "involvedObject": ref, "reason": reason, "message": message, "type": etype,
            "source": {"component": component, **({"host": self.host} if self.host
                                                  else {})},
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
            "reportingComponent": component,
            "reportingInstance": self.host or component}, ns)
        if len(self._seen) > 5000:
            self._seen.clear()
        self._seen[k] = (ns, ev_name, 1, now)


class ComponentRecorder:
    """An EventRecorder view that reports as one component."""

    def __init__(self, recorder: EventRecorder, component: str) -> None:
        self.recorder = recorder
        self.component = component

    def emit(self, obj: Obj, etype: str, reason: str, message: str) -> None:
        self.recorder.emit(obj, etype, reason, message, self.component)

    @property
    def emitted(self) -> list[tuple[str, str, str]]:
        return self.recorder.emitted
