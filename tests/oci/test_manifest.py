"""Manifests, indexes, platform selection, configs and chain IDs."""

from __future__ import annotations

import hashlib
import json

import pytest

from skiff.errors import Invalid, NotFound
from skiff.oci import mediatypes as mt
from skiff.oci.descriptor import Descriptor
from skiff.oci.digest import is_digest, sha256_of, validate
from skiff.oci.image_config import ImageConfig, chain_ids, new_config, parse_time, rfc3339
from skiff.oci.manifest import Index, Manifest, parse, select
from skiff.oci.platform import Platform, host

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def _m(media_type: str = mt.OCI_MANIFEST, **extra: object) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 10},
           "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D2, "size": 20}], **extra}
    return json.dumps(doc).encode()


def test_oci_and_docker_manifests() -> None:
    m = parse(_m())
    assert isinstance(m, Manifest) and m.config.digest == D1 and m.layers[0].size == 20
    d = parse(_m(mt.DOCKER_MANIFEST))
    assert isinstance(d, Manifest) and d.is_docker
    # the media type may be omitted (OCI) and come from Content-Type
    doc = json.loads(_m())
    del doc["mediaType"]
    assert isinstance(parse(json.dumps(doc).encode(), mt.OCI_MANIFEST), Manifest)
    assert isinstance(parse(json.dumps(doc).encode()), Manifest)


def test_roundtrip_bytes() -> None:
    m = Manifest(mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, D1, 1), (Descriptor(mt.OCI_LAYER, D2, 2),))
    again = parse(m.to_bytes())
    assert again == m
    assert m.to_bytes() == again.to_bytes()  # deterministic


def test_schema1_refused() -> None:
    with pytest.raises(Invalid, match="schema 1"):
        parse(json.dumps({"schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": []}).encode(),
              mt.DOCKER_SCHEMA1_SIGNED)


@pytest.mark.parametrize("bad", [b"not json", b"[]", b'{"schemaVersion": 3}',
                                 json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                                             "config": {"mediaType": "x", "digest": "nope", "size": 1},
                                             "layers": []}).encode(),
                                 json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}).encode()])
def test_invalid(bad: bytes) -> None:
    with pytest.raises(Invalid):
        parse(bad)


def _index(*platforms: dict[str, str] | None) -> Index:
    items = []
    for i, p in enumerate(platforms):
        d: dict[str, object] = {"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + str(i) * 64, "size": 1}
        if p is not None:
            d["platform"] = p
        items.append(d)
    doc = parse(json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": items}).encode())
    assert isinstance(doc, Index)
    return doc


def test_select_platform() -> None:
    idx = _index({"os": "unknown", "architecture": "unknown"}, {"os": "linux", "architecture": "arm64"},
                 {"os": "linux", "architecture": "amd64"}, {"os": "windows", "architecture": "amd64"})
    assert select(idx, Platform("linux", "amd64")).digest == "sha256:" + "2" * 64
    assert select(idx, Platform.parse("linux/arm64/v8")).digest == "sha256:" + "1" * 64
    with pytest.raises(NotFound):
        select(idx, Platform("linux", "s390x"))
    arm = _index({"os": "linux", "architecture": "arm", "variant": "v6"},
                 {"os": "linux", "architecture": "arm", "variant": "v7"})
    assert select(arm, Platform.parse("linux/arm/v7")).digest == "sha256:" + "1" * 64
    assert select(arm, Platform.parse("linux/arm/v6")).digest == "sha256:" + "0" * 64
    assert host().os == "linux"
    assert str(Platform.parse("x86_64")) == "linux/amd64"


def test_chain_ids_worked_example() -> None:
    a, b = D1, D2
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, ab]
    assert chain_ids([]) == []


def test_config_view() -> None:
    doc = new_config([D1, D2], run={"Env": ["A=1"], "Cmd": ["sh"], "WorkingDir": "/w", "User": "1:2",
                                    "ExposedPorts": {"80/tcp": {}}, "Labels": {"k": "v"}, "Entrypoint": ["/e"]})
    cfg = ImageConfig.parse(json.dumps(doc).encode())
    assert cfg.diff_ids == [D1, D2] and cfg.chain_ids[0] == D1
    assert (cfg.env, cfg.cmd, cfg.entrypoint, cfg.working_dir, cfg.user) == (["A=1"], ["sh"], ["/e"], "/w", "1:2")
    assert cfg.exposed_ports == ["80/tcp"] and cfg.labels == {"k": "v"} and cfg.os == "linux"
    with pytest.raises(Invalid):
        ImageConfig.parse(b'{"rootfs": {"diff_ids": ["nope"]}}')


def test_times_and_digests() -> None:
    assert abs(parse_time(rfc3339(1700000000.5)) - 1700000000.5) < 1e-3
    assert parse_time("2024-01-02T03:04:05.123456789Z") == pytest.approx(1704164645.123456)
    assert parse_time("garbage") == 0.0
    assert is_digest(sha256_of(b"x")) and not is_digest("sha256:XYZ")
    with pytest.raises(Invalid):
        validate("sha256:" + "A" * 64)
    with pytest.raises(Invalid):
        validate("md5:" + "a" * 32)
