"""A container's upper directory as a layer tar, and back."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import Any

import pytest

from skiff.images.diff import write_diff
from skiff.images.unpack import apply_layer


def _snapshot(path: str) -> list[tuple[Any, ...]]:
    out = []
    for dirpath, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            p = os.path.join(dirpath, name)
            s = os.lstat(p)
            xa = sorted(os.listxattr(p, follow_symlinks=False)) if not stat.S_ISLNK(s.st_mode) else []
            out.append((os.path.relpath(p, path), s.st_mode, s.st_uid, s.st_gid, s.st_rdev,
                        s.st_size if stat.S_ISREG(s.st_mode) else 0, int(s.st_mtime),
                        os.readlink(p) if stat.S_ISLNK(s.st_mode) else "", xa, s.st_nlink))
    return sorted(out)


@pytest.mark.root
def test_upper_dir_roundtrip(tmp_path: Any) -> None:
    upper, lower, back = (str(tmp_path / n) for n in ("upper", "lower", "back"))
    for d in (upper, lower, back):
        os.mkdir(d)
    os.makedirs(f"{lower}/etc")
    open(f"{lower}/etc/gone", "w").close()
    os.makedirs(f"{upper}/etc")
    os.mknod(f"{upper}/etc/gone", stat.S_IFCHR, 0)  # overlay deletion
    os.makedirs(f"{upper}/opaque/inner")
    os.setxattr(f"{upper}/opaque", "trusted.overlay.opaque", b"y")
    with open(f"{upper}/etc/file", "w") as f:
        f.write("data")
    os.chmod(f"{upper}/etc/file", 0o4750)
    os.chown(f"{upper}/etc/file", 12, 34)
    os.setxattr(f"{upper}/etc/file", "user.note", b"hi")
    os.link(f"{upper}/etc/file", f"{upper}/etc/hard")
    os.symlink("/etc/file", f"{upper}/link")
    os.mkfifo(f"{upper}/fifo")
    for p in ("etc/file", "etc", "opaque/inner", "opaque", "link", "fifo", "etc/gone"):
        os.utime(f"{upper}/{p}", (1_600_000_000, 1_600_000_000), follow_symlinks=False)
    buf = io.BytesIO()
    write_diff(upper, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = tf.getnames()
    assert "etc/.wh.gone" in names and "opaque/.wh..wh..opq" in names
    again = io.BytesIO()
    write_diff(upper, again)
    assert again.getvalue() == buf.getvalue()  # same tree, same bytes, same diff ID
    apply_layer(io.BytesIO(buf.getvalue()), back, [lower])
    assert _snapshot(back) == _snapshot(upper)
