"""``docker stats``: the Docker stats document from cgroup and netns counters.

The CLI computes CPU % from two samples (``cpu_stats`` and ``precpu_stats``
with the host's total CPU time in ``system_cpu_usage``) and memory from
``usage`` minus inactive file cache, so those fields must be right; the rest
follows the real daemon's shape.
"""

from __future__ import annotations

import os
import time
from typing import Any

from skiff.engine.logs import rfc3339nano
from skiff.runtime.cgroups.stats import Stats

_TICK = os.sysconf("SC_CLK_TCK")


def system_cpu_ns() -> int:
    """Total CPU time of the host in ns (first line of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * 1_000_000_000 // _TICK


def net_dev(pid: int) -> dict[str, dict[str, int]]:
    """Per-interface counters as the container sees them (/proc/<pid>/net/dev)."""
    out: dict[str, dict[str, int]] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        v = [int(x) for x in rest.split()]
        if name.strip() == "lo" or len(v) < 16:
            continue
        out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                             "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def cpu_doc(st: Stats | None, system: int) -> dict[str, Any]:
    if st is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return {"cpu_usage": {"total_usage": st.cpu.usage_ns, "percpu_usage": list(st.cpu.percpu_ns) or None,
                          "usage_in_kernelmode": st.cpu.system_ns, "usage_in_usermode": st.cpu.user_ns},
            "system_cpu_usage": system, "online_cpus": os.cpu_count() or 1,
            "throttling_data": {"periods": st.cpu.periods, "throttled_periods": st.cpu.throttled_periods,
                                "throttled_time": st.cpu.throttled_ns}}


def document(rec: dict[str, Any], now: Stats | None, before: Stats | None, sys_now: int, sys_before: int,
             read: float, preread: float | None) -> dict[str, Any]:
    mem: dict[str, Any] = {}
    if now is not None:
        stat = dict(now.memory.stat)
        if "inactive_file" in stat and "total_inactive_file" not in stat:
            stat["total_inactive_file"] = stat["inactive_file"]
        limit = now.memory.limit if now.memory.limit > 0 else _mem_total()
        mem = {"usage": now.memory.usage, "max_usage": now.memory.max_usage, "stats": stat, "limit": limit,
               "failcnt": now.memory.failcnt}
    pid = rec["State"]["Pid"]
    return {
        "read": rfc3339nano(read), "preread": rfc3339nano(preread) if preread else "0001-01-01T00:00:00Z",
        "pids_stats": {"current": now.pids.current, **({"limit": now.pids.limit} if now.pids.limit > 0 else {})}
        if now else {},
        "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None,
                        "io_queue_recursive": None, "io_service_time_recursive": None,
                        "io_wait_time_recursive": None, "io_merged_recursive": None, "io_time_recursive": None,
                        "sectors_recursive": None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_doc(now, sys_now), "precpu_stats": cpu_doc(before, sys_before),
        "memory_stats": mem, "name": rec["Name"], "id": rec["Id"],
        "networks": net_dev(pid) if pid else {},
    }


def _mem_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def now() -> float:
    return time.time()
