"""A container's cgroup on a pure cgroup v2 host.

One directory in the unified hierarchy. Controllers must be enabled in every
ancestor's ``cgroup.subtree_control`` before a child can use them, so
``create`` walks down from the root enabling the ones the host offers.
Device rules become an eBPF program (``devices.attach_v2``).
"""

from __future__ import annotations

import os

from skiff.oci.runtime_spec import Resources
from skiff.runtime.cgroups import common, cpu, cpuset, devices, freezer, fs, memory, pids
from skiff.runtime.cgroups.layout import Layout
from skiff.runtime.cgroups.manager import join
from skiff.runtime.cgroups.stats import Stats
from skiff.runtime.rootfs import CgroupBind

_WANTED = ("cpu", "cpuset", "memory", "pids", "io", "hugetlb")


class V2Manager:
    def __init__(self, layout: Layout, path: str) -> None:
        assert layout.unified is not None
        self.layout = layout
        self.root = layout.unified
        self.path = path
        self.dir = join(self.root, layout.unified_own_path, path)

    def paths(self) -> dict[str, str]:
        return {"": self.dir}

    def _enable_controllers(self) -> None:
        wanted = [c for c in _WANTED if c in self.layout.v2_controllers]
        if not wanted:
            return
        d = self.root
        for part in os.path.relpath(self.dir, self.root).split("/")[:-1]:
            current = set(fs.read(d, "cgroup.subtree_control").split())
            missing = [c for c in wanted if c not in current]
            if missing:
                fs.write(d, "cgroup.subtree_control", " ".join("+" + c for c in missing))
            d = os.path.join(d, part)
        current = set(fs.read(d, "cgroup.subtree_control").split())
        missing = [c for c in wanted if c not in current]
        if missing:
            fs.write(d, "cgroup.subtree_control", " ".join("+" + c for c in missing))

    def create(self, resources: Resources) -> None:
        common.makedirs(os.path.dirname(self.dir), self.root)
        self._enable_controllers()
        common.makedirs(self.dir, self.root)
        self.update(resources)
        if resources.devices:
            devices.attach_v2(self.dir, resources.devices)

    def update(self, resources: Resources) -> None:
        memory.apply_v2(self.dir, resources.memory)
        cpu.apply_v2(self.dir, resources.cpu)
        cpuset.apply(self.dir, resources.cpu)
        pids.apply(self.dir, resources.pids_limit)
        for name, value in resources.unified:
            fs.write(self.dir, name, value)

    def procs_files(self) -> list[str]:
        return [f"{self.dir}/cgroup.procs"]

    def add(self, pid: int) -> None:
        fs.write(self.dir, "cgroup.procs", pid)

    def pids(self) -> list[int]:
        return common.read_pids(self.dir)

    def stats(self) -> Stats:
        return Stats(memory.stats_v2(self.dir), cpu.stats_v2(self.dir), pids.stats(self.dir))

    def oom_kills(self) -> int:
        return memory.oom_kills_v2(self.dir)

    def freeze(self) -> None:
        freezer.freeze_v2(self.dir)

    def thaw(self) -> None:
        freezer.thaw_v2(self.dir)

    def frozen(self) -> bool:
        return freezer.frozen_v2(self.dir)

    def kill_all(self, sig: int) -> None:
        if sig == 9 and fs.exists(self.dir, "cgroup.kill"):
            fs.write(self.dir, "cgroup.kill", 1)
            return
        self.freeze()
        try:
            common.kill_pids(self.pids(), sig)
        finally:
            self.thaw()

    def destroy(self) -> None:
        if self.pids():
            self.kill_all(9)
        common.rmdir_retry(self.dir)

    def binds(self) -> list[CgroupBind]:
        return [CgroupBind("", self.dir)]
