"""Pull and push against Debian's docker-registry (the reference distribution), and podman through it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from skiff.errors import NotFound, Unavailable
from skiff.images.service import ImageService
from skiff.oci import mediatypes as mt
from skiff.oci.descriptor import Descriptor
from skiff.oci.manifest import Index
from skiff.oci.platform import Platform
from skiff.registry.client import Registry
from skiff.registry.http import HttpClient
from skiff.registry.progress import Progress
from tests.imagekit import Podman, RegistryProc

pytestmark = pytest.mark.root


@pytest.fixture
def fresh(tmp_path: Any) -> Iterator[ImageService]:
    s = ImageService(str(tmp_path / "fresh"))
    yield s
    s.close()


def test_push_pull_and_run(svc: ImageService, busybox_image: Any, registry: RegistryProc,
                           fresh: ImageService, run_image: Any) -> None:
    name = f"{registry.host}/library/busybox:1"
    svc.tag("localhost/busybox", name)
    events: list[Progress] = []
    digest = asyncio.run(svc.push(name, progress=events.append))
    assert digest == busybox_image.target.digest
    assert {e.action for e in events} >= {"Uploading", "Pushed"}
    assert registry.catalog() == ["library/busybox"]

    events.clear()
    rec = asyncio.run(fresh.pull(name, progress=events.append))
    assert rec.id == busybox_image.id and rec.repo_tags == (name,)
    assert f"{registry.host}/library/busybox@{digest}" in rec.repo_digests
    assert [e.action for e in events if e.id == busybox_image.layers[0].digest[7:19]][-1] == "Pull complete"
    r = run_image(fresh, name, ["sh", "-c", "echo hello from $(cat /etc/hostname 2>/dev/null || echo x)"])
    assert r.code == 0 and r.out.startswith("hello from")

    # pulling again moves nothing; pulling by digest names the digest
    events.clear()
    asyncio.run(fresh.pull(f"{registry.host}/library/busybox@{digest}", progress=events.append))
    assert {e.action for e in events} <= {"Already exists", "Pull complete"}
    assert fresh.get(f"{registry.host}/library/busybox@{digest}").id == busybox_image.id
    with pytest.raises(NotFound):
        asyncio.run(fresh.pull(f"{registry.host}/library/busybox:nope"))


def test_mount_existing_and_chunked(svc: ImageService, busybox_image: Any, registry: RegistryProc,
                                    fresh: ImageService) -> None:
    events: list[Progress] = []
    asyncio.run(svc.push("localhost/busybox", f"{registry.host}/a/bb:1"))
    asyncio.run(svc.push("localhost/busybox", f"{registry.host}/b/bb:1", progress=events.append))
    assert {e.action for e in events} == {"Mounted from a/bb"}  # cross-repository mount, no upload
    events.clear()
    asyncio.run(svc.push("localhost/busybox", f"{registry.host}/b/bb:2", progress=events.append))
    assert {e.action for e in events} == {"Layer already exists"}
    import os

    os.unlink(os.path.join(svc.root, "registry", "locations.json"))  # forget a/ and b/: no mount this time
    asyncio.run(svc.push("localhost/busybox", f"{registry.host}/c/bb:1", chunk_size=64 * 1024))
    rec = asyncio.run(fresh.pull(f"{registry.host}/c/bb:1"))
    assert rec.id == busybox_image.id
    assert "PATCH /v2/c/bb/blobs/uploads/" in registry.log()


def test_htpasswd_auth(svc: ImageService, busybox_image: Any, auth_registry: RegistryProc, fresh: ImageService,
                       tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"{auth_registry.host}/secure/bb:1"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    with pytest.raises(Unavailable, match="credentials"):
        asyncio.run(svc.push("localhost/busybox", name))
    asyncio.run(svc.push("localhost/busybox", name, creds=("skiff", "s3cret")))
    from skiff.registry.auth import store_credentials

    store_credentials(str(tmp_path / ".docker" / "config.json"), auth_registry.host, "skiff", "s3cret")
    rec = asyncio.run(fresh.pull(name))  # credentials from ~/.docker/config.json
    assert rec.id == busybox_image.id
    with pytest.raises(Unavailable):
        asyncio.run(ImageService(str(tmp_path / "x")).pull(name, creds=("skiff", "wrong")))


def test_index_picks_this_platform(svc: ImageService, busybox_image: Any, registry: RegistryProc,
                                   fresh: ImageService) -> None:
    repo = "multi/bb"
    asyncio.run(svc.push("localhost/busybox", f"{registry.host}/{repo}:amd"))
    other_cfg = dict(busybox_image.config, architecture="s390x")
    other = svc.create_image(other_cfg, list(busybox_image.layers), "localhost/other-arch")
    asyncio.run(svc.push("localhost/other-arch", f"{registry.host}/{repo}:s390x"))
    here = Platform("linux", busybox_image.config["architecture"])
    index = Index(mt.OCI_INDEX, (
        Descriptor(other.target.media_type, other.target.digest, other.target.size,
                   platform=Platform("linux", "s390x")),
        Descriptor(busybox_image.target.media_type, busybox_image.target.digest, busybox_image.target.size,
                   platform=here),
    ))

    async def put() -> None:
        async with HttpClient() as http:
            await Registry(http, registry.host).put_manifest(repo, "multi", index.to_bytes(), mt.OCI_INDEX)

    asyncio.run(put())
    rec = asyncio.run(fresh.pull(f"{registry.host}/{repo}:multi", platform=here))
    assert rec.id == busybox_image.id
    from skiff.oci.digest import sha256_of

    assert f"{registry.host}/{repo}@{sha256_of(index.to_bytes())}" in rec.repo_digests
    with pytest.raises(NotFound, match="platform"):
        asyncio.run(fresh.pull(f"{registry.host}/{repo}:multi", platform=Platform("linux", "riscv64")))


def test_podman_through_the_registry(svc: ImageService, busybox_image: Any, registry: RegistryProc,
                                     podman: Podman, fresh: ImageService, run_image: Any, tmp_path: Any) -> None:
    name = f"{registry.host}/skiffed/bb:1"
    asyncio.run(svc.push("localhost/busybox", name))
    podman("pull", "--tls-verify=false", name)
    assert podman("run", "--rm", "--network=none", name, "echo", "podman runs skiff's push").stdout == \
        "podman runs skiff's push\n"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {name}\nRUN echo from podman > /msg\n")
    podman("build", "-q", "-t", f"{registry.host}/podmaned/app:1", str(ctx))
    podman("push", "--tls-verify=false", f"{registry.host}/podmaned/app:1")
    rec = asyncio.run(fresh.pull(f"{registry.host}/podmaned/app:1"))
    assert len(rec.layers) == 2
    r = run_image(fresh, f"{registry.host}/podmaned/app:1", ["cat", "/msg"])
    assert r.code == 0 and r.out == "from podman\n"
    inspect = json.loads(podman.skopeo("inspect", "--tls-verify=false", f"docker://{name}").stdout)
    assert inspect["Digest"] == busybox_image.target.digest
