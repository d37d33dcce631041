"""secure_join never leaves the root, whatever symlinks the tree holds."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from skiff.runtime.paths import secure_join, within

ROOT = "/rootfs"


def links(table: dict[str, str]):  # type: ignore[no-untyped-def]
    return lambda p: table.get(os.path.normpath(p))


def test_plain_and_dotdot() -> None:
    assert secure_join(ROOT, "/etc/passwd", links({})) == "/rootfs/etc/passwd"
    assert secure_join(ROOT, "../../../etc", links({})) == "/rootfs/etc"
    assert secure_join(ROOT, "/", links({})) == "/rootfs"


def test_absolute_symlink_is_rerooted() -> None:
    assert secure_join(ROOT, "/etc/passwd", links({"/rootfs/etc": "/"})) == "/rootfs/passwd"
    assert secure_join(ROOT, "/a/b", links({"/rootfs/a": "/host/secret"})) == "/rootfs/host/secret/b"


def test_relative_symlink_escape_is_clamped() -> None:
    table = {"/rootfs/x": "../../../../../../outside"}
    assert secure_join(ROOT, "x/y", links(table)) == "/rootfs/outside/y"


def test_symlink_loop_is_an_error() -> None:
    import errno

    import pytest

    with pytest.raises(OSError) as e:
        secure_join(ROOT, "/a", links({"/rootfs/a": "/b", "/rootfs/b": "/a"}))
    assert e.value.errno == errno.ELOOP


names = st.sampled_from(["a", "b", "..", ".", "c", "/", "../..", "a/../.."])
targets = st.lists(names, min_size=1, max_size=5).map("/".join)


@settings(max_examples=500)
@given(path=st.lists(names, max_size=8).map("/".join),
       table=st.dictionaries(st.sampled_from(["/rootfs/a", "/rootfs/b", "/rootfs/a/c", "/rootfs/c/a"]),
                             targets, max_size=4))
def test_result_is_always_inside_root(path: str, table: dict[str, str]) -> None:
    try:
        result = secure_join(ROOT, path, links(table))
    except OSError:
        return  # loops are refused, never resolved outside
    assert within(ROOT, result), (path, table, result)
