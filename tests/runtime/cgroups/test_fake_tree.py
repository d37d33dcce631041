"""The v1 and v2 managers against cgroupfs-shaped directory trees.

These run anywhere (no root, no cgroupfs): the tree holds the control files
a kernel would, and the test reads back what the manager wrote. The v2 code
is exercised here because this host is hybrid; the v1 code also runs for
real in the container tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skiff.oci.runtime_spec import Cpu, Memory, Resources
from skiff.runtime.cgroups import container_path, new_manager
from skiff.runtime.cgroups.cpu import shares_to_weight
from skiff.runtime.cgroups.layout import Hierarchy, Layout

RES = Resources(memory=Memory(limit=256 << 20, swap=512 << 20, reservation=128 << 20),
                cpu=Cpu(shares=1024, quota=50000, period=100000, cpus="0-1", mems="0"), pids_limit=100)


def v2_tree(root: Path) -> Layout:
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("")
    return Layout("v2", (), str(root), "/", frozenset({"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}))


def test_v2_create_writes_limits_and_enables_controllers(tmp_path: Path) -> None:
    layout = v2_tree(tmp_path / "cg")
    # a real kernel makes the child's control files; the fake pre-creates the parent
    (tmp_path / "cg" / "skiff").mkdir()
    (tmp_path / "cg" / "skiff" / "cgroup.subtree_control").write_text("")
    (tmp_path / "cg" / "skiff" / "c1").mkdir()
    (tmp_path / "cg" / "skiff" / "c1" / "memory.swap.max").write_text("max\n")
    m = new_manager(layout, container_path("", "c1"))
    m.create(RES)
    d = tmp_path / "cg" / "skiff" / "c1"
    assert (d / "memory.max").read_text() == str(256 << 20)
    assert (d / "memory.swap.max").read_text() == str(256 << 20)  # 512M total - 256M memory
    assert (d / "memory.low").read_text() == str(128 << 20)
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpuset.cpus").read_text() == "0-1"
    assert (d / "pids.max").read_text() == "100"
    assert "+memory" in (tmp_path / "cg" / "cgroup.subtree_control").read_text()
    assert "+pids" in (tmp_path / "cg" / "skiff" / "cgroup.subtree_control").read_text()
    assert m.procs_files() == [f"{d}/cgroup.procs"]
    assert [(b.name, b.host_path) for b in m.binds()] == [("", str(d))]


def test_v2_stats_and_oom(tmp_path: Path) -> None:
    layout = v2_tree(tmp_path / "cg")
    d = tmp_path / "cg" / "x"
    d.mkdir()
    (d / "memory.current").write_text("1048576\n")
    (d / "memory.max").write_text("max\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (d / "memory.stat").write_text("anon 4096\nfile 8192\n")
    (d / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_throttled 2\n")
    (d / "pids.current").write_text("3\n")
    (d / "pids.max").write_text("max\n")
    (d / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    m = new_manager(layout, "/x")
    st = m.stats()
    assert (st.memory.usage, st.memory.limit, st.memory.oom_kills) == (1048576, -1, 1)
    assert st.memory.stat == {"anon": 4096, "file": 8192}
    assert (st.cpu.usage_ns, st.cpu.user_ns, st.cpu.throttled_periods) == (1_500_000, 1_000_000, 2)
    assert (st.pids.current, st.pids.limit) == (3, -1)
    assert m.oom_kills() == 1 and not m.frozen()


def test_v1_create_routes_each_controller(tmp_path: Path) -> None:
    hier = []
    for name, ctrls in (("cpu,cpuacct", ("cpu", "cpuacct")), ("memory", ("memory",)),
                        ("pids", ("pids",)), ("cpuset", ("cpuset",)), ("systemd", ("name=systemd",))):
        (tmp_path / name).mkdir()
        hier.append(Hierarchy(str(tmp_path / name), ctrls))
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    layout = Layout("v1", tuple(hier))
    m = new_manager(layout, "/skiff/c2")
    # cpuset dirs start empty, as the kernel makes them
    orig_mkdir = os.mkdir

    def mkdir(path: str, mode: int = 0o777) -> None:
        orig_mkdir(path, mode)
        if "/cpuset/" in path:
            for f in ("cpuset.cpus", "cpuset.mems"):
                open(os.path.join(path, f), "w").close()

    os.mkdir = mkdir  # type: ignore[assignment]
    try:
        m.create(Resources(memory=Memory(limit=64 << 20), cpu=Cpu(shares=512, quota=20000), pids_limit=7))
    finally:
        os.mkdir = orig_mkdir  # type: ignore[assignment]
    assert (tmp_path / "memory/skiff/c2/memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (tmp_path / "cpu,cpuacct/skiff/c2/cpu.shares").read_text() == "512"
    assert (tmp_path / "cpu,cpuacct/skiff/c2/cpu.cfs_quota_us").read_text() == "20000"
    assert (tmp_path / "pids/skiff/c2/pids.max").read_text() == "7"
    assert (tmp_path / "cpuset/skiff/cpuset.cpus").read_text() == "0-3"  # inherited down each level
    assert (tmp_path / "cpuset/skiff/c2/cpuset.mems").read_text() == "0"
    assert len(m.procs_files()) == 5
    binds = {b.name: b for b in m.binds()}
    assert binds["cpu,cpuacct"].links == ("cpu", "cpuacct")
    assert binds["systemd"].host_path == str(tmp_path / "systemd/skiff/c2")


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000), (512, 20)])
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_container_path() -> None:
    assert container_path("", "abc") == "/skiff/abc"
    assert container_path("/k8s/pod1/c", "x") == "/k8s/pod1/c"
    assert container_path("system.slice:docker:abc", "x") == "/system.slice/docker-abc.scope"
    with pytest.raises(Exception, match=r"\.\."):
        container_path("/a/../../etc", "x")
