"""The cpuset controller: which CPUs and memory nodes a container may use.

A new v1 cpuset cgroup starts with *empty* ``cpuset.cpus``/``cpuset.mems``
and refuses tasks until they are filled, so every directory we create is
seeded from its parent (``inherit_v1``) before any limit is applied.
"""

from __future__ import annotations

import os

from skiff.oci.runtime_spec import Cpu
from skiff.runtime.cgroups import fs


def inherit_v1(d: str) -> None:
    """Copy cpus/mems from the parent directory where ``d`` has none."""
    parent = os.path.dirname(d)
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not fs.read(d, name):
            fs.write(d, name, fs.read(parent, name))


def apply(d: str, cpu: Cpu) -> None:
    """Same file names in v1 and v2."""
    if cpu.cpus:
        fs.write(d, "cpuset.cpus", cpu.cpus)
    if cpu.mems:
        fs.write(d, "cpuset.mems", cpu.mems)
