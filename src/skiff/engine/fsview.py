"""Reading a container's filesystem safely: ``cp`` out, ``diff``, ``export``.

Every path a client names is resolved with ``openat2(RESOLVE_IN_ROOT)``
against a directory fd of the container's root, so a symlink planted in the
container (``/etc -> /``) or swapped in mid-copy resolves *inside* the
container, never on the host: the CVE-2018-15664 class cannot happen.

The root is ``/proc/<pid>/root`` while the container runs (so volumes and
tmpfs mounts are seen as the container sees them); for a stopped container
the overlay is mounted on its ``rootfs`` directory for the duration.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from skiff.errors import NotFound
from skiff.runtime import syscalls
from skiff.runtime.rootfs import RootMount

RESOLVE = syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS

# Go's os.FileMode bits, which X-Docker-Container-Path-Stat speaks
_GO_DIR, _GO_SYMLINK, _GO_SETUID, _GO_SETGID, _GO_STICKY = 1 << 31, 1 << 27, 1 << 23, 1 << 22, 1 << 20


def go_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    if stat.S_ISDIR(st_mode):
        mode |= _GO_DIR
    if stat.S_ISLNK(st_mode):
        mode |= _GO_SYMLINK
    if st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


@contextlib.contextmanager
def container_root(pid: int, rootfs_dir: str, root_mounts: list[RootMount]) -> Iterator[int]:
    """A directory fd of the container's root (mounting it if stopped)."""
    if pid:
        fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)
        return
    from skiff.runtime.mountopts import parse_options

    os.makedirs(rootfs_dir, exist_ok=True)
    mounted = False
    try:
        for m in root_mounts:
            opts = parse_options(m.options)
            syscalls.mount(m.source, rootfs_dir, m.type, opts.flags, opts.data or None)
            mounted = True
        fd = os.open(rootfs_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd
        finally:
            os.close(fd)
    finally:
        if mounted:
            syscalls.umount2(rootfs_dir, syscalls.MNT_DETACH)


def resolve(root_fd: int, path: str, *, follow: bool = True) -> int:
    """An O_PATH fd of ``path`` inside the root (the last component not followed if ``follow`` is false)."""
    flags = os.O_PATH | (0 if follow else os.O_NOFOLLOW)
    try:
        return syscalls.openat2(root_fd, path or "/", flags, 0, RESOLVE)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise NotFound(f"Could not find the file {path} in container") from None
        raise


def path_stat(root_fd: int, path: str) -> dict[str, Any]:
    """The X-Docker-Container-Path-Stat document for ``path``."""
    fd = resolve(root_fd, path, follow=False)
    try:
        st = os.stat(fd)
        link = ""
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink("", dir_fd=fd)
    finally:
        os.close(fd)
    name = os.path.basename(path.rstrip("/")) or "/"
    return {"name": name, "size": st.st_size, "mode": go_mode(st.st_mode),
            "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)), "linkTarget": link}


def _tarinfo(name: str, st: os.stat_result, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, link
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    return info


def write_tar(root_fd: int, path: str, out: BinaryIO, arcname: str | None = None) -> None:
    """Tar ``path`` (recursively) from the container into ``out``, entry names from its basename.

    Directories are walked by fd (openat2 beneath each parent, never
    following symlinks), so nothing outside the container is ever read.
    """
    base = arcname if arcname is not None else (os.path.basename(path.rstrip("/")) or ".")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        fd = resolve(root_fd, path, follow=not path.endswith("/.") and path.endswith("/"))
        try:
            _add(tar, fd, base)
        finally:
            os.close(fd)


def _add(tar: tarfile.TarFile, fd: int, name: str) -> None:
    st = os.stat(fd)
    if stat.S_ISLNK(st.st_mode):
        tar.addfile(_tarinfo(name, st, os.readlink("", dir_fd=fd)))
        return
    if stat.S_ISREG(st.st_mode):
        info = _tarinfo(name, st)
        rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(rfd, "rb") as f:
            tar.addfile(info, f)
        return
    tar.addfile(_tarinfo(name, st))
    if not stat.S_ISDIR(st.st_mode):
        return
    dfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        entries = sorted(os.listdir(dfd))
        for entry in entries:
            child = syscalls.openat2(dfd, entry, os.O_PATH | os.O_NOFOLLOW, 0,
                                     syscalls.RESOLVE_BENEATH | syscalls.RESOLVE_NO_SYMLINKS)
            try:
                _add(tar, child, f"{name}/{entry}")
            finally:
                os.close(child)
    finally:
        os.close(dfd)


def changes(upper: str, lowers: list[str]) -> list[dict[str, Any]]:
    """``docker diff``: what the container's writable layer changed (0 modified, 1 added, 2 deleted).

    Overlay records a deletion as a 0/0 character device; anything else in
    the upper layer is an addition, or a modification when a lower layer
    has the same path (a directory that only *contains* changes shows as
    modified, as Docker reports it).
    """
    def in_lower(path: str) -> bool:
        return any(os.path.lexists(os.path.join(d, path.lstrip("/"))) for d in lowers)

    out: list[dict[str, Any]] = []
    for dirpath, dirs, files in os.walk(upper):
        rel_dir = "/" + os.path.relpath(dirpath, upper) if dirpath != upper else "/"
        for name in sorted(dirs + files):
            path = os.path.join(rel_dir, name)
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append({"Path": path, "Kind": 2})
            else:
                out.append({"Path": path, "Kind": 0 if in_lower(path) else 1})
    return sorted(out, key=lambda c: c["Path"])
