"""skiffd killed with SIGKILL and restarted: state intact, running containers re-adopted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

from tests.engine.conftest import _cleanup_cgroups

pytestmark = pytest.mark.root
DOCKER = shutil.which("docker")


class Proc:
    def __init__(self, base: str, rootfs: str, cgroup_parent: str) -> None:
        self.base, self.rootfs, self.cgroup_parent = base, rootfs, cgroup_parent
        self.p: subprocess.Popen[str] | None = None

    def start(self) -> None:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        log = os.path.join(self.base, "daemon.log")
        with open(log, "a") as err:
            self.p = subprocess.Popen([sys.executable, "-m", "tests.engine.daemon_proc", self.base, self.rootfs,
                                       self.cgroup_parent], cwd=os.path.dirname(root), stdout=subprocess.PIPE,
                                      stderr=err, text=True)
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            with open(log) as f:
                raise AssertionError(f"skiffd did not start:\n{f.read()}")

    def kill9(self) -> None:
        assert self.p is not None
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> None:
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(30)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": f"unix://{self.base}/docker.sock",
               "DOCKER_CONFIG": os.path.join(self.base, "cfg")}
        p = subprocess.run([DOCKER or "docker", *args], capture_output=True, text=True, env=env, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {args}: {p.stdout}{p.stderr}")
        return p


@pytest.fixture
def proc(busybox_rootfs: str) -> Any:
    if DOCKER is None:
        pytest.skip("docker CLI missing")
    base = tempfile.mkdtemp(prefix="skiff-test-restart-")
    os.chmod(base, 0o755)
    p = Proc(base, busybox_rootfs, f"/skiff-test-restart-{os.getpid()}")
    p.start()
    yield p
    try:
        for cid in p.docker("ps", "-aq").stdout.split():
            p.docker("rm", "-f", cid, check=False)
    finally:
        p.stop()
        _cleanup_cgroups(p.cgroup_parent)
        shutil.rmtree(base, ignore_errors=True)


def test_kill9_and_restart_keeps_state(proc: Any) -> None:
    proc.docker("run", "-d", "--name", "survivor", "busybox", "sh", "-c",
                "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
    proc.docker("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7")
    proc.docker("create", "--name", "waiting", "busybox", "echo", "later")
    proc.docker("run", "--name", "done", "busybox", "sh", "-c", "exit 3", check=False)
    before = {c["Names"]: c["State"] for c in map(json.loads, proc.docker(
        "ps", "-a", "--format", "{{json .}}").stdout.splitlines())}
    pid = json.loads(proc.docker("inspect", "survivor").stdout)[0]["State"]["Pid"]
    proc.kill9()
    time.sleep(1.5)  # "short" exits while nobody watches; "survivor" keeps writing into its FIFO
    assert os.path.exists(f"/proc/{pid}")
    proc.start()
    after = {c["Names"]: c["State"] for c in map(json.loads, proc.docker(
        "ps", "-a", "--format", "{{json .}}").stdout.splitlines())}
    assert set(after) == set(before)
    assert after["survivor"] == "running" and after["waiting"] == "created" and after["done"] == "exited"
    short = json.loads(proc.docker("inspect", "short").stdout)[0]["State"]
    assert short["Status"] == "exited" and short["ExitCode"] in (7, 255)
    surv = json.loads(proc.docker("inspect", "survivor").stdout)[0]["State"]
    assert surv["Pid"] == pid
    time.sleep(0.5)
    logs = proc.docker("logs", "survivor").stdout.split("\n")
    numbers = [int(line.split()[1]) for line in logs if line.startswith("tick")]
    assert numbers == list(range(len(numbers))) and len(numbers) > 15  # nothing lost while the daemon was dead
    assert proc.docker("start", "-a", "waiting").stdout == "later\n"
    proc.docker("kill", "survivor")
    assert proc.docker("wait", "survivor").stdout.strip() == "137"


def test_a_removal_cut_short_by_a_crash_is_finished_on_restart(proc: Any) -> None:
    """``rm`` forgets the record first (an atomic rename) and deletes files after answering;
    a daemon killed in between leaves a ``.gone-`` record and a writable layer that the
    next start deletes."""
    cid = proc.docker("create", "--name", "half", "busybox", "true").stdout.strip()
    keep = proc.docker("create", "--name", "kept", "busybox", "true").stdout.strip()
    containers = os.path.join(proc.base, "root", "containers")
    snapshots = os.path.join(proc.base, "images", "snapshots")
    assert os.path.isdir(os.path.join(snapshots, cid))
    proc.kill9()
    os.rename(os.path.join(containers, cid), os.path.join(containers, ".gone-" + cid))
    proc.start()
    assert proc.docker("ps", "-aq", "--no-trunc").stdout.split() == [keep]
    assert sorted(os.listdir(containers)) == [keep]
    assert sorted(os.listdir(snapshots)) == [keep]
    assert proc.docker("start", "-a", "kept").returncode == 0


def test_rm_containers_that_exit_while_the_daemon_is_dead_are_removed_on_restart(proc: Any) -> None:
    proc.docker("run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "1")
    proc.docker("run", "-d", "--rm", "--name", "lasting", "busybox", "sleep", "60")
    proc.kill9()
    time.sleep(1.5)
    proc.start()
    deadline = time.monotonic() + 10
    names: list[str] = []
    while time.monotonic() < deadline:
        names = proc.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
        if names == ["lasting"]:
            break
        time.sleep(0.1)
    assert names == ["lasting"]
    proc.docker("kill", "lasting")
    while time.monotonic() < deadline + 10 and proc.docker("ps", "-aq").stdout.strip():
        time.sleep(0.1)
    assert proc.docker("ps", "-aq").stdout.strip() == ""


def test_a_root_left_mounted_by_a_crash_is_unmounted_on_restart(proc: Any) -> None:
    cid = proc.docker("create", "--name", "mounted", "busybox", "true").stdout.strip()
    rootfs = os.path.join(proc.base, "root", "containers", cid, "rootfs")
    proc.kill9()
    subprocess.run(["mount", "-t", "tmpfs", "leftover", rootfs], check=True)  # as if cp/copy-up was cut off
    try:
        proc.start()
        with open("/proc/self/mountinfo") as f:
            assert rootfs not in [line.split()[4] for line in f]
        assert proc.docker("start", "-a", "mounted").returncode == 0
    finally:
        subprocess.run(["umount", rootfs], capture_output=True)
