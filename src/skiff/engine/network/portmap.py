"""Host ports of published bindings: reserved by sockets, forwarded by DNAT.

How a published port works (and why not a userland proxy): the firewall
DNATs traffic for HOST_IP:HOST_PORT to the container in the kernel, for
packets from other hosts (prerouting), from the host itself (output), from
127.0.0.1 (``route_localnet`` on the bridge plus a masquerade) and from
other containers (hairpin masquerade). No process or task copies bytes, the
container sees the real client address for remote clients, and the cost per
port is one map element. Docker's docker-proxy exists mainly for 127.0.0.1
and old kernels; both are covered here.

The one thing DNAT does not do is *own* the port: some other program could
bind 0.0.0.0:8080 and never see its traffic. So each binding also holds a
bound (never listening, never receiving: DNAT diverts its traffic first)
socket on the host port. That detects conflicts ("port is already
allocated") and picks ephemeral ports: binding port 0 lets the kernel choose
a free one from ``ip_local_port_range``.

Sockets are per sandbox and live as long as the publication; a restarted
daemon binds them again from the persisted bindings.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from skiff.engine.network.firewall import PortRule
from skiff.engine.network.ports import PortBinding
from skiff.errors import Conflict


def _bind(b: PortBinding) -> socket.socket:
    kind = socket.SOCK_STREAM if b.proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((b.host_ip, b.host_port))
    except OSError as e:
        s.close()
        if e.errno == errno.EADDRINUSE:
            raise Conflict(f"Bind for {b.host_ip}:{b.host_port} failed: port is already allocated") \
                from None
        raise
    return s


class Reservations:
    """The sockets holding each sandbox's host ports."""

    def __init__(self) -> None:
        self._held: dict[str, list[tuple[PortBinding, socket.socket]]] = {}

    def reserve(self, owner: str, bindings: Iterable[PortBinding]) -> list[PortBinding]:
        """Hold every binding's host port (all or none); ephemeral ports resolved."""
        held: list[tuple[PortBinding, socket.socket]] = []
        try:
            for b in bindings:
                s = _bind(b)
                held.append((b._replace(host_port=s.getsockname()[1]), s))
        except BaseException:
            for _, s in held:
                s.close()
            raise
        self._held.setdefault(owner, []).extend(held)
        return [b for b, _ in held]

    def release(self, owner: str, only: Iterable[PortBinding] | None = None) -> None:
        """Close ``owner``'s sockets (only those of the bindings ``only``, if given)."""
        held = self._held.pop(owner, [])
        drop = None if only is None else set(only)
        keep = []
        for b, s in held:
            if drop is None or b in drop:
                s.close()
            else:
                keep.append((b, s))
        if keep:
            self._held[owner] = keep

    def release_all(self) -> None:
        for owner in list(self._held):
            self.release(owner)


def rules(bindings: Iterable[PortBinding], container_ip: str | None) -> list[PortRule]:
    """The DNAT rules of a sandbox's bindings, all to its primary address."""
    if container_ip is None:
        return []
    return [PortRule(b.proto, b.host_ip, b.host_port, container_ip, b.container_port) for b in bindings]
