"""The registry client against a scripted server: bearer tokens, redirects, Range resume, schema 1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from skiff.errors import Invalid, Unavailable
from skiff.images.service import ImageService
from skiff.oci import mediatypes as mt
from skiff.oci.manifest import parse
from skiff.registry.client import Registry
from skiff.registry.http import HttpClient
from tests.registry.fakeregistry import FakeRegistry


@pytest.fixture
def fake(svc: ImageService, busybox_image: Any) -> Iterator[FakeRegistry]:
    reg = FakeRegistry()
    rec = busybox_image
    body = svc.content.read(rec.target.digest)
    reg.manifests["team/bb:v1"] = (body, rec.target.media_type)
    for d in (rec.manifest.config, *rec.layers):
        reg.blobs[d.digest] = svc.content.read(d.digest)
    reg.start()
    yield reg
    reg.stop()


@pytest.fixture
def other(tmp_path: Any) -> Iterator[ImageService]:
    s = ImageService(str(tmp_path / "other"))
    yield s
    s.close()


async def test_bearer_tokens_and_redirects(fake: FakeRegistry, other: ImageService, busybox_image: Any) -> None:
    rec = await other.pull(f"{fake.host}/team/bb:v1", creds=("user", "pass"))
    assert rec.id == busybox_image.id and rec.target.digest == busybox_image.target.digest
    assert "repository:team/bb:pull" in fake.scopes
    manifest_gets = [r for r in fake.requests if "/manifests/" in r.path and r.method == "GET"]
    accept = manifest_gets[0].headers["accept"]
    for t in (mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST):
        assert t in accept
    storage = [r for r in fake.requests if r.path.startswith("/storage/")]
    assert storage and all("authorization" not in r.headers for r in storage)


async def test_bad_credentials(fake: FakeRegistry, other: ImageService) -> None:
    with pytest.raises(Unavailable, match="token"):
        await other.pull(f"{fake.host}/team/bb:v1", creds=("user", "wrong"))


async def test_interrupted_download_resumes_with_range(fake: FakeRegistry, other: ImageService,
                                                      busybox_image: Any) -> None:
    layer = busybox_image.layers[0]
    data = fake.blobs[layer.digest]
    w = other.content.writer(f"{fake.host}/team/bb@{layer.digest}", expected=layer.digest, total=layer.size)
    w.write(data[:1000])
    w.close()
    await other.pull(f"{fake.host}/team/bb:v1", creds=("user", "pass"))
    ranged = [r for r in fake.requests if r.path == f"/storage/{layer.digest}"]
    assert ranged[-1].headers.get("range") == "bytes=1000-"
    assert other.content.read(layer.digest) == data


async def test_schema1_negotiation(fake: FakeRegistry) -> None:
    async with HttpClient() as http:
        reg = Registry(http, fake.host, creds=("user", "pass"))
        r = await reg.request("GET", "/v2/team/bb/manifests/v1", ["repository:team/bb:pull"],
                              {"Accept": mt.OCI_MANIFEST})  # what a careless client asks
        body = await r.read()
        with pytest.raises(Invalid, match="schema 1"):
            parse(body, r.headers.get("content-type"))
        good, ctype, _ = await reg.get_manifest("team/bb", "v1")  # skiff asks for all four types
        assert parse(good, ctype).media_type == mt.OCI_MANIFEST
