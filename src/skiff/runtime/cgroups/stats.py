"""Resource usage of one container's cgroup, the same shape for v1 and v2.

This is what ``docker stats`` and the metrics API (for the HPA) are built on.
Units are bytes and nanoseconds whatever the cgroup version reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MemoryStats:
    usage: int = 0  # bytes currently charged, page cache included
    max_usage: int = 0  # high-water mark (v1 only; 0 where unknown)
    limit: int = -1  # -1 = unlimited
    failcnt: int = 0
    oom_kills: int = 0
    stat: dict[str, int] = field(default_factory=dict)  # memory.stat as reported


@dataclass
class CpuStats:
    usage_ns: int = 0
    user_ns: int = 0
    system_ns: int = 0
    percpu_ns: list[int] = field(default_factory=list)
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0


@dataclass
class PidsStats:
    current: int = 0
    limit: int = -1  # -1 = unlimited


@dataclass
class Stats:
    memory: MemoryStats = field(default_factory=MemoryStats)
    cpu: CpuStats = field(default_factory=CpuStats)
    pids: PidsStats = field(default_factory=PidsStats)
