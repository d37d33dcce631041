"""The docker reference grammar and its normalisation."""

from __future__ import annotations

import pytest

from skiff.errors import Invalid
from skiff.oci.reference import parse, parse_normalized

H = "sha256:" + "a" * 64


@pytest.mark.parametrize(("text", "full", "familiar"), [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("me/app", "docker.io/me/app:latest", "me/app:latest"),
    ("me/app/sub:v1", "docker.io/me/app/sub:v1", "me/app/sub:v1"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/app:v2", "localhost:5000/app:v2", "localhost:5000/app:v2"),
    ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest", "127.0.0.1:5000/a/b:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
    ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
    ("Registry.Example.com/x", "Registry.Example.com/x:latest", "Registry.Example.com/x:latest"),
    ("a.b_c__d-e---f:T_a.g-1", "docker.io/library/a.b_c__d-e---f:T_a.g-1", "a.b_c__d-e---f:T_a.g-1"),
    (f"busybox@{H}", f"docker.io/library/busybox@{H}", f"busybox@{H}"),
    (f"localhost:5000/app:v1@{H}", f"localhost:5000/app:v1@{H}", f"localhost:5000/app:v1@{H}"),
])
def test_normalisation(text: str, full: str, familiar: str) -> None:
    r = parse_normalized(text)
    assert str(r) == full
    assert r.familiar == familiar
    assert str(parse_normalized(str(r))) == full  # idempotent


@pytest.mark.parametrize("bad", [
    "", "upper/Case", "quay.io/Foo", "a" * 64, "busybox:", "busybox@sha256:abc", ":tag", "-lead/x", "x/-lead",
    "a//b", "a/b/", "busybox:" + "t" * 129, "x..y", "x__-y/", "foo@md5:" + "a" * 32, "host:port/x",
    "a" * 256, "busybox:tag:tag",
])
def test_rejected(bad: str) -> None:
    with pytest.raises(Invalid):
        parse(bad)


def test_parts() -> None:
    r = parse("localhost:5000/team/app:v1")
    assert (r.domain, r.path, r.tag, r.digest) == ("localhost:5000", "team/app", "v1", "")
    assert r.api_host == "localhost:5000"
    assert r.object == "v1"
    hub = parse("busybox")
    assert hub.api_host == "registry-1.docker.io"
    assert hub.tag == "" and hub.with_default_tag().tag == "latest"
    pinned = parse(f"busybox:1@{H}")
    assert pinned.object == H  # the digest wins over the tag
    assert parse("localhost/x").familiar_name == "localhost/x"
