"""Network attach + detach for one container: skiff's NetworkManager against ``ip``.

What ``docker run --rm -p 80 busybox`` costs in networking, measured three ways
in one run, interleaved round by round so machine noise hits all alike:

* **skiff run --rm path**: ``create_sandbox`` + ``connect("bridge")`` +
  ``publish`` (one ephemeral port) + ``remove_sandbox`` (the veth pair dies
  with the namespace, asynchronously in the kernel);
* **skiff explicit detach**: the same, but ``unpublish`` + ``disconnect``
  (deletes the veth, waiting for the kernel) before ``remove_sandbox``: what
  ``docker network disconnect`` costs;
* **ip reference**: the same plumbing with the ``ip`` command, no firewall
  rule: ``ip netns add``, ``ip link add veth ... netns``, address, up, default
  route, master + up on the host end, then ``ip netns del``.

The manager uses its own bridge, subnet (10.252.0.0/24), nftables table and
temp dirs, and removes them all at the end.

    .venv/bin/python benchmarks/network.py [-n 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from skiff.engine.network import netns
from skiff.engine.network.manager import NetworkManager
from skiff.engine.network.ports import PortBinding

TAG = str(os.getpid() % 100000)
BRIDGE = f"skb{TAG}"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def ip_reference(i: int) -> float:
    ns, veth = f"skbench{TAG}-{i}", f"vb{TAG}{i % 1000}"
    start = time.perf_counter()
    ip("netns", "add", ns)
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    ip("-n", ns, "addr", "add", "10.252.0.200/24", "dev", "eth0")
    ip("-n", ns, "link", "set", "eth0", "up")
    ip("-n", ns, "route", "add", "default", "via", "10.252.0.1")
    ip("link", "set", veth, "master", BRIDGE, "up")
    ip("netns", "del", ns)
    return (time.perf_counter() - start) * 1000


async def skiff_rm(mgr: NetworkManager, i: int) -> tuple[float, float]:
    sid = f"b{i}"
    start = time.perf_counter()
    mgr.create_sandbox(sid)
    await mgr.connect("bridge", sid, container_id=sid, name=sid)
    await mgr.publish(sid, [PortBinding(80)])
    attached = time.perf_counter()
    await mgr.remove_sandbox(sid)
    end = time.perf_counter()
    return (attached - start) * 1000, (end - start) * 1000


async def skiff_explicit(mgr: NetworkManager, i: int) -> float:
    sid = f"e{i}"
    start = time.perf_counter()
    mgr.create_sandbox(sid)
    await mgr.connect("bridge", sid, container_id=sid, name=sid)
    await mgr.publish(sid, [PortBinding(80)])
    await mgr.unpublish(sid)
    await mgr.disconnect("bridge", sid)
    await mgr.remove_sandbox(sid)
    return (time.perf_counter() - start) * 1000


def summary(name: str, xs: list[float]) -> str:
    qs = statistics.quantiles(xs, n=10)
    return f"{name:<34} median {statistics.median(xs):7.2f} ms   p10 {qs[0]:7.2f}   p90 {qs[-1]:7.2f}"


async def main(n: int) -> None:
    work = tempfile.mkdtemp(prefix="skiff-bench-net-")
    mgr = NetworkManager(os.path.join(work, "state"), os.path.join(work, "run"), default_bridge=BRIDGE,
                         default_subnet="10.252.0.0/24", firewall_table=f"skiffbench{TAG}",
                         dns_upstreams=[])
    await mgr.start()
    attach, rm, explicit, ref = [], [], [], []
    try:
        for i in range(3):  # warm-up
            await skiff_rm(mgr, 1000 + i)
            ip_reference(1000 + i)
        for i in range(n):
            a, r = await skiff_rm(mgr, i)
            attach.append(a)
            rm.append(r)
            explicit.append(await skiff_explicit(mgr, i))
            ref.append(ip_reference(i))
    finally:
        for sid in list(mgr.sandboxes):
            await mgr.remove_sandbox(sid)
        await mgr.stop(remove_bridges=True)
        netns.release_dir(mgr.netns_dir)
        shutil.rmtree(work, ignore_errors=True)
    print(f"network attach+detach, n={n} (one ephemeral published port for skiff)")
    print(summary("skiff attach only", attach))
    print(summary("skiff attach+detach (run --rm)", rm))
    print(summary("skiff attach+explicit detach", explicit))
    print(summary("ip netns+veth reference (no rule)", ref))
    print(f"ratio run --rm path / ip reference: {statistics.median(rm) / statistics.median(ref):.2f}x")
    print(f"budget: 0.25 x podman's 478 ms = 119.5 ms for all of docker run --rm; "
          f"networking uses {statistics.median(rm):.1f} ms of it")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    asyncio.run(main(parser.parse_args().n))
