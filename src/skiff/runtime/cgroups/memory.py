"""The memory controller: limit, swap, reservation, OOM, usage.

v1 files: ``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes`` (only with
swap accounting), ``memory.soft_limit_in_bytes``, ``memory.swappiness``,
``memory.oom_control``. v2 files: ``memory.max``, ``memory.swap.max``,
``memory.low``, ``memory.events``.

The OCI ``swap`` value is memory+swap (v1's memsw); v2 limits swap alone, so
it is converted: swap.max = swap - limit (limit 256M, swap 512M -> 256M swap).
"""

from __future__ import annotations

import errno

from skiff.oci.runtime_spec import Memory
from skiff.runtime.cgroups import fs
from skiff.runtime.cgroups.stats import MemoryStats

__all__ = ["MemoryStats", "apply_v1", "apply_v2", "oom_kills_v1", "oom_kills_v2", "stats_v1", "stats_v2"]

UNLIMITED_V1 = 0x7FFFFFFFFFFFF000  # what v1 reports for "no limit" (page-aligned LONG_MAX)


def apply_v1(d: str, mem: Memory) -> None:
    has_memsw = fs.exists(d, "memory.memsw.limit_in_bytes")
    if mem.limit is not None:
        swap = mem.swap if has_memsw else None
        if swap is None:
            fs.write(d, "memory.limit_in_bytes", mem.limit)
        else:
            # memsw may never be below the memory limit, so the order of the two
            # writes depends on whether the limits grow or shrink.
            try:
                fs.write(d, "memory.limit_in_bytes", mem.limit)
                fs.write(d, "memory.memsw.limit_in_bytes", swap)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                fs.write(d, "memory.memsw.limit_in_bytes", swap)
                fs.write(d, "memory.limit_in_bytes", mem.limit)
    if mem.reservation is not None:
        fs.write(d, "memory.soft_limit_in_bytes", mem.reservation)
    if mem.swappiness is not None and 0 <= mem.swappiness <= 100:
        fs.write(d, "memory.swappiness", mem.swappiness)
    if mem.disable_oom_killer:
        fs.write(d, "memory.oom_control", 1)


def _v2_value(v: int) -> str:
    return "max" if v == -1 else str(v)


def apply_v2(d: str, mem: Memory) -> None:
    if mem.limit is not None:
        fs.write(d, "memory.max", _v2_value(mem.limit))
    if mem.swap is not None and fs.exists(d, "memory.swap.max"):
        if mem.swap == -1 or mem.limit in (None, -1):
            fs.write(d, "memory.swap.max", "max")
        else:
            assert mem.limit is not None
            fs.write(d, "memory.swap.max", max(0, mem.swap - mem.limit))
    if mem.reservation is not None:
        fs.write(d, "memory.low", _v2_value(mem.reservation))


def oom_kills_v1(d: str) -> int:
    return fs.read_keyed(d, "memory.oom_control").get("oom_kill", 0)


def oom_kills_v2(d: str) -> int:
    return fs.read_keyed(d, "memory.events").get("oom_kill", 0)


def stats_v1(d: str) -> MemoryStats:
    limit = fs.read_int(d, "memory.limit_in_bytes", -1)
    return MemoryStats(
        usage=fs.read_int(d, "memory.usage_in_bytes"),
        max_usage=fs.read_int(d, "memory.max_usage_in_bytes"),
        limit=-1 if limit >= UNLIMITED_V1 else limit,
        failcnt=fs.read_int(d, "memory.failcnt"),
        oom_kills=oom_kills_v1(d),
        stat=fs.read_keyed(d, "memory.stat"),
    )


def stats_v2(d: str) -> MemoryStats:
    return MemoryStats(
        usage=fs.read_int(d, "memory.current"),
        max_usage=fs.read_int(d, "memory.peak"),
        limit=fs.read_int(d, "memory.max", -1),
        failcnt=fs.read_keyed(d, "memory.events").get("max", 0),
        oom_kills=oom_kills_v2(d),
        stat=fs.read_keyed(d, "memory.stat"),
    )
