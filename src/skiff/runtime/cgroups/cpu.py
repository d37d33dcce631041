"""The cpu (and v1 cpuacct) controller: shares/weight, quota/period, usage.

v1: ``cpu.shares``, ``cpu.cfs_period_us``, ``cpu.cfs_quota_us``, usage from
``cpuacct.usage`` (ns) and ``cpuacct.stat`` (USER_HZ ticks). v2: ``cpu.weight``,
``cpu.max`` ("quota period"), usage from ``cpu.stat`` (microseconds).

Shares map to a v2 weight the way runc and the kubelet do it:
weight = 1 + (shares - 2) * 9999 / 262142, so shares 1024 -> weight 39.
"""

from __future__ import annotations

import os

from skiff.oci.runtime_spec import Cpu
from skiff.runtime.cgroups import fs
from skiff.runtime.cgroups.stats import CpuStats

_USER_HZ = os.sysconf("SC_CLK_TCK")
DEFAULT_PERIOD = 100_000


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000)."""
    if shares <= 0:
        return 0
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def apply_v1(d: str, cpu: Cpu) -> None:
    if cpu.shares is not None:
        fs.write(d, "cpu.shares", cpu.shares)
    if cpu.period is not None:
        fs.write(d, "cpu.cfs_period_us", cpu.period)
    if cpu.quota is not None:
        fs.write(d, "cpu.cfs_quota_us", cpu.quota)


def apply_v2(d: str, cpu: Cpu) -> None:
    if cpu.shares is not None:
        fs.write(d, "cpu.weight", shares_to_weight(cpu.shares))
    if cpu.quota is not None or cpu.period is not None:
        quota = "max" if cpu.quota in (None, -1) else str(cpu.quota)
        fs.write(d, "cpu.max", f"{quota} {cpu.period or DEFAULT_PERIOD}")


def stats_v1(cpu_dir: str | None, cpuacct_dir: str | None) -> CpuStats:
    usage = user = system = 0
    percpu: tuple[int, ...] = ()
    if cpuacct_dir:
        usage = fs.read_int(cpuacct_dir, "cpuacct.usage")
        ticks = fs.read_keyed(cpuacct_dir, "cpuacct.stat")
        user = ticks.get("user", 0) * 1_000_000_000 // _USER_HZ
        system = ticks.get("system", 0) * 1_000_000_000 // _USER_HZ
        try:
            percpu = tuple(int(x) for x in fs.read(cpuacct_dir, "cpuacct.usage_percpu").split())
        except (OSError, ValueError):
            pass
    throttle = fs.read_keyed(cpu_dir, "cpu.stat") if cpu_dir else {}
    return CpuStats(usage, user, system, percpu, throttle.get("nr_periods", 0),
                    throttle.get("nr_throttled", 0), throttle.get("throttled_time", 0))


def stats_v2(d: str) -> CpuStats:
    st = fs.read_keyed(d, "cpu.stat")
    return CpuStats(
        usage_ns=st.get("usage_usec", 0) * 1000,
        user_ns=st.get("user_usec", 0) * 1000,
        system_ns=st.get("system_usec", 0) * 1000,
        periods=st.get("nr_periods", 0),
        throttled_periods=st.get("nr_throttled", 0),
        throttled_ns=st.get("throttled_usec", 0) * 1000,
    )
