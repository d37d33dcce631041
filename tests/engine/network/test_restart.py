"""A daemon killed without stop comes back knowing everything it made."""

from __future__ import annotations

import errno
import socket
import subprocess
from typing import Any

import pytest

from skiff.engine.network import netns
from skiff.engine.network.manager import NetworkManager
from skiff.engine.network.ports import PortBinding
from tests.engine.network.conftest import (
    BRIDGE,
    HTTPD,
    TAG,
    Containers,
    assert_clean,
    link_names,
    make_manager,
    ruleset,
    teardown_manager,
)
from tests.engine.network.test_manager import _fetch

pytestmark = pytest.mark.root


async def _crash(m: NetworkManager) -> None:
    """What SIGKILL does to the daemon's own resources: sockets closed, tasks
    gone. Kernel objects (bridges, veths, rules, namespaces) stay."""
    for sid in list(m._dns):
        await m._stop_dns(sid)
    m._ports.release_all()
    m.links.close()


async def test_start_after_crash_restores_state(tmp_path: Any, dns_upstream: tuple[str, int],
                                                containers: Containers) -> None:
    m1 = make_manager(tmp_path, dns_upstream)
    await m1.start()
    m1.create_network("usr", subnet="10.251.95.0/24")
    path = m1.create_sandbox("keep")
    first = await m1.connect("bridge", "keep", container_id="k" * 64, name="keep")
    await m1.connect("usr", "keep", container_id="k" * 64, name="keep")
    [port] = await m1.publish("keep", [PortBinding(80)])
    gone = m1.create_sandbox("gone")
    await m1.connect("bridge", "gone", container_id="g" * 64, name="gone")
    await _crash(m1)
    netns.delete(gone)  # its namespace vanished while the daemon was down
    stale = f"vethdead{TAG}"  # a veth on our bridge that no endpoint owns
    subprocess.run(["ip", "link", "add", stale, "type", "veth", "peer", "name", f"vd{TAG}"], check=True)
    subprocess.run(["ip", "link", "set", stale, "master", BRIDGE], check=True)

    m2 = make_manager(tmp_path, dns_upstream)
    seen = {ep.host_veth for sb in m1.sandboxes.values() for ep in sb.endpoints.values()}
    try:
        await m2.start()
        await m2.start()  # idempotent
        assert stale not in link_names()
        assert set(m2.sandboxes) == {"keep"}
        assert m2.network_settings("keep")["IPAddress"] == first["IPAddress"]
        # the port is held again, and forwarded again
        with socket.socket() as s, pytest.raises(OSError) as e:
            s.bind(("0.0.0.0", port.host_port))
        assert e.value.errno == errno.EADDRINUSE
        assert f"{port.host_port} : {first['IPAddress']} . 80" in ruleset()
        await containers.start(HTTPD.format(text="still-here", port=80), path)
        assert await _fetch(f"http://127.0.0.1:{port.host_port}/") == "still-here\n"
        # the embedded DNS answers again, and addresses in use are still taken
        r = await containers.run("nslookup keep 127.0.0.11", path)
        assert "10.251.95.2" in r.out, r.err
        m2.create_sandbox("new")
        ep = await m2.connect("bridge", "new", container_id="n" * 64, name="new")
        assert ep["IPAddress"] not in (first["IPAddress"], "10.251.0.3")
    finally:
        containers.stop_all()
        seen |= {ep.host_veth for sb in m2.sandboxes.values() for ep in sb.endpoints.values()}
        await teardown_manager(m2)
        subprocess.run(["ip", "link", "del", stale], check=False, capture_output=True)
    assert_clean(m2, seen)
