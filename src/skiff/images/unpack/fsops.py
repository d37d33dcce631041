"""File-descriptor-relative operations inside a layer root.

Every path from a tar entry is resolved with ``openat2(RESOLVE_IN_ROOT)``
against an ``O_PATH`` descriptor of the layer root: absolute symlinks,
``..`` and symlinked parents are resolved *as if the root were /*, so no
lookup can leave the tree, whatever earlier entries planted. Entries are
then created with single-component names relative to the resolved parent
descriptor (``mkdirat``, ``openat(O_NOFOLLOW|O_EXCL)``, ``symlinkat``,
``mknodat``, ``linkat`` without ``AT_SYMLINK_FOLLOW``), which never follow a
final symlink. String joins of untrusted names never reach the kernel.

``openat2`` is called through ctypes here rather than through
``skiff.runtime.syscalls``: importing anything under ``skiff.runtime``
imports the whole runtime (its package ``__init__``), ~100 ms that every
``skiff pull``/``load``/``import`` would pay for one system call.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat

from skiff.errors import Invalid

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
O_PATH_DIR = os.O_PATH | os.O_DIRECTORY
_NR_OPENAT2 = 437  # the same on x86_64 and aarch64 (new syscalls share numbers)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2) with ``O_CLOEXEC``; ``OSError`` from the kernel's errno."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    fd = int(_libc.syscall(_NR_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


if os.uname().machine not in ("x86_64", "aarch64"):  # pragma: no cover
    raise ImportError(f"openat2 syscall number unknown on {os.uname().machine}")


def open_root(path: str) -> int:
    return os.open(path, O_PATH_DIR | os.O_CLOEXEC)


def resolve(rootfd: int, components: tuple[str, ...], flags: int = O_PATH_DIR) -> int:
    """An fd for ``components`` resolved inside the root (``OSError`` as the kernel says)."""
    path = "/".join(components) or "."
    for _ in range(16):
        try:
            return openat2(rootfd, path, flags, IN_ROOT)
        except OSError as e:
            if e.errno != errno.EAGAIN:  # EAGAIN: a concurrent rename; the kernel asks to retry
                raise
    raise OSError(errno.EAGAIN, "openat2 kept racing", path)


def lstat_at(dirfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(dirfd: int, name: str, st: os.stat_result) -> None:
    """Delete ``name`` in ``dirfd``: a file, or a whole tree (fd-based, no symlink following)."""
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dirfd)
    else:
        os.unlink(name, dir_fd=dirfd)


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs' deletion marker: a character device 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def lower_dir_stat(lower_fds: list[int], components: tuple[str, ...]) -> os.stat_result | None:
    """The attributes of directory ``components`` as the nearest lower layer has it.

    Used when a layer writes ``a/b/file`` without an entry for ``a/b``: the
    new upper directory must copy the lower one's owner, mode and times or
    the merged view would change them. The search stops at the first layer
    where the name exists (a file or a whiteout there hides the rest).
    """
    for fd in lower_fds:
        try:
            f = resolve(fd, components, os.O_PATH | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            st = os.fstat(f)
        finally:
            os.close(f)
        return st if stat.S_ISDIR(st.st_mode) else None
    return None


def invalid(components: tuple[str, ...], why: str) -> Invalid:
    return Invalid.field("layer", f"entry {'/'.join(components) or '/'}: {why}")
