#!/usr/bin/env python3
"""API server speed: sustained pod creates, a 10,000-pod list, watch fan-out.

Runs ``skiff apiserver`` as its own process (so the load generator does not share
its event loop) on SQLite and on a real etcd started here, and drives it over
HTTP with aiohttp:

* creates: ``--clients`` concurrent clients POST pods until ``--pods`` exist;
  throughput and per-request p50/p99 latency (goal: >= 1,000/s, p99 <= 50 ms
  on SQLite; upstream SLO p99 <= 1 s);
* list: GET all pods of the namespace at once (and paged by 500, as kubectl);
* watch fan-out: ``--watchers`` watches on the namespace, then pods created one
  at a time; latency from sending the create to each watcher seeing ADDED.

    .venv/bin/python benchmarks/apiserver.py [--pods 10000] [--clients 8] [--backends sqlite,etcd]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import orjson

NS = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)


@contextmanager
def etcd() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="bench-etcd-")
    c, p = free_port(), free_port()
    url = f"http://127.0.0.1:{c}"
    proc = subprocess.Popen(["etcd", "--name", "b", "--data-dir", f"{d}/data",
                             "--listen-client-urls", url, "--advertise-client-urls", url,
                             "--listen-peer-urls", f"http://127.0.0.1:{p}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{p}",
                             "--initial-cluster", f"b=http://127.0.0.1:{p}",
                             "--quota-backend-bytes", str(4 << 30)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"{url}/health", proc, "etcd")
        yield url.replace("http://", "etcd://")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


@contextmanager
def apiserver(storage: str) -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="bench-apiserver-")
    port = free_port()
    storage = storage or f"sqlite:///{d}/db"
    proc = subprocess.Popen([sys.executable, "-m", "skiff.cli.main", "apiserver", "--data-dir", d,
                             "--port", str(port), "--storage", storage],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, "apiserver")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def pod(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "labels": {"app": "bench", "shard": name[-1]}}, "spec": {"containers": [{
            "name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}})


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


async def creates(url: str, n: int, clients: int) -> dict[str, float]:
    lat: list[float] = []
    counter = iter(range(n))
    hdr = {"Content-Type": "application/json"}
    path = f"/api/v1/namespaces/{NS}/pods"

    async def client(s: aiohttp.ClientSession) -> None:
        for i in counter:
            body = pod(f"p{i:06d}")
            t0 = time.perf_counter()
            async with s.post(path, data=body, headers=hdr) as r:
                await r.read()
                assert r.status == 201, r.status
            lat.append(time.perf_counter() - t0)

    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(url, connector=conn) as s:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(s) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return {"rate": n / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "wall": wall}


async def lists(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession(url) as s:
        times, paged = [], []
        count = 0
        for _ in range(3):
            t0 = time.perf_counter()
            async with s.get(f"/api/v1/namespaces/{NS}/pods") as r:
                raw = await r.read()
            times.append(time.perf_counter() - t0)        # server + transfer, not our decoding
            count = len(orjson.loads(raw)["items"])
            t0 = time.perf_counter()
            token = ""
            while True:
                q = f"?limit=500&continue={token}" if token else "?limit=500"
                async with s.get(f"/api/v1/namespaces/{NS}/pods{q}") as r:
                    doc = orjson.loads(await r.read())
                token = doc["metadata"].get("continue", "")
                if not token:
                    break
            paged.append(time.perf_counter() - t0)
    return {"items": count, "full_ms": statistics.median(times) * 1000,
            "paged_ms": statistics.median(paged) * 1000}


async def fanout(url: str, watchers: int, events: int) -> dict[str, float]:
    sent: dict[str, float] = {}
    lat: list[float] = []
    ready = 0
    ns = "fanout"
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=0)) as s:
        async with s.post("/api/v1/namespaces", json={"metadata": {"name": ns}}) as r:
            assert r.status == 201
        async with s.get(f"/api/v1/namespaces/{ns}/pods") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]

        async def watcher() -> None:
            nonlocal ready
            got = 0
            async with s.get(f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}",
                             timeout=aiohttp.ClientTimeout(total=None)) as r:
                ready += 1
                async for line in r.content:
                    ev = orjson.loads(line)
                    name = ev["object"]["metadata"]["name"]
                    lat.append(time.perf_counter() - sent[name])
                    got += 1
                    if got == events:
                        return

        tasks = [asyncio.ensure_future(watcher()) for _ in range(watchers)]
        while ready < watchers:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        for i in range(events):
            name = f"f{i:04d}"
            sent[name] = time.perf_counter()
            async with s.post(f"/api/v1/namespaces/{ns}/pods", data=pod(name),
                              headers={"Content-Type": "application/json"}) as r:
                assert r.status == 201
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return {"deliveries": len(lat), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}


async def run(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    async with aiohttp.ClientSession(url) as s, \
            s.post("/api/v1/namespaces", json={"metadata": {"name": NS}}) as r:
        assert r.status == 201
    out = {"create": await creates(url, args.pods, args.clients)}
    out["list"] = await lists(url)
    out["watch"] = await fanout(url, args.watchers, args.events)
    return out


def report(name: str, r: dict[str, dict[str, float]]) -> None:
    c, li, w = r["create"], r["list"], r["watch"]
    print(f"{name:7} creates: {c['rate']:7.0f}/s  p50 {c['p50']:6.1f} ms  p99 {c['p99']:6.1f} ms"
          f"  ({int(c['rate'] * c['wall'])} pods in {c['wall']:.1f} s)")
    print(f"{name:7} list {int(li['items'])} pods: {li['full_ms']:6.0f} ms at once (received), "
          f"{li['paged_ms']:6.0f} ms in pages of 500")
    print(f"{name:7} watch fan-out: {int(w['deliveries'])} deliveries, p50 {w['p50']:.1f} ms, "
          f"p99 {w['p99']:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,etcd")
    args = ap.parse_args()
    print(f"pods={args.pods} clients={args.clients} watchers={args.watchers} "
          f"events={args.events} cpus={os.cpu_count()}")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with apiserver("") as url:
                report("sqlite", asyncio.run(run(url, args)))
        elif backend == "etcd":
            with etcd() as e, apiserver(e) as url:
                report("etcd", asyncio.run(run(url, args)))


if __name__ == "__main__":
    main()
