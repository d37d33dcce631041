"""Fixtures for real network tests: a manager with its own names, containers
that join its sandboxes, an "outside" host, and a fake upstream resolver.

Everything is private to this test session, so the tests run beside a real
daemon and twice in a row: bridge ``skt<pid>``, user bridges ``bt-<id>``,
nftables table ``skifftest<pid>``, subnets in 10.251.0.0/16, state and netns
files in pytest's temp dir. The only traffic is between namespaces made here.
Teardown removes what the manager made and checks that nothing is left:
no table, no bridge, no veth, no namespace file, no mount.
"""

from __future__ import annotations

import asyncio
import copy
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from pyroute2.iproute.linux import IPRoute

from skiff.engine.network import links, netns
from skiff.engine.network.manager import NetworkManager
from skiff.oci.runtime_spec import Spec
from skiff.runtime import Runtime
from tests.runtime import conftest as runtime_fixtures
from tests.runtime.conftest import Bundles, Result, run

# the runtime's fixtures, shared: a private runtime root, bundles, cgroup cleanup
rt = runtime_fixtures.rt
bundles = runtime_fixtures.bundles
_remove_cgroup_parent = runtime_fixtures._remove_cgroup_parent

TAG = str(os.getpid() % 100000)
BRIDGE = f"skt{TAG}"
TABLE = f"skifftest{TAG}"
SUBNET = "10.251.0.0/24"
USER_POOL = ("10.251.64.0/24", "10.251.65.0/24")
OUTSIDE_HOST_IP, OUTSIDE_IP = "10.251.250.1", "10.251.250.2"
OUTSIDE_NAME = "outside.test"


def link_names() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines()}


def ruleset() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="session", autouse=True)
def _restore_ip_forward() -> Iterator[None]:
    """The manager turns routing on (as Docker does); put it back as it was."""
    before = links.get_sysctl("net.ipv4.ip_forward") if os.geteuid() == 0 else None
    yield
    if before is not None:
        links.set_sysctl("net.ipv4.ip_forward", before)


@pytest.fixture(scope="session", autouse=True)
def _resolv_conf_mountpoint(busybox_rootfs: str) -> None:
    """The shared rootfs is read-only in containers: give resolv.conf a mountpoint."""
    open(os.path.join(busybox_rootfs, "etc", "resolv.conf"), "a").close()


