"""/etc/hosts, /etc/resolv.conf and /etc/hostname generation."""

from __future__ import annotations

from skiff.engine.network import files

HOST = """# generated
nameserver 127.0.0.53
nameserver 10.0.0.2
nameserver fd00::53
search corp.example example.com
options edns0 trust-ad
"""


def test_parse_resolv_conf() -> None:
    rc = files.parse_resolv_conf(HOST)
    assert rc.nameservers == ("127.0.0.53", "10.0.0.2", "fd00::53")
    assert rc.search == ("corp.example", "example.com")
    assert rc.options == ("edns0", "trust-ad")


def test_default_bridge_drops_loopback_and_ipv6_servers() -> None:
    text = files.resolv_conf(files.parse_resolv_conf(HOST), embedded=False)
    assert text == ("nameserver 10.0.0.2\nsearch corp.example example.com\n"
                    "options edns0 trust-ad\n")


def test_default_bridge_falls_back_to_public_resolvers() -> None:
    rc = files.parse_resolv_conf("nameserver 127.0.0.1\nnameserver ::1\n")
    assert files.resolv_conf(rc, embedded=False) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_user_network_uses_embedded_dns() -> None:
    text = files.resolv_conf(files.parse_resolv_conf(HOST), embedded=True)
    assert text.splitlines() == [
        "nameserver 127.0.0.11", "search corp.example example.com",
        "options edns0 trust-ad ndots:0", "# ExtServers: [127.0.0.53 10.0.0.2 fd00::53]"]


def test_explicit_dns_settings_win() -> None:
    text = files.resolv_conf(files.parse_resolv_conf(HOST), embedded=False, dns=["1.1.1.1"],
                             dns_search=["a.test"], dns_options=["ndots:2"])
    assert text == "nameserver 1.1.1.1\nsearch a.test\noptions ndots:2\n"
    text = files.resolv_conf(files.parse_resolv_conf(""), embedded=True, dns_options=["ndots:3"])
    assert text == "nameserver 127.0.0.11\noptions ndots:3\n"


def test_hosts() -> None:
    text = files.hosts("abc123", ["10.1.0.2"], extra_hosts=[("db", "10.9.9.9")])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1].startswith("::1\tlocalhost")
    assert lines[-2:] == ["10.9.9.9\tdb", "10.1.0.2\tabc123"]
    assert files.hosts("web", ["10.1.0.2"], domainname="example.com").splitlines()[-1] == \
        "10.1.0.2\tweb.example.com web"
    assert files.hostname_file("abc") == "abc\n"


def test_extra_hosts_host_gateway() -> None:
    assert files.parse_extra_hosts(["a:1.2.3.4", "b:host-gateway", "c=5.6.7.8"], "172.30.0.1") == [
        ("a", "1.2.3.4"), ("b", "172.30.0.1"), ("c", "5.6.7.8")]
