"""Service cluster IPs and node ports: small in-memory allocators.

The set of taken values is rebuilt from storage at start (``load``), then kept
current by the registry on service create and delete. Random probing finds a
free value quickly while the range is sparse; a full range raises an error.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from skiff.errors import SkiffError


class RangeFull(SkiffError):
    http_status = 500
    reason = "InternalError"


class Allocator:
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.taken: set[int] = set()

    def allocate(self, value: int | None = None) -> int:
        if value is not None:
            self.taken.add(value)
            return value
        for _ in range(64):
            v = random.randint(self.low, self.high)
            if v not in self.taken:
                self.taken.add(v)
                return v
        for v in range(self.low, self.high + 1):
            if v not in self.taken:
                self.taken.add(v)
                return v
        raise RangeFull("range is full")

    def release(self, value: int) -> None:
        self.taken.discard(value)


class ServiceAllocators:
    """ClusterIPs from ``cidr`` (default 10.96.0.0/12) and node ports 30000-32767."""

    def __init__(self, cidr: str = "10.96.0.0/12") -> None:
        net = ipaddress.ip_network(cidr)
        base = int(net.network_address)
        self.kubernetes_ip = str(ipaddress.ip_address(base + 1))
        self.ips = Allocator(base + 2, base + net.num_addresses - 2)
        self.ips.taken.add(base + 1)
        self.ports = Allocator(30000, 32767)

    def load(self, services: list[dict[str, Any]]) -> None:
        for svc in services:
            self.take(svc)

    def take(self, svc: dict[str, Any]) -> None:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            self.ips.allocate(int(ipaddress.ip_address(ip)))
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                self.ports.allocate(int(p["nodePort"]))

    def assign(self, svc: dict[str, Any]) -> None:
        """Fill clusterIP(s) and node ports of a new service."""
        spec = svc.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        ip = spec.get("clusterIP")
        if ip == "None":
            spec["clusterIPs"] = ["None"]
        else:
            value = int(ipaddress.ip_address(ip)) if ip else None
            spec["clusterIP"] = str(ipaddress.ip_address(self.ips.allocate(value)))
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for p in spec.get("ports") or []:
                p["nodePort"] = self.ports.allocate(p.get("nodePort"))

    def release(self, svc: dict[str, Any]) -> None:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            self.ips.release(int(ipaddress.ip_address(ip)))
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                self.ports.release(int(p["nodePort"]))
