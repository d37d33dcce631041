"""Firewall rules for bridge networks: one nftables table that skiff owns whole.

Why nftables and one table: this host's iptables *is* nftables
(iptables-nft), and a private table (``table ip skiff``) cannot collide with
anybody's chains, is replaced atomically in one transaction and is removed
with one command, so nothing can leak: "daemon stop" is ``delete table``,
"start" renders the table again from the persisted state. There is no
iptables fallback; nftables (kernel >= 5.2 for ``fib`` in the output hook
and concatenated DNAT maps) is required.

What the table does (``render``):

- ``postrouting``: masquerade each non-internal subnet leaving its bridge
  (egress NAT); masquerade DNAT-ed flows that return into the same bridge
  (hairpin: a container reaching its own network through a published port);
  masquerade loopback-sourced flows entering a bridge (127.0.0.1:PORT).
- ``prerouting``/``output``: traffic to any local address (``fib daddr type
  local``) goes through the ``ports`` chain, whose DNAT targets come from four
  maps (tcp/udp x "any host address"/"one host address"). Publishing a port
  is adding one map element, unpublishing is deleting it (``port_elements``):
  no rule handles to track, and a full re-render yields the same table.
- ``forward``: published (DNAT-ed) flows are accepted; a bridge may not talk
  to another of our bridges (network isolation); routed traffic from outside
  into a bridge is accepted only for replies; internal networks can't cross
  their bridge at all.
- ``guard`` (prerouting, raw priority): drop packets from a bridge addressed
  to 127.0.0.0/8. Loopback DNAT needs ``route_localnet=1`` on each bridge,
  which would otherwise let containers reach the host's 127.0.0.1 services.

The forward chain's policy stays ``accept``: we never change how the host
forwards traffic that isn't ours. (A DROP policy in another table, e.g. a
Docker install's iptables FORWARD chain, still drops our traffic: nftables
needs every base chain on a hook to accept.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from skiff.engine.network.nft import NftError, NftRunner


class BridgeRule(NamedTuple):
    bridge: str
    subnet: str
    internal: bool = False


class PortRule(NamedTuple):
    proto: str
    host_ip: str  # "0.0.0.0" for every local address
    host_port: int
    container_ip: str
    container_port: int

    @property
    def map_name(self) -> str:
        return f"{self.proto}_{'any' if self.host_ip == '0.0.0.0' else 'ip'}"

    @property
    def key(self) -> str:
        return str(self.host_port) if self.host_ip == "0.0.0.0" else f"{self.host_ip} . {self.host_port}"

    @property
    def element(self) -> str:
        return f"{self.key} : {self.container_ip} . {self.container_port}"


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def _elements(items: list[str]) -> str:
    return f" elements = {{ {', '.join(items)} }};" if items else ""


def _maps(ports: list[PortRule]) -> list[str]:
    lines = []
    for proto in ("tcp", "udp"):
        for kind, key in (("any", "inet_service"), ("ip", "ipv4_addr . inet_service")):
            name = f"{proto}_{kind}"
            elems = [p.element for p in ports if p.map_name == name]
            lines.append(f"  map {name} {{ type {key} : ipv4_addr . inet_service;{_elements(elems)} }}")
    return lines


def _forward(bridges: list[BridgeRule]) -> list[str]:
    out = []
    for b in bridges:
        br = _q(b.bridge)
        if b.internal:
            out += [f"    iifname {br} oifname != {br} drop", f"    oifname {br} iifname != {br} drop"]
            continue
        out += [
            f"    oifname {br} ct status dnat accept",
            f"    iifname {br} oifname != {br} oifname @bridges drop",
            f"    oifname {br} iifname != {br} ct state established,related accept",
            f"    oifname {br} iifname != {br} drop",
        ]
    return out


def _postrouting(bridges: list[BridgeRule]) -> list[str]:
    out = ["    oifname @bridges ip saddr 127.0.0.0/8 masquerade"]
    for b in bridges:
        if b.internal:
            continue
        br = _q(b.bridge)
        out += [f"    ip saddr {b.subnet} oifname != {br} masquerade",
                f"    ip saddr {b.subnet} oifname {br} ct status dnat masquerade"]
    return out


def render(table: str, bridges: Iterable[BridgeRule], ports: Iterable[PortRule]) -> str:
    """The nft script that (re)creates ``table ip <table>`` atomically."""
    bridges, ports = list(bridges), list(ports)
    base = "type {} hook {} priority {}; policy accept;"
    lines = [
        f"table ip {table} {{}}",  # so that the delete below cannot fail
        f"delete table ip {table}",
        f"table ip {table} {{",
        f"  set bridges {{ type ifname;{_elements([_q(b.bridge) for b in bridges])} }}",
        *_maps(ports),
        "  chain guard { " + base.format("filter", "prerouting", "raw"),
        "    iifname @bridges ip daddr 127.0.0.0/8 drop", "  }",
        "  chain ports {",
        "    dnat ip to ip daddr . tcp dport map @tcp_ip",
        "    dnat ip to ip daddr . udp dport map @udp_ip",
        "    dnat ip to tcp dport map @tcp_any",
        "    dnat ip to udp dport map @udp_any", "  }",
        "  chain prerouting { " + base.format("nat", "prerouting", "dstnat"),
        "    fib daddr type local jump ports", "  }",
        "  chain output { " + base.format("nat", "output", "-100"),
        "    fib daddr type local jump ports", "  }",
        "  chain postrouting { " + base.format("nat", "postrouting", "srcnat"),
        *_postrouting(bridges), "  }",
        "  chain forward { " + base.format("filter", "forward", "filter"),
        *_forward(bridges), "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def port_elements(table: str, verb: str, ports: Iterable[PortRule]) -> str:
    """``add``/``delete element`` commands for published ports (one transaction)."""
    cmds = []
    for p in ports:
        item = p.element if verb == "add" else p.key
        cmds.append(f"{verb} element ip {table} {p.map_name} {{ {item} }}")
    return "\n".join(cmds) + "\n" if cmds else ""


class Firewall:
    """Applies the rendered table and port elements through an ``NftRunner``."""

    def __init__(self, nft: NftRunner, table: str = "skiff") -> None:
        self.nft = nft
        self.table = table

    def sync(self, bridges: Iterable[BridgeRule], ports: Iterable[PortRule]) -> None:
        """Replace the whole table with one built from this state."""
        self.nft.run(render(self.table, bridges, ports))

    def add_ports(self, ports: Iterable[PortRule]) -> None:
        cmds = port_elements(self.table, "add", ports)
        if cmds:
            self.nft.run(cmds)

    def remove_ports(self, ports: Iterable[PortRule]) -> None:
        cmds = port_elements(self.table, "delete", ports)
        if cmds:
            self.nft.run(cmds)

    def remove(self) -> None:
        """Delete the table (and with it every rule skiff made); no error if absent."""
        try:
            self.nft.run(f"delete table ip {self.table}\n")
        except NftError as e:
            if "No such file" not in str(e):
                raise

    def listing(self) -> str:
        """``nft list table`` text, or "" when the table does not exist."""
        try:
            return self.nft.run(f"list table ip {self.table}\n")
        except NftError:
            return ""
