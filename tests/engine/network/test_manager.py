"""NetworkManager against the real kernel, with real busybox containers."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.request

import pytest

from skiff.engine.network.manager import NetworkManager
from skiff.engine.network.ports import PortBinding
from skiff.errors import AlreadyExists, Conflict, FailedPrecondition, Invalid, NotFound
from tests.engine.network.conftest import (
    BRIDGE,
    HTTPD,
    OUTSIDE_HOST_IP,
    OUTSIDE_IP,
    SUBNET,
    Containers,
    in_netns,
    link_names,
    ruleset,
    wget_retry,
)

pytestmark = pytest.mark.root

# busybox `sh -c "...; CMD"` execs its last command, which then is PID 1 and
# ignores the SIGTERM `timeout` sends; a builtin after it keeps sh as PID 1
KEEP_SH = "; exit $?"


async def test_predefined_networks_and_crud(mgr: NetworkManager) -> None:
    names = {n["Name"]: n for n in mgr.list_networks()}
    assert set(names) == {"bridge", "host", "none"}
    assert names["none"]["Driver"] == "null" and names["host"]["Driver"] == "host"
    bridge = mgr.get_network("bridge")
    assert bridge["IPAM"]["Config"] == [{"Subnet": SUBNET, "Gateway": "10.251.0.1"}]
    assert bridge["Options"]["com.docker.network.bridge.name"] == BRIDGE
    assert BRIDGE in link_names()

    net = mgr.create_network("net1", subnet="10.251.70.0/24", labels={"a": "b"})
    assert net["Scope"] == "local" and net["Driver"] == "bridge" and net["Labels"] == {"a": "b"}
    assert net["IPAM"]["Config"] == [{"Subnet": "10.251.70.0/24", "Gateway": "10.251.70.1"}]
    assert mgr.get_network(net["Id"][:10])["Name"] == "net1"
    auto = mgr.create_network("net2", internal=True)  # from the user pool
    assert auto["IPAM"]["Config"][0]["Subnet"] == "10.251.64.0/24" and auto["Internal"] is True
    bridge_name = f"bt-{net['Id'][:12]}"
    assert bridge_name in link_names() and bridge_name in ruleset()

    with pytest.raises(AlreadyExists):
        mgr.create_network("net1")
    with pytest.raises(Conflict, match="overlaps"):
        mgr.create_network("net3", subnet="10.251.70.128/25")
    with pytest.raises(Conflict, match="overlaps"):
        mgr.create_network("net3", subnet=SUBNET)
    with pytest.raises(Invalid):
        mgr.create_network("net3", subnet="10.251.71.0/24", gateway="10.251.72.1")
    with pytest.raises(Invalid):
        mgr.create_network("bad name")
    with pytest.raises(NotFound):
        mgr.create_network("net3", driver="overlay")
    with pytest.raises(FailedPrecondition):
        mgr.remove_network("bridge")

    mgr.create_sandbox("sb1")
    await mgr.connect("net1", "sb1", container_id="c" * 64, name="one")
    with pytest.raises(Conflict, match="active endpoints"):
        mgr.remove_network("net1")
    await mgr.disconnect("net1", "sb1")
    mgr.remove_network("net1")
    with pytest.raises(NotFound):
        mgr.get_network("net1")
    assert bridge_name not in link_names() and bridge_name not in ruleset()


async def test_user_network_ping_dns_and_http(mgr: NetworkManager, containers: Containers) -> None:
    mgr.create_network("app", subnet="10.251.80.0/24")
    pa, pb = mgr.create_sandbox("a"), mgr.create_sandbox("b")
    ea = await mgr.connect("app", "a", container_id="a" * 64, name="alpha")
    eb = await mgr.connect("app", "b", container_id="b" * 64, name="beta", aliases=["db"])
    assert (ea["IPAddress"], eb["IPAddress"]) == ("10.251.80.2", "10.251.80.3")
    assert eb["MacAddress"] == "02:42:0a:fb:50:03" and eb["Gateway"] == "10.251.80.1"
    assert eb["DNSNames"] == ["beta", "db", "b" * 12] and eb["IPPrefixLen"] == 24
    members = mgr.get_network("app")["Containers"]
    assert members["b" * 64] == {"Name": "beta", "EndpointID": eb["EndpointID"],
                                 "MacAddress": eb["MacAddress"], "IPv4Address": "10.251.80.3/24",
                                 "IPv6Address": ""}
    resolv = mgr.resolv_conf("a")
    assert resolv.startswith("nameserver 127.0.0.11\n")

    await containers.start(HTTPD.format(text="hello-from-beta", port=80), pb)
    script = "; ".join([
        "ip -o addr show eth0", "ip route",
        "ping -c1 -W2 10.251.80.3",
        "nslookup beta 127.0.0.11", "nslookup db 127.0.0.11",
        "nslookup " + "b" * 12 + " 127.0.0.11",
        "nslookup outside.test 127.0.0.11",
        # (static busybox wget cannot resolve names: glibc NSS; nslookup above did)
        wget_retry("http://10.251.80.3:80/"),
    ])
    r = await containers.run(script, pa, files={"/etc/resolv.conf": resolv,
                                                "/etc/hosts": mgr.hosts("a", "alpha")})
    assert r.status.code == 0, r.out + r.err
    assert "inet 10.251.80.2/24" in r.out and "default via 10.251.80.1" in r.out
    assert "1 packets received" in r.out
    assert r.out.count("10.251.80.3") >= 4  # ping + three names
    assert OUTSIDE_IP in r.out  # relayed to the (fake) upstream
    assert "hello-from-beta" in r.out

    bad = await containers.run("nslookup nosuchname 127.0.0.11", pa)
    assert bad.status.code != 0


async def test_default_bridge_egress_and_published_ports(mgr: NetworkManager, containers: Containers,
                                                         outside: str) -> None:
    path = mgr.create_sandbox("web")
    ep = await mgr.connect("bridge", "web", container_id="w" * 64, name="web")
    assert ep["IPAddress"] == "10.251.0.2" and ep["Aliases"] is None and ep["DNSNames"] is None
    ports = await mgr.publish("web", [PortBinding(80), PortBinding(80, host_port=0, host_ip="127.0.0.1")])
    assert all(p.host_port > 0 for p in ports)
    any_port, lo_port = ports[0].host_port, ports[1].host_port
    settings = mgr.network_settings("web")
    assert settings["IPAddress"] == "10.251.0.2" and settings["SandboxKey"] == path
    assert settings["Ports"]["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": str(any_port)}
    assert "nameserver 127.0.0.11" not in mgr.resolv_conf("web")

    # egress: the outside host has no route to our subnet, so only NAT works
    r = await containers.run(wget_retry(f"http://{OUTSIDE_IP}:8000/"), path)
    assert r.status.code == 0 and "outside" in r.out, r.err

    await containers.start(HTTPD.format(text="published", port=80), path)
    # from the host, over loopback (route_localnet + masquerade) ...
    for port in (any_port, lo_port):
        body = await _fetch(f"http://127.0.0.1:{port}/")
        assert body == "published\n"
    # ... over a non-loopback host address (output chain) ...
    assert await _fetch(f"http://{OUTSIDE_HOST_IP}:{any_port}/") == "published\n"
    # ... and from another host (prerouting); the 127.0.0.1-only port is not there
    out = in_netns(outside, f"timeout 3 wget -q -O - http://{OUTSIDE_HOST_IP}:{any_port}/")
    assert out.stdout == "published\n", out.stderr
    assert in_netns(outside, f"timeout 2 wget -q -O - http://{OUTSIDE_HOST_IP}:{lo_port}/").returncode != 0
    # ... but the outside host can't route to the container directly
    assert in_netns(outside, f"ip route add {SUBNET} via {OUTSIDE_HOST_IP}; "
                             "timeout 2 wget -q -O - http://10.251.0.2:80/").returncode != 0

    # a second container on the bridge reaches the first through the host port (hairpin)
    other = mgr.create_sandbox("client")
    await mgr.connect("bridge", "client", container_id="x" * 64, name="client")
    r = await containers.run(f"timeout 3 wget -q -O - http://10.251.0.1:{any_port}/{KEEP_SH}", other)
    assert r.out == "published\n", r.err

    await mgr.unpublish("web")
    assert str(any_port) not in ruleset()
    with pytest.raises(OSError):
        await _fetch(f"http://127.0.0.1:{any_port}/", timeout=1, tries=1)


async def _fetch(url: str, timeout: float = 5, tries: int = 50) -> str:
    """GET ``url`` from the host, retrying while the container's server starts."""
    def get() -> str:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return str(resp.read().decode())

    for i in range(tries):
        try:
            return await asyncio.to_thread(get)
        except OSError:
            if i == tries - 1:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("unreachable")


