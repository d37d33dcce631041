"""Applying layers: every entry type, whiteouts in overlay format, metadata, and each escape trick."""

from __future__ import annotations

import gzip
import io
import os
import stat
from typing import Any

import pytest
import zstandard

from skiff.errors import Invalid
from skiff.images.unpack import apply_layer
from skiff.images.unpack.names import classify, clean
from tests.images.unpack.tarmaker import E, make_tar


@pytest.fixture
def box(tmp_path: Any) -> dict[str, str]:
    """root (the layer dir), lower (a parent layer) and outside (must stay untouched)."""
    dirs = {k: str(tmp_path / k) for k in ("root", "lower", "outside")}
    for d in dirs.values():
        os.makedirs(d)
    with open(os.path.join(dirs["outside"], "secret"), "w") as f:
        f.write("do not touch")
    return dirs


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def apply(entries: list[E], root: str, lowers: list[str] | None = None, **kw: Any) -> Any:
    return apply_layer(io.BytesIO(make_tar(entries)), root, lowers, **kw)


def untouched(box: dict[str, str]) -> None:
    assert os.listdir(box["outside"]) == ["secret"]
    with open(os.path.join(box["outside"], "secret")) as f:
        assert f.read() == "do not touch"


def test_names_are_cleaned_and_classified() -> None:
    assert clean("/etc/passwd") == clean("./etc/passwd") == clean("../../etc/passwd") == ("etc", "passwd")
    assert clean("a/./b//c/..") == ("a", "b")
    assert clean("") == clean(".") == clean("/") == clean("..") == ()
    assert classify(("a", ".wh.b")).kind == "whiteout"
    assert classify(("a", ".wh..wh..opq")).kind == "opaque"
    assert classify((".wh..wh.plnk",)).kind == "skip"
    for bad in ((".wh.",), ("a", ".wh.."), ("a", ".wh..")):
        with pytest.raises(Invalid):
            classify(bad)


