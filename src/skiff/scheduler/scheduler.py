"""The scheduler process: informers feed the cache and the queue; one loop
pops pods, runs the (synchronous) scheduling cycle, assumes the result in the
cache and binds through ``POST pods/<name>/binding`` in the background (bounded
in-flight binds), so the next cycle does not wait for the API.

Only pods whose ``spec.schedulerName`` names one of our profiles are ours;
users can run their own scheduler for other names. A pod no node fits gets a
``FailedScheduling`` event and a ``PodScheduled=False`` condition with the
upstream message, may trigger preemption (victims deleted, the pod nominated),
and waits in the unschedulable queue for a cluster event that could help.

Entry point for ``skiff scheduler`` and ``skiff up``:
``await run(client, clock=None, profiles=None, leader_elect=False, ...)``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from skiff.client import GVR, Client, SharedInformerFactory
from skiff.clock import Clock, RealClock, rfc3339
from skiff.controllers.events import EventRecorder
from skiff.errors import Conflict, NotFound, SkiffError
from skiff.scheduler.algorithm import Scheduler
from skiff.scheduler.cache import Cache
from skiff.scheduler.messages import FitError
from skiff.scheduler.nodeinfo import PodInfo
from skiff.scheduler.preemption import preempt
from skiff.scheduler.queue import QueuedPod, SchedulingQueue
from skiff.scheduler.registry import Profile, default_profile

log = logging.getLogger("skiff.scheduler")
Obj = dict[str, Any]
PODS = GVR("", "v1", "pods", True, "Pod")


def _key(pod: Obj) -> str:
    md = pod["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class SchedulerLoop:
    def __init__(self, client: Client, profiles: list[Profile] | None = None,
                 clock: Clock | None = None, factory: SharedInformerFactory | None = None,
                 max_in_flight: int = 1024, rng: random.Random | None = None,
                 preemption: bool = True) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.profiles = {p.scheduler_name: p for p in profiles or [default_profile()]}
        events: dict[str, frozenset[str]] = {}
        for p in self.profiles.values():
            events.update(p.events)
        self.queue = SchedulingQueue(self.clock, plugin_events=events)
        self.cache = Cache()
        self.algorithm = Scheduler(rng)
        self.factory = factory or SharedInformerFactory(client)
        self.recorder = EventRecorder(client, "default-scheduler", self.clock)
        self.preemption = preemption
        self._slots = asyncio.Semaphore(max_in_flight)
        self._binds: set[asyncio.Task[None]] = set()
        self.nominated: dict[str, tuple[str, PodInfo]] = {}    # pod key -> (node, pod)
        self.scheduled = 0
        self.failed = 0
        nodes = self.factory.informer("nodes")
        nodes.add_event_handler(on_add=self._node_add, on_update=self._node_update,
                                on_delete=self._node_delete)
        pods = self.factory.informer("pods")
        pods.add_event_handler(on_add=self._pod_add, on_update=self._pod_update,
                               on_delete=self._pod_delete)

    # -- informer handlers: cache and queue bookkeeping only --

    def _node_add(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all("NodeAdd")

    def _node_update(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if old.get("spec") != new.get("spec") or \
                (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get(
                    "labels") or (old.get("status") or {}).get("allocatable") != (
                    new.get("status") or {}).get("allocatable"):
            self.queue.move_all("NodeUpdate")

    def _node_delete(self, node: Obj) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def _ours(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and
                spec.get("schedulerName", "default-scheduler") in self.profiles and
                not pod["metadata"].get("deletionTimestamp") and
                (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))

    def _pod_add(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.cache.add_pod(pod)
        elif self._ours(pod):
            self.queue.add(pod)

    def _pod_update(self, old: Obj, new: Obj) -> None:
        if (new.get("spec") or {}).get("nodeName"):
            self.cache.update_pod(new)
            self.queue.delete(_key(new))
            self.nominated.pop(_key(new), None)
            if (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase") \
                    and (new.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                self.queue.move_all("PodDelete")
        elif self._ours(new):
            if (old.get("metadata") or {}).get("labels") != new["metadata"].get("labels") or \
                    old.get("spec") != new.get("spec"):
                self.queue.update(new)
            else:
                self.queue.refresh(new)          # our own status patch: no retry storm
        else:
            self.queue.delete(_key(new))

    def _pod_delete(self, pod: Obj) -> None:
        self.queue.delete(_key(pod))
        self.nominated.pop(_key(pod), None)
        if (pod.get("spec") or {}).get("nodeName") or _key(pod) in self.cache:
            self.cache.remove_pod(pod)
            self.queue.move_all("PodDelete")

    # -- the loop --

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.factory.run())
            tg.create_task(self.recorder.run())
            await self.factory.wait_for_cache_sync()
            tg.create_task(self._flush_loop())
            await self._schedule_loop()

    async def _flush_loop(self) -> None:
        while True:
            await self.clock.sleep(1.0)
            self.queue.flush()

    async def _schedule_loop(self) -> None:
        n = 0
        while True:
            await self._slots.acquire()
            qp = await self.queue.pop()
            try:
                self.schedule_one(qp)
            except Exception:
                self._slots.release()
                self.queue.done(qp.key)
                log.exception("scheduling %s failed", qp.key)
            n += 1
            if n % 32 == 0:
                await asyncio.sleep(0)          # let binds and watches run

    def schedule_one(self, qp: QueuedPod) -> None:
        pod = qp.pod
        prof = self.profiles[(pod.get("spec") or {}).get("schedulerName", "default-scheduler")]
        pi = PodInfo(pod)
        state = self.cache.cycle_state()
        if self.nominated:
            by_node: dict[str, list[PodInfo]] = {}
            for node, npi in self.nominated.values():
                by_node.setdefault(node, []).append(npi)
            state["nominated"] = by_node
        cycle = self.queue.scheduling_cycle
        try:
            result = self.algorithm.schedule(prof, pi, self.cache.nodes, state)
        except FitError as e:
            self._slots.release()
            self._unschedulable(prof, qp, pi, e, cycle)
            return
        self.cache.assume(pi, result.node)
        task = asyncio.get_running_loop().create_task(self._bind(qp, pi, result.node))
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)

    async def _bind(self, qp: QueuedPod, pi: PodInfo, node: str) -> None:
        # Errors are handled here: a bind task never raises (it is tracked in _binds).
        try:
            await self.client.request("POST", PODS.path(pi.namespace, pi.name, "binding"), {
                "apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pi.name, "namespace": pi.namespace, "uid": pi.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}},
                {"fieldManager": "default-scheduler"})
            self.scheduled += 1
            self.queue.done(qp.key)
            self.recorder.emit(pi.pod, "Normal", "Scheduled",
                               f"Successfully assigned {pi.key} to {node}")
        except (NotFound, Conflict) as e:
            self.cache.forget(pi.key)
            self.queue.done(qp.key)              # deleted, or bound by someone else
            log.debug("bind %s: %s", pi.key, e)
        except SkiffError as e:
            self.cache.forget(pi.key)
            self.queue.add_unschedulable(qp, self.queue.scheduling_cycle)
            self.recorder.emit(pi.pod, "Warning", "FailedScheduling", f"Binding rejected: {e}")
        except asyncio.CancelledError:
            raise
        except Exception:
            self.cache.forget(pi.key)
            self.queue.done(qp.key)
            log.exception("bind %s", pi.key)
        finally:
            self._slots.release()

    def _unschedulable(self, prof: Profile, qp: QueuedPod, pi: PodInfo, err: FitError,
                       cycle: int) -> None:
        self.failed += 1
        diag = err.diagnosis
        nominate = ""
        if self.preemption and err.num_all_nodes:
            res = preempt(prof, pi, self.cache.nodes, diag.node_statuses)
            if res.node:
                nominate = res.node
                self.nominated[pi.key] = (res.node, pi)
                for v in res.victims:
                    self.recorder.emit(v.pod, "Normal", "Preempted",
                                       f"Preempted by pod {pi.uid} on node {res.node}")
                    self._spawn(self._delete_victim(v))
            else:
                diag.post_filter_msg = res.message
        qp.unschedulable_plugins = set(diag.unschedulable_plugins)
        msg = err.message()
        self.recorder.emit(pi.pod, "Warning", "FailedScheduling", msg)
        self._spawn(self._mark_unschedulable(pi, msg, nominate))
        if nominate:
            qp.unschedulable_plugins = set()     # retry soon: the victims are going
        self.queue.add_unschedulable(qp, cycle)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._binds.add(task)
        task.add_done_callback(self._binds.discard)

    async def _delete_victim(self, v: PodInfo) -> None:
        try:
            await self.client.delete("pods", v.name, v.namespace,
                                     preconditions={"uid": v.uid})
        except SkiffError as e:
            log.debug("preemption victim %s: %s", v.key, e)

    async def _mark_unschedulable(self, pi: PodInfo, msg: str, nominate: str) -> None:
        status: Obj = {"conditions": [{"type": "PodScheduled", "status": "False",
                                       "reason": "Unschedulable", "message": msg,
                                       "lastProbeTime": None,
                                       "lastTransitionTime": rfc3339(self.clock.now())}]}
        if nominate:
            status["nominatedNodeName"] = nominate
        cur = next((c for c in (pi.pod.get("status") or {}).get("conditions") or []
                    if c.get("type") == "PodScheduled"), None)
        if cur and cur.get("message") == msg and cur.get("status") == "False" and not nominate:
            return
        try:
            await self.client.patch("pods", pi.name, {"status": status}, pi.namespace,
                                     patch_type="strategic", subresource="status")
        except SkiffError as e:
            log.debug("pod %s status: %s", pi.key, e)


async def run(client: Client, clock: Clock | None = None, profiles: list[Profile] | None = None,
              leader_elect: bool = False, identity: str = "",
              lease_namespace: str = "kube-system", lease_name: str = "kube-scheduler",
              lease_duration: float = 15.0, renew_deadline: float = 10.0,
              retry_period: float = 2.0) -> None:
    """Run the scheduler until cancelled (with leader election: only while leading)."""
    if leader_elect:
        from skiff.controllers.leaderelection import LeaderElector

        elector = LeaderElector(client, lease_name, lease_namespace, identity, lease_duration,
                                renew_deadline, retry_period, clock=clock)
        await elector.run_as_candidate(lambda: SchedulerLoop(client, profiles, clock).run())
        return
    await SchedulerLoop(client, profiles, clock).run()
