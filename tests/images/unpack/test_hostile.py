"""Thousands of generated hostile layers: nothing is ever created outside the snapshot root.

Each example is a random tar mixing the known escapes: absolute and
``..`` names, symlinks to ``/``, to ``..`` chains and to an absolute
*outside* directory, files written through those symlinks, hardlinks to
outside files, whiteouts and opaque markers behind symlinked parents,
device nodes, empty and dot names. It is applied on top of a lower layer
that itself contains symlinks pointing outside. Whether the apply succeeds
or refuses the layer, the outside directory, the lower layer and the
sandbox around them must be exactly as before.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skiff.errors import Invalid
from skiff.images.unpack import apply_layer
from tests.images.unpack.tarmaker import E, make_tar

COMPONENTS = ["a", "b", "..", ".", "", "etc", "l", "m", ".wh.a", ".wh.l", ".wh..wh..opq", ".wh.", ".wh..",
              "..." , "OUT"]
LINK_TARGETS = ["/", "..", "../..", "../../..", "../../../..", "OUTSIDE", "OUTSIDE/secret", "OUTSIDE/sub",
                "a", "/a", "l", "l/..", "../outside", "/../outside", ".", "", "m/../../.."]

names = st.builds(
    lambda prefix, parts: prefix + "/".join(parts),
    st.sampled_from(["", "/", "./", "../"]),
    st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=4),
)

entries = st.one_of(
    st.builds(lambda n, d: E(n, "file", data=d), names, st.sampled_from([b"", b"x", b"payload" * 10])),
    st.builds(lambda n, m: E(n, "dir", mode=m), names, st.sampled_from([0o755, 0o777, 0o000, 0o1777])),
    st.builds(lambda n, t: E(n, "symlink", link=t), names, st.sampled_from(LINK_TARGETS)),
    st.builds(lambda n, t: E(n, "hardlink", link=t), names,
              st.one_of(names, st.sampled_from(["OUTSIDE/secret", "../outside/secret", "/l/secret", "l/secret"]))),
    st.builds(lambda n, dev: E(n, "chr", dev=dev), names, st.sampled_from([(0, 0), (1, 3), (1, 1)])),
    st.builds(lambda n: E(n, "fifo"), names),
)


def _fix(e: E, outside: str) -> E:
    return E(e.name.replace("OUTSIDE", outside), e.kind, e.data,
             e.link.replace("OUTSIDE", outside), e.mode, e.uid, e.gid, e.mtime, e.xattrs, e.dev)


def _tree(path: str) -> list[tuple[str, int, int, float, str]]:
    """Everything under ``path``: name, type+mode, size, mtime, link target (no following)."""
    out = []
    for dirpath, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            s = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(s.st_mode) else ""
            out.append((os.path.relpath(p, path), s.st_mode, s.st_size, s.st_mtime, link))
    return sorted(out)


def _sandbox() -> dict[str, str]:
    base = tempfile.mkdtemp(prefix="skiff-hostile-")
    d = {k: os.path.join(base, k) for k in ("root", "lower", "outside")}
    d["base"] = base
    for k in ("root", "lower", "outside"):
        os.mkdir(d[k])
    os.makedirs(os.path.join(d["outside"], "sub"))
    with open(os.path.join(d["outside"], "secret"), "w") as f:
        f.write("secret")
    lower = d["lower"]
    os.makedirs(os.path.join(lower, "a", "b"))
    os.symlink(d["outside"], os.path.join(lower, "l"))
    os.symlink("../../..", os.path.join(lower, "m"))
    os.symlink(d["outside"], os.path.join(lower, "a", "out"))
    with open(os.path.join(lower, "etc"), "w") as f:
        f.write("lower file")
    return d


def _check(layer: list[E], allow_devices: bool) -> None:
    box = _sandbox()
    try:
        before_out, before_low = _tree(box["outside"]), _tree(box["lower"])
        data = make_tar([_fix(e, box["outside"]) for e in layer])
        try:
            apply_layer(io.BytesIO(data), box["root"], [box["lower"]], allow_devices=allow_devices)
        except (Invalid, OSError):
            pass  # refusing a layer is allowed; escaping is not
        assert _tree(box["outside"]) == before_out
        assert _tree(box["lower"]) == before_low
        assert sorted(os.listdir(box["base"])) == ["lower", "outside", "root"]
        if not allow_devices:
            for dirpath, dirs, files in os.walk(box["root"]):
                for name in dirs + files:
                    s = os.lstat(os.path.join(dirpath, name))
                    if stat.S_ISCHR(s.st_mode) or stat.S_ISBLK(s.st_mode):
                        assert s.st_rdev == 0, f"device node {name} created without privilege"
    finally:
        shutil.rmtree(box["base"], ignore_errors=True)


@settings(max_examples=2500, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(entries, min_size=1, max_size=12))
def test_hostile_layers_never_escape(layer: list[E]) -> None:
    _check(layer, allow_devices=True)


@settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries, min_size=1, max_size=8))
def test_hostile_layers_unprivileged_make_no_devices(layer: list[E]) -> None:
    _check(layer, allow_devices=False)
