"""IPAM: subnet choice, overlap checks, round-robin allocation, MACs."""

from __future__ import annotations

import ipaddress

import pytest

from skiff.engine.network import ipam
from skiff.errors import Conflict, Invalid, Unavailable

N = ipaddress.IPv4Network
A = ipaddress.IPv4Address


def test_parse_subnet_rejects_host_bits_ipv6_and_tiny() -> None:
    assert ipam.parse_subnet("10.1.0.0/16") == N("10.1.0.0/16")
    for bad in ("10.1.0.1/16", "fd00::/64", "10.0.0.0/31", "nonsense"):
        with pytest.raises(Invalid):
            ipam.parse_subnet(bad)


def test_gateway_defaults_to_first_host_and_must_be_inside() -> None:
    net = N("172.30.0.0/16")
    assert ipam.check_gateway(net, None) == A("172.30.0.1")
    assert ipam.check_gateway(net, "172.30.9.9") == A("172.30.9.9")
    for bad in ("10.0.0.1", "172.30.0.0", "172.30.255.255"):
        with pytest.raises(Invalid):
            ipam.check_gateway(net, bad)


def test_choose_subnet_skips_taken_and_overlapping() -> None:
    pool = ("172.30.0.0/16", "172.29.0.0/16", "10.213.0.0/16")
    assert ipam.choose_subnet(pool, []) == N("172.30.0.0/16")
    # a host route inside the first candidate rules it out
    assert ipam.choose_subnet(pool, [N("172.30.5.0/24")]) == N("172.29.0.0/16")
    # a bigger route covering both rules both out
    assert ipam.choose_subnet(pool, [N("172.16.0.0/12")]) == N("10.213.0.0/16")
    with pytest.raises(Unavailable):
        ipam.choose_subnet(pool, [N("0.0.0.0/1"), N("128.0.0.0/1")])


def test_check_subnet_free_names_the_culprit() -> None:
    with pytest.raises(Conflict, match="network subnet 10.1.0.0/16"):
        ipam.check_subnet_free(N("10.1.2.0/24"), [N("10.1.0.0/16")], [])
    with pytest.raises(Conflict, match="host route"):
        ipam.check_subnet_free(N("192.0.2.0/25"), [], [N("192.0.2.0/24")])
    ipam.check_subnet_free(N("10.2.0.0/24"), [N("10.1.0.0/16")], [N("192.0.2.0/24")])


def test_allocate_round_robin_skips_gateway_and_used() -> None:
    net, gw = N("10.9.0.0/29"), A("10.9.0.1")  # hosts .1-.6
    assert ipam.allocate(net, gw, []) == A("10.9.0.2")
    assert ipam.allocate(net, gw, [A("10.9.0.2")], cursor=A("10.9.0.2")) == A("10.9.0.3")
    # a released address is not reused at once: the cursor moves on
    assert ipam.allocate(net, gw, [], cursor=A("10.9.0.3")) == A("10.9.0.4")
    # wrap around past the end, skipping the gateway
    assert ipam.allocate(net, gw, [A("10.9.0.2")], cursor=A("10.9.0.6")) == A("10.9.0.3")
    used = [A(f"10.9.0.{i}") for i in range(2, 7)]
    with pytest.raises(Unavailable):
        ipam.allocate(net, gw, used)


def test_allocate_specific_address() -> None:
    net, gw = N("10.9.0.0/24"), A("10.9.0.1")
    assert ipam.allocate(net, gw, [], want=A("10.9.0.50")) == A("10.9.0.50")
    with pytest.raises(Conflict):
        ipam.allocate(net, gw, [A("10.9.0.50")], want=A("10.9.0.50"))
    with pytest.raises(Conflict):
        ipam.allocate(net, gw, [], want=gw)
    for bad in ("10.8.0.5", "10.9.0.0", "10.9.0.255"):
        with pytest.raises(Invalid):
            ipam.allocate(net, gw, [], want=A(bad))


def test_mac_is_dockers() -> None:
    assert ipam.mac_for(A("172.17.0.2")) == "02:42:ac:11:00:02"
