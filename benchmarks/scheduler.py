#!/usr/bin/env python3
"""Scheduler speed (like kube-scheduler's scheduler_perf ``SchedulingBasic``) and
pod startup latency on simulated nodes.

* **algorithm**: the scheduling cycle alone, in this process, on a cache of N
  nodes (no API): pods/s;
* **throughput**: ``skiff apiserver`` (SQLite) and ``skiff scheduler`` as their
  own processes; N nodes registered (no kubelets, as SchedulingBasic) and P
  pending pods created first; then the scheduler starts and we count bindings
  through a watch: pods/s from the first to the last binding (goal >= 1,000/s
  at 5,000 nodes; upstream CI floor 680-810/s);
* **startup**: apiserver, scheduler and ``skiff simulate nodes`` processes;
  100 pods created at 20/s; latency from the create request to the watch
  showing the pod Running and Ready: p50/p99 (goal p99 <= 0.5 s; upstream SLO 5 s).

    .venv/bin/python benchmarks/scheduler.py [--nodes 1000,5000] [--pods 10000]
                                             [--skip-throughput] [--skip-startup]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import aiohttp
import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from skiff.scheduler.algorithm import Scheduler
from skiff.scheduler.cache import Cache
from skiff.scheduler.nodeinfo import PodInfo
from skiff.scheduler.registry import default_profile
from skiff.simulator.nodes import node_object, node_status

NS = "default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pod(i: int, prefix: str = "p") -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i}", "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "100m",
                                                                "memory": "500Mi"}}}]}}


def algorithm(nodes: int, pods: int) -> float:
    c = Cache()
    for i in range(nodes):
        n = node_object(f"n{i}", i, "32", "256Gi", 110, f"zone-{i % 3}")
        n["status"] = node_status(f"n{i}", i, "32", "256Gi", 110, 0)
        c.add_node(n)
    prof, s = default_profile(), Scheduler(random.Random(0))
    objs = [{**pod(i), "metadata": {"name": f"p-{i}", "namespace": NS, "uid": str(i)}}
            for i in range(pods)]
    t = time.perf_counter()
    for p in objs:
        pi = PodInfo(p)
        c.assume(pi, s.schedule(prof, pi, c.nodes, c.cycle_state()).node)
    return pods / (time.perf_counter() - t)


class Procs:
    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="bench-scheduler-")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(os.path.join(self.tmp, f"{args[0]}.log"), "ab")  # noqa: SIM115
        p = subprocess.Popen([sys.executable, "-m", "skiff.cli.main", *args], stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def apiserver(self) -> None:
        p = self.spawn("apiserver", "--data-dir", self.tmp, "--port", str(self.port),
                       "--kubeconfig", self.kubeconfig)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("apiserver did not start") from None
                time.sleep(0.05)
        while not os.path.exists(self.kubeconfig):
            time.sleep(0.05)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


async def _many(session: aiohttp.ClientSession, reqs: list[tuple[str, str, dict]],  # type: ignore[type-arg]
                conc: int = 32) -> None:
    sem = asyncio.Semaphore(conc)

    async def one(method: str, path: str, body: dict) -> None:  # type: ignore[type-arg]
        async with sem, session.request(method, path, data=orjson.dumps(body),
                                        headers={"Content-Type": "application/json"}) as r:
            if r.status >= 400:
                raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
    await asyncio.gather(*(one(*r) for r in reqs))


async def register_nodes(session: aiohttp.ClientSession, n: int) -> None:
    objs = [node_object(f"node-{i}", i, "32", "256Gi", 110, f"zone-{i % 3}") for i in range(n)]
    await _many(session, [("POST", "/api/v1/nodes", o) for o in objs])
    await _many(session, [("PUT", f"/api/v1/nodes/node-{i}/status", {
        **o, "status": node_status(f"node-{i}", i, "32", "256Gi", 110, time.time())})
        for i, o in enumerate(objs)])


async def throughput(nodes: int, pods: int) -> tuple[float, float]:
    """(pods/s over the binding window, seconds)."""
    procs = Procs()
    try:
        procs.apiserver()
        async with aiohttp.ClientSession(procs.url) as s:
            await register_nodes(s, nodes)
            await _many(s, [("POST", f"/api/v1/namespaces/{NS}/pods", pod(i))
                            for i in range(pods)])
            async with s.get(f"/api/v1/namespaces/{NS}/pods", params={"limit": "1"}) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]
            bound = 0
            first = last = 0.0
            sched = procs.spawn("scheduler", "--kubeconfig", procs.kubeconfig,
                                "--no-leader-elect")
            api_pid = procs.procs[0].pid
            cpu0 = (0.0, 0.0)
            async with s.get(f"/api/v1/namespaces/{NS}/pods", params={
                    "watch": "true", "resourceVersion": rv},
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=120)) as r:
                async for line in r.content:
                    ev = orjson.loads(line)
                    if ev["type"] == "MODIFIED" and ev["object"]["spec"].get("nodeName"):
                        bound += 1
                        last = time.monotonic()
                        if bound == 1:
                            first = last
                            cpu0 = (cpu_seconds(api_pid), cpu_seconds(sched.pid))
                        if bound >= pods:
                            break
            cpu1 = (cpu_seconds(api_pid), cpu_seconds(sched.pid))
            window = max(1e-9, last - first)
            print(f"    cpu during binding: apiserver {(cpu1[0] - cpu0[0]) / window:.0%}, "
                  f"scheduler {(cpu1[1] - cpu0[1]) / window:.0%} of a core")
            await asyncio.sleep(2.0)             # let the event writer catch up or give up
            with open(os.path.join(procs.tmp, "scheduler.log")) as f:
                drops = [ln for ln in f if "events dropped" in ln]
            print("    Scheduled events dropped under overload (upstream drops too): " +
                  (drops[-1].split(", ")[1].split(" events")[0] if drops else "0"))
            return (pods - 1) / window, window
    finally:
        procs.close()


async def startup(count: int = 100, rate: float = 20.0) -> tuple[float, float]:
    procs = Procs()
    try:
        procs.apiserver()
        procs.spawn("scheduler", "--kubeconfig", procs.kubeconfig, "--no-leader-elect")
        procs.spawn("simulate", "nodes", "--kubeconfig", procs.kubeconfig, "--count", "10")
        async with aiohttp.ClientSession(procs.url) as s:
            while True:
                async with s.get("/api/v1/nodes") as r:
                    if len((await r.json())["items"]) >= 10:
                        break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)                      # informers of both components synced
            async with s.get(f"/api/v1/namespaces/{NS}/pods", params={"limit": "1"}) as r:
                rv = (await r.json())["metadata"]["resourceVersion"]
            created: dict[str, float] = {}
            running: dict[str, float] = {}
            done = asyncio.Event()

            async def watch() -> None:
                async with s.get(f"/api/v1/namespaces/{NS}/pods", params={
                        "watch": "true", "resourceVersion": rv},
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as r:
                    async for line in r.content:
                        ev = orjson.loads(line)
                        o = ev["object"]
                        st = o.get("status") or {}
                        if st.get("phase") == "Running" and any(
                                c["type"] == "Ready" and c["status"] == "True"
                                for c in st.get("conditions") or []):
                            running.setdefault(o["metadata"]["name"], time.monotonic())
                            if len(running) >= count:
                                done.set()
                                return
            w = asyncio.ensure_future(watch())
            for i in range(count):
                name = f"start-{i}"
                created[name] = time.monotonic()
                await _many(s, [("POST", f"/api/v1/namespaces/{NS}/pods", pod(i, "start"))])
                await asyncio.sleep(1 / rate)
            await asyncio.wait_for(done.wait(), 60)
            await w
            lat = sorted(running[n] - created[n] for n in created)
            return statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    finally:
        procs.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", default="1000,5000")
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-startup", action="store_true")
    args = ap.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    print("scheduler benchmark (2 cores shared by every process)")
    for n in sizes:
        print(f"  algorithm only, {n} nodes, 2,000 pods: {algorithm(n, 2000):,.0f} pods/s")
    if not args.skip_throughput:
        for n in sizes:
            rate, secs = asyncio.run(throughput(n, args.pods))
            print(f"  end to end, {n} nodes, {args.pods} pods: {rate:,.0f} pods/s "
                  f"({secs:.1f} s; goal >= 1,000/s at 5,000 nodes, upstream CI floor 680-810)")
    if not args.skip_startup:
        p50, p99 = asyncio.run(startup())
        print(f"  pod startup (create -> Running/Ready), 100 pods on 10 simulated nodes: "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (goal p99 <= 500 ms; "
              "upstream SLO 5 s)")


if __name__ == "__main__":
    main()
