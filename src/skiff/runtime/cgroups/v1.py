"""A container's cgroup on a cgroup v1 (or hybrid) host.

One directory per mounted hierarchy (memory, cpu, cpuacct, pids, cpuset,
freezer, devices, blkio, name=systemd, ...), all at the same relative path;
the process joins every one of them. Each controller's files are handled by
its own module; this class only routes each to the right directory.
"""

from __future__ import annotations

import signal

from skiff.oci.runtime_spec import Resources
from skiff.runtime.cgroups import common, cpu, cpuset, devices, freezer, memory, pids
from skiff.runtime.cgroups.layout import Layout
from skiff.runtime.cgroups.manager import join
from skiff.runtime.cgroups.stats import Stats
from skiff.runtime.rootfs import CgroupBind


class V1Manager:
    def __init__(self, layout: Layout, path: str) -> None:
        self.layout = layout
        self.path = path
        self._dirs = {h.name: join(h.mountpoint, h.own_path, path) for h in layout.hierarchies}
        self._by_ctrl = {c: self._dirs[h.name] for h in layout.hierarchies for c in h.controllers}

    def dir(self, controller: str) -> str | None:
        """The container's directory in the hierarchy carrying ``controller``."""
        return self._by_ctrl.get(controller)

    def paths(self) -> dict[str, str]:
        return dict(self._by_ctrl)

    def create(self, resources: Resources) -> None:
        for h in self.layout.hierarchies:
            on_new = cpuset.inherit_v1 if "cpuset" in h.controllers else None
            common.makedirs(self._dirs[h.name], h.mountpoint, on_new)
        self.update(resources)
        if resources.devices and (d := self.dir("devices")):
            devices.apply_v1(d, resources.devices)

    def update(self, resources: Resources) -> None:
        if d := self.dir("memory"):
            memory.apply_v1(d, resources.memory)
        if d := self.dir("cpu"):
            cpu.apply_v1(d, resources.cpu)
        if d := self.dir("cpuset"):
            cpuset.apply(d, resources.cpu)
        if d := self.dir("pids"):
            pids.apply(d, resources.pids_limit)

    def procs_files(self) -> list[str]:
        return [f"{d}/cgroup.procs" for d in self._dirs.values()]

    def add(self, pid: int) -> None:
        for f in self.procs_files():
            with open(f, "w") as fh:
                fh.write(str(pid))

    def pids(self) -> list[int]:
        d = self.dir("pids") or self.dir("memory") or next(iter(self._dirs.values()))
        return common.read_pids(d)

    def stats(self) -> Stats:
        mem, pid = self.dir("memory"), self.dir("pids")
        return Stats(memory.stats_v1(mem) if mem else memory.MemoryStats(),
                     cpu.stats_v1(self.dir("cpu"), self.dir("cpuacct")),
                     pids.stats(pid) if pid else pids.PidsStats())

    def oom_kills(self) -> int:
        d = self.dir("memory")
        return memory.oom_kills_v1(d) if d else 0

    def freeze(self) -> None:
        if d := self.dir("freezer"):
            freezer.freeze_v1(d)

    def thaw(self) -> None:
        if d := self.dir("freezer"):
            freezer.thaw_v1(d)

    def frozen(self) -> bool:
        d = self.dir("freezer")
        return freezer.frozen_v1(d) if d else False

    def kill_all(self, sig: int) -> None:
        """Signal every process; frozen first so none can fork away meanwhile."""
        can_freeze = self.dir("freezer") is not None
        if can_freeze:
            self.freeze()
        try:
            common.kill_pids(self.pids(), sig)
        finally:
            if can_freeze:
                self.thaw()

    def destroy(self) -> None:
        if self.pids():
            self.kill_all(signal.SIGKILL)
        for d in self._dirs.values():
            common.rmdir_retry(d)

    def binds(self) -> list[CgroupBind]:
        out = []
        for h in self.layout.hierarchies:
            name = h.name.removeprefix("name=")
            links = tuple(c for c in h.controllers if c != name and len(h.controllers) > 1)
            out.append(CgroupBind(name, self._dirs[h.name], links))
        return out
