"""save/load: skiff with itself, with podman and with skopeo, and against hostile archives."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from typing import Any

import pytest

from skiff.errors import Invalid
from skiff.images.service import ImageService
from tests.imagekit import Podman
from tests.images.unpack.tarmaker import E, make_tar


@pytest.fixture
def two_layer(svc: ImageService, busybox_image: Any) -> Any:
    layer = svc.add_layer(busybox_image, io.BytesIO(make_tar([E("hello.txt", data=b"hi from layer two\n")])))
    return svc.create_image_from(busybox_image, [layer], "localhost/two:1", changes=['CMD ["cat", "/hello.txt"]'])


def _members(path: str) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_docker_format_roundtrip(svc: ImageService, two_layer: Any, tmp_path: Any) -> None:
    out = str(tmp_path / "two.tar")
    svc.save(["localhost/two:1"], out)
    names = _members(out)
    for required in ("manifest.json", "repositories", "index.json", "oci-layout"):
        assert required in names
    with tarfile.open(out) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["localhost/two:1"]
    assert manifest[0]["Config"] == f"blobs/sha256/{two_layer.id[7:]}"
    # layers are stored uncompressed, named by their diff IDs
    for path, diff_id in zip(manifest[0]["Layers"], two_layer.diff_ids, strict=True):
        assert path == f"blobs/sha256/{diff_id[7:]}" and path in names

    other = ImageService(str(tmp_path / "other"))
    try:
        [rec] = other.load(out)
        assert rec.id == two_layer.id and rec.repo_tags == ("localhost/two:1",)
        assert other.snapshots.exists(rec.top_layer)
    finally:
        other.close()


def test_oci_formats_keep_manifest_digests(svc: ImageService, two_layer: Any, tmp_path: Any) -> None:
    svc.save(["localhost/two:1"], str(tmp_path / "oci.tar"), format="oci")
    svc.save(["localhost/two:1"], str(tmp_path / "ocidir"), format="oci-dir")
    for src in (str(tmp_path / "oci.tar"), str(tmp_path / "ocidir")):
        other = ImageService(str(tmp_path / ("o-" + os.path.basename(src))))
        try:
            [rec] = other.load(src)
            assert rec.target.digest == two_layer.target.digest and rec.repo_tags == ("localhost/two:1",)
        finally:
            other.close()


def test_streams_and_gzip(svc: ImageService, two_layer: Any, tmp_path: Any) -> None:
    class Pipe(io.RawIOBase):  # a non-seekable output, like stdout to a pipe
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.buf += b
            return len(b)

    pipe = Pipe()
    svc.save(["localhost/two:1", "localhost/busybox"], pipe)  # type: ignore[arg-type]
    other = ImageService(str(tmp_path / "s"))
    try:
        recs = other.load(io.BytesIO(gzip.compress(bytes(pipe.buf), 1)))
        assert {r.repo_tags for r in recs} == {("localhost/two:1",), ("localhost/busybox:latest",)}
    finally:
        other.close()


def test_a_streamed_save_decompresses_each_layer_once(svc: ImageService, two_layer: Any, tmp_path: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Layers record their uncompressed size when committed, so a non-seekable save can write each
    tar header up front instead of decompressing the layer once more just to count it."""
    from skiff.images.archive import tarwriter
    from skiff.images.labels import SIZE_LABEL

    for chain, diff_id in zip(two_layer.chain_ids, two_layer.diff_ids, strict=True):
        size = int(svc.snapshots.stat(chain).labels[SIZE_LABEL])
        with svc.content.open(dict(zip(two_layer.diff_ids, [d.digest for d in two_layer.layers],
                                       strict=True))[diff_id]) as f:
            assert size == len(gzip.decompress(f.read()))

    def no_counting(path: str) -> int:
        raise AssertionError("a layer was decompressed only to count its bytes")
    monkeypatch.setattr(tarwriter, "_count", no_counting)
    out = io.BytesIO()
    pipe = io.BufferedWriter(_Unseekable(out))
    svc.save(["localhost/two:1"], pipe)  # type: ignore[arg-type]
    pipe.flush()
    file_out = str(tmp_path / "two.tar")
    svc.save(["localhost/two:1"], file_out)
    with open(file_out, "rb") as f:
        assert f.read() == out.getvalue()


class _Unseekable(io.RawIOBase):
    def __init__(self, sink: io.BytesIO) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return self.sink.write(b)


def test_hostile_archives(svc: ImageService, tmp_path: Any) -> None:
    def tar(files: dict[str, bytes]) -> io.BytesIO:
        return io.BytesIO(make_tar([E(n, data=d) for n, d in files.items()]))

    liar = "sha256:" + "a" * 64
    with pytest.raises(Invalid, match="digest"):
        svc.load(tar({"oci-layout": b"{}", "index.json": b"{}", f"blobs/sha256/{liar[7:]}": b"not it"}))
    with pytest.raises(Invalid):
        svc.load(tar({"../../escape": b"x", "manifest.json": b"[{\"Config\": \"../../escape\", \"Layers\": []}]"}))
    assert not os.path.exists(tmp_path / "escape")
    with pytest.raises(Invalid, match="neither"):
        svc.load(tar({"hello": b"world"}))
    assert svc.list() == []


@pytest.mark.root
def test_podman_loads_skiff_archives(svc: ImageService, two_layer: Any, podman: Podman, tmp_path: Any) -> None:
    for fmt in ("docker", "oci"):
        out = str(tmp_path / f"{fmt}.tar")
        svc.save(["localhost/two:1"], out, format=fmt)
        podman("load", "-i", out)
        r = podman("run", "--rm", "--network=none", "localhost/two:1")
        assert r.stdout == "hi from layer two\n"
        ids = podman("images", "--format", "{{.ID}}", "--no-trunc").stdout.split()
        assert two_layer.id in ids
        podman("rmi", "-f", "localhost/two:1")


@pytest.mark.root
def test_skiff_loads_podman_and_skopeo_archives(svc: ImageService, busybox_image: Any, podman: Podman,
                                                 tmp_path: Any, run_image: Any) -> None:
    base = str(tmp_path / "base.tar")
    svc.save(["localhost/busybox"], base)
    podman("load", "-i", base)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:latest\n"
                                    "RUN echo built by podman > /built && rm /etc/group && rm -rf /usr\n"
                                    'CMD ["cat", "/built"]\n')
    podman("build", "-q", "-t", "localhost/pb:1", str(ctx))
    docker_tar, oci_tar, oci_dir = (str(tmp_path / n) for n in ("p-docker.tar", "p-oci.tar", "sk-oci"))
    podman("save", "--format", "docker-archive", "-o", docker_tar, "localhost/pb:1")
    podman("save", "--format", "oci-archive", "-o", oci_tar, "localhost/pb:1")
    podman.skopeo("copy", "--quiet", f"docker-archive:{docker_tar}", f"oci:{oci_dir}:localhost/pb:1")
    pid = podman("images", "--format", "{{.ID}}", "--no-trunc", "localhost/pb:1").stdout.strip()
    for src in (docker_tar, oci_tar, oci_dir):
        other = ImageService(str(tmp_path / ("root-" + os.path.basename(src))))
        try:
            [rec] = other.load(src)
            assert rec.id == pid.removeprefix("sha256:") or rec.id == pid
            assert rec.repo_tags == ("localhost/pb:1",)
            r = run_image(other, "localhost/pb:1", ["sh", "-c", "cat /built; ls /etc/group /usr 2>&1 | wc -l"])
            assert r.code == 0 and r.out.splitlines() == ["built by podman", "2"]
        finally:
            other.close()
