"""Port specs: Docker's -p syntax and HostConfig.PortBindings."""

from __future__ import annotations

import pytest

from skiff.engine.network.ports import (
    PortBinding,
    check_conflicts,
    from_docker,
    parse_spec,
    parse_specs,
    to_docker,
)
from skiff.errors import Invalid


@pytest.mark.parametrize(("spec", "want"), [
    ("80", [PortBinding(80)]),
    ("8080:80", [PortBinding(80, "tcp", "0.0.0.0", 8080)]),
    ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1", 0)]),
    ("0.0.0.0:53:53/UDP", [PortBinding(53, "udp", "0.0.0.0", 53)]),
    ("8000-8001:80-81", [PortBinding(80, host_port=8000), PortBinding(81, host_port=8001)]),
    ("80-81/udp", [PortBinding(80, "udp"), PortBinding(81, "udp")]),
])
def test_parse_spec(spec: str, want: list[PortBinding]) -> None:
    assert parse_spec(spec) == want


@pytest.mark.parametrize(("spec", "why"), [
    ("", "not a port"),
    ("abc", "not a port"),
    ("0", "out of range"),
    ("70000:80", "out of range"),
    ("80/sctp", "not supported"),
    ("[::1]:8080:80", "IPv4"),
    ("1.2.3:8080:80", "not an IP"),
    ("8000-8002:80-81", "same length"),
    ("82-80", "ends before"),
    ("1:2:3:4", "expected"),
])
def test_parse_spec_errors(spec: str, why: str) -> None:
    with pytest.raises(Invalid, match=why) as e:
        parse_spec(spec)
    assert repr(spec) in str(e.value)


def test_docker_round_trip() -> None:
    wire = {"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}],
            "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}], "443/tcp": None, "9000": []}
    got = from_docker(wire)
    assert got == [PortBinding(80, "tcp", "0.0.0.0", 8080), PortBinding(80, "tcp", "127.0.0.1", 0),
                   PortBinding(53, "udp", "0.0.0.0", 5353)]
    assert to_docker(got)["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                                        {"HostIp": "127.0.0.1", "HostPort": "0"}]
    assert PortBinding.from_json(got[0].to_json()) == got[0]


def test_conflicts() -> None:
    check_conflicts(parse_specs(["8080:80", "8080:80/udp", "80", "80"]))
    check_conflicts(parse_specs(["127.0.0.1:8080:80", "127.0.0.2:8080:81"]))
    for pair in (["8080:80", "8080:81"], ["127.0.0.1:8080:80", "8080:81"],
                 ["8080:81", "127.0.0.1:8080:80"]):
        with pytest.raises(Invalid, match="bound twice"):
            check_conflicts(parse_specs(pair))
