"""Published ports as pure data: parse ``-p`` specs and Docker's PortBindings.

A ``PortBinding`` says "traffic to HOST_IP:HOST_PORT/PROTO goes to the
container's CONTAINER_PORT". ``host_ip`` "0.0.0.0" means every host address
(127.0.0.1 included); ``host_port`` 0 means "pick a free one", resolved when
the binding is published.

Accepted ``-p`` forms (Docker's)::

    80                  ephemeral host port -> 80/tcp
    8080:80             0.0.0.0:8080 -> 80/tcp
    127.0.0.1:8080:80/udp
    127.0.0.1::80       ephemeral port on 127.0.0.1
    8000-8001:80-81     pairwise: 8000->80, 8001->81
    80-81               two ephemeral host ports

Only IPv4 host addresses, tcp and udp are supported; anything else is an
``Invalid`` naming the spec. A host range paired with a single container port
(Docker's "any free port in the range") is rejected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from skiff.errors import Invalid

PROTOCOLS = ("tcp", "udp")
ANY = "0.0.0.0"


class PortBinding(NamedTuple):
    container_port: int
    proto: str = "tcp"
    host_ip: str = ANY
    host_port: int = 0

    @property
    def key(self) -> str:
        """Docker's port key: ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"

    def to_json(self) -> list[Any]:
        return [self.container_port, self.proto, self.host_ip, self.host_port]

    @classmethod
    def from_json(cls, doc: list[Any]) -> PortBinding:
        return cls(int(doc[0]), str(doc[1]), str(doc[2]), int(doc[3]))


def _bad(spec: str, why: str) -> Invalid:
    return Invalid.field("ports", f"invalid port specification {spec!r}: {why}", spec)


def _port(text: str, spec: str, allow_zero: bool = False) -> int:
    if not text.isdigit():
        raise _bad(spec, f"{text!r} is not a port number")
    n = int(text)
    if not (0 if allow_zero else 1) <= n <= 65535:
        raise _bad(spec, f"port {n} is out of range 1-65535")
    return n


def _range(text: str, spec: str) -> list[int]:
    """``8000-8002`` -> [8000, 8001, 8002]; ``80`` -> [80]."""
    lo, sep, hi = text.partition("-")
    start = _port(lo, spec)
    end = _port(hi, spec) if sep else start
    if end < start:
        raise _bad(spec, f"range {text} ends before it starts")
    return list(range(start, end + 1))


def _host_ip(text: str, spec: str) -> str:
    if text in ("", ANY):
        return ANY
    text = text.strip("[]")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise _bad(spec, f"{text!r} is not an IP address") from None
    if addr.version != 4:
        raise _bad(spec, "only IPv4 host addresses are supported")
    return str(addr)


def _proto(text: str, spec: str) -> str:
    proto = (text or "tcp").lower()
    if proto not in PROTOCOLS:
        raise _bad(spec, f"protocol {proto!r} is not supported (tcp or udp)")
    return proto


def _pair(spec: str, host_ip: str, host: str, container: str, proto: str) -> list[PortBinding]:
    cports = _range(container, spec)
    if not host or host == "0":  # "0" asks for an ephemeral port, as an empty host port does
        return [PortBinding(c, proto, host_ip, 0) for c in cports]
    hports = _range(host, spec)
    if len(hports) != len(cports):
        raise _bad(spec, "host and container port ranges must have the same length")
    return [PortBinding(c, proto, host_ip, h) for c, h in zip(cports, hports, strict=True)]


def parse_spec(spec: str) -> list[PortBinding]:
    """One ``-p`` argument -> its bindings (several for a range)."""
    body, _, proto = spec.partition("/")
    proto = _proto(proto, spec)
    if body.startswith("["):  # [::1]:8080:80
        ip, _, rest = body[1:].partition("]")
        parts = [ip, *rest.lstrip(":").split(":")] if rest else [ip]
    else:
        parts = body.split(":")
    if len(parts) == 1:
        return _pair(spec, ANY, "", parts[0], proto)
    if len(parts) == 2:
        return _pair(spec, ANY, parts[0], parts[1], proto)
    if len(parts) == 3:
        return _pair(spec, _host_ip(parts[0], spec), parts[1], parts[2], proto)
    raise _bad(spec, "expected [ip:][hostPort:]containerPort[/protocol]")


def parse_specs(specs: Iterable[str]) -> list[PortBinding]:
    return [b for s in specs for b in parse_spec(s)]


def from_docker(port_bindings: Mapping[str, Any] | None) -> list[PortBinding]:
    """``HostConfig.PortBindings`` -> bindings.

    ``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``; a null or empty list
    means "exposed, not published" and yields nothing.
    """
    out: list[PortBinding] = []
    for key, entries in (port_bindings or {}).items():
        container, _, proto = key.partition("/")
        proto = _proto(proto, key)
        for entry in entries or []:
            host_ip = _host_ip(str(entry.get("HostIp") or ""), key)
            host_port = str(entry.get("HostPort") or "")
            out += _pair(key, host_ip, host_port, container, proto)
    return out


def to_docker(bindings: Iterable[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """Bindings -> ``NetworkSettings.Ports`` (``HostPort`` is a string)."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
    return out


def check_conflicts(bindings: Iterable[PortBinding]) -> None:
    """``Invalid`` if two bindings claim the same host address, port and protocol
    (0.0.0.0 claims every address)."""
    seen: dict[tuple[str, int], list[str]] = {}
    for b in bindings:
        if b.host_port == 0:
            continue
        ips = seen.setdefault((b.proto, b.host_port), [])
        if b.host_ip in ips or (ips and ANY in (b.host_ip, *ips)):
            raise Invalid.field("ports", f"host port {b.host_port}/{b.proto} is bound twice", b.host_port)
        ips.append(b.host_ip)