def test_entry_types_and_metadata(box: dict[str, str]) -> None:
    r = box["root"]
    res = apply([
        E("./", "dir", mode=0o755, mtime=1_500_000_000),
        E("etc/", "dir", mode=0o750, uid=3, gid=4, mtime=1_400_000_000),
        E("etc/conf", data=b"x=1\n", mode=0o4755, uid=5, gid=6, xattrs={"user.k": "v", "trusted.overlay.opaque": "y"}),
        E("etc/link", "symlink", link="/etc/conf", uid=7, gid=8),
        E("etc/hard", "hardlink", link="etc/conf"),
        E("dev/null", "chr", mode=0o666, dev=(1, 3)),
        E("dev/sda", "blk", mode=0o660, dev=(8, 0)),
        E("run/pipe", "fifo", mode=0o600),
    ], r)
    assert res.entries == 8 and res.diff_id.startswith("sha256:")
    st = os.stat(f"{r}/etc/conf")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (5, 6)  # setuid survives chown
    assert st.st_mtime == 1_600_000_000 and st.st_nlink == 2
    assert os.stat(f"{r}/etc/hard").st_ino == st.st_ino
    assert os.getxattr(f"{r}/etc/conf", "user.k") == b"v"
    assert "trusted.overlay.opaque" not in os.listxattr(f"{r}/etc/conf")  # forged overlay metadata dropped
    assert any("trusted.overlay.opaque" in s for s in res.skipped)
    assert os.readlink(f"{r}/etc/link") == "/etc/conf"
    assert os.lstat(f"{r}/etc/link").st_uid == 7
    d = os.stat(f"{r}/etc")
    assert stat.S_IMODE(d.st_mode) == 0o750 and d.st_mtime == 1_400_000_000  # dir times set last
    assert os.stat(r).st_mtime == 1_500_000_000
    assert stat.S_ISCHR(os.stat(f"{r}/dev/null").st_mode) and os.stat(f"{r}/dev/null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK(os.stat(f"{r}/dev/sda").st_mode)
    assert stat.S_ISFIFO(os.stat(f"{r}/run/pipe").st_mode)


def test_devices_skipped_when_unprivileged(box: dict[str, str]) -> None:
    res = apply([E("dev/null", "chr", dev=(1, 3)), E("dev/sda", "blk", dev=(8, 0)), E("f", data=b"x")],
                box["root"], allow_devices=False)
    assert os.listdir(os.path.join(box["root"], "dev")) == []
    assert len([s for s in res.skipped if "device" in s]) == 2


def test_compressions_and_diff_id(box: dict[str, str], tmp_path: Any) -> None:
    raw = make_tar([E("a", data=b"hello" * 1000)])
    import hashlib

    want = "sha256:" + hashlib.sha256(raw).hexdigest()
    for i, data in enumerate((raw, gzip.compress(raw), zstandard.ZstdCompressor().compress(raw),
                              gzip.compress(raw[:1000]) + gzip.compress(raw[1000:]))):  # multi-member gzip
        d = tmp_path / f"c{i}"
        d.mkdir()
        res = apply_layer(io.BytesIO(data), str(d))
        assert res.diff_id == want and res.size == len(raw)
        assert (d / "a").read_bytes() == b"hello" * 1000


def test_whiteouts_become_overlay_format(box: dict[str, str]) -> None:
    lower, r = box["lower"], box["root"]
    os.makedirs(f"{lower}/etc/sub")
    os.chmod(f"{lower}/etc", 0o711)
    os.chown(f"{lower}/etc", 9, 9)
    for p in ("etc/a", "etc/b", "etc/sub/c"):
        open(f"{lower}/{p}", "w").close()
    apply([E("etc/.wh.a", data=b""), E("etc/sub/.wh..wh..opq"), E("etc/sub/new", data=b"n"),
           E("etc/.wh..wh.plnk", data=b"")], r, [lower])
    a = os.lstat(f"{r}/etc/a")
    assert stat.S_ISCHR(a.st_mode) and a.st_rdev == 0  # deletion = char device 0/0
    assert os.getxattr(f"{r}/etc/sub", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(f"{r}/etc")) == ["a", "sub"]  # no .wh. files, no aufs metadata
    e = os.stat(f"{r}/etc")  # a parent made implicitly copies the lower layer's attributes
    assert stat.S_IMODE(e.st_mode) == 0o711 and e.st_uid == 9


def test_whiteouts_in_a_base_layer_are_dropped(box: dict[str, str]) -> None:
    apply([E("d/", "dir"), E("d/.wh.x"), E("d/.wh..wh..opq")], box["root"])
    assert os.listdir(f"{box['root']}/d") == []
    assert "trusted.overlay.opaque" not in os.listxattr(f"{box['root']}/d")


def test_same_layer_file_wins_over_its_whiteout(box: dict[str, str]) -> None:
    lower, r = box["lower"], box["root"]
    open(f"{lower}/f", "w").close()
    open(f"{lower}/g", "w").close()
    apply([E("f", data=b"new"), E(".wh.f"), E(".wh.g"), E("g", data=b"again")], r, [lower])
    assert _read(f"{r}/f") == b"new"
    assert _read(f"{r}/g") == b"again"


def test_replacing_entries(box: dict[str, str]) -> None:
    r = box["root"]
    apply([E("x/", "dir"), E("x/inner", data=b"1"), E("x", data=b"file now"),
           E("y", "symlink", link="/"), E("y/", "dir"), E("z", data=b"a"), E("z", data=b"b")], r)
    assert _read(f"{r}/x") == b"file now"
    assert os.path.isdir(f"{r}/y") and not os.path.islink(f"{r}/y")
    assert _read(f"{r}/z") == b"b"


@pytest.mark.parametrize("entries", [
    [E("../outside/evil", data=b"x")],
    [E("/../../outside/evil", data=b"x")],
    [E("l", "symlink", link="../outside"), E("l/evil", data=b"x")],
    [E("l", "symlink", link="OUTSIDE"), E("l/evil", data=b"x")],
    [E("l", "symlink", link="OUTSIDE/secret"), E("l", data=b"overwrite through link")],
    [E("a/", "dir"), E("a/l", "symlink", link="../../outside"), E("a/l/evil", data=b"x")],
    [E("l", "symlink", link="/"), E("l/../outside/evil", data=b"x")],
    [E("l", "symlink", link="../../../../../../../../"), E("l/tmp/evil", data=b"x")],
    [E("h", "hardlink", link="../outside/secret")],
    [E("h", "hardlink", link="OUTSIDE/secret")],
    [E("l", "symlink", link="OUTSIDE"), E("h", "hardlink", link="l/secret")],
    [E("l", "symlink", link="OUTSIDE"), E("l/.wh.secret")],
    [E("l", "symlink", link="OUTSIDE"), E("l/.wh..wh..opq")],
    [E("l", "symlink", link="OUTSIDE"), E("l/sub/", "dir"), E("l/sub/x", data=b"x")],
    [E("l", "symlink", link="OUTSIDE"), E("l", "dir", mode=0o777)],
    [E("l", "symlink", link="OUTSIDE/secret"), E("l", "chr", dev=(1, 3))],
    [E("l", "symlink", link="OUTSIDE"), E("l/f", "fifo")],
    [E("", data=b"empty name")],
    [E(".", "symlink", link="/")],
    [E(".wh..", data=b"")],
    [E(".wh.", data=b"")],
    [E("./.wh..wh..opq")],
])
def test_escapes_are_contained_or_rejected(box: dict[str, str], entries: list[E]) -> None:
    outside = box["outside"]
    fixed = [E(e.name.replace("OUTSIDE", outside), e.kind, e.data, e.link.replace("OUTSIDE", outside), e.mode,
               e.uid, e.gid, e.mtime, e.xattrs, e.dev) for e in entries]
    try:
        apply(fixed, box["root"], [box["lower"]])
    except (Invalid, OSError):
        pass  # rejected is fine; what matters is what happened outside
    untouched(box)
    assert sorted(os.listdir(os.path.dirname(box["root"]))) == ["lower", "outside", "root"]


def test_dotdot_names_land_inside(box: dict[str, str]) -> None:
    apply([E("../../etc/passwd", data=b"contained")], box["root"])
    assert _read(os.path.join(box["root"], "etc/passwd")) == b"contained"


def test_symlinked_parent_is_followed_inside_the_root(box: dict[str, str]) -> None:
    r = box["root"]
    apply([E("real/", "dir"), E("abs", "symlink", link="/real"), E("abs/f", data=b"1"),
           E("rel", "symlink", link="../../../real"), E("rel/g", data=b"2")], r)
    assert sorted(os.listdir(f"{r}/real")) == ["f", "g"]


def test_bad_streams_are_rejected(box: dict[str, str]) -> None:
    with pytest.raises(Invalid):
        apply_layer(io.BytesIO(b"\x1f\x8b" + b"garbage" * 10), box["root"])
    with pytest.raises(Invalid):
        apply([E("h", "hardlink", link="missing")], box["root"])
    with pytest.raises(Invalid):
        apply([E("a", data=b"x"), E("a/b", data=b"y")], box["root"])  # a file as a parent
