"""Building the container's filesystem view: the runc sequence, step by step.

Runs inside the container's new mount namespace, in the init process, before
the program is exec'd. Three phases:

1. ``prepare`` (host paths still visible): stop propagation back to the host
   (``/`` becomes rslave), mount the root (bind of ``root.path`` or the
   caller's overlay), then each spec mount at its destination resolved with
   ``secure_join`` inside the root; then the ``/dev`` nodes and symlinks.
2. ``pivot``: ``pivot_root(".", ".")`` on the new root, detach the old root
   stacked underneath, so no host path stays reachable.
3. ``finalize`` (inside the new root): read-only root, ``readonlyPaths``,
   ``maskedPaths``, sysctls and hostname.

Every step goes through a ``Kernel`` so tests can check the sequence with a
recording fake.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import NamedTuple

from skiff.errors import Invalid
from skiff.oci.runtime_spec import Device, Mount, Spec
from skiff.runtime import syscalls as s
from skiff.runtime.kernel import Kernel
from skiff.runtime.mountopts import parse_options, propagation_flags
from skiff.runtime.paths import secure_join

# The nodes every container gets in a fresh /dev (as runc and Docker do).
DEFAULT_DEVICES = (
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
)

_DEV_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


class CgroupBind(NamedTuple):
    """One cgroup hierarchy to show under the container's /sys/fs/cgroup.

    ``name`` is the directory name (``memory``, ``cpu,cpuacct``; empty for a
    pure cgroup v2 host, where the container's cgroup is the mount itself);
    ``links`` are the single-controller names that point at a co-mount.
    """

    name: str
    host_path: str
    links: tuple[str, ...] = ()


class RootMount(NamedTuple):
    """A mount that forms the root itself (e.g. the overlay of an image)."""

    type: str
    source: str
    options: tuple[str, ...] = ()


class RootfsContext:
    """Everything the rootfs phases need besides the spec."""

    __slots__ = ("before_cgroup_mount", "bundle", "cgroup_v2", "cgroups", "in_userns", "mounted",
                 "new_cgroupns", "root_mounts", "rootfs", "spec")

    def __init__(self, spec: Spec, rootfs: str, bundle: str, cgroups: tuple[CgroupBind, ...] = (),
                 cgroup_v2: bool = False, new_cgroupns: bool = False, in_userns: bool = False,
                 root_mounts: tuple[RootMount, ...] = ()) -> None:
        self.spec = spec
        self.rootfs = rootfs  # absolute host path of the root directory
        self.bundle = bundle
        self.cgroups = cgroups
        self.cgroup_v2 = cgroup_v2
        self.new_cgroupns = new_cgroupns
        self.in_userns = in_userns
        self.root_mounts = root_mounts
        self.mounted: list[str] = []  # container paths mounted so far
        # called before a fresh cgroup2 view is mounted (init must be in its cgroup by then)
        self.before_cgroup_mount: Callable[[], None] = lambda: None


def prepare(k: Kernel, ctx: RootfsContext) -> None:
    """Phase 1: everything done while host paths are still reachable."""
    spec = ctx.spec
    k.mount(None, "/", None, propagation_flags(spec.linux.rootfs_propagation))
    if not k.is_dir(ctx.rootfs):
        raise Invalid.field("root.path", f"rootfs {ctx.rootfs} is not a directory")
    if ctx.root_mounts:
        for rm in ctx.root_mounts:
            opts = parse_options(rm.options)
            k.mount(rm.source, ctx.rootfs, rm.type, opts.flags, opts.data or None)
    else:
        k.mount(ctx.rootfs, ctx.rootfs, None, s.MS_BIND | s.MS_REC)
    for m in spec.mounts:
        mount_entry(k, ctx, m)
    if not _dev_is_bind(spec):
        create_devices(k, ctx)
        create_dev_links(k, ctx)


def _dev_is_bind(spec: Spec) -> bool:
    return any(m.destination == "/dev" and parse_options(m.options).bind for m in spec.mounts)


def mount_entry(k: Kernel, ctx: RootfsContext, m: Mount) -> None:
    """Mount one spec entry at its destination, resolved inside the root."""
    dest = secure_join(ctx.rootfs, m.destination, k.readlink)
    opts = parse_options(m.options)
    if m.type == "cgroup" or m.type == "cgroup2":
        mount_cgroups(k, ctx, dest, opts.flags)
    elif opts.bind:
        source = m.source if m.source.startswith("/") else os.path.join(ctx.bundle, m.source)
        if not k.exists(source):
            raise Invalid.field(f"mounts[{m.destination}].source", f"bind source {source} does not exist")
        make_mountpoint(k, ctx.rootfs, dest, is_dir=k.is_dir(source))
        k.mount(source, dest, None, s.MS_BIND | (opts.flags & s.MS_REC))
        extra = opts.flags & ~(s.MS_BIND | s.MS_REC | s.MS_REMOUNT)
        if extra:
            locked = k.mount_flags(dest) if ctx.in_userns else 0
            k.mount(None, dest, None, s.MS_BIND | s.MS_REMOUNT | extra | locked)
    else:
        make_mountpoint(k, ctx.rootfs, dest, is_dir=True)
        try:
            k.mount(m.source or m.type, dest, m.type, opts.flags, opts.data or None)
        except OSError as e:
            # sysfs and mqueue can't be mounted fresh without owning the net/ipc
            # namespace (e.g. a container sharing the host's): bind the host's.
            if e.errno != errno.EPERM or m.type not in ("sysfs", "mqueue"):
                raise
            host = "/sys" if m.type == "sysfs" else "/dev/mqueue"
            k.mount(host, dest, None, s.MS_BIND | s.MS_REC)
            if opts.flags & s.MS_RDONLY:
                k.mount(None, dest, None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | k.mount_flags(dest))
    for p in opts.propagation:
        k.mount(None, dest, None, p)
    ctx.mounted.append(m.destination.rstrip("/") or "/")


def mount_cgroups(k: Kernel, ctx: RootfsContext, dest: str, flags: int) -> None:
    """Show the container's own cgroup(s) at ``dest`` (usually /sys/fs/cgroup).

    cgroup v2: a fresh cgroup2 mount when the container has its own cgroup
    namespace (it then sees its cgroup as the root), else a bind of its
    cgroup directory. cgroup v1: a tmpfs holding one bind per hierarchy, plus
    the usual ``cpu -> cpu,cpuacct`` symlinks for co-mounted controllers.
    """
    make_mountpoint(k, ctx.rootfs, dest, is_dir=True)
    if ctx.cgroup_v2 and ctx.new_cgroupns:
        ctx.before_cgroup_mount()
    base = flags & (s.MS_NOSUID | s.MS_NODEV | s.MS_NOEXEC | s.MS_RELATIME)
    ro = flags & s.MS_RDONLY
    if ctx.cgroup_v2:
        if ctx.new_cgroupns:
            k.mount("cgroup2", dest, "cgroup2", base | ro)
        elif ctx.cgroups:
            k.mount(ctx.cgroups[0].host_path, dest, None, s.MS_BIND | s.MS_REC)
            if ro:
                k.mount(None, dest, None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | base)
        return
    k.mount("tmpfs", dest, "tmpfs", base, "mode=755")
    for cg in ctx.cgroups:
        sub = os.path.join(dest, cg.name)
        k.mkdir(sub, 0o755)
        k.mount(cg.host_path, sub, None, s.MS_BIND | s.MS_REC)
        if ro:
            k.mount(None, sub, None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | base)
        for link in cg.links:
            k.symlink(cg.name, os.path.join(dest, link))
    if ro:
        k.mount(None, dest, None, s.MS_REMOUNT | s.MS_RDONLY | base, "mode=755")


def make_mountpoint(k: Kernel, root: str, path: str, *, is_dir: bool) -> None:
    """Create ``path`` (already resolved under ``root``) and its parents."""
    if k.exists(path):
        return
    parent = os.path.dirname(path)
    missing = []
    while parent != root and not k.exists(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(missing):
        k.mkdir(d, 0o755)
    if is_dir:
        k.mkdir(path, 0o755)
    else:
        k.touch(path)


def create_devices(k: Kernel, ctx: RootfsContext) -> None:
    """Create the default and spec-listed device nodes under the new /dev.

    In a user namespace mknod is not allowed, so the host's node is bind
    mounted onto an empty file instead (what runc does too).
    """
    by_path = {d.path: d for d in DEFAULT_DEVICES}
    by_path.update({d.path: d for d in ctx.spec.linux.devices})
    for dev in by_path.values():
        target = secure_join(ctx.rootfs, dev.path, k.readlink)
        make_mountpoint(k, ctx.rootfs, os.path.dirname(target), is_dir=True)
        if ctx.in_userns:
            if dev.type in ("c", "b", "u") and k.exists(dev.path):
                if not k.exists(target):
                    k.touch(target)
                k.mount(dev.path, target, None, s.MS_BIND)
            continue
        kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.type]
        mode = dev.file_mode if dev.file_mode is not None else 0o666
        k.mknod(target, kind | (mode & 0o7777), os.makedev(dev.major, dev.minor))
        k.chmod(target, mode & 0o7777)  # mknod is subject to umask; chmod is not
        k.chown(target, dev.uid or 0, dev.gid or 0)


def create_dev_links(k: Kernel, ctx: RootfsContext) -> None:
    """/dev/fd, stdin/out/err, core and ptmx symlinks, as runc makes them."""
    links = list(_DEV_LINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    if "/dev/pts" in ctx.mounted:
        links.append(("pts/ptmx", "/dev/ptmx"))
    for target, link in links:
        path = secure_join(ctx.rootfs, link, k.readlink)
        if not k.exists(path):
            k.symlink(target, path)


def pivot(k: Kernel, rootfs: str) -> None:
    """Make ``rootfs`` the root and detach the old root entirely.

    ``pivot_root(".", ".")`` stacks the old root on top of the new one at
    "/"; we then turn the old root into a slave (so unmounting it does not
    propagate to the host) and lazily detach it. No temporary directory in the
    rootfs is needed, so a read-only rootfs works too.
    """
    old_root = k.open_dir("/")
    new_root = k.open_dir(rootfs)
    try:
        k.fchdir(new_root)
        k.pivot_root(".", ".")
        k.fchdir(old_root)
        k.mount(None, ".", None, s.MS_SLAVE | s.MS_REC)
        k.umount(".", s.MNT_DETACH)
        k.chdir("/")
    finally:
        k.close(old_root)
        k.close(new_root)


def finalize(k: Kernel, ctx: RootfsContext, *, new_uts: bool) -> None:
    """Phase 3, inside the new root: read-only bits, masks, sysctls, names."""
    spec = ctx.spec
    if spec.root.readonly:
        k.mount(None, "/", None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | k.mount_flags("/"))
    for path in spec.linux.readonly_paths:
        readonly_path(k, path)
    for path in spec.linux.masked_paths:
        mask_path(k, path)
    for key, value in spec.linux.sysctl:
        k.write_file("/proc/sys/" + key.replace(".", "/"), value)
    if spec.hostname and new_uts:
        k.sethostname(spec.hostname)
    if spec.domainname and new_uts:
        k.setdomainname(spec.domainname)


def readonly_path(k: Kernel, path: str) -> None:
    """Bind ``path`` onto itself read-only; a missing path is skipped."""
    if not k.exists(path):
        return
    k.mount(path, path, None, s.MS_BIND | s.MS_REC)
    k.mount(None, path, None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY | s.MS_REC | k.mount_flags(path))


def mask_path(k: Kernel, path: str) -> None:
    """Hide ``path``: /dev/null over a file, an empty read-only tmpfs over a dir."""
    if not k.exists(path):
        return
    if k.is_dir(path):
        k.mount("tmpfs", path, "tmpfs", s.MS_RDONLY, "size=0")
    else:
        k.mount("/dev/null", path, None, s.MS_BIND)


def validate_new_uts(spec: Spec) -> None:
    """A hostname needs the container's own UTS namespace (as runc requires)."""
    ns = spec.linux.namespace("uts")
    if spec.hostname and (ns is None or ns.path):
        raise Invalid.field("hostname", "setting the hostname needs a new uts namespace")
