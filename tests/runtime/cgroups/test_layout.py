from __future__ import annotations

import pytest

from skiff.runtime.cgroups.layout import parse

V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1 = """\
24 23 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:5 - tmpfs tmpfs ro,mode=755
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
27 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
"""
HYBRID = V1 + "28 24 0:25 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
SELF = "3:memory:/user.slice\n2:cpu,cpuacct:/\n1:name=systemd:/init.scope\n0::/init.scope\n"


def test_v2() -> None:
    layout = parse(V2, "0::/\n")
    assert layout.mode == "v2" and layout.unified == "/sys/fs/cgroup" and not layout.hierarchies


def test_v1_hierarchies_and_own_paths() -> None:
    layout = parse(V1, SELF)
    assert layout.mode == "v1"
    cpu = layout.hierarchy("cpuacct")
    assert cpu is not None and cpu.controllers == ("cpu", "cpuacct") and cpu.name == "cpu,cpuacct"
    mem = layout.hierarchy("memory")
    assert mem is not None and mem.own_path == "/user.slice"
    sd = layout.hierarchy("name=systemd")
    assert sd is not None and sd.name == "systemd"


def test_hybrid() -> None:
    layout = parse(HYBRID, SELF)
    assert layout.mode == "hybrid" and layout.unified == "/sys/fs/cgroup/unified"
    assert layout.unified_own_path == "/init.scope"


def test_none() -> None:
    with pytest.raises(OSError):
        parse("1 0 0:1 / / rw - ext4 /dev/vda rw\n")
