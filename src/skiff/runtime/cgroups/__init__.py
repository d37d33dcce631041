"""Control groups for containers: detection of the host layout (v1, v2,
hybrid), one manager per version, and one module per controller."""

from skiff.runtime.cgroups.layout import Layout, detect, remove_tree
from skiff.runtime.cgroups.manager import CgroupManager, container_path, new_manager
from skiff.runtime.cgroups.stats import CpuStats, MemoryStats, PidsStats, Stats

__all__ = ["CgroupManager", "CpuStats", "Layout", "MemoryStats", "PidsStats", "Stats",
           "container_path", "detect", "new_manager", "remove_tree"]
