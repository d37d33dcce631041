"""``NetworkManager``: the engine's one door to container networking.

Vocabulary (libnetwork's): a *network* is a bridge with a subnet (or one of
the predefined ``host``/``none``); a *sandbox* is a network namespace file
that one container, or every container of a pod, joins; an *endpoint* is a
sandbox's attachment to a network (a veth pair and an address).

Lifecycle of a container on the default bridge (what ``docker run`` does)::

    path = mgr.create_sandbox(cid)                  # netns file, lo up
    ep = await mgr.connect("bridge", cid, container_id=cid, name="web")
    ports = await mgr.publish(cid, [PortBinding(80, host_port=8080)])
    ... write mgr.hosts(cid, hostname) / mgr.resolv_conf(cid) into files,
    ... Runtime.create with {"type": "network", "path": path}, start, wait
    await mgr.remove_sandbox(cid)                   # ports, endpoints, netns

All state is persisted (``store``) after every change, and ``start`` rebuilds
bridges, rules, port reservations and DNS responders from it, so a daemon
killed at any point comes back consistent: sandboxes whose namespace file
is gone are forgotten, veths on our bridges that no endpoint owns are
deleted, and the firewall table is replaced whole.

Call every method from the event loop's thread: they are not thread-safe
(each is short; the kernel work is a few netlink requests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from skiff.engine.network import ipam, links, netns, portmap
from skiff.engine.network.dns import DnsServer, Upstream
from skiff.engine.network.firewall import BridgeRule, Firewall
from skiff.engine.network.model import Network, Sandbox, network_doc
from skiff.engine.network.nft import open_nft
from skiff.engine.network.verbs import SandboxVerbs
from skiff.errors import AlreadyExists, Conflict, FailedPrecondition, Invalid, NotFound

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _new_id() -> str:
    return secrets.token_hex(32)


class NetworkManager(SandboxVerbs):
    """Networks, sandboxes and their lifecycle; the per-sandbox verbs (connect,
    publish, name-service files) are in ``SandboxVerbs``."""

    def __init__(self, state_dir: str, run_dir: str = "/run/skiff", *, default_bridge: str = "skiff0",
                 default_subnet: str | None = None, firewall_table: str = "skiff",
                 bridge_prefix: str = "br-", mtu: int = 1500,
                 default_pool: Sequence[str] = ipam.DEFAULT_BRIDGE_POOL,
                 user_pool: Sequence[str] = ipam.USER_POOL,
                 dns_upstreams: Sequence[Upstream] | None = None, dns_port: int = 53,
                 host_resolv_conf: str = "/etc/resolv.conf") -> None:
        super().__init__(os.path.join(state_dir, "network.json"))
        self.netns_dir = os.path.join(run_dir, "netns")
        self.default_bridge = default_bridge
        self.default_subnet = default_subnet
        self.bridge_prefix = bridge_prefix
        self.mtu = mtu
        self.default_pool, self.user_pool = tuple(default_pool), tuple(user_pool)
        self.host_resolv_conf = host_resolv_conf
        self.dns_port = dns_port
        self._dns_upstreams = list(dns_upstreams) if dns_upstreams is not None else None
        self.firewall = Firewall(open_nft(), firewall_table)
        self._ports = portmap.Reservations()
        self._dns: dict[str, tuple[DnsServer, asyncio.Task[None]]] = {}
        os.makedirs(state_dir, exist_ok=True)

    # --- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Load state, ensure the predefined networks, bridges, rules, ports and
        DNS responders. Idempotent, and tolerant of a crash's leftovers."""
        netns.prepare_dir(self.netns_dir)
        if self._links is None:
            self._links = links.Links()
        self._load()
        for sid, sb in list(self.sandboxes.items()):
            if not netns.is_netns(sb.path):
                log.info("sandbox %s: namespace %s is gone, forgetting it", sid, sb.path)
                del self.sandboxes[sid]
        self._ensure_builtin()
        links.set_sysctl("net.ipv4.ip_forward", "1")  # as Docker: routing is what bridges need
        for net in self._bridges():
            self._ensure_bridge(net)
            self._delete_stale_veths(net)
        self._sync_firewall()
        for sb in self.sandboxes.values():
            try:
                self._ports.reserve(sb.id, sb.ports)
            except Exception as e:  # the port was taken while we were down
                log.warning("sandbox %s: cannot reserve its ports again: %s", sb.id, e)
            self._update_dns(sb)
        self._save()

    async def stop(self, *, remove_bridges: bool = False) -> None:
        """Stop DNS responders, release ports, delete the firewall table (and,
        if asked, the bridges). Sandboxes and their namespaces survive."""
        for sid in list(self._dns):
            await self._stop_dns(sid)
        self._ports.release_all()
        self.firewall.remove()
        if self._links is not None:
            if remove_bridges:
                for net in self._bridges():
                    assert net.bridge is not None
                    self._links.delete(net.bridge)
            self._links.close()
            self._links = None

    def _ensure_builtin(self) -> None:
        have = {n.name for n in self.networks.values() if n.builtin}
        if "bridge" not in have:
            subnet = (ipam.parse_subnet(self.default_subnet) if self.default_subnet
                      else ipam.choose_subnet(self.default_pool, self._taken_subnets()))
            self._add(Network(_new_id(), "bridge", "bridge", _now(), str(subnet),
                              str(ipam.default_gateway(subnet)), self.default_bridge, self.mtu,
                              builtin=True, options={
                                  "com.docker.network.bridge.default_bridge": "true",
                                  "com.docker.network.bridge.enable_icc": "true",
                                  "com.docker.network.bridge.enable_ip_masquerade": "true",
                                  "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                                  OPT_BRIDGE_NAME: self.default_bridge,
                                  OPT_MTU: str(self.mtu)}))
        for name in ("host", "none"):
            if name not in have:
                self._add(Network(_new_id(), name, "host" if name == "host" else "null", _now(),
                                  builtin=True))

    def _add(self, net: Network) -> None:
        self.networks[net.id] = net

    def _taken_subnets(self) -> list[ipaddress.IPv4Network]:
        ours = {n.bridge for n in self._bridges() if n.bridge}
        taken = self.links.host_routes(exclude=ours)
        taken += [ipaddress.IPv4Network(n.subnet) for n in self._bridges() if n.subnet]
        return taken

    def _ensure_bridge(self, net: Network) -> None:
        assert net.bridge and net.subnet and net.gateway
        prefix = ipaddress.IPv4Network(net.subnet).prefixlen
        self.links.ensure_bridge(net.bridge, net.gateway, prefix, net.mtu)

    def _delete_stale_veths(self, net: Network) -> None:
        assert net.bridge
        owned = {ep.host_veth for sb in self.sandboxes.values() for ep in sb.endpoints.values()}
        for port in self.links.ports(net.bridge):
            if port.startswith("veth") and port not in owned:
                log.info("deleting stale veth %s on %s", port, net.bridge)
                self.links.delete(port)

    def _sync_firewall(self) -> None:
        bridges = [BridgeRule(n.bridge, n.subnet, n.internal) for n in self._bridges()
                   if n.bridge and n.subnet]
        rules = [r for sb in self.sandboxes.values() for r in self._port_rules(sb)]
        self.firewall.sync(bridges, rules)

    # --- networks ------------------------------------------------------------

    def get_network(self, name_or_id: str) -> dict[str, Any]:
        """Docker's network inspect object."""
        net = self._network(name_or_id)
        return network_doc(net, self._endpoints_of(net.id))

    def list_networks(self) -> list[dict[str, Any]]:
        return [network_doc(n, self._endpoints_of(n.id)) for n in self.networks.values()]

    def create_network(self, name: str, *, driver: str = "bridge", subnet: str | None = None,
                       gateway: str | None = None, internal: bool = False, attachable: bool = False,
                       labels: dict[str, str] | None = None,
                       options: dict[str, str] | None = None) -> dict[str, Any]:
        """A user-defined bridge network; returns its inspect object."""
        if not NAME_RE.match(name or ""):
            raise Invalid.field("Name", f"invalid network name {name!r}", name)
        if any(n.name == name for n in self.networks.values()):
            raise AlreadyExists(f"network with name {name} already exists")
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        options = dict(options or {})
        if subnet:
            net_subnet = ipam.parse_subnet(subnet)
            ipam.check_subnet_free(net_subnet, [ipaddress.IPv4Network(n.subnet) for n in self._bridges()
                                                if n.subnet], self._taken_subnets())
        else:
            if gateway:
                raise Invalid.field("IPAM.Config.Gateway", "a gateway needs a subnet", gateway)
            net_subnet = ipam.choose_subnet(self.user_pool, self._taken_subnets())
        gw = ipam.check_gateway(net_subnet, gateway)
        net_id = _new_id()
        bridge = options.get(OPT_BRIDGE_NAME) or f"{self.bridge_prefix}{net_id[:12]}"
        if len(bridge) > 15 or any(n.bridge == bridge for n in self._bridges()):
            raise Invalid.field("Options", f"bridge name {bridge!r} is too long or taken", bridge)
        mtu = int(options.get(OPT_MTU, self.mtu))
        net = Network(net_id, name, "bridge", _now(), str(net_subnet), str(gw), bridge, mtu,
                      internal=internal, attachable=attachable, labels=dict(labels or {}),
                      options=options)
        self._ensure_bridge(net)
        self._add(net)
        try:
            self._sync_firewall()
        except BaseException:
            del self.networks[net.id]
            self.links.delete(bridge)
            raise
        self._save()
        return network_doc(net, [])

    def remove_network(self, name_or_id: str) -> None:
        net = self._network(name_or_id)
        if net.builtin:
            raise FailedPrecondition(f"{net.name} is a pre-defined network and cannot be removed")
        if self._endpoints_of(net.id):
            raise Conflict(f"error while removing network: network {net.name} id {net.id} "
                           "has active endpoints")
        del self.networks[net.id]
        self._sync_firewall()
        assert net.bridge
        self.links.delete(net.bridge)
        self._save()

    # --- sandboxes -----------------------------------------------------------

    def sandbox_path(self, sandbox_id: str) -> str:
        return self._sandbox(sandbox_id).path

    def create_sandbox(self, sandbox_id: str) -> str:
        """A new network namespace (only ``lo``, up); returns its file's path."""
        if sandbox_id in self.sandboxes:
            raise AlreadyExists(f"sandbox {sandbox_id} exists already")
        if not NAME_RE.match(sandbox_id) or "/" in sandbox_id:
            raise Invalid.field("sandbox", f"invalid sandbox id {sandbox_id!r}", sandbox_id)
        path = netns.create(os.path.join(self.netns_dir, sandbox_id))
        self.sandboxes[sandbox_id] = Sandbox(sandbox_id, path)
        self._save()
        return path

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Unpublish, release every endpoint and delete the namespace.

        The veths are not deleted one by one (15-30 ms each): they die with the
        namespace once the last process in it has exited.
        """
        sb = self._sandbox(sandbox_id)
        await self._stop_dns(sandbox_id)
        self.firewall.remove_ports(self._port_rules(sb))
        self._ports.release(sandbox_id)
        del self.sandboxes[sandbox_id]
        self._save()
        netns.delete(sb.path)