async def test_port_conflicts(mgr: NetworkManager) -> None:
    mgr.create_sandbox("p1")
    mgr.create_sandbox("p2")
    await mgr.connect("bridge", "p1", container_id="1" * 64, name="p1")
    [b] = await mgr.publish("p1", [PortBinding(80)])
    with pytest.raises(Conflict, match="already allocated"):
        await mgr.publish("p2", [PortBinding(81, host_port=b.host_port)])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(Conflict):
            await mgr.publish("p2", [PortBinding(81, host_port=s.getsockname()[1])])
    with pytest.raises(Invalid, match="bound twice"):
        await mgr.publish("p2", [PortBinding(81, host_port=40001), PortBinding(82, host_port=40001)])
    assert mgr.sandboxes["p2"].ports == []


async def test_shared_namespace_like_container_mode(mgr: NetworkManager, containers: Containers) -> None:
    path = mgr.create_sandbox("pod")
    await containers.start(HTTPD.format(text="same-pod", port=8080), path)
    r = await containers.run(wget_retry("http://127.0.0.1:8080/"), path)
    assert r.out == "same-pod\n", r.err


async def test_user_networks_are_isolated(mgr: NetworkManager, containers: Containers) -> None:
    mgr.create_network("red", subnet="10.251.90.0/24")
    mgr.create_network("blue", subnet="10.251.91.0/24")
    server, same, other = (mgr.create_sandbox(n) for n in ("server", "same", "other"))
    await mgr.connect("red", "server", container_id="s" * 64, name="server")
    await mgr.connect("red", "same", container_id="t" * 64, name="same")
    await mgr.connect("blue", "other", container_id="u" * 64, name="other")
    await containers.start(HTTPD.format(text="red", port=80), server)
    ok = await containers.run(wget_retry("http://10.251.90.2:80/"), same)
    assert ok.out == "red\n", ok.err
    blocked = await containers.run("timeout 2 wget -q -O - http://10.251.90.2:80/" + KEEP_SH, other)
    assert blocked.status.code != 0
    # and names of another network don't resolve
    assert (await containers.run("nslookup server 127.0.0.11" + KEEP_SH, other)).status.code != 0


