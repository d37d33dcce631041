"""The rootfs sequence, checked call by call against a recording kernel."""

from __future__ import annotations

import errno
import stat

from skiff.oci.defaults import default_spec
from skiff.oci.runtime_spec import Spec
from skiff.runtime import syscalls as s
from skiff.runtime.fake_kernel import RecordingKernel
from skiff.runtime.rootfs import CgroupBind, RootfsContext, RootMount, finalize, pivot, prepare

ROOT = "/b/rootfs"


def ctx(doc: dict, **kw) -> RootfsContext:  # type: ignore[no-untyped-def, type-arg]
    return RootfsContext(spec=Spec.parse(doc), rootfs=ROOT, bundle="/b", **kw)


def mounts(k: RecordingKernel) -> list[tuple[object, ...]]:
    return [c[1:] for c in k.ops("mount")]


def test_prepare_order_and_targets() -> None:
    k = RecordingKernel(dirs={ROOT, "/b"})
    c = ctx(default_spec(rootfs=ROOT), cgroups=(CgroupBind("memory", "/sys/fs/cgroup/memory/x"),
                                                 CgroupBind("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/x",
                                                            ("cpu", "cpuacct"))))
    prepare(k, c)
    m = mounts(k)
    assert m[0] == (None, "/", None, s.MS_SLAVE | s.MS_REC, None)  # nothing propagates to the host
    assert m[1] == (ROOT, ROOT, None, s.MS_BIND | s.MS_REC, None)
    targets = [x[1] for x in m]
    for dest in ("/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"):
        assert ROOT + dest in targets
    assert targets.index(ROOT + "/dev") < targets.index(ROOT + "/dev/pts")
    assert (ROOT + "/sys/fs/cgroup/memory") in targets
    assert ("symlink", "cpu,cpuacct", ROOT + "/sys/fs/cgroup/cpu") in k.calls
    nodes = {c[1]: c for c in k.ops("mknod")}
    assert set(nodes) == {ROOT + f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}
    assert stat.S_ISCHR(nodes[ROOT + "/dev/null"][2])
    links = {c[2]: c[1] for c in k.ops("symlink")}
    assert links[ROOT + "/dev/ptmx"] == "pts/ptmx"
    assert links[ROOT + "/dev/fd"] == "/proc/self/fd"


def test_user_namespace_binds_devices_instead_of_mknod() -> None:
    k = RecordingKernel(dirs={ROOT, "/b", "/dev"}, files={"/dev/null", "/dev/zero", "/dev/full",
                                                          "/dev/random", "/dev/urandom", "/dev/tty"})
    prepare(k, ctx(default_spec(rootfs=ROOT), in_userns=True))
    assert not k.ops("mknod")
    assert (("/dev/null", ROOT + "/dev/null", None, s.MS_BIND, None)) in mounts(k)


def test_overlay_root_mount_is_used_instead_of_bind() -> None:
    k = RecordingKernel(dirs={ROOT, "/b"})
    rm = RootMount("overlay", "overlay", ("lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"))
    prepare(k, ctx(default_spec(rootfs=ROOT), root_mounts=(rm,)))
    assert mounts(k)[1] == ("overlay", ROOT, "overlay", 0, "lowerdir=/l1:/l2,upperdir=/u,workdir=/w")


def test_destination_symlink_cannot_escape() -> None:
    doc = default_spec(rootfs=ROOT)
    doc["mounts"].append({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"})
    k = RecordingKernel(dirs={ROOT, "/b"})
    k.links[ROOT + "/evil"] = "../../../../etc"
    prepare(k, ctx(doc))
    assert (("tmpfs", ROOT + "/etc/x", "tmpfs", 0, None)) in mounts(k)


def test_sysfs_falls_back_to_bind_when_not_permitted() -> None:
    k = RecordingKernel(dirs={ROOT, "/b"})
    calls = []

    def failing_mount(source, target, fstype, flags, data=None):  # type: ignore[no-untyped-def]
        calls.append((source, target, fstype, flags))
        if fstype == "sysfs":
            raise OSError(errno.EPERM, "nope")

    k.mount = failing_mount  # type: ignore[method-assign]
    prepare(k, ctx(default_spec(rootfs=ROOT)))
    assert ("/sys", ROOT + "/sys", None, s.MS_BIND | s.MS_REC) in calls


def test_pivot_sequence() -> None:
    k = RecordingKernel(dirs={ROOT})
    pivot(k, ROOT)
    ops = [c[0] for c in k.calls]
    assert ops == ["open_dir", "open_dir", "fchdir", "pivot_root", "fchdir", "mount", "umount", "chdir",
                   "close", "close"]
    assert ("pivot_root", ".", ".") in k.calls
    assert ("umount", ".", s.MNT_DETACH) in k.calls


def test_finalize_masks_readonly_sysctl_hostname() -> None:
    doc = default_spec(rootfs=ROOT, readonly=True, hostname="h1")
    doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    k = RecordingKernel(dirs={"/proc/acpi", "/proc/sys", "/sys/firmware"},
                        files={"/proc/kcore", "/proc/sysrq-trigger"})
    finalize(k, ctx(doc), new_uts=True)
    m = mounts(k)
    assert m[0] == (None, "/", None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY, None)
    assert ("/dev/null", "/proc/kcore", None, s.MS_BIND, None) in m
    assert ("tmpfs", "/proc/acpi", "tmpfs", s.MS_RDONLY, "size=0") in m
    assert ("/proc/sys", "/proc/sys", None, s.MS_BIND | s.MS_REC, None) in m
    assert not any(x[1] == "/proc/asound" for x in m)  # missing paths are skipped
    assert ("write_file", "/proc/sys/net/ipv4/ip_forward", "1") in k.calls
    assert ("sethostname", "h1") in k.calls
