"""A private skiffd for a benchmark: its own state, socket, bridge, firewall table and
cgroup parent, started as a process and removed without a trace afterwards.

    d = SkiffDaemon(work, "bench")
    d.start()
    subprocess.run(["docker", "ps"], env=d.docker_env)
    d.stop()
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

BIN = os.path.dirname(sys.executable)


def remove_cgroup_parent(parent: str) -> None:
    from skiff.runtime.cgroups import detect

    layout = detect()
    for root in [h.mountpoint for h in layout.hierarchies] + [layout.unified or ""]:
        d = os.path.join(root, parent.lstrip("/"))
        if os.path.isdir(d):
            subprocess.run(["find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"], capture_output=True)


class SkiffDaemon:
    def __init__(self, work: str, name: str) -> None:
        tag = str(os.getpid() % 100000)
        self.work = work
        self.socket = os.path.join(work, "docker.sock")
        self.root = os.path.join(work, "skiff")
        self.run_root = os.path.join(work, "skiff-run")
        self.bridge = f"sk{name[:3]}{tag}"
        self.table = f"skiff{name}{tag}"
        self.cgroup_parent = f"/skiff-{name}-{tag}"
        self.docker_env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}",
                           "DOCKER_CONFIG": os.path.join(work, "docker-cfg")}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        log = open(os.path.join(self.work, "skiffd.log"), "ab")  # noqa: SIM115 - for the daemon's life
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "skiffd"), "--root", self.root, "--run-root", self.run_root,
             "-H", f"unix://{self.socket}", "--bridge", self.bridge, "--firewall-table", self.table,
             "--cgroup-parent", self.cgroup_parent],
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("skiffd did not start; see " + os.path.join(self.work, "skiffd.log"))
            time.sleep(0.05)

    def _answers(self) -> bool:
        """The socket accepts connections (a stale socket file from an earlier run does not)."""
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(self.socket)
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", self.table], capture_output=True)  # if the daemon could not
        netns = os.path.join(self.run_root, "netns")
        if os.path.isdir(netns):
            for f in os.listdir(netns):
                subprocess.run(["umount", os.path.join(netns, f)], capture_output=True)
            subprocess.run(["umount", netns], capture_output=True)
        remove_cgroup_parent(self.cgroup_parent)