async def test_disconnect_moves_default_route_and_frees_veth(mgr: NetworkManager,
                                                            containers: Containers) -> None:
    mgr.create_network("one", subnet="10.251.92.0/24")
    mgr.create_network("two", subnet="10.251.93.0/24")
    path = mgr.create_sandbox("multi")
    first = await mgr.connect("one", "multi", container_id="m" * 64, name="m")
    await mgr.connect("two", "multi", container_id="m" * 64, name="m")
    veth = mgr.sandboxes["multi"].endpoints[first["NetworkID"]].host_veth
    assert veth in link_names()
    await mgr.disconnect("one", "multi")
    assert veth not in link_names()
    r = await containers.run("ip route; ip -o link", path)
    assert "default via 10.251.93.1 dev eth1" in r.out and "eth0" not in r.out
    again = await mgr.connect("one", "multi", container_id="m" * 64, name="m")
    assert again["IPAddress"] == "10.251.92.3"  # round-robin: .2 is not reused at once
    with pytest.raises(AlreadyExists):
        await mgr.connect("one", "multi", container_id="m" * 64, name="m")
    with pytest.raises(Invalid):
        await mgr.connect("host", "multi")
    with pytest.raises(Invalid):
        await mgr.connect("bridge", "multi", aliases=["x"])
    with pytest.raises(NotFound):
        await mgr.disconnect("bridge", "multi")
    fixed = mgr.create_sandbox("fixed")
    assert fixed
    ep = await mgr.connect("two", "fixed", ip="10.251.93.77")
    assert ep["IPAddress"] == "10.251.93.77" and ep["IPAMConfig"] == {"IPv4Address": "10.251.93.77"}
    assert ipaddress.IPv4Address(ep["IPAddress"]) in ipaddress.IPv4Network("10.251.93.0/24")
