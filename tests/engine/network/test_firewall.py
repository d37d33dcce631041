"""The rendered nftables table: pure text checks, then the real kernel."""

from __future__ import annotations

import os

import pytest

from skiff.engine.network.firewall import BridgeRule, Firewall, PortRule, port_elements, render
from skiff.engine.network.nft import open_nft

BRIDGES = [BridgeRule("skt0", "10.251.0.0/24"), BridgeRule("bt-int", "10.251.9.0/24", internal=True)]
PORTS = [PortRule("tcp", "0.0.0.0", 8080, "10.251.0.2", 80),
         PortRule("udp", "127.0.0.1", 5353, "10.251.0.2", 53)]


def test_render_is_one_atomic_replace() -> None:
    text = render("t", BRIDGES, PORTS)
    lines = text.splitlines()
    assert lines[:3] == ["table ip t {}", "delete table ip t", "table ip t {"]
    assert "elements = { 8080 : 10.251.0.2 . 80 }" in text
    assert "elements = { 127.0.0.1 . 5353 : 10.251.0.2 . 53 }" in text


def test_render_masquerades_only_non_internal_networks() -> None:
    text = render("t", BRIDGES, [])
    assert 'ip saddr 10.251.0.0/24 oifname != "skt0" masquerade' in text
    assert "10.251.9.0/24" not in text
    assert 'iifname "bt-int" oifname != "bt-int" drop' in text
    assert 'iifname "skt0" oifname != "skt0" oifname @bridges drop' in text


def test_port_elements() -> None:
    assert port_elements("t", "add", PORTS) == (
        "add element ip t tcp_any { 8080 : 10.251.0.2 . 80 }\n"
        "add element ip t udp_ip { 127.0.0.1 . 5353 : 10.251.0.2 . 53 }\n")
    assert port_elements("t", "delete", PORTS[:1]) == "delete element ip t tcp_any { 8080 }\n"
    assert port_elements("t", "delete", []) == ""


@pytest.mark.root
def test_kernel_accepts_the_table_and_removes_it_whole() -> None:
    fw = Firewall(open_nft(), f"skifftest{os.getpid()}")
    try:
        fw.sync(BRIDGES, PORTS)
        fw.sync(BRIDGES, PORTS)  # replacing is idempotent
        extra = PortRule("tcp", "127.0.0.1", 8081, "10.251.0.3", 81)
        fw.add_ports([extra])
        assert "127.0.0.1 . 8081 : 10.251.0.3 . 81" in fw.listing()
        fw.remove_ports([extra, PORTS[0]])
        listing = fw.listing()
        assert "8081" not in listing and "8080" not in listing and "5353" in listing
    finally:
        fw.remove()
    assert fw.listing() == ""
    fw.remove()  # absent: no error
