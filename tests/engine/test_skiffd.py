"""The real ``skiffd`` process with the real image store, driven by the docker CLI.

Covers what needs both: docker import/load/save/tag/rmi/commit/history, cp
into a container, push to and pull from a local distribution registry, and
the daemon's own start-up and shutdown (which must leave no rules behind).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine.conftest import TAG, _cleanup_cgroups
from tests.imagekit import busybox_tar, registry  # noqa: F401 - fixtures

pytestmark = pytest.mark.root
DOCKER = shutil.which("docker")
CGROUP_PARENT = f"/skiff-test-skiffd-{os.getpid()}"
SKIFFD = os.path.join(os.path.dirname(os.sys.executable), "skiffd")  # type: ignore[attr-defined]


class Skiffd:
    def __init__(self, base: str) -> None:
        self.base = base
        self.socket = os.path.join(base, "docker.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(os.path.join(self.base, "skiffd.log"), "ab")  # noqa: SIM115 - kept for the daemon's life
        self.proc = subprocess.Popen([SKIFFD, "--root", os.path.join(self.base, "root"), "--run-root",
                                      os.path.join(self.base, "run"), "-H", f"unix://{self.socket}",
                                      "--bridge", f"skd{TAG}", "--bridge-subnet", "10.253.0.0/24",
                                      "--firewall-table", f"skiffd{TAG}", "--cgroup-parent", CGROUP_PARENT],
                                     stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            assert self.proc.poll() is None, self.log()
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)

    def log(self) -> str:
        with open(os.path.join(self.base, "skiffd.log"), errors="replace") as f:
            return f.read()

    def docker(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": os.path.join(self.base, "cfg")}
        p = subprocess.run([DOCKER or "docker", *args], input=input, capture_output=True, env=env, timeout=120)
        out = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(errors="replace"),
                                          p.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {out.stdout}{out.stderr}\n--- daemon log ---\n{self.log()}")
        return out


@pytest.fixture(scope="module")
def skiffd(busybox_tar: str) -> Iterator[Skiffd]:  # noqa: F811
    if DOCKER is None:
        pytest.skip("docker CLI missing")
    base = tempfile.mkdtemp(prefix="skiff-test-skiffd-")
    os.chmod(base, 0o755)
    d = Skiffd(base)
    d.start()
    try:
        with open(busybox_tar, "rb") as f:
            d.docker("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=f.read())
        yield d
    finally:
        try:
            for cid in d.docker("ps", "-aq", check=False).stdout.split():
                d.docker("rm", "-f", cid, check=False)
        finally:
            d.stop()
            _cleanup_cgroups(CGROUP_PARENT)
            subprocess.run(["ip", "link", "del", f"skd{TAG}"], capture_output=True)
            for sub in ("run/netns",):
                path = os.path.join(base, sub)
                if os.path.isdir(path):
                    for f in os.listdir(path):
                        subprocess.run(["umount", os.path.join(path, f)], capture_output=True)
                    subprocess.run(["umount", path], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
    assert f"skd{TAG}" not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"skiffd{TAG}" not in subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_images_list_inspect_history(skiffd: Skiffd) -> None:
    rows = skiffd.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    assert any(r.startswith("busybox:latest ") for r in rows)
    doc = json.loads(skiffd.docker("image", "inspect", "busybox").stdout)[0]
    assert doc["Config"]["Cmd"] == ["sh"] and doc["RootFS"]["Type"] == "layers" and doc["Id"].startswith("sha256:")
    assert "import" in skiffd.docker("history", "busybox").stdout.lower() or doc["Comment"] is not None


def test_run_commit_tag_rmi(skiffd: Skiffd) -> None:
    assert skiffd.docker("run", "--rm", "busybox", "echo", "hi").stdout == "hi\n"
    skiffd.docker("run", "--name", "c1", "busybox", "sh", "-c", "echo built > /built.txt")
    image_id = skiffd.docker("commit", "-c", "ENV COMMITTED=1", "c1", "mine:v1").stdout.strip()
    assert image_id.startswith("sha256:")
    out = skiffd.docker("run", "--rm", "mine:v1", "sh", "-c", "cat /built.txt; echo $COMMITTED").stdout
    assert out == "built\n1\n"
    skiffd.docker("tag", "mine:v1", "mine:v2")
    assert "mine" in skiffd.docker("images").stdout
    p = skiffd.docker("rmi", "busybox", check=False)
    assert p.returncode != 0 and "is using its referenced image" in p.stderr  # c1 still uses it
    skiffd.docker("rm", "c1")
    skiffd.docker("rmi", "mine:v2")
    skiffd.docker("run", "--rm", "mine:v1", "true")
    skiffd.docker("rmi", "mine:v1")  # right after `run --rm`: its container layer is already gone
    assert "mine" not in skiffd.docker("images").stdout


def test_save_load_roundtrip_keeps_the_id(skiffd: Skiffd, tmp_path: Any) -> None:
    image_id = json.loads(skiffd.docker("image", "inspect", "busybox").stdout)[0]["Id"]
    archive = tmp_path / "bb.tar"
    skiffd.docker("save", "-o", str(archive), "busybox")
    skiffd.docker("tag", "busybox", "keepme:1")
    skiffd.docker("rmi", "keepme:1")
    out = skiffd.docker("load", "-i", str(archive)).stdout
    assert "Loaded image: busybox:latest" in out
    assert json.loads(skiffd.docker("image", "inspect", "busybox").stdout)[0]["Id"] == image_id


def test_cp_into_a_container(skiffd: Skiffd, tmp_path: Any) -> None:
    (tmp_path / "up.txt").write_text("uploaded\n")
    skiffd.docker("run", "-d", "--name", "cpin", "busybox", "sleep", "60")
    try:
        skiffd.docker("cp", str(tmp_path / "up.txt"), "cpin:/tmp/")
        assert skiffd.docker("exec", "cpin", "cat", "/tmp/up.txt").stdout == "uploaded\n"
        p = skiffd.docker("cp", str(tmp_path / "up.txt"), "cpin:/no/such/dir/", check=False)
        assert p.returncode != 0
    finally:
        skiffd.docker("rm", "-f", "cpin")


def test_push_and_pull_through_a_registry(skiffd: Skiffd, registry: Any) -> None:  # noqa: F811
    ref = f"{registry.host}/skiff/bb:1"
    skiffd.docker("tag", "busybox", ref)
    out = skiffd.docker("push", ref).stdout
    assert "digest: sha256:" in out
    assert "skiff/bb" in registry.catalog()
    skiffd.docker("rmi", ref)
    out = skiffd.docker("pull", ref).stdout
    assert "Downloaded newer image" in out or "Image is up to date" in out
    assert skiffd.docker("run", "--rm", ref, "echo", "pulled").stdout == "pulled\n"
    skiffd.docker("rmi", ref)
    p = skiffd.docker("pull", f"{registry.host}/skiff/nothere:1", check=False)
    assert p.returncode != 0
