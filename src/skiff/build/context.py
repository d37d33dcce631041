"""The build context: the files COPY and ADD may read, and nothing else.

A context is a directory: the user's own (``skiff build DIR``, read in place)
or one unpacked from the tar the Engine API receives (``POST /build``; plain,
gzip, bzip2 or xz, sniffed by magic bytes, never trusted from headers).
``.dockerignore`` at its root hides paths from every lookup.

Path safety, the invariant of this module: a source path is resolved
*inside* the context. Lexically escaping paths (``../x``, after cleaning)
are rejected with Docker's "forbidden path outside the build context";
symlinks inside the context are followed but re-rooted at the context
(``link -> /etc`` means ``<context>/etc``), so no lookup ever leaves it.
Unpacking an uploaded tar refuses members that would land outside the
directory, through ``..`` or through a symlink unpacked earlier.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, NamedTuple

from skiff.build.dockerignore import PatternMatcher, clean, read_patterns
from skiff.errors import Invalid, NotFound
from skiff.runtime.paths import secure_join

if TYPE_CHECKING:
    import tarfile


class Entry(NamedTuple):
    """A context file as seen by a COPY: its path in the context and host path."""

    rel: str  # slash-separated, relative to the context root ("" for the root)
    path: str  # host path (symlinks of the *source* argument resolved)
    st: os.stat_result  # lstat of ``path``


def forbidden(path: str) -> Invalid:
    return Invalid.field("source", f"forbidden path outside the build context: {path} ()", path)


class BuildContext:
    """A directory plus its ignore rules; ``close`` removes it if it was unpacked."""

    def __init__(self, root: str, patterns: list[str] | None = None, *, owned: bool = False) -> None:
        self.root = os.path.realpath(root)
        if patterns is None:
            patterns = self._read_ignore()
        self.matcher = PatternMatcher(patterns)
        self.owned = owned

    def _read_ignore(self) -> list[str]:
        try:
            with open(os.path.join(self.root, ".dockerignore"), encoding="utf-8") as f:
                return read_patterns(f.read())
        except FileNotFoundError:
            return []

    def close(self) -> None:
        if self.owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BuildContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- lookups ---------------------------------------------------------------

    def ignored(self, rel: str) -> bool:
        return self.matcher.matches(rel) if rel else False

    def resolve(self, rel: str, follow: bool = True) -> str:
        """The host path of context path ``rel`` (symlinks re-rooted in the context)."""
        cleaned = clean("/" + rel.replace("\\", "/")) if rel.startswith("/") else clean(rel)
        if cleaned == ".." or cleaned.startswith("../"):
            raise forbidden(rel)
        if not follow:
            parent, _, base = cleaned.rpartition("/")
            return os.path.join(secure_join(self.root, parent), base) if base != "." else self.root
        return secure_join(self.root, cleaned)

    def read_file(self, rel: str) -> bytes:
        path = self.resolve(rel)
        if self.ignored(self.relative(path)):
            raise NotFound(f"{rel}: file excluded by .dockerignore")
        with open(path, "rb") as f:
            return f.read()

    def relative(self, path: str) -> str:
        rel = os.path.relpath(path, self.root)
        return "" if rel == "." else rel

    def glob(self, pattern: str) -> list[str]:
        """Context paths matching a COPY source (``filepath.Match`` per component)."""
        cleaned = clean(pattern.lstrip("/")) if pattern.strip("/") else "."
        if cleaned == ".." or cleaned.startswith("../"):
            raise forbidden(pattern)
        if cleaned == ".":
            return [""]
        if not any(c in cleaned for c in "*?["):
            found = os.path.exists(self.resolve(cleaned)) and not self.ignored(cleaned)
            return [cleaned] if found else []
        matches = [""]
        for part in cleaned.split("/"):
            nxt = []
            for base in matches:
                host = self.resolve(base) if base else self.root
                if not any(c in part for c in "*?["):
                    cand = f"{base}/{part}" if base else part
                    if os.path.lexists(self.resolve(cand, follow=False)):
                        nxt.append(cand)
                    continue
                try:
                    names = sorted(os.listdir(host))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                nxt += [f"{base}/{n}" if base else n for n in names if fnmatch.fnmatchcase(n, part)]
            matches = nxt
        return [m for m in matches if not self.ignored(m)]

    def walk(self, rel: str) -> Iterator[Entry]:
        """``rel`` and, for a directory, everything below it not ignored (sorted, parents first)."""
        path = self.resolve(rel)
        st = os.lstat(path)
        yield Entry(rel, path, st)
        if stat.S_ISDIR(st.st_mode):
            yield from self._walk_dir(self.relative(path), path)

    def _walk_dir(self, rel: str, path: str) -> Iterator[Entry]:
        with os.scandir(path) as it:
            items = sorted(it, key=lambda e: e.name)
        for item in items:
            child_rel = f"{rel}/{item.name}" if rel else item.name
            st = item.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            if self.ignored(child_rel):
                if is_dir and self.matcher.may_include_below(child_rel):
                    yield from self._walk_dir(child_rel, item.path)
                continue
            yield Entry(child_rel, item.path, st)
            if is_dir:
                yield from self._walk_dir(child_rel, item.path)


# --- contexts from an upload -------------------------------------------------------


def _decompressor(head: bytes, stream: IO[bytes]) -> IO[bytes]:
    import bz2
    import gzip
    import lzma

    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise Invalid.field("context", "zstd-compressed build contexts are not supported")
    return stream


class _Peek:
    """A stream with its first bytes read ahead (to sniff compression)."""

    def __init__(self, stream: IO[bytes], n: int = 6) -> None:
        self.stream = stream
        self.head = stream.read(n)

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.stream.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            if len(data) < size:
                data += self.stream.read(size - len(data))
            return data
        return self.stream.read(size)


def unpack(stream: IO[bytes], dest: str) -> None:
    """Unpack a (possibly compressed) tar into the empty directory ``dest``, safely."""
    peek = _Peek(stream)
    if not peek.head:
        return
    src = _decompressor(peek.head, peek)  # type: ignore[arg-type]
    import tarfile

    root = os.path.realpath(dest)
    with tarfile.open(fileobj=src, mode="r|") as tar:
        for member in tar:
            _extract(tar, member, root)


def _inside(root: str, name: str) -> str:
    rel = clean(name.lstrip("/"))
    if rel == ".." or rel.startswith("../"):
        raise Invalid.field("context", f"invalid path in build context tar: {name}", name)
    target = os.path.join(root, rel) if rel != "." else root
    parent = os.path.realpath(os.path.dirname(target))
    if parent != root and not parent.startswith(root + "/"):
        raise Invalid.field("context", f"invalid path in build context tar: {name}", name)
    return os.path.join(parent, os.path.basename(target)) if rel != "." else root


def _extract(tar: tarfile.TarFile, m: tarfile.TarInfo, root: str) -> None:
    path = _inside(root, m.name)
    if path == root:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if m.isdir():
        os.makedirs(path, exist_ok=True)
        os.chmod(path, m.mode & 0o7777 | 0o700)
        return
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    if m.issym():
        os.symlink(m.linkname, path)
    elif m.islnk():
        os.link(_inside(root, m.linkname), path)
    elif m.isreg():
        f = tar.extractfile(m)
        assert f is not None
        with open(path, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
        os.chmod(path, m.mode & 0o7777)
    else:
        return  # devices and fifos are not context material
    if not m.issym():
        os.utime(path, (m.mtime, m.mtime))


def from_tar(stream: IO[bytes], tmp_root: str | None = None) -> BuildContext:
    """A context unpacked from an uploaded tar into a new temporary directory."""
    dest = tempfile.mkdtemp(prefix="skiff-build-ctx-", dir=tmp_root)
    try:
        unpack(stream, dest)
        return BuildContext(dest, owned=True)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
