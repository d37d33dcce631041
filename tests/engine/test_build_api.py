"""``POST /build`` through the real docker CLI (legacy builder fallback) and docker-py,
on a skiffd whose image backend is skiff's real image store (``EngineImages``, an ``ImageService``)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skiff.build.imagestore import ImageServiceStore
from skiff.engine.imagestore import EngineImages
from tests.engine.conftest import DOCKER, RunningDaemon, _cleanup_cgroups

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM busybox
ARG X=1
ENV FOO=bar
COPY hello.txt /hello.txt
RUN echo built-$X > /built.txt && echo to-stderr >&2
EXPOSE 80
CMD ["cat", "/hello.txt", "/built.txt"]
"""


@pytest.fixture(scope="module")
def builder_daemon(busybox_rootfs: str) -> Iterator[RunningDaemon]:
    if os.geteuid() != 0:
        pytest.skip("skiffd needs root")
    base = tempfile.mkdtemp(prefix="skiff-test-buildapi-")
    os.chmod(base, 0o755)
    images = EngineImages(os.path.join(base, "store"))
    ImageServiceStore(images).import_rootfs("busybox", busybox_rootfs)
    d = RunningDaemon(base, busybox_rootfs, images=images)
    d.start()
    yield d
    try:
        import asyncio

        for rec in list(d.daemon.engine.store.all()):
            asyncio.run_coroutine_threadsafe(d.daemon.engine.remove(rec["Id"], force=True), d.loop).result(30)
    finally:
        d.stop()
        images.close()
        _cleanup_cgroups(d.cgroup_parent + "/build")
        _cleanup_cgroups(d.cgroup_parent)
        _umount_netns(base)
        shutil.rmtree(base, ignore_errors=True)


def _umount_netns(base: str) -> None:
    """The network manager's netns directory is a mount: rmtree cannot remove it. (Not the bridges:
    the session's skiffd shares their names and may still run.)"""
    netns = os.path.join(base, "run", "netns")
    if os.path.isdir(netns):
        for f in os.listdir(netns):
            subprocess.run(["umount", os.path.join(netns, f)], capture_output=True)
        subprocess.run(["umount", netns], capture_output=True)


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "hello.txt").write_text("hello\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    (tmp_path / ".dockerignore").write_text("secret.txt\n")
    return tmp_path


@pytest.fixture
def cli(builder_daemon: RunningDaemon) -> RunningDaemon:
    if DOCKER is None:
        pytest.skip("the docker CLI is not installed")
    return builder_daemon


def _env_without_buildkit() -> None:
    os.environ.pop("DOCKER_BUILDKIT", None)


def test_docker_build_without_flags(cli: RunningDaemon, context: Path) -> None:
    _env_without_buildkit()
    out = cli.docker("build", "-t", "built:1", "--build-arg", "X=2", str(context))
    assert "Step 1/7 : FROM busybox" in out.stdout
    assert "to-stderr" in out.stdout + out.stderr
    assert "Successfully built" in out.stdout and "Successfully tagged built:1" in out.stdout
    run = cli.docker("run", "--rm", "built:1")
    assert run.stdout == "hello\nbuilt-2\n"
    inspect = json.loads(cli.docker("inspect", "built:1").stdout)[0]
    assert inspect["Config"]["Env"][-1] == "FOO=bar" and inspect["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert inspect["Config"]["Cmd"] == ["cat", "/hello.txt", "/built.txt"]
    assert len(inspect["RootFS"]["Layers"]) == 3
    again = cli.docker("build", "-t", "built:2", "--build-arg", "X=2", str(context))
    assert again.stdout.count("Using cache") == 2
    assert again.stdout.split("Successfully built ")[1][:12] == out.stdout.split("Successfully built ")[1][:12]
    quiet = cli.docker("build", "-q", "--build-arg", "X=2", str(context))
    assert quiet.stdout.strip() == inspect["Id"]


def test_docker_build_failure_exit_code(cli: RunningDaemon, context: Path) -> None:
    (context / "Dockerfile.fail").write_text("FROM busybox\nRUN fail now\n")
    out = cli.docker("build", "-f", str(context / "Dockerfile.fail"), str(context), check=False)
    assert out.returncode == 127
    assert "The command '/bin/sh -c fail now' returned a non-zero code: 127" in out.stderr + out.stdout
    (context / "Dockerfile.bad").write_text("FROM busybox\nRUNN x\n")
    out = cli.docker("build", "-f", str(context / "Dockerfile.bad"), str(context), check=False)
    assert out.returncode != 0 and "Dockerfile.bad:2: unknown instruction: RUNN" in out.stderr


def _raw_build(daemon: RunningDaemon, query: str, files: dict[str, bytes]) -> tuple[int, bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    body = buf.getvalue()
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    s.sendall(f"POST /v1.50/build?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n"
              f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_missing_dockerfile_is_a_plain_500(builder_daemon: RunningDaemon) -> None:
    status, body = _raw_build(builder_daemon, "dockerfile=Nope", {"x": b"1"})
    assert status == 500 and json.loads(body)["message"] == "Cannot locate specified Dockerfile: Nope"


def test_failure_in_stream_after_output(builder_daemon: RunningDaemon) -> None:
    status, body = _raw_build(builder_daemon, "q=1", {"Dockerfile": b"FROM busybox\nRUN echo out; exit 3\n"})
    assert status == 200
    assert b'"errorDetail":{"code":3,' in body and b"out\\n" in body


def test_docker_py_build(builder_daemon: RunningDaemon, context: Path) -> None:
    docker = pytest.importorskip("docker")
    client: Any = builder_daemon.client()
    try:
        image, logs = client.images.build(path=str(context), tag="pybuilt:1", buildargs={"X": "3"})
        assert "pybuilt:1" in image.tags
        assert image.attrs["Config"]["Cmd"] == ["cat", "/hello.txt", "/built.txt"]
        assert any("Successfully built" in entry.get("stream", "") for entry in logs)
        out = client.containers.run("pybuilt:1", remove=True)
        assert out == b"hello\nbuilt-3\n"
        with pytest.raises(docker.errors.BuildError) as e:
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 5\n"))
        assert "returned a non-zero code: 5" in str(e.value)
        nodf = tempfile.mkdtemp()
        Path(nodf, "Dockerfile").write_text("FROM busybox\nCOPY secret.txt /\n")
        with pytest.raises(docker.errors.BuildError, match="secret.txt"):
            client.images.build(path=str(context), dockerfile=os.path.join(nodf, "Dockerfile"))
        shutil.rmtree(nodf)
    finally:
        client.close()


def test_docker_build_network_none_and_unsupported_params(cli: RunningDaemon, context: Path) -> None:
    (context / "Dockerfile.net").write_text("FROM busybox\nRUN ip -o link | wc -l\n")
    out = cli.docker("build", "--no-cache", "--network", "none", "-f", str(context / "Dockerfile.net"), str(context))
    assert "\n1\n" in out.stdout
    status, body = _raw_build(cli, "remote=https://example.com/x.git", {})
    assert status == 400 and b"remote build contexts" in body
