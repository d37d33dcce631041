"""Raw Linux system calls through ctypes, each raising ``OSError`` on failure.

Python 3.11 has no ``os.unshare``/``os.setns`` and no binding at all for
``mount``, ``pivot_root``, ``capset``, ``openat2`` or seccomp. This module is the
only place that calls libc or ``syscall(2)`` directly; everything above it uses
these functions (through ``kernel.LinuxKernel``) so the logic can run against a
recording fake in unit tests.

Every wrapper checks the return value and raises ``OSError(errno, message,
path)``; none returns an error code.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Final

_libc = ctypes.CDLL(None, use_errno=True)

# Syscall numbers that glibc does not wrap (or wraps in versions we can't rely on).
MACHINE = os.uname().machine
_NR: Final[dict[str, dict[str, int]]] = {
    "x86_64": {"pivot_root": 155, "clone": 56, "seccomp": 317, "capget": 125, "capset": 126,
               "openat2": 437, "close_range": 436, "pidfd_send_signal": 424, "bpf": 321,
               "setns": 308, "unshare": 272},
    "aarch64": {"pivot_root": 41, "clone": 220, "seccomp": 277, "capget": 90, "capset": 91,
                "openat2": 437, "close_range": 436, "pidfd_send_signal": 424, "bpf": 280,
                "setns": 268, "unshare": 97},
}
if MACHINE not in _NR:  # pragma: no cover - only x86_64 and aarch64 are supported
    raise ImportError(f"skiff.runtime supports x86_64 and aarch64, not {MACHINE}")
NR = _NR[MACHINE]

# clone/unshare flags
CLONE_NEWTIME: Final = 0x00000080
CLONE_NEWNS: Final = 0x00020000
CLONE_NEWCGROUP: Final = 0x02000000
CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000
CLONE_PARENT: Final = 0x00008000
SIGCHLD: Final = 17

# mount flags
MS_RDONLY: Final = 0x1
MS_NOSUID: Final = 0x2
MS_NODEV: Final = 0x4
MS_NOEXEC: Final = 0x8
MS_SYNCHRONOUS: Final = 0x10
MS_REMOUNT: Final = 0x20
MS_MANDLOCK: Final = 0x40
MS_DIRSYNC: Final = 0x80
MS_NOSYMFOLLOW: Final = 0x100
MS_NOATIME: Final = 0x400
MS_NODIRATIME: Final = 0x800
MS_BIND: Final = 0x1000
MS_MOVE: Final = 0x2000
MS_REC: Final = 0x4000
MS_SILENT: Final = 0x8000
MS_UNBINDABLE: Final = 0x20000
MS_PRIVATE: Final = 0x40000
MS_SLAVE: Final = 0x80000
MS_SHARED: Final = 0x100000
MS_RELATIME: Final = 0x200000
MS_STRICTATIME: Final = 0x1000000
MS_LAZYTIME: Final = 0x2000000
MNT_DETACH: Final = 0x2

# prctl options
PR_SET_PDEATHSIG: Final = 1
PR_SET_KEEPCAPS: Final = 8
PR_SET_SECCOMP: Final = 22
PR_CAPBSET_READ: Final = 23
PR_CAPBSET_DROP: Final = 24
PR_SET_CHILD_SUBREAPER: Final = 36
PR_SET_NO_NEW_PRIVS: Final = 38
PR_CAP_AMBIENT: Final = 47
PR_CAP_AMBIENT_RAISE: Final = 2
PR_CAP_AMBIENT_CLEAR_ALL: Final = 4

# openat2 resolve flags
RESOLVE_NO_XDEV: Final = 0x01
RESOLVE_NO_MAGICLINKS: Final = 0x02
RESOLVE_NO_SYMLINKS: Final = 0x04
RESOLVE_BENEATH: Final = 0x08
RESOLVE_IN_ROOT: Final = 0x10

CLOSE_RANGE_CLOEXEC: Final = 1 << 2

_c_long = ctypes.c_long
_libc.syscall.restype = _c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _raise(what: str, path: str | None = None) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}", path)


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        _raise("unshare")


def setns(fd: int, nstype: int = 0) -> None:
    if _libc.setns(fd, nstype) != 0:
        _raise("setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        _raise(f"mount {fstype or 'bind'} {source or ''} on", target)


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(_b(target), flags) != 0:
        _raise("umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    if _libc.syscall(NR["pivot_root"], _b(new_root), _b(put_old)) != 0:
        _raise("pivot_root", new_root)


def clone_parent() -> int:
    """fork(2) whose child becomes a child of *our* parent (CLONE_PARENT).

    Used by the intermediate process after it has unshared the PID namespace:
    the container's init is then born as PID 1 of the new namespace *and* as a
    direct child of the caller, so the caller can ``waitpid`` it with no
    subreaper and no helper process left behind. Returns 0 in the child.
    A zero stack pointer makes the child run on a copy of our stack, as fork
    does; only the single-threaded intermediate process ever calls this.
    """
    pid = int(_libc.syscall(NR["clone"], CLONE_PARENT | SIGCHLD, 0, 0, 0, 0))
    if pid < 0:
        _raise("clone")
    return pid


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    ret = int(_libc.prctl(option, arg2, arg3, arg4, arg5))
    if ret < 0:
        _raise(f"prctl({option})")
    return ret


def sethostname(name: str) -> None:
    raw = name.encode()
    if _libc.sethostname(raw, len(raw)) != 0:
        _raise("sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _libc.setdomainname(raw, len(raw)) != 0:
        _raise("setdomainname")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3: Final = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (64-bit masks)."""
    hdr = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if _libc.syscall(NR["capset"], ctypes.byref(hdr), data) != 0:
        _raise("capset")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) masks of ``pid`` (0 = self)."""
    hdr = _CapHeader(_CAP_V3, pid)
    data = (_CapData * 2)()
    if _libc.syscall(NR["capget"], ctypes.byref(hdr), data) != 0:
        _raise("capget")
    return (data[0].effective | data[1].effective << 32,
            data[0].permitted | data[1].permitted << 32,
            data[0].inheritable | data[1].inheritable << 32)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat2(2): open ``path`` relative to ``dirfd`` under ``resolve`` rules.

    With ``RESOLVE_IN_ROOT`` every absolute path, ``..`` and symlink is
    resolved as if ``dirfd`` were ``/``: nothing can escape it, which is what
    makes mountpoint creation and layer extraction safe against hostile trees.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = int(_libc.syscall(NR["openat2"], dirfd, _b(path), ctypes.byref(how), ctypes.sizeof(how)))
    if fd < 0:
        _raise("openat2", path)
    return fd


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """Close (or mark close-on-exec) every fd in [first, last]."""
    if first > last:
        return
    if _libc.syscall(NR["close_range"], first, last, flags) != 0:
        err = ctypes.get_errno()
        if err != 38:  # ENOSYS on old kernels: fall back to a slow loop
            raise OSError(err, f"close_range: {os.strerror(err)}")
        if flags & CLOSE_RANGE_CLOEXEC:
            for fd in _open_fds(first, last):
                os.set_inheritable(fd, False)
        else:
            os.closerange(first, min(last, 65536) + 1)


def _open_fds(first: int, last: int) -> list[int]:
    return [int(n) for n in os.listdir("/proc/self/fd") if first <= int(n) <= last]


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    if _libc.syscall(NR["pidfd_send_signal"], pidfd, sig, None, 0) != 0:
        _raise("pidfd_send_signal")


def seccomp_set_filter(program: bytes, flags: int = 0) -> None:
    """Install a classic-BPF seccomp filter (``program`` = packed sock_filter[])."""
    if len(program) % 8:
        raise ValueError("seccomp program must be a whole number of 8-byte instructions")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HxxxxxxQ", len(program) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    # seccomp(SECCOMP_SET_MODE_FILTER=1, flags, &fprog)
    if _libc.syscall(NR["seccomp"], 1, flags, fbuf) < 0:
        _raise("seccomp")


def bpf(cmd: int, attr: bytes) -> int:
    """bpf(2) with a packed ``union bpf_attr``; returns the syscall result."""
    buf = ctypes.create_string_buffer(attr, len(attr))
    ret = int(_libc.syscall(NR["bpf"], cmd, buf, len(attr)))
    if ret < 0:
        _raise(f"bpf({cmd})")
    return ret


_PIDFD_INFO_EXIT = 1 << 3
_PIDFD_INFO_SIZE = 64
_PIDFD_GET_INFO = (3 << 30) | (_PIDFD_INFO_SIZE << 16) | (0xFF << 8) | 11


def pidfd_exit_status(pidfd: int) -> int | None:
    """The wait status of the exited process behind ``pidfd`` — even if it is
    not our child — or None if the kernel cannot say (Linux < 6.15, or the
    process has not exited). PIDFD_GET_INFO with PIDFD_INFO_EXIT."""
    import fcntl

    buf = bytearray(struct.pack("<Q", _PIDFD_INFO_EXIT).ljust(_PIDFD_INFO_SIZE, b"\0"))
    try:
        fcntl.ioctl(pidfd, _PIDFD_GET_INFO, buf)
    except OSError:
        return None
    mask = struct.unpack_from("<Q", buf, 0)[0]
    if not mask & _PIDFD_INFO_EXIT:
        return None
    return int(struct.unpack_from("<i", buf, 60)[0])
