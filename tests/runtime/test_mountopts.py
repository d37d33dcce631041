from __future__ import annotations

from skiff.runtime import syscalls as s
from skiff.runtime.mountopts import parse_options, propagation_flags, statvfs_flags


def test_flags_data_and_propagation() -> None:
    o = parse_options(["nosuid", "noexec", "nodev", "mode=755", "size=65536k", "rprivate", "ro"])
    assert o.flags == s.MS_NOSUID | s.MS_NOEXEC | s.MS_NODEV | s.MS_RDONLY
    assert o.data == "mode=755,size=65536k"
    assert o.propagation == (s.MS_PRIVATE | s.MS_REC,)


def test_clearing_options_and_bind() -> None:
    o = parse_options(["ro", "rw", "rbind", "suid"])
    assert o.flags == s.MS_BIND | s.MS_REC
    assert o.bind and o.recursive


def test_defaults() -> None:
    assert propagation_flags("") == s.MS_SLAVE | s.MS_REC
    assert propagation_flags("private") == s.MS_PRIVATE
    assert statvfs_flags(1 | 2 | 8) == s.MS_RDONLY | s.MS_NOSUID | s.MS_NOEXEC
