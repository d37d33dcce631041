"""The changes of a container as a layer tar: its overlay upper directory, translated.

An active snapshot's upper directory *is* the container's diff, in
overlayfs' format; a layer tar needs the AUFS/OCI format. ``write_diff``
walks the upper directory (fd-relative, never following symlinks: the
container may have planted any) and writes a PAX tar:

- a character device 0/0 (overlay's deletion marker) becomes ``.wh.<name>``;
- a directory with ``trusted.overlay.opaque=y`` becomes the directory plus
  ``<dir>/.wh..wh..opq``;
- files, directories, symlinks, devices and fifos keep mode, owner, times
  and xattrs (``trusted.overlay.*`` dropped); an inode seen twice becomes a
  hardlink to its first path.

Entries are sorted by name so the same tree always gives the same bytes
(hence the same diff ID). The upper directory of a *running* container may
change while it is read; the engine pauses it first (as ``docker commit``
does).

``redirect_dir`` and ``metacopy`` would make an upper directory incomplete;
the snapshotter mounts with both off, and ``write_diff`` refuses a tree
that carries their xattrs instead of writing a wrong layer.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import Any

from skiff.errors import Unavailable
from skiff.images.unpack.apply import OPAQUE_XATTR, xattr_allowed

_REFUSE = ("trusted.overlay.redirect", "trusted.overlay.metacopy")


def _xattrs(target: int | str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        names = os.listxattr(target, follow_symlinks=False) if isinstance(target, str) else os.listxattr(target)
    except OSError:
        return out
    for name in names:
        if name in _REFUSE:
            raise Unavailable(f"upper directory uses overlay {name.split('.')[-1]}: cannot diff it as a layer")
        try:
            out[name] = (os.getxattr(target, name, follow_symlinks=False) if isinstance(target, str)
                         else os.getxattr(target, name))
        except OSError:
            continue
    return out


class _Walker:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.links: dict[tuple[int, int], str] = {}

    def header(self, name: str, st: os.stat_result, xattrs: dict[str, bytes]) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.mtime = st.st_mtime_ns // 10**9  # whole seconds: no per-entry PAX mtime record
        ti.uname = ti.gname = ""
        for k, v in xattrs.items():
            if xattr_allowed(k):
                ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")  # type: ignore[index]
        return ti

    def walk(self, dirfd: int, prefix: str) -> None:
        for name in sorted(os.listdir(dirfd)):
            self.entry(dirfd, name, prefix + name)

    def entry(self, dirfd: int, name: str, path: str) -> None:
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            wh = self.header(_whiteout(path), st, {})
            wh.type, wh.mode, wh.size = tarfile.REGTYPE, 0o644, 0
            self.tar.addfile(wh)
            return
        if stat.S_ISDIR(mode):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            try:
                xa = _xattrs(fd)
                ti = self.header(path + "/", st, xa)
                ti.type = tarfile.DIRTYPE
                self.tar.addfile(ti)
                if xa.get(OPAQUE_XATTR) == b"y":
                    op = self.header(f"{path}/.wh..wh..opq", st, {})
                    op.type, op.mode, op.size = tarfile.REGTYPE, 0o644, 0
                    self.tar.addfile(op)
                self.walk(fd, path + "/")
            finally:
                os.close(fd)
            return
        if st.st_nlink > 1 and not stat.S_ISDIR(mode):
            first = self.links.get((st.st_dev, st.st_ino))
            if first is not None:
                ti = self.header(path, st, {})
                ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, first, 0
                self.tar.addfile(ti)
                return
            self.links[(st.st_dev, st.st_ino)] = path
        if stat.S_ISREG(mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            with os.fdopen(fd, "rb", buffering=0) as f:
                ti = self.header(path, st, _xattrs(fd))
                ti.size = st.st_size
                self.tar.addfile(ti, f)
            return
        ti = self.header(path, st, _xattrs(f"/proc/self/fd/{dirfd}/{name}"))
        if stat.S_ISLNK(mode):
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dirfd)
        elif stat.S_ISFIFO(mode):
            ti.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return  # sockets are not archived (tar cannot hold them)
        self.tar.addfile(ti)


def _whiteout(path: str) -> str:
    head, _, base = path.rpartition("/")
    return f"{head}/.wh.{base}" if head else f".wh.{base}"


def write_diff(upper: str, out: Any) -> None:
    """Write the layer tar of overlay upper directory ``upper`` to ``out`` (module docstring)."""
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        # File bodies go in 1 MiB pieces, not tarfile's 16 KiB: each piece re-copies the stream buffer.
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20,
                          copybufsize=1 << 20) as tar:  # type: ignore[call-overload]
            _Walker(tar).walk(fd, "")
    finally:
        os.close(fd)


def write_tree(root: str, out: Any) -> None:
    """A tar of a plain directory tree (``export``/``import`` of rootfs dirs): same walker."""
    write_diff(root, out)