async def _upstream(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    while True:
        data, peer = await loop.sock_recvfrom(sock, 4096)
        q = DNSRecord.parse(data)
        reply = q.reply()
        if str(q.q.qname).rstrip(".") == OUTSIDE_NAME and q.q.qtype == QTYPE.A:
            reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(OUTSIDE_IP), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        await loop.sock_sendto(sock, reply.pack(), peer)


@pytest.fixture
async def dns_upstream() -> AsyncIterator[tuple[str, int]]:
    """A resolver on the host's loopback that knows one name, outside.test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    task = asyncio.create_task(_upstream(sock))
    yield sock.getsockname()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sock.close()


def make_manager(tmp: Any, upstream: tuple[str, int]) -> NetworkManager:
    return NetworkManager(str(tmp / "state"), str(tmp / "run"), default_bridge=BRIDGE,
                          default_subnet=SUBNET, firewall_table=TABLE, bridge_prefix="bt-",
                          user_pool=USER_POOL, dns_upstreams=[upstream])


async def teardown_manager(mgr: NetworkManager) -> None:
    """Remove what the manager made, through its API; then, whatever failed
    on the way, force the kernel objects away by name so that one failing
    test does not leak into the next run (assert_clean still reports it)."""
    bridges = {n.bridge for n in mgr.networks.values() if n.bridge} | {BRIDGE}
    try:
        for sid in list(mgr.sandboxes):
            await mgr.remove_sandbox(sid)
        for net in list(mgr.networks.values()):
            if not net.builtin:
                mgr.remove_network(net.id)
        await mgr.stop(remove_bridges=True)
    finally:
        subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True, check=False)
        for name in bridges:
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
        if os.path.isdir(mgr.netns_dir):
            for name in os.listdir(mgr.netns_dir):
                netns.delete(os.path.join(mgr.netns_dir, name))
            netns.release_dir(mgr.netns_dir)


def assert_clean(mgr: NetworkManager, veths: set[str]) -> None:
    deadline = time.monotonic() + 5  # veths die with their namespace, asynchronously
    while (veths & link_names()) and time.monotonic() < deadline:
        time.sleep(0.02)
    names = link_names()
    assert not veths & names, f"veths left: {veths & names}"
    assert BRIDGE not in names and not any(n.startswith("bt-") for n in names)
    rules = ruleset()
    assert TABLE not in rules and BRIDGE not in rules
    assert os.listdir(mgr.netns_dir) == []
    with open("/proc/self/mountinfo") as f:
        assert os.path.dirname(mgr.netns_dir) not in f.read()


@pytest.fixture
async def mgr(tmp_path: Any, dns_upstream: tuple[str, int]) -> AsyncIterator[NetworkManager]:
    m = make_manager(tmp_path, dns_upstream)
    await m.start()
    seen: set[str] = set()
    real_connect = m.connect

    async def connect(*a: Any, **kw: Any) -> dict[str, Any]:  # remember every veth made
        doc = await real_connect(*a, **kw)
        seen.update(ep.host_veth for sb in m.sandboxes.values() for ep in sb.endpoints.values())
        return doc

    m.connect = connect  # type: ignore[method-assign]
    try:
        yield m
    finally:
        await teardown_manager(m)
    assert_clean(m, seen)


class Containers:
    """Busybox containers joining sandbox namespaces, run from worker threads
    (the event loop must stay free to serve their DNS queries)."""

    def __init__(self, rt: Runtime, bundles: Bundles, tmp: Any) -> None:
        self.rt, self.bundles, self.tmp = rt, bundles, tmp
        self.running: list[str] = []
        os.makedirs(tmp / "io", exist_ok=True)

    def spec(self, args: list[str], netns_path: str, files: dict[str, str] | None = None) -> dict[str, Any]:
        def mutate(doc: dict[str, Any]) -> None:
            doc["linux"]["namespaces"] = [
                {"type": "network", "path": netns_path} if ns["type"] == "network" else ns
                for ns in doc["linux"]["namespaces"]]
            for dest, text in (files or {}).items():
                src = self.tmp / "io" / uuid.uuid4().hex
                src.write_text(text)
                doc["mounts"].append({"destination": dest, "type": "bind", "source": str(src),
                                      "options": ["rbind", "ro"]})
        return self.bundles.spec(args, mutate)

    async def run(self, script: str, netns_path: str, files: dict[str, str] | None = None) -> Result:
        doc = self.spec(["sh", "-c", script], netns_path, files)
        return await asyncio.to_thread(run, self.rt, doc, str(self.tmp / "io"))

    async def start(self, script: str, netns_path: str) -> str:
        doc = self.spec(["sh", "-c", script], netns_path)
        cid = "bg" + uuid.uuid4().hex[:10]
        bundle = self.bundles.write(doc)
        log = open(self.tmp / "io" / f"{cid}.log", "wb")  # noqa: SIM115 - outlives this call
        with log:
            self.rt.create(cid, bundle, spec=Spec.parse(copy.deepcopy(doc)),
                           stdio=(None, log.fileno(), log.fileno()))
        self.rt.start(cid)
        self.running.append(cid)
        return cid

    def stop_all(self) -> None:
        for cid in self.running:
            self.rt.delete(cid, force=True)
        self.running.clear()


@pytest.fixture
def containers(rt: Runtime, bundles: Bundles, tmp_path: Any) -> Iterator[Containers]:
    c = Containers(rt, bundles, tmp_path)
    yield c
    c.stop_all()


HTTPD = "mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && exec httpd -f -p {port} -h /tmp/www"


def wget_retry(url: str) -> str:
    """Shell: fetch ``url``, retrying for ~5 s while the server starts.

    (Not ``wget -T``: Debian's static busybox 1.35 segfaults with it when the
    connection is refused; ``timeout`` bounds each try instead. And always an
    explicit port: without one, wget looks "http" up through glibc NSS, which
    crashes the static binary inside a container.)"""
    return f"for i in $(seq 50); do timeout 3 wget -q -O - {url} && exit 0; sleep 0.1; done; exit 1"


@pytest.fixture
def outside(tmp_path: Any) -> Iterator[str]:
    """Another "host": a namespace behind a veth, with no route back to our
    subnets (so only masqueraded traffic can get answers), serving HTTP on
    10.251.250.2:8000. Yields the namespace path."""
    d = tmp_path / "outside"
    os.makedirs(d / "www")
    (d / "www" / "index.html").write_text("outside\n")
    netns.prepare_dir(str(d / "ns"))
    path = netns.create(str(d / "ns" / "outside"))
    host_end = f"skto{TAG}"
    fd = os.open(path, os.O_RDONLY)
    ipr = IPRoute()
    try:
        ipr.link("add", ifname=host_end, kind="veth", peer={"ifname": "eth0", "net_ns_fd": fd})
    finally:
        ipr.close()
        os.close(fd)
    subprocess.run(["ip", "addr", "add", f"{OUTSIDE_HOST_IP}/30", "dev", host_end], check=True)
    subprocess.run(["ip", "link", "set", host_end, "up"], check=True)
    subprocess.run(["nsenter", f"--net={path}", "sh", "-c",
                    f"ip addr add {OUTSIDE_IP}/30 dev eth0 && ip link set eth0 up"], check=True)
    httpd = subprocess.Popen(["nsenter", f"--net={path}", "/bin/busybox", "httpd", "-f", "-p", "8000",
                              "-h", str(d / "www")])
    try:
        yield path
    finally:
        httpd.kill()
        httpd.wait()
        subprocess.run(["ip", "link", "del", host_end], check=False)
        netns.delete(path)
        netns.release_dir(str(d / "ns"))


def in_netns(path: str, script: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """A host busybox shell command inside a namespace (the "outside" client)."""
    return subprocess.run(["nsenter", f"--net={path}", "/bin/busybox", "sh", "-c", script],
                          capture_output=True, text=True, timeout=timeout)
