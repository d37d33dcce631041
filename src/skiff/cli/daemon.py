"""``skiff daemon`` (also installed as ``skiffd``): the engine and its Docker API.

    skiff daemon [--root /var/lib/skiff] [--run-root /run/skiff]
                 [-H unix:///run/skiff/docker.sock] [-H tcp://127.0.0.1:2375]

Point the docker CLI at it with ``DOCKER_HOST=unix:///run/skiff/docker.sock``.
TCP listeners are only allowed on loopback: the Engine API has no
authentication, and a TCP socket open to the network is root for anyone.
"""

from __future__ import annotations

import ipaddress
import os
import sys

import click

DEFAULT_ROOT = "/var/lib/skiff"
DEFAULT_RUN_ROOT = "/run/skiff"


def _parse_hosts(hosts: tuple[str, ...]) -> tuple[str, tuple[str, int] | None]:
    socket_path, tcp = "", None
    for h in hosts:
        if h.startswith("unix://"):
            socket_path = h[len("unix://"):]
        elif h.startswith("tcp://"):
            host, _, port = h[len("tcp://"):].rpartition(":")
            if not host or not port.isdigit():
                raise click.BadParameter(f"expected tcp://HOST:PORT, got {h}", param_hint="-H")
            try:
                loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise click.BadParameter("TCP listeners must be on loopback (the API has no authentication)",
                                         param_hint="-H")
            tcp = (host.strip("[]"), int(port))
        else:
            raise click.BadParameter(f"unsupported host {h} (unix:///path or tcp://127.0.0.1:PORT)", param_hint="-H")
    return socket_path or "/run/skiff/docker.sock", tcp


@click.command()
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="persistent state (images, containers, volumes)")
@click.option("--run-root", default=DEFAULT_RUN_ROOT, show_default=True, help="runtime state (sockets, netns, fifos)")
@click.option("-H", "--host", "hosts", multiple=True, default=("unix:///run/skiff/docker.sock",), show_default=True)
@click.option("--bridge", default="skiff0", show_default=True, help="name of the default bridge")
@click.option("--bridge-subnet", default=None, help="subnet of the default bridge (default: a free private one)")
@click.option("--insecure-registry", multiple=True, help="registries to reach over plain HTTP (loopback always is)")
@click.option("--no-network", is_flag=True, help="no bridges or firewall rules: every container gets only lo")
@click.option("--firewall-table", default="skiff", show_default=True, help="the nftables table skiff owns")
@click.option("--cgroup-parent", default="/skiff", show_default=True, help="cgroup under which containers go")
@click.option("-D", "--debug", is_flag=True, help="debug logging: every API request with its status and duration")
def daemon(root: str, run_root: str, hosts: tuple[str, ...], bridge: str, bridge_subnet: str | None,
           insecure_registry: tuple[str, ...], no_network: bool, firewall_table: str, cgroup_parent: str,
           debug: bool) -> None:
    """Run the container engine daemon (Docker Engine API 1.50)."""
    if os.geteuid() != 0:
        raise click.ClickException("skiff daemon needs root (namespaces, cgroups, mounts, networking)")
    socket_path, tcp = _parse_hosts(hosts)
    from skiff.engine.daemon import run_daemon
    from skiff.engine.imagestore import EngineImages

    images = EngineImages(root, insecure_registries=tuple(insecure_registry))
    network = None
    if not no_network:
        from skiff.engine.network.manager import NetworkManager

        network = NetworkManager(os.path.join(root, "network"), run_root, default_bridge=bridge,
                                 default_subnet=bridge_subnet, firewall_table=firewall_table)
    run_daemon(root, run_root, socket_path, tcp, images, network, cgroup_parent=cgroup_parent, debug=debug)


def main() -> None:
    """Entry point of the ``skiffd`` script."""
    daemon.main(args=sys.argv[1:], prog_name="skiffd")
