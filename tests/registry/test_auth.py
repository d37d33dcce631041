"""Challenge parsing and credential files."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from skiff.registry.auth import lookup_credentials, parse_challenges, remove_credentials, store_credentials
from skiff.registry.client import is_loopback


def test_challenges() -> None:
    [c] = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/busybox:pull,push"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull,push"}
    [b] = parse_challenges('Basic realm="Registry Realm"')
    assert b.scheme == "basic" and b.params["realm"] == "Registry Realm"
    both = parse_challenges('Basic realm="a, b", Bearer realm="x\\"y",error="insufficient_scope"')
    assert [c.scheme for c in both] == ["basic", "bearer"]
    assert both[0].params["realm"] == "a, b" and both[1].params["realm"] == 'x"y'
    assert parse_challenges("") == []


def test_credentials_files(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    assert lookup_credentials("example.com") is None
    docker_cfg = tmp_path / ".docker" / "config.json"
    store_credentials(str(docker_cfg), "example.com:5000", "me", "pw:with:colons")
    assert lookup_credentials("example.com:5000") == ("me", "pw:with:colons")
    hub = tmp_path / "auth.json"
    hub.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {
        "auth": base64.b64encode(b"hubuser:hubpw").decode()}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(hub))
    assert lookup_credentials("docker.io") == ("hubuser", "hubpw")
    assert lookup_credentials("registry-1.docker.io") == ("hubuser", "hubpw")
    assert remove_credentials(str(docker_cfg), "example.com:5000")
    assert lookup_credentials("example.com:5000") is None


def test_loopback() -> None:
    assert all(is_loopback(h) for h in ("localhost:5000", "127.0.0.1:1", "127.1.2.3", "[::1]:80", "localhost"))
    assert not any(is_loopback(h) for h in ("example.com", "10.0.0.1:5000", "localhost.evil.com"))
