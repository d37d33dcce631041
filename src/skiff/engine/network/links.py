"""Network devices through netlink (pyroute2): bridges, veth pairs, addresses, routes.

Everything here is one or a few netlink requests, each well under a
millisecond, so callers invoke them directly from the event loop.

An endpoint's veth pair is made by *one* request: the host end is created
on the host already enslaved to the bridge and up, and its peer is created
directly inside the sandbox's namespace under its final name (``eth0``) with
its final MAC (``IFLA_NET_NS_FD`` in the peer's attributes), so there is no
"create, move, rename" sequence to fail half-way. The peer is then
addressed and routed through a netlink socket opened inside the namespace
(``netns.run_in``), again with no process spawned.

Deleting a veth costs 15-30 ms (the kernel waits for an RCU grace period);
it is only done on an explicit disconnect. Removing a sandbox instead drops
its namespace, and the kernel deletes the pair with it, asynchronously.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Any

from pyroute2.iproute.linux import IPRoute
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError

from skiff.engine.network import netns


def set_sysctl(name: str, value: str) -> None:
    """``sysctl -w`` for a dotted name, e.g. ``net.ipv4.ip_forward``."""
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(value)


def get_sysctl(name: str) -> str:
    with open("/proc/sys/" + name.replace(".", "/")) as f:
        return f.read().strip()


@contextmanager
def _ignore(*codes: int) -> Iterator[None]:
    try:
        yield
    except NetlinkError as e:
        if e.code not in codes:
            raise


def _dump(fn: Callable[[], Any], tries: int = 10) -> Any:
    """A netlink dump, retried when the kernel flags it as interrupted (links
    changed meanwhile, e.g. a dying namespace's veths being deleted)."""
    for i in range(tries):
        try:
            return fn()
        except NetlinkDumpInterrupted:
            if i == tries - 1:
                raise
    raise AssertionError("unreachable")


class Links:
    """Netlink operations on the host's namespace (and, by path, on sandboxes')."""

    def __init__(self) -> None:
        self.ipr: Any = IPRoute()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.ipr.close()

    @staticmethod
    def index(name: str) -> int | None:
        """The host's ifindex of ``name`` (an ioctl: 100x cheaper than a netlink
        query, whose reply pyroute2 parses in Python)."""
        try:
            return socket.if_nametoindex(name)
        except OSError:
            return None

    def ensure_bridge(self, name: str, address: str, prefixlen: int, mtu: int) -> int:
        """The bridge ``name`` exists, is up, has ``address/prefixlen`` (idempotent)."""
        with self._lock:
            if self.index(name) is None:
                with _ignore(errno.EEXIST):
                    self.ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
            idx = socket.if_nametoindex(name)
            with _ignore(errno.EEXIST):
                self.ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
            self.ipr.link("set", index=idx, state="up", mtu=mtu)
        # 127.0.0.1:PORT -> container needs loopback-sourced packets to be
        # routable out of this bridge (the firewall's "guard" chain drops the
        # reverse direction).
        set_sysctl(f"net.ipv4.conf.{name}.route_localnet", "1")
        return idx

    def delete(self, name: str) -> None:
        """Delete a link by name; no error if it does not exist."""
        idx = self.index(name)
        if idx is not None:
            with self._lock, _ignore(errno.ENODEV):
                self.ipr.link("del", index=idx)

    def ports(self, bridge: str) -> list[str]:
        """Names of the devices enslaved to ``bridge``."""
        idx = self.index(bridge)
        if idx is None:
            return []
        with self._lock:
            return [link.get_attr("IFLA_IFNAME") for link in _dump(self.ipr.get_links)
                    if link.get_attr("IFLA_MASTER") == idx]

    def host_routes(self, exclude: AbstractSet[str] = frozenset()) -> list[ipaddress.IPv4Network]:
        """Destinations of the host's IPv4 routes (not the default route),
        except those through devices in ``exclude`` (our own bridges)."""
        names = {}
        with self._lock:
            for link in _dump(self.ipr.get_links):
                names[link["index"]] = link.get_attr("IFLA_IFNAME")
            routes = _dump(lambda: self.ipr.get_routes(family=2, table=254))
        out = []
        for r in routes:
            if r["dst_len"] == 0 or names.get(r.get_attr("RTA_OIF")) in exclude:
                continue
            out.append(ipaddress.IPv4Network(f"{r.get_attr('RTA_DST')}/{r['dst_len']}", strict=False))
        return out

    def add_veth(self, host_name: str, bridge: str, netns_path: str, peer_name: str,
                 mac: str, mtu: int) -> None:
        """A veth pair: ``host_name`` up on ``bridge``, ``peer_name`` in the namespace."""
        master = self.index(bridge)
        if master is None:
            raise OSError(errno.ENODEV, f"bridge {bridge} does not exist")
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with self._lock:
                self.ipr.link("add", ifname=host_name, kind="veth", master=master, mtu=mtu,
                              state="up",
                              peer={"ifname": peer_name, "net_ns_fd": fd, "address": mac, "mtu": mtu})
        finally:
            os.close(fd)


def configure_peer(netns_path: str, ifname: str, address: str, prefixlen: int,
                   gateway: str | None) -> None:
    """Inside the namespace: address ``ifname``, bring it up, and (if ``gateway``)
    route the default through it."""
    def body() -> None:
        ipr: Any = IPRoute()
        try:
            idx = socket.if_nametoindex(ifname)
            with _ignore(errno.EEXIST):
                ipr.addr("add", index=idx, address=address, prefixlen=prefixlen)
            ipr.link("set", index=idx, state="up")
            if gateway:
                ipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=idx)
        finally:
            ipr.close()

    netns.run_in(netns_path, body)


def set_default_route(netns_path: str, ifname: str, gateway: str) -> None:
    """Point the namespace's default route at ``gateway`` via ``ifname``."""
    def body() -> None:
        ipr: Any = IPRoute()
        try:
            ipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=socket.if_nametoindex(ifname))
        finally:
            ipr.close()

    netns.run_in(netns_path, body)
