"""Engine fixtures: a real skiffd on a private socket and state, driven by the
real docker CLI and docker-py.

The daemon runs in a thread with its own event loop (the tests themselves
are blocking clients). Each session gets its own root, run root, socket and
cgroup parent; teardown removes every container and checks nothing is left.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from skiff.engine.daemon import Daemon
from skiff.engine.network.manager import NetworkManager
from tests.engine.dir_images import DirImages

DOCKER = shutil.which("docker")
TAG = str(os.getpid() % 100000)


def test_network_manager(base: str) -> NetworkManager:
    """Private names, so engine tests run beside a real daemon and the network tests:
    bridge ``ske<pid>``, user bridges ``be-<id>``, table ``skiffeng<pid>``, 10.252.0.0/16."""
    _remove_stale_test_bridges()
    return NetworkManager(os.path.join(base, "net-state"), os.path.join(base, "run"), default_bridge=f"ske{TAG}",
                          default_pool=tuple(f"10.252.{i}.0/24" for i in range(0, 64)),
                          firewall_table=f"skiffeng{TAG}", bridge_prefix="be-",
                          user_pool=tuple(f"10.252.{i}.0/24" for i in range(64, 128)))


def _remove_stale_test_bridges() -> None:
    """Bridges a killed earlier test session left behind (``ske<pid>`` of a dead pid):
    their routes would shadow ours."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split(": ")[1].split("@")[0]
        if not (name.startswith("ske") and name[3:].isdigit()) or name == f"ske{TAG}":
            continue
        if not any(os.path.exists(f"/proc/{pid}") for pid in range(int(name[3:]), 4 * 10**6, 100000)):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


class RunningDaemon:
    def __init__(self, base: str, busybox: str, images: Any = None) -> None:
        self.base = base
        self.socket = os.path.join(base, "docker.sock")
        if images is None:
            images = DirImages(os.path.join(base, "images"))
            images.add("busybox", busybox)
        self.images = images
        self.cgroup_parent = f"/skiff-test-engine-{os.getpid()}"
        self.network = test_network_manager(base)
        self.daemon = Daemon(os.path.join(base, "root"), os.path.join(base, "run"), self.images, self.network,
                             cgroup_parent=self.cgroup_parent)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._task: asyncio.Task[None] | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        ready = asyncio.Event()

        async def main() -> None:
            self._task = asyncio.current_task()
            serve = asyncio.create_task(self.daemon.serve(self.socket, ready=ready))
            await ready.wait()
            self.ready.set()
            await serve

        try:
            self.loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("skiffd did not start")

    def stop(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(30)

    def docker(self, *args: str, input: bytes | None = None, check: bool = True,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_CONFIG": os.path.join(self.base, "cfg")}
        p = subprocess.run([DOCKER or "docker", *args], input=input, capture_output=True, env=env, timeout=timeout)
        out = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(errors="replace"),
                                          p.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=f"unix://{self.socket}", version="auto", timeout=60)


@pytest.fixture(scope="session")
def skiffd(busybox_rootfs: str) -> Iterator[RunningDaemon]:
    if os.geteuid() != 0:
        pytest.skip("skiffd needs root")
    base = tempfile.mkdtemp(prefix="skiff-test-engine-")
    os.chmod(base, 0o755)
    d = RunningDaemon(base, busybox_rootfs)
    d.start()
    yield d
    try:
        for rec in list(d.daemon.engine.store.all()):
            fut = asyncio.run_coroutine_threadsafe(d.daemon.engine.remove(rec["Id"], force=True, volumes=True),
                                                   d.loop)
            fut.result(30)
    finally:
        d.stop()
        _cleanup_cgroups(d.cgroup_parent)
        _cleanup_network(d)
        shutil.rmtree(base, ignore_errors=True)


def _cleanup_network(d: RunningDaemon) -> None:
    """The daemon stop removed the table; remove the bridges too and any leftover netns mounts."""
    subprocess.run(["ip", "link", "del", f"ske{TAG}"], capture_output=True)
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split(": ")[1].split("@")[0]
        if name.startswith("be-"):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    netns_dir = os.path.join(d.base, "run", "netns")
    if os.path.isdir(netns_dir):
        for f in os.listdir(netns_dir):
            subprocess.run(["umount", os.path.join(netns_dir, f)], capture_output=True)
        subprocess.run(["umount", netns_dir], capture_output=True)


def _cleanup_cgroups(parent: str) -> None:
    from skiff.runtime.cgroups import detect

    layout = detect()
    for root in [h.mountpoint for h in layout.hierarchies] + [layout.unified or ""]:
        path = os.path.join(root, parent.lstrip("/"))
        if os.path.isdir(path):
            for child in os.listdir(path):
                if os.path.isdir(os.path.join(path, child)):
                    os.rmdir(os.path.join(path, child))
            os.rmdir(path)


@pytest.fixture
def docker_cli(skiffd: RunningDaemon) -> RunningDaemon:
    if DOCKER is None:
        pytest.skip("the docker CLI is not installed")
    return skiffd
