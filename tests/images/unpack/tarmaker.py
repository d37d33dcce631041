"""Building layer tars in memory for the unpack tests."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field


@dataclass
class E:
    name: str
    kind: str = "file"  # file, dir, symlink, hardlink, chr, blk, fifo
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 1_600_000_000
    xattrs: dict[str, str] = field(default_factory=dict)
    dev: tuple[int, int] = (0, 0)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
          "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}


def make_tar(entries: list[E]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = _TYPES[e.kind]
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, e.mtime
            ti.linkname = e.link
            ti.devmajor, ti.devminor = e.dev
            for k, v in e.xattrs.items():
                ti.pax_headers["SCHILY.xattr." + k] = v
            if e.kind == "file":
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
            else:
                tf.addfile(ti)
    return buf.getvalue()
