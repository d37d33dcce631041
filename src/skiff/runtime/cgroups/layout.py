"""Which cgroup hierarchies this host has: v1, v2, or hybrid.

* **v2** (most current distributions): one ``cgroup2`` mount, usually at
  /sys/fs/cgroup, with the controllers listed in ``cgroup.controllers``.
* **v1**: one ``cgroup`` mount per hierarchy (``/sys/fs/cgroup/memory``,
  ``/sys/fs/cgroup/cpu,cpuacct`` ...), each naming its controllers in its
  mount options.
* **hybrid**: v1 hierarchies *plus* a cgroup2 mount (``/sys/fs/cgroup/unified``)
  that holds few or no controllers. crun gives up here; skiff uses the v1
  hierarchies for resource control and leaves the unified one alone.

``detect()`` reads /proc/self/mountinfo. A ``Layout`` can also be built by
hand over any directory tree, which is how the v1 and v2 code is tested
against a cgroupfs-shaped tree without touching the host.
"""

from __future__ import annotations

import os
from typing import NamedTuple

# controllers that v1 hierarchies may carry (others are named hierarchies like name=systemd)
V1_CONTROLLERS = frozenset({
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "blkio",
    "perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc",
})


class Hierarchy(NamedTuple):
    """One mounted v1 hierarchy: where it is and which controllers it carries."""

    mountpoint: str
    controllers: tuple[str, ...]  # e.g. ("cpu", "cpuacct") or ("name=systemd",)
    own_path: str = "/"  # this process's cgroup inside it

    @property
    def name(self) -> str:
        """The directory name a container sees (``cpu,cpuacct``, ``systemd``)."""
        base = os.path.basename(self.mountpoint)
        return base or ",".join(self.controllers)


class Layout(NamedTuple):
    mode: str  # "v1", "v2" or "hybrid"
    hierarchies: tuple[Hierarchy, ...] = ()
    unified: str | None = None  # the cgroup2 mountpoint, if any
    unified_own_path: str = "/"
    v2_controllers: frozenset[str] = frozenset()

    def hierarchy(self, controller: str) -> Hierarchy | None:
        for h in self.hierarchies:
            if controller in h.controllers:
                return h
        return None


def _own_cgroups(text: str) -> tuple[dict[str, str], str]:
    """Parse /proc/self/cgroup into {controller: path} and the v2 path."""
    by_ctrl: dict[str, str] = {}
    unified = "/"
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if ctrls == "":
            unified = path
        for c in ctrls.split(","):
            by_ctrl[c] = path
    return by_ctrl, unified


def parse(mountinfo: str, self_cgroup: str = "") -> Layout:
    """Build a ``Layout`` from the text of mountinfo and /proc/self/cgroup."""
    own, own_unified = _own_cgroups(self_cgroup)
    hierarchies: list[Hierarchy] = []
    unified: str | None = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        mountpoint, fstype, options = fields[4], rfields[0], rfields[2].split(",")
        if fstype == "cgroup2" and unified is None:
            unified = mountpoint
        elif fstype == "cgroup":
            ctrls = tuple(o for o in options if o in V1_CONTROLLERS or o.startswith("name="))
            if ctrls and not any(h.controllers == ctrls for h in hierarchies):
                hierarchies.append(Hierarchy(mountpoint, ctrls, own.get(ctrls[0], "/")))
    if hierarchies:
        mode = "hybrid" if unified else "v1"
    elif unified:
        mode = "v2"
    else:
        raise OSError("no cgroup filesystem is mounted")
    v2c: frozenset[str] = frozenset()
    if unified:
        try:
            with open(os.path.join(unified, "cgroup.controllers")) as f:
                v2c = frozenset(f.read().split())
        except OSError:
            pass
    return Layout(mode, tuple(hierarchies), unified, own_unified, v2c)


_cached: Layout | None = None


def detect() -> Layout:
    """The layout of this host (read once per process)."""
    global _cached
    if _cached is None:
        with open("/proc/self/mountinfo") as f:
            mi = f.read()
        with open("/proc/self/cgroup") as f:
            cg = f.read()
        _cached = parse(mi, cg)
    return _cached


def remove_tree(parent: str, layout: Layout | None = None) -> None:
    """Remove the cgroup ``parent`` (e.g. ``/skiff-demo-123``) and its sub-cgroups, deepest first, in
    every hierarchy. A cgroup still in use (a process inside) is left alone: only empty ones go."""
    import contextlib

    layout = layout or detect()
    for root in [h.mountpoint for h in layout.hierarchies] + ([layout.unified] if layout.unified else []):
        top = os.path.join(root, parent.lstrip("/"))
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
