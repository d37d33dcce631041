"""``skiff simulate nodes``: register N fake nodes and play their kubelets.

Each node gets capacity, labels (``kubernetes.io/hostname``, ``os``, ``arch``,
``topology.kubernetes.io/zone`` round-robin over ``zones``, and
``skiff.dev/simulated=true``), a Ready condition, addresses and a pod CIDR; a
Lease in ``kube-node-lease`` renewed every ``lease_interval`` seconds.

Pods bound to a simulated node move straight to Running and Ready with
realistic status (pod IP from the node's CIDR, hostIP, startTime, container
statuses with image IDs). Pods being deleted are removed (grace period 0).
A few annotations on a pod shape the simulation:

* ``skiff.dev/simulate-ready: "false"``   - Running but never Ready;
* ``skiff.dev/simulate-exit-code: "N"``   - the containers exit with N after
  ``skiff.dev/simulate-run-seconds`` (default 1): Succeeded for 0, else Failed;
* images tagged ``:invalid``               - ErrImagePull, the pod stays Pending.

A simulated node is never a stand-in for the real node agent: it runs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from skiff.client import Client, SharedInformerFactory
from skiff.clock import Clock, RealClock, rfc3339, rfc3339_micro
from skiff.errors import AlreadyExists, Conflict, NotFound, SkiffError

log = logging.getLogger("skiff.simulator")
Obj = dict[str, Any]
SIM_LABEL = "skiff.dev/simulated"


def node_object(name: str, index: int, cpu: str, memory: str, pods: int, zone: str,
                labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": zone,
                "node.kubernetes.io/instance-type": "skiff-sim", SIM_LABEL: "true",
                **(labels or {})},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": pod_cidr(index), "podCIDRs": [pod_cidr(index)],
                     **({"taints": taints} if taints else {})}}


def pod_cidr(index: int) -> str:
    return f"10.{64 + index // 256}.{index % 256}.0/24"


def node_status(name: str, index: int, cpu: str, memory: str, pods: int, now: float) -> Obj:
    ts = rfc3339(now)
    res = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}

    def cond(t: str, s: str, reason: str, msg: str) -> Obj:
        return {"type": t, "status": s, "reason": reason, "message": msg,
                "lastHeartbeatTime": ts, "lastTransitionTime": ts}
    return {
        "capacity": res, "allocatable": res,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                 "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
                 "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")],
        "addresses": [{"type": "InternalIP", "address": f"172.20.{index // 250}.{index % 250 + 2}"},
                      {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"architecture": "amd64", "bootID": _id(name, "boot"),
                     "containerRuntimeVersion": "skiff-sim://0.1.0",
                     "kernelVersion": "6.1.0-skiff-sim", "kubeProxyVersion": "v1.32.4",
                     "kubeletVersion": "v1.32.4", "machineID": _id(name, "machine"),
                     "operatingSystem": "linux", "osImage": "skiff simulated node",
                     "systemUUID": _id(name, "uuid")},
        "images": [],
        "phase": "Running",
    }


def _id(name: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{name}".encode()).hexdigest()[:32]


def running_status(pod: Obj, node_ip: str, pod_ip: str, now: float, ready: bool = True) -> Obj:
    ts = rfc3339(now)
    spec = pod.get("spec") or {}
    statuses = []
    bad_image = ""
    for c in spec.get("containers") or []:
        image = c.get("image", "")
        if image.endswith(":invalid"):
            bad_image = image
            statuses.append({"name": c["name"], "image": image, "imageID": "",
                             "ready": False, "restartCount": 0, "started": False,
                             "state": {"waiting": {"reason": "ErrImagePull",
                                                   "message": f"simulated: image {image} "
                                                              "cannot be pulled"}}})
            continue
        statuses.append({"name": c["name"], "image": image,
                         "imageID": f"{image.split(':')[0]}@sha256:"
                                    f"{hashlib.sha256(image.encode()).hexdigest()}",
                         "containerID": f"skiff-sim://{_id(pod['metadata'].get('uid', ''), c['name'])}",
                         "ready": ready, "restartCount": 0, "started": True,
                         "state": {"running": {"startedAt": ts}}})
    ok = ready and not bad_image
    st = "True" if ok else "False"
    conds = [{"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": ts,
              "lastProbeTime": None},
             {"type": "Initialized", "status": "True", "lastTransitionTime": ts,
              "lastProbeTime": None},
             {"type": "Ready", "status": st, "lastTransitionTime": ts, "lastProbeTime": None},
             {"type": "ContainersReady", "status": st, "lastTransitionTime": ts,
              "lastProbeTime": None},
             {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts,
              "lastProbeTime": None}]
    if not ok:
        reason = "ContainersNotReady"
        for c in conds[2:4]:
            c["reason"] = reason
            c["message"] = "containers with unready status: [" + " ".join(
                s["name"] for s in statuses if not s["ready"]) + "]"
    return {"phase": "Pending" if bad_image else "Running", "conditions": conds,
            "hostIP": node_ip, "hostIPs": [{"ip": node_ip}], "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}], "startTime": ts, "containerStatuses": statuses,
            "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort")}


def finished_status(pod: Obj, code: int, now: float) -> Obj:
    st = dict(pod.get("status") or {})
    ts = rfc3339(now)
    st["phase"] = "Succeeded" if code == 0 else "Failed"
    st["containerStatuses"] = [
        {**c, "ready": False, "started": False,
         "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else
                                  "Error", "startedAt": st.get("startTime", ts),
                                  "finishedAt": ts, "containerID": c.get("containerID", "")}}}
        for c in st.get("containerStatuses") or []]
    st["conditions"] = [{**c, "status": "False", "reason": "PodCompleted"}
                        if c.get("type") in ("Ready", "ContainersReady") else c
                        for c in st.get("conditions") or []]
    return st


class SimulatedNodes:
    def __init__(self, client: Client, count: int, prefix: str = "sim-node-", cpu: str = "4",
                 memory: str = "16Gi", pods: int = 110, zones: int = 3,
                 lease_interval: float = 10.0, status_interval: float = 60.0,
                 clock: Clock | None = None, labels: dict[str, str] | None = None,
                 start_index: int = 0, taints: list[Obj] | None = None,
                 max_concurrency: int = 32) -> None:
        self.client = client
        self.clock = clock or RealClock()
        self.prefix = prefix
        self.names = [f"{prefix}{i}" for i in range(start_index, start_index + count)]
        self.index = {n: start_index + i for i, n in enumerate(self.names)}
        self.cpu, self.memory, self.pods_per_node, self.zones = cpu, memory, pods, zones
        self.labels, self.taints = labels, taints
        self.lease_interval, self.status_interval = lease_interval, status_interval
        self.factory = SharedInformerFactory(client)
        self._ip_next: dict[str, int] = {}
        self._started: set[str] = set()
        self._work: asyncio.Queue[Obj] = asyncio.Queue()
        self._finish: asyncio.Queue[tuple[str, str, str, int]] = asyncio.Queue()
        self._sem = asyncio.Semaphore(max_concurrency)
        self.stopped: set[str] = set()         # nodes whose "kubelet" is stopped
        inf = self.factory.informer("pods")
        inf.add_event_handler(on_add=self._pod_event, on_update=lambda o, n: self._pod_event(n))

    def _pod_event(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self.index and node not in self.stopped:
            self._work.put_nowait(pod)

    def node_ip(self, name: str) -> str:
        i = self.index[name]
        return f"172.20.{i // 250}.{i % 250 + 2}"

    def _pod_ip(self, node: str) -> str:
        n = self._ip_next.get(node, 1) + 1
        self._ip_next[node] = n if n < 254 else 1
        base = pod_cidr(self.index[node]).rsplit(".", 1)[0]
        return f"{base}.{n}"

    async def add_node(self) -> str:
        """One more node, known to this simulator *before* its Node object exists
        (so no pod bound to it in between goes unnoticed); returns its name."""
        i = max(self.index.values(), default=-1) + 1
        name = f"{self.prefix}{i}"
        self.names.append(name)
        self.index[name] = i
        await self.register([name])
        return name

    async def register(self, names: list[str] | None = None) -> None:
        async def one(name: str) -> None:
            async with self._sem:
                i = self.index[name]
                obj = node_object(name, i, self.cpu, self.memory, self.pods_per_node,
                                  f"zone-{i % self.zones}", self.labels, self.taints)
                try:
                    node = await self.client.create("nodes", obj)
                except AlreadyExists:
                    node = await self.client.get("nodes", name)
                for _ in range(10):      # the node lifecycle controller may write meanwhile
                    node["status"] = node_status(name, i, self.cpu, self.memory,
                                                 self.pods_per_node, self.clock.now())
                    try:
                        await self.client.update_status("nodes", node)
                        break
                    except Conflict:
                        node = await self.client.get("nodes", name)
                await self._renew(name)
        await asyncio.gather(*(one(n) for n in (self.names if names is None else names)))

    async def _renew(self, name: str) -> None:
        now = rfc3339_micro(self.clock.now())
        try:
            lease = await self.client.get("leases", name, "kube-node-lease")
            lease["spec"]["renewTime"] = now
            await self.client.update("leases", lease)
        except NotFound:
            node = await self.client.get("nodes", name)
            await self.client.create("leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease",
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                                  "name": name, "uid": node["metadata"]["uid"]}]},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                         "renewTime": now}}, "kube-node-lease")

    async def _lease_loop(self) -> None:
        while True:
            await self.clock.sleep(self.lease_interval)
            for name in self.names:
                if name in self.stopped:
                    continue
                async with self._sem:
                    try:
                        await self._renew(name)
                    except SkiffError as e:
                        log.debug("lease %s: %s", name, e)

    async def _status_loop(self) -> None:
        """Ready heartbeat in the node status (the node lifecycle controller may have
        marked the node Unknown while it was stopped)."""
        while True:
            await self.clock.sleep(self.status_interval)
            for name in self.names:
                if name not in self.stopped:
                    await self.refresh_status(name)

    async def refresh_status(self, name: str) -> None:
        try:
            node = await self.client.get("nodes", name)
            node["status"] = {**(node.get("status") or {}), **{
                k: v for k, v in node_status(name, self.index[name], self.cpu, self.memory,
                                             self.pods_per_node, self.clock.now()).items()
                if k == "conditions"}}
            await self.client.update_status("nodes", node)
        except SkiffError as e:
            log.debug("node status %s: %s", name, e)

    async def _pod_worker(self) -> None:
        while True:
            pod = await self._work.get()
            try:
                await self._sync_pod(pod)
            except (Conflict, NotFound):
                pass
            except SkiffError as e:
                log.debug("pod %s: %s", pod["metadata"].get("name"), e)

    async def _sync_pod(self, pod: Obj) -> None:
        md = pod["metadata"]
        node = pod["spec"]["nodeName"]
        if md.get("deletionTimestamp"):
            try:
                await self.client.delete("pods", md["name"], md["namespace"],
                                         grace_period_seconds=0,
                                         preconditions={"uid": md["uid"]})
            except (NotFound, Conflict):
                pass
            return
        phase = (pod.get("status") or {}).get("phase")
        uid = md["uid"]
        if phase in ("Succeeded", "Failed", "Running") or uid in self._started:
            return
        self._started.add(uid)
        ann = md.get("annotations") or {}
        ready = ann.get("skiff.dev/simulate-ready", "true") != "false"
        new = {**pod, "status": running_status(pod, self.node_ip(node), self._pod_ip(node),
                                               self.clock.now(), ready)}
        await self.client.update_status("pods", new)
        if "skiff.dev/simulate-exit-code" in ann:
            item = (md["namespace"], md["name"], uid, int(ann["skiff.dev/simulate-exit-code"]))
            self.clock.call_later(float(ann.get("skiff.dev/simulate-run-seconds", "1")),
                                  lambda: self._finish.put_nowait(item))

    async def _finish_worker(self) -> None:
        while True:
            ns, name, uid, code = await self._finish.get()
            try:
                cur = await self.client.get("pods", name, ns)
                if cur["metadata"]["uid"] == uid and not cur["metadata"].get("deletionTimestamp"):
                    cur["status"] = finished_status(cur, code, self.clock.now())
                    await self.client.update_status("pods", cur)
            except SkiffError as e:
                log.debug("finishing pod %s/%s: %s", ns, name, e)

    def stop_node(self, name: str) -> None:
        """Simulate a dead kubelet: no more leases or pod updates for ``name``."""
        self.stopped.add(name)

    def start_node(self, name: str) -> None:
        self.stopped.discard(name)

    async def run(self, workers: int = 16) -> None:
        await self.register()
        await self.run_workers(workers)

    async def run_workers(self, workers: int = 16) -> None:
        """Everything but registration (call ``register()`` first)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.factory.run())
            tg.create_task(self._lease_loop())
            tg.create_task(self._status_loop())
            tg.create_task(self._finish_worker())
            for _ in range(workers):
                tg.create_task(self._pod_worker())


async def run(client: Client, count: int, prefix: str = "sim-node-", cpu: str = "4",
              memory: str = "16Gi", pods: int = 110, zones: int = 3,
              lease_interval: float = 10.0, clock: Clock | None = None) -> None:
    """Entry point for ``skiff simulate nodes`` and ``skiff up``: run until cancelled."""
    await SimulatedNodes(client, count, prefix, cpu, memory, pods, zones, lease_interval,
                         clock=clock).run()
