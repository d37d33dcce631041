"""An overlay upper directory as an OCI layer tar, hashed while it is written.

The upper directory of a working snapshot holds exactly the step's changes,
in overlayfs's own notation: a deleted path is a 0:0 character device, a
directory whose lower contents were replaced is marked with the xattr
``trusted.overlay.opaque=y``. An OCI layer says the same with AUFS-style
whiteouts: an empty ``.wh.<name>`` file, and ``.wh..wh..opq`` inside an
opaque directory. Entries are written in sorted order (parents first), hard
links inside the layer stay hard links, ownership and mode are kept and
mtimes are kept as they are (Docker keeps them too).

``write_layer`` returns the diff ID (``sha256:`` of the uncompressed tar)
and its size; an empty upper directory is reported as ``None`` (no layer).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from typing import IO, NamedTuple

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


class LayerTar(NamedTuple):
    diff_id: str
    size: int


class _HashingWriter:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def is_empty(upper: str) -> bool:
    with os.scandir(upper) as it:
        return next(it, None) is None


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    ti.uname = ti.gname = ""
    return ti


def write_layer(upper: str, out: IO[bytes]) -> LayerTar:
    """Write the tar of ``upper`` to ``out``; its diff ID and size."""
    w = _HashingWriter(out)
    with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        _add_tree(tar, upper, "")
    return LayerTar("sha256:" + w.hash.hexdigest(), w.size)


def _add_tree(tar: tarfile.TarFile, root: str, rel: str) -> None:
    links: dict[tuple[int, int], str] = {}
    stack = [rel]
    while stack:
        current = stack.pop()
        host = os.path.join(root, current) if current else root
        with os.scandir(host) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for e in entries:
            name = f"{current}/{e.name}" if current else e.name
            st = e.stat(follow_symlinks=False)
            if is_whiteout(st):
                ti = _info(_whiteout_name(current, e.name), st)
                ti.mode = 0o644
                tar.addfile(ti)
                continue
            _add_entry(tar, e.path, name, st, links)
            if stat.S_ISDIR(st.st_mode):
                if is_opaque(e.path):
                    ti = _info(f"{name}/{OPAQUE}", st)
                    ti.mode = 0o644
                    tar.addfile(ti)
                subdirs.append(name)
        stack.extend(reversed(subdirs))


def _whiteout_name(directory: str, name: str) -> str:
    return f"{directory}/{WHITEOUT_PREFIX}{name}" if directory else WHITEOUT_PREFIX + name


def _add_entry(tar: tarfile.TarFile, path: str, name: str, st: os.stat_result,
               links: dict[tuple[int, int], str]) -> None:
    ti = _info(name, st)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
        tar.addfile(ti)
    elif stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(path)
        tar.addfile(ti)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type = tarfile.LNKTYPE
            ti.linkname = links[key]
            tar.addfile(ti)
            return
        if st.st_nlink > 1:
            links[key] = name
        ti.size = st.st_size
        with open(path, "rb") as f:
            tar.addfile(ti, f)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(ti)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
        tar.addfile(ti)
    # sockets are not layer material
