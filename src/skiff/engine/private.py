"""A private ``skiffd`` process: its own state root, socket, bridge, firewall table and
cgroup parent, started as a process and removed without a trace afterwards.

``skiff demo`` and the benchmarks use it to run the engine beside anything else on
the machine (a user's own skiffd included)::

    d = PrivateDaemon(work, "demo")
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


class PrivateDaemon:
    def __init__(self, work: str, name: str, extra_args: tuple[str, ...] = ()) -> None:
        tag = os.getpid() % 100000
        self.work = work
        self.socket = os.path.join(work, "docker.sock")
        self.root = os.path.join(work, "root")
        self.run_root = os.path.join(work, "run")
        self.bridge = f"sk{name[:3]}{tag}"  # interface names: 15 characters at most
        self.table = f"skiff{name}{tag}"
        self.cgroup_parent = f"/skiff-{name}-{tag}"
        self.log_path = os.path.join(work, "skiffd.log")
        self.extra_args = extra_args
        self.docker_env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}",
                           "DOCKER_CONFIG": os.path.join(work, "docker-cfg")}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 30) -> None:
        os.makedirs(self.work, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [os.path.join(os.path.dirname(sys.executable), "skiffd"), "--root", self.root,
                 "--run-root", self.run_root, "-H", f"unix://{self.socket}", "--bridge", self.bridge,
                 "--firewall-table", self.table, "--cgroup-parent", self.cgroup_parent, *self.extra_args],
                stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"skiffd did not start; see {self.log_path}")
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
        """Stop the daemon (SIGTERM, then SIGKILL after a minute) and remove what outlives it: the
        bridge and firewall table (as docker0 outlives dockerd), the netns mounts, the cgroup parent."""
        from skiff.runtime.cgroups import remove_tree

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        for family in ("inet", "ip"):
            subprocess.run(["nft", "delete", "table", family, self.table], capture_output=True)
        netns = os.path.join(self.run_root, "netns")
        if os.path.isdir(netns):
            for f in os.listdir(netns):
                subprocess.run(["umount", os.path.join(netns, f)], capture_output=True)
            subprocess.run(["umount", netns], capture_output=True)
        remove_tree(self.cgroup_parent)
