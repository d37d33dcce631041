"""What the engine does to one sandbox: connect, disconnect, publish, and its files.

A sandbox's *primary* endpoint is its first endpoint on a non-internal
network: it carries the default route, and published ports DNAT to its
address (as Docker publishes on the first network). When it is
disconnected, the next one takes both over.

The DNS responder of a sandbox runs while the sandbox has an endpoint on a
user-defined network; its task is owned here (``_dns``), cancelled and
awaited when the last such endpoint goes, the sandbox is removed, or the
manager stops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from skiff.engine.network import files, ipam, links, portmap
from skiff.engine.network.dns import DnsServer, Upstream
from skiff.engine.network.firewall import Firewall, PortRule
from skiff.engine.network.model import Endpoint, Sandbox, endpoint_doc
from skiff.engine.network.names import SandboxNames
from skiff.engine.network.ports import PortBinding, check_conflicts, to_docker
from skiff.engine.network.state import NetworkState
from skiff.errors import AlreadyExists, Invalid, NotFound

log = logging.getLogger(__name__)


class SandboxVerbs(NetworkState):
    firewall: Firewall
    host_resolv_conf: str
    dns_port: int
    _dns_upstreams: list[Upstream] | None
    _ports: portmap.Reservations
    _dns: dict[str, tuple[DnsServer, asyncio.Task[None]]]

    # --- endpoints -----------------------------------------------------------

    async def connect(self, network: str, sandbox_id: str, *, container_id: str = "", name: str = "",
                      aliases: Sequence[str] = (), ip: str | None = None) -> dict[str, Any]:
        """Attach the sandbox to a bridge network; returns Docker's EndpointSettings."""
        net = self._network(network)
        sb = self._sandbox(sandbox_id)
        if net.driver != "bridge" or not (net.subnet and net.gateway and net.bridge):
            raise Invalid.field("network", f"cannot connect a sandbox to the {net.name} network", network)
        if net.id in sb.endpoints:
            raise AlreadyExists(f"endpoint with name {name or sandbox_id} already exists in network "
                                f"{net.name}")
        if aliases and not net.has_dns:
            raise Invalid.field("Aliases", "network-scoped aliases are only supported for "
                                "user-defined networks", list(aliases))
        if ip and net.builtin:
            raise Invalid.field("IPAMConfig", "user specified IP address is supported on user "
                                "defined networks only", ip)
        subnet = ipaddress.IPv4Network(net.subnet)
        addr = ipam.allocate(subnet, ipaddress.IPv4Address(net.gateway),
                             [ipaddress.IPv4Address(e.ip) for e in self._endpoints_of(net.id)],
                             want=ipam.parse_address(ip) if ip else None,
                             cursor=ipaddress.IPv4Address(net.cursor) if net.cursor else None)
        taken = {e.ifname for e in sb.endpoints.values()}
        ifname = next(f"eth{i}" for i in itertools.count() if f"eth{i}" not in taken)
        ep_id = secrets.token_hex(32)
        ep = Endpoint(ep_id, net.id, container_id, name, str(addr), subnet.prefixlen, net.gateway,
                      ipam.mac_for(addr), "veth" + ep_id[:7], ifname, list(aliases), ip)
        route = not net.internal and self._primary(sb) is None
        self.links.add_veth(ep.host_veth, net.bridge, sb.path, ifname, ep.mac, net.mtu)
        try:
            links.configure_peer(sb.path, ifname, ep.ip, ep.prefixlen, net.gateway if route else None)
        except BaseException:
            self.links.delete(ep.host_veth)
            raise
        old_rules = self._port_rules(sb)
        sb.endpoints[net.id] = ep
        net.cursor = ep.ip
        self._retarget(sb, old_rules)
        self._save()
        self._update_dns(sb)
        return endpoint_doc(net, ep)

    async def disconnect(self, network: str, sandbox_id: str) -> None:
        """Detach the sandbox from a network (deletes its veth pair)."""
        net = self._network(network)
        sb = self._sandbox(sandbox_id)
        ep = sb.endpoints.get(net.id)
        if ep is None:
            raise NotFound(f"sandbox {sandbox_id} is not connected to network {net.name}")
        old_rules = self._port_rules(sb)
        was_primary = self._primary(sb) is ep
        self.links.delete(ep.host_veth)
        del sb.endpoints[net.id]
        new = self._primary(sb)
        if was_primary and new is not None:
            links.set_default_route(sb.path, new.ifname, new.gateway)
        self._retarget(sb, old_rules)
        self._save()
        if not self._has_dns(sb):
            await self._stop_dns(sandbox_id)

    def _primary(self, sb: Sandbox) -> Endpoint | None:
        for net_id, ep in sb.endpoints.items():
            if not self.networks[net_id].internal:
                return ep
        return None

    # --- ports ---------------------------------------------------------------

    def _port_rules(self, sb: Sandbox) -> list[PortRule]:
        primary = self._primary(sb)
        return portmap.rules(sb.ports, primary.ip if primary else None)

    def _retarget(self, sb: Sandbox, old_rules: list[PortRule]) -> None:
        new_rules = self._port_rules(sb)
        if new_rules != old_rules:
            self.firewall.remove_ports(old_rules)
            self.firewall.add_ports(new_rules)

    async def publish(self, sandbox_id: str, bindings: Iterable[PortBinding]) -> list[PortBinding]:
        """Publish container ports on the host; returns the bindings with
        ephemeral host ports resolved. ``Conflict`` if a host port is taken."""
        sb = self._sandbox(sandbox_id)
        bindings = list(bindings)
        check_conflicts([*sb.ports, *bindings])
        resolved = self._ports.reserve(sandbox_id, bindings)
        primary = self._primary(sb)
        try:
            self.firewall.add_ports(portmap.rules(resolved, primary.ip if primary else None))
        except BaseException:
            self._ports.release(sandbox_id, resolved)
            raise
        sb.ports += resolved
        self._save()
        return resolved

    async def unpublish(self, sandbox_id: str) -> None:
        """Withdraw every published port of the sandbox."""
        sb = self._sandbox(sandbox_id)
        self.firewall.remove_ports(self._port_rules(sb))
        self._ports.release(sandbox_id)
        sb.ports = []
        self._save()

    # --- DNS -----------------------------------------------------------------

    def _has_dns(self, sb: Sandbox) -> bool:
        return any(self.networks[n].has_dns for n in sb.endpoints)

    def upstreams(self) -> list[Upstream]:
        """Where the embedded DNS forwards: as configured, else the host's resolvers."""
        if self._dns_upstreams is not None:
            return self._dns_upstreams
        host = files.parse_resolv_conf(self._host_resolv_text())
        return [(s, 53) for s in host.nameservers if files.is_ipv4(s)]

    def _update_dns(self, sb: Sandbox) -> None:
        """Start the sandbox's responder if it needs one and has none."""
        if sb.id in self._dns or not self._has_dns(sb):
            return
        server = DnsServer(sb.path, SandboxNames(self, sb.id), self.upstreams(), port=self.dns_port)
        server.open()
        task = asyncio.get_running_loop().create_task(server.serve(), name=f"dns-{sb.id}")
        task.add_done_callback(_log_failure)
        self._dns[sb.id] = (server, task)

    async def _stop_dns(self, sandbox_id: str) -> None:
        entry = self._dns.pop(sandbox_id, None)
        if entry is None:
            return
        server, task = entry
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():  # we were cancelled ourselves
                raise
        finally:
            server.close()

    # --- name-service files and inspect --------------------------------------

    def _host_resolv_text(self) -> str:
        try:
            with open(self.host_resolv_conf) as f:
                return f.read()
        except OSError:
            return ""

    def resolv_conf(self, sandbox_id: str, *, dns: Sequence[str] = (), dns_search: Sequence[str] = (),
                    dns_options: Sequence[str] = ()) -> str:
        """The sandbox's /etc/resolv.conf text."""
        sb = self._sandbox(sandbox_id)
        host = files.parse_resolv_conf(self._host_resolv_text())
        return files.resolv_conf(host, embedded=self._has_dns(sb), dns=dns, dns_search=dns_search,
                                 dns_options=dns_options)

    def hosts(self, sandbox_id: str, hostname: str, *, domainname: str = "",
              extra_hosts: Sequence[str] = ()) -> str:
        """The sandbox's /etc/hosts text (``extra_hosts``: Docker's ``["name:ip"]``)."""
        sb = self._sandbox(sandbox_id)
        default = next((n for n in self.networks.values() if n.is_default_bridge), None)
        extra = files.parse_extra_hosts(extra_hosts, default.gateway or "" if default else "")
        return files.hosts(hostname, [e.ip for e in sb.endpoints.values()], domainname=domainname,
                           extra_hosts=extra)

    def network_settings(self, sandbox_id: str) -> dict[str, Any]:
        """Docker's container ``NetworkSettings`` for the sandbox."""
        sb = self._sandbox(sandbox_id)
        nets = {self.networks[n].name: endpoint_doc(self.networks[n], e) for n, e in sb.endpoints.items()}
        top = next((e for n, e in sb.endpoints.items() if self.networks[n].is_default_bridge), None)
        return {
            "Bridge": "", "SandboxID": sb.id, "SandboxKey": sb.path, "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": to_docker(sb.ports),
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": top.id if top else "", "Gateway": top.gateway if top else "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": top.ip if top else "", "IPPrefixLen": top.prefixlen if top else 0,
            "IPv6Gateway": "", "MacAddress": top.mac if top else "", "Networks": nets,
        }


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("DNS responder %s failed", task.get_name(), exc_info=task.exception())
