"""Mount option strings (``ro,nosuid,mode=755``) to mount(2) flags and data.

Pure: ``parse_options`` splits the OCI ``options`` list into the flags the
kernel takes as bits, the propagation changes that need a separate mount call,
and the leftover ``data`` string the filesystem parses itself (``mode=755``,
``size=64m``, ``lowerdir=...``).
"""

from __future__ import annotations

from typing import NamedTuple

from skiff.runtime import syscalls as s

# option -> (clear?, flag): "clear" options remove the flag instead of adding it.
_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, s.MS_SYNCHRONOUS),
    "atime": (True, s.MS_NOATIME),
    "bind": (False, s.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, s.MS_NODEV),
    "diratime": (True, s.MS_NODIRATIME),
    "dirsync": (False, s.MS_DIRSYNC),
    "exec": (True, s.MS_NOEXEC),
    "lazytime": (False, s.MS_LAZYTIME),
    "mand": (False, s.MS_MANDLOCK),
    "noatime": (False, s.MS_NOATIME),
    "nodev": (False, s.MS_NODEV),
    "nodiratime": (False, s.MS_NODIRATIME),
    "noexec": (False, s.MS_NOEXEC),
    "nomand": (True, s.MS_MANDLOCK),
    "norelatime": (True, s.MS_RELATIME),
    "nostrictatime": (True, s.MS_STRICTATIME),
    "nosuid": (False, s.MS_NOSUID),
    "nosymfollow": (False, s.MS_NOSYMFOLLOW),
    "rbind": (False, s.MS_BIND | s.MS_REC),
    "relatime": (False, s.MS_RELATIME),
    "remount": (False, s.MS_REMOUNT),
    "ro": (False, s.MS_RDONLY),
    "rw": (True, s.MS_RDONLY),
    "strictatime": (False, s.MS_STRICTATIME),
    "suid": (True, s.MS_NOSUID),
    "sync": (False, s.MS_SYNCHRONOUS),
}

_PROPAGATION = {
    "private": s.MS_PRIVATE,
    "rprivate": s.MS_PRIVATE | s.MS_REC,
    "shared": s.MS_SHARED,
    "rshared": s.MS_SHARED | s.MS_REC,
    "slave": s.MS_SLAVE,
    "rslave": s.MS_SLAVE | s.MS_REC,
    "unbindable": s.MS_UNBINDABLE,
    "runbindable": s.MS_UNBINDABLE | s.MS_REC,
}

# Options some runtimes understand that mean nothing to the kernel.
_IGNORED = {"tmpcopyup", "notmpcopyup", "idmap", "ridmap", "copy-symlink", "z", "Z", "U"}


class MountOptions(NamedTuple):
    flags: int
    propagation: tuple[int, ...]
    data: str

    @property
    def bind(self) -> bool:
        return bool(self.flags & s.MS_BIND)

    @property
    def recursive(self) -> bool:
        return bool(self.flags & s.MS_REC)


def parse_options(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Split OCI mount options into flags, propagation and filesystem data."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for opt in options:
        if opt in _FLAGS:
            clear, bit = _FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in _PROPAGATION:
            propagation.append(_PROPAGATION[opt])
        elif opt in _IGNORED:
            continue
        else:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data))


def propagation_flags(name: str) -> int:
    """The mount flags of a ``rootfsPropagation`` value (default: rslave)."""
    return _PROPAGATION.get(name or "rslave", s.MS_SLAVE | s.MS_REC)


# statvfs f_flag bits -> the mount flags a bind remount must keep ("locked"
# flags in a user namespace cannot be cleared, so we carry them over).
_ST_TO_MS = {1: s.MS_RDONLY, 2: s.MS_NOSUID, 4: s.MS_NODEV, 8: s.MS_NOEXEC,
             1024: s.MS_NOATIME, 2048: s.MS_NODIRATIME, 4096: s.MS_RELATIME}


def statvfs_flags(f_flag: int) -> int:
    """Mount flags corresponding to a ``statvfs().f_flag`` value."""
    out = 0
    for st, ms in _ST_TO_MS.items():
        if f_flag & st:
            out |= ms
    return out
