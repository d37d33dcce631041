"""Resource usage of one container's cgroup, the same shape for v1 and v2.

This is what ``docker stats`` and the metrics API (for the HPA) are built on.
Units are bytes and nanoseconds whatever the cgroup version reports.
(NamedTuples, not dataclasses: see ``skiff.oci.runtime_spec`` on import cost.)
"""

from __future__ import annotations

from typing import Any, NamedTuple


class MemoryStats(NamedTuple):
    usage: int = 0  # bytes currently charged, page cache included
    max_usage: int = 0  # high-water mark (0 where unknown)
    limit: int = -1  # -1 = unlimited
    failcnt: int = 0
    oom_kills: int = 0
    stat: dict[str, int] = {}  # memory.stat as reported (never mutated)


class CpuStats(NamedTuple):
    usage_ns: int = 0
    user_ns: int = 0
    system_ns: int = 0
    percpu_ns: tuple[int, ...] = ()
    periods: int = 0
    throttled_periods: int = 0
    throttled_ns: int = 0


class PidsStats(NamedTuple):
    current: int = 0
    limit: int = -1  # -1 = unlimited


class Stats(NamedTuple):
    memory: MemoryStats = MemoryStats()
    cpu: CpuStats = CpuStats()
    pids: PidsStats = PidsStats()

    def to_dict(self) -> dict[str, Any]:
        cpu = {**self.cpu._asdict(), "percpu_ns": list(self.cpu.percpu_ns)}
        return {"memory": self.memory._asdict(), "cpu": cpu, "pids": self.pids._asdict()}
