"""Build contexts: safe resolution, globs, .dockerignore, tar uploads of every compression."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest

from skiff.build.context import BuildContext, from_tar
from skiff.errors import Invalid


@pytest.fixture
def ctx(tmp_path: Path) -> BuildContext:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("a")
    (tmp_path / "src" / "b.txt").write_text("b")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "keep.md").write_text("k")
    (tmp_path / "docs" / "drop.md").write_text("d")
    (tmp_path / "README.md").write_text("r")
    (tmp_path / ".dockerignore").write_text("docs\n!docs/keep.md\n*.txt\n**/*.txt\n")
    os.symlink("/src", tmp_path / "abs-link")
    os.symlink("../../..", tmp_path / "escape-link")
    return BuildContext(str(tmp_path))


def test_escaping_paths_rejected(ctx: BuildContext) -> None:
    for bad in ("../x", "a/../../x", ".."):
        with pytest.raises(Invalid, match="forbidden path outside the build context"):
            ctx.resolve(bad)
        with pytest.raises(Invalid, match="forbidden path outside the build context"):
            ctx.glob(bad)


def test_symlinks_stay_inside(ctx: BuildContext) -> None:
    assert ctx.resolve("abs-link/a.py") == os.path.join(ctx.root, "src", "a.py")
    assert ctx.resolve("escape-link") == ctx.root
    assert ctx.resolve("/src/a.py") == os.path.join(ctx.root, "src", "a.py")


def test_glob(ctx: BuildContext) -> None:
    assert ctx.glob("src/*.py") == ["src/a.py"]
    assert ctx.glob("src/*") == ["src/a.py"]  # b.txt is ignored
    assert ctx.glob("*.md") == ["README.md"]
    assert ctx.glob("docs/*.md") == ["docs/keep.md"]
    assert ctx.glob("nothing*") == []
    assert ctx.glob(".") == [""]


def test_walk_respects_ignore_and_reinclusion(ctx: BuildContext) -> None:
    rels = [e.rel for e in ctx.walk("")]
    assert "docs/keep.md" in rels and "docs/drop.md" not in rels and "docs" not in rels
    assert "src/a.py" in rels and "src/b.txt" not in rels and ".dockerignore" in rels


def _tar(files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
        for ti in extra or []:
            tar.addfile(ti)
    return buf.getvalue()


@pytest.mark.parametrize("compress", [lambda b: b, gzip.compress, bz2.compress, lzma.compress])
def test_from_tar_sniffs_compression(compress: object, tmp_path: Path) -> None:
    data = compress(_tar({"Dockerfile": b"FROM x\n", "dir/f": b"hi"}))  # type: ignore[operator]
    with from_tar(io.BytesIO(data), str(tmp_path)) as c:
        assert Path(c.resolve("dir/f")).read_text() == "hi"
        root = c.root
    assert not os.path.exists(root)


def test_from_tar_refuses_escapes(tmp_path: Path) -> None:
    link = tarfile.TarInfo("evil")
    link.type = tarfile.SYMTYPE
    link.linkname = "/"
    buf = io.BytesIO()  # a symlink to /, then a file "through" it
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(link)
        ti = tarfile.TarInfo("evil/tmp/pwned")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    with pytest.raises(Invalid, match="invalid path"):
        from_tar(io.BytesIO(buf.getvalue()), str(tmp_path))
    with pytest.raises(Invalid, match="invalid path"):
        from_tar(io.BytesIO(_tar({"../x": b"x"})), str(tmp_path))
    assert not os.path.exists("/tmp/pwned")
    assert os.listdir(tmp_path) == []


def test_empty_upload(tmp_path: Path) -> None:
    with from_tar(io.BytesIO(b""), str(tmp_path)) as c:
        assert os.listdir(c.root) == []
