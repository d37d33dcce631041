"""The overlay snapshotter: lifecycle, mounts as data, and real overlay mounts (root)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from skiff.errors import AlreadyExists, FailedPrecondition, Invalid, NotFound
from skiff.snapshots import Kind, OverlaySnapshotter
from skiff.snapshots.mount import mounted


@pytest.fixture
def sn(tmp_path: Any) -> Any:
    s = OverlaySnapshotter(str(tmp_path / "snapshots"))
    yield s
    s.close()


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_lifecycle(sn: OverlaySnapshotter) -> None:
    m = sn.prepare("base-active")
    assert [x.type for x in m] == ["bind"]  # no parent: the directory itself
    _write(os.path.join(sn.upper_dir("base-active"), "a"), "1")
    sn.commit("base", "base-active")
    with pytest.raises(NotFound):
        sn.stat("base-active")  # a commit renames the key
    info = sn.stat("base")
    assert info.kind is Kind.COMMITTED and info.parent == ""
    with pytest.raises(Invalid):
        sn.mounts("base")  # committed snapshots are not mounted directly

    mounts = sn.prepare("c1", "base", labels={"who": "test"})
    assert len(mounts) == 1 and mounts[0].type == "overlay"
    opts = dict(o.split("=", 1) for o in mounts[0].options if "=" in o)
    assert opts["lowerdir"] == sn.upper_dir("base")
    assert opts["upperdir"] == sn.upper_dir("c1") and opts["workdir"].endswith("/work")
    assert sn.stat("c1").labels == {"who": "test"}
    assert sn.lower_dirs("c1") == [sn.upper_dir("base")]

    with pytest.raises(AlreadyExists):
        sn.prepare("c1", "base")
    with pytest.raises(FailedPrecondition):
        sn.prepare("c2", "c1")  # parents must be committed
    with pytest.raises(FailedPrecondition):
        sn.remove("base")  # it has a child
    with pytest.raises(NotFound):
        sn.prepare("c3", "no-such-parent")

    v = sn.view("v1", "base")
    assert v[0].type == "bind" and "ro" in v[0].options
    assert {i.name for i in sn.walk()} == {"base", "c1", "v1"}
    sn.remove("c1")
    sn.remove("v1")
    d = sn.upper_dir("base")
    sn.remove("base")
    assert not os.path.exists(d) and list(sn.walk()) == []


def test_chain_mounts_order(sn: OverlaySnapshotter) -> None:
    parent = ""
    for i in range(3):
        sn.prepare(f"k{i}", parent)
        sn.commit(f"l{i}", f"k{i}")
        parent = f"l{i}"
    sn.prepare("top", "l2")
    lowers = sn.lower_dirs("top")
    assert lowers == [sn.upper_dir("l2"), sn.upper_dir("l1"), sn.upper_dir("l0")]  # nearest first
    v = sn.view("v", "l2")
    assert v[0].type == "overlay" and v[0].options[0] == "lowerdir=" + ":".join(lowers)
    assert sn.usage("l0").inodes == 0


def test_too_many_layers_is_refused_up_front(sn: OverlaySnapshotter) -> None:
    parent = ""
    with pytest.raises(Invalid, match="too many layers"):
        for i in range(200):
            sn.prepare(f"k{i}", parent)
            sn.commit(f"l{i}", f"k{i}")
            parent = f"l{i}"
    assert not any(i.kind is Kind.ACTIVE for i in sn.walk())  # the failed prepare left nothing


@pytest.mark.root
def test_overlay_mount_copy_on_write(sn: OverlaySnapshotter, tmp_path: Any) -> None:
    sn.prepare("x", "")
    _write(os.path.join(sn.upper_dir("x"), "etc/motd"), "base")
    _write(os.path.join(sn.upper_dir("x"), "keep"), "k")
    sn.commit("base", "x")
    sn.prepare("y", "base")
    os.mknod(os.path.join(sn.upper_dir("y"), "keep"), 0o20000, 0)  # overlay whiteout
    _write(os.path.join(sn.upper_dir("y"), "new"), "n")
    sn.commit("second", "y")
    mounts = sn.prepare("ctr", "second")
    with mounted(mounts, str(tmp_path)) as root:
        assert sorted(os.listdir(root)) == ["etc", "new"]  # "keep" is whited out
        _write(os.path.join(root, "etc/motd"), "changed")
    # the write landed in the container's upper dir, the layer is untouched
    with open(os.path.join(sn.upper_dir("ctr"), "etc/motd")) as f:
        assert f.read() == "changed"
    with open(os.path.join(sn.upper_dir("base"), "etc/motd")) as f:
        assert f.read() == "base"
    with mounted(sn.view("view", "second"), str(tmp_path)) as root:
        assert sorted(os.listdir(root)) == ["etc", "new"]
        with pytest.raises(OSError):
            _write(os.path.join(root, "x"), "read-only")
