"""The records the network manager keeps, and their Docker wire shapes.

- ``Network``: a name, an id, a driver (``bridge``, ``host`` or ``null``) and,
  for bridges, a subnet, a gateway and a Linux bridge device. The three
  predefined networks (``bridge``, ``host``, ``none``) are ``builtin``.
- ``Endpoint``: one sandbox's attachment to one bridge network: its address,
  MAC, names (for the embedded DNS) and the host end of its veth pair.
- ``Sandbox``: a network namespace file, its endpoints (by network id) and the
  ports published into it.

All three are plain dataclasses that round-trip through JSON (``to_json`` /
``from_json``) so the whole state can be persisted and reloaded after a
crash. The ``*_doc`` functions render Docker's shapes: network inspect
(``GET /networks/{id}``) and a container's ``EndpointSettings``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from skiff.engine.network.ports import PortBinding

BUILTIN_DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}


@dataclass
class Network:
    id: str
    name: str
    driver: str
    created: str
    subnet: str | None = None
    gateway: str | None = None
    bridge: str | None = None
    mtu: int = 1500
    internal: bool = False
    attachable: bool = False
    builtin: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None  # the last address handed out (round-robin IPAM)

    @property
    def is_default_bridge(self) -> bool:
        return self.builtin and self.driver == "bridge"

    @property
    def has_dns(self) -> bool:
        """User-defined bridges resolve container names; the default bridge doesn't."""
        return self.driver == "bridge" and not self.builtin

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Network:
        return cls(**doc)


@dataclass
class Endpoint:
    id: str
    network_id: str
    container_id: str
    name: str
    ip: str
    prefixlen: int
    gateway: str
    mac: str
    host_veth: str
    ifname: str = "eth0"
    aliases: list[str] = field(default_factory=list)
    requested_ip: str | None = None

    def dns_names(self) -> list[str]:
        """The names the embedded DNS answers with this endpoint's address."""
        names = [self.name, *self.aliases]
        if self.container_id:
            names.append(self.container_id[:12])
        return [n for n in dict.fromkeys(names) if n]


@dataclass
class Sandbox:
    id: str
    path: str
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    ports: list[PortBinding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path,
                "endpoints": {k: dataclasses.asdict(e) for k, e in self.endpoints.items()},
                "ports": [p.to_json() for p in self.ports]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Sandbox:
        return cls(doc["id"], doc["path"],
                   {k: Endpoint(**e) for k, e in doc.get("endpoints", {}).items()},
                   [PortBinding.from_json(p) for p in doc.get("ports", [])])


def network_doc(net: Network, endpoints: list[Endpoint]) -> dict[str, Any]:
    """Docker's network inspect object (``GET /networks/{id}``)."""
    config = [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []
    containers = {
        ep.container_id: {"Name": ep.name, "EndpointID": ep.id, "MacAddress": ep.mac,
                          "IPv4Address": f"{ep.ip}/{ep.prefixlen}", "IPv6Address": ""}
        for ep in endpoints if ep.container_id
    }
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local",
        "Driver": net.driver, "EnableIPv4": True, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None if net.builtin else {}, "Config": config},
        "Internal": net.internal, "Attachable": net.attachable, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Containers": containers, "Options": dict(net.options), "Labels": dict(net.labels),
    }


def endpoint_doc(net: Network, ep: Endpoint) -> dict[str, Any]:
    """Docker's ``EndpointSettings`` (``NetworkSettings.Networks[<name>]``)."""
    user = net.has_dns
    return {
        "IPAMConfig": {"IPv4Address": ep.requested_ip} if ep.requested_ip else None,
        "Links": None, "Aliases": list(ep.aliases) if user else None,
        "MacAddress": ep.mac, "DriverOpts": None, "NetworkID": net.id, "EndpointID": ep.id,
        "Gateway": ep.gateway, "IPAddress": ep.ip, "IPPrefixLen": ep.prefixlen,
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": ep.dns_names() if user else None,
    }
