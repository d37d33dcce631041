"""What the engine needs from networking, and a fallback that isolates.

``NetworkBackend`` is implemented for real by ``skiff.engine.network``
(bridges, veth pairs, NAT, published ports, embedded DNS). ``IsolatedOnly``
is used where that is unavailable: every container gets its own empty
network namespace with just ``lo`` (``--network none`` semantics), and
``bridge`` requests degrade to that with a warning in the create response.
"""

from __future__ import annotations

from typing import Any, Protocol


class NetworkBackend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def create_sandbox(self, sandbox_id: str) -> str: ...
    def sandbox_path(self, sandbox_id: str) -> str: ...
    async def remove_sandbox(self, sandbox_id: str) -> None: ...
    async def connect(self, network: str, sandbox_id: str, *, container_id: str, name: str,
                      aliases: tuple[str, ...] = (), ip: str | None = None) -> dict[str, Any]: ...
    async def disconnect(self, network: str, sandbox_id: str) -> None: ...
    async def publish(self, sandbox_id: str, bindings: list[Any]) -> list[Any]: ...
    async def unpublish(self, sandbox_id: str) -> None: ...
    def resolv_conf(self, sandbox_id: str, *, dns: Any = (), dns_search: Any = (), dns_options: Any = ()) -> str: ...
    def hosts(self, sandbox_id: str, hostname: str, *, domainname: str = "", extra_hosts: Any = ()) -> str: ...
    def network_settings(self, sandbox_id: str) -> dict[str, Any]: ...
    def create_network(self, name: str, *, driver: str = "bridge", subnet: str | None = None,
                       gateway: str | None = None, internal: bool = False, attachable: bool = False,
                       labels: dict[str, str] | None = None, options: dict[str, str] | None = None
                       ) -> dict[str, Any]: ...
    def remove_network(self, name_or_id: str) -> None: ...
    def list_networks(self) -> list[dict[str, Any]]: ...
    def get_network(self, name_or_id: str) -> dict[str, Any]: ...


def host_resolv_conf() -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from a netns)."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out = [line for line in lines
           if not (line.startswith("nameserver") and (" 127." in line or " ::1" in line))]
    if not any(line.startswith("nameserver") for line in out):
        out += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(out) + "\n"


def default_hosts(hostname: str, ips: list[str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    lines += [f"{ip}\t{hostname}" for ip in ips]
    return "\n".join(lines) + "\n"
