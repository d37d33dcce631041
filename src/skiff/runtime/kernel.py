"""The kernel interface the container set-up logic is written against.

``Kernel`` names the handful of privileged operations that build a container's
filesystem view (mount, pivot_root, mknod, symlink, ...). ``LinuxKernel`` does
them for real through ``syscalls``; ``RecordingKernel`` (in ``fake_kernel``)
records them, so the order and arguments of the rootfs sequence are checked by
unit tests that need neither root nor a kernel.

Paths given to a ``Kernel`` are already resolved; resolving untrusted paths
safely is the job of ``paths``.
"""

from __future__ import annotations

import os
from typing import Protocol

from skiff.runtime import syscalls
from skiff.runtime.mountopts import statvfs_flags
from skiff.runtime.paths import os_readlink


class Kernel(Protocol):
    """The privileged operations used while building a container's root."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None: ...
    def umount(self, target: str, flags: int = 0) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def chdir(self, path: str) -> None: ...
    def fchdir(self, fd: int) -> None: ...
    def mkdir(self, path: str, mode: int = 0o755) -> None: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def symlink(self, target: str, link: str) -> None: ...
    def chown(self, path: str, uid: int, gid: int) -> None: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def touch(self, path: str) -> None: ...
    def exists(self, path: str) -> bool: ...
    def is_dir(self, path: str) -> bool: ...
    def write_file(self, path: str, data: str) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def readlink(self, path: str) -> str | None: ...
    def open_dir(self, path: str) -> int: ...
    def close(self, fd: int) -> None: ...
    def mount_flags(self, path: str) -> int: ...


class LinuxKernel:
    """``Kernel`` backed by real system calls."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        syscalls.mount(source, target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        syscalls.umount2(target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        syscalls.pivot_root(new_root, put_old)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def fchdir(self, fd: int) -> None:
        os.fchdir(fd)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        os.mkdir(path, mode)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def symlink(self, target: str, link: str) -> None:
        os.symlink(target, link)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid, follow_symlinks=False)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def touch(self, path: str) -> None:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644))

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def sethostname(self, name: str) -> None:
        syscalls.sethostname(name)

    def setdomainname(self, name: str) -> None:
        syscalls.setdomainname(name)

    def readlink(self, path: str) -> str | None:
        return os_readlink(path)

    def open_dir(self, path: str) -> int:
        return os.open(path, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)

    def close(self, fd: int) -> None:
        os.close(fd)

    def mount_flags(self, path: str) -> int:
        return statvfs_flags(os.statvfs(path).f_flag)
