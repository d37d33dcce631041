"""COPY and ADD: which files go where, their cache digest, and the copy itself.

Two phases, so a cache hit reads every source but writes nothing:

1. :func:`plan` expands the sources (globs, directories, heredoc files,
   downloaded URLs, local archives for ADD) into :class:`Item` s with their
   destination paths, following Docker's rules — a destination ending in
   ``/`` (or several sources) is a directory; a directory source copies its
   *contents*; a relative destination is relative to WORKDIR — and
   :func:`digest` turns the plan into the step's content digest.
2. :func:`apply` writes the items into the mounted working snapshot:
   every destination is resolved with ``secure_join`` inside the image root
   (an image's ``/app -> /`` symlink can't send files to the host), missing
   parents are created, ownership is ``--chown`` (default root), modes are
   kept unless ``--chmod``, mtimes are kept.

Sources are read through a :class:`~skiff.build.context.BuildContext` (the
user's context, or a stage or image root for ``COPY --from``), so they never
escape it.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import time
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from skiff.build.cachekey import SourceFile, sources_digest
from skiff.build.context import BuildContext
from skiff.errors import Invalid, NotFound
from skiff.runtime.paths import secure_join


class Item(NamedTuple):
    """One thing to create at ``dest`` (absolute path inside the image)."""

    dest: str
    kind: str  # "file", "dir", "symlink", "data" (inline content), "archive" (ADD: unpack into dest)
    src: str = ""  # host path of the source
    mode: int = 0o644
    data: bytes = b""
    link: str = ""
    mtime: float | None = None


class Options(NamedTuple):
    chown: tuple[int, int] | None = None  # (uid, gid); None: root
    chmod: int | None = None
    unpack: bool = False  # ADD: extract local archives


def parse_chmod(text: str) -> int | None:
    if not text:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise Invalid.field("chmod", f"invalid chmod parameter: '{text}'. it should be octal string", text) from None
    if mode > 0o7777:
        raise Invalid.field("chmod", f"invalid chmod parameter: '{text}'", text)
    return mode


def dest_path(dest: str, workdir: str) -> str:
    """The absolute destination (``.``, relative and trailing-slash forms)."""
    is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    full = posixpath.normpath(posixpath.join(workdir or "/", dest))
    return full + "/" if is_dir and full != "/" else full


def is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(262)
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def plan(ctx: BuildContext, sources: Iterable[str], dest: str, *, inline: Iterable[tuple[str, bytes]] = (),
         unpack: bool = False, instruction: str = "COPY") -> list[Item]:
    """Expand sources into items (errors as Docker words them)."""
    srcs = list(sources)
    inline = list(inline)
    matched: list[str] = []
    for src in srcs:
        found = ctx.glob(src)
        if not found:
            raise NotFound(f"{instruction} failed: file not found in build context or excluded by .dockerignore: "
                           f"stat {src.strip('/') or '.'}: file does not exist")
        matched += found
    multi = len(matched) + len(inline) > 1
    if multi and not dest.endswith("/"):
        raise Invalid.field("dest", f"When using {instruction} with more than one source file, "
                            "the destination must be a directory and end with a /", dest)
    items: list[Item] = []
    for name, data in inline:
        target = posixpath.join(dest, name) if dest.endswith("/") else dest
        items.append(Item(target, "data", mode=0o644, data=data))
    for rel in matched:
        items += _expand(ctx, rel, dest, unpack)
    return items


def _expand(ctx: BuildContext, rel: str, dest: str, unpack: bool) -> list[Item]:
    path = ctx.resolve(rel)
    st = os.stat(path) if os.path.exists(path) else os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        base = dest.rstrip("/") or "/"
        out = [Item(base, "dir", mode=stat.S_IMODE(st.st_mode), mtime=st.st_mtime)] if rel else []
        top = ctx.relative(path)
        for e in ctx.walk(top):
            if e.rel == top:
                continue
            sub = e.rel[len(top) + 1:] if top else e.rel
            out.append(_item(posixpath.join(base, sub), e.path, e.st))
        return out
    target = posixpath.join(dest, posixpath.basename(rel)) if dest.endswith("/") else dest
    if unpack and stat.S_ISREG(st.st_mode) and is_archive(path):
        return [Item(dest.rstrip("/") or "/", "archive", src=path)]
    return [_item(target, path, st)]


def _item(dest: str, path: str, st: os.stat_result) -> Item:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return Item(dest, "dir", path, mode, mtime=st.st_mtime)
    if stat.S_ISLNK(st.st_mode):
        return Item(dest, "symlink", path, mode, link=os.readlink(path), mtime=st.st_mtime)
    if stat.S_ISREG(st.st_mode):
        return Item(dest, "file", path, mode, mtime=st.st_mtime)
    raise Invalid.field("source", f"unsupported file type: {path}", path)


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class DigestCache(Protocol):
    def cache_get(self, key: str) -> str | None: ...

    def cache_put(self, key: str, value: str) -> None: ...


BIG_FILE = 256 << 10  # below this, hashing is cheaper than a cache lookup
RACY = 2.0  # seconds: a file changed this recently may change again within the same timestamp tick


def cached_file_digest(path: str, cache: DigestCache | None) -> tuple[str, int]:
    """(sha256 hex, size) of a file, remembered by its stat identity for big files.

    The key is (device, inode, size, mtime, ctime): any write changes ctime,
    which no user can set, so an unchanged key means unchanged content. Like
    git's "racily clean" rule, files changed in the last two seconds are
    hashed but not remembered (a second write could land in the same tick).
    """
    st = os.stat(path)
    if cache is None or st.st_size < BIG_FILE:
        return file_digest(path), st.st_size
    ident = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{path}"
    key = "file-" + hashlib.sha256(ident.encode()).hexdigest()
    hit = cache.cache_get(key)
    if hit:
        return hit, st.st_size
    value = file_digest(path)
    if time.time() - max(st.st_mtime, st.st_ctime) > RACY:
        cache.cache_put(key, value)
    return value, st.st_size


def digest(items: Iterable[Item], opts: Options, cache: DigestCache | None = None) -> str:
    """The content digest of a planned copy (``cache`` remembers big files' digests)."""
    files = []
    for it in items:
        if it.kind == "file" or it.kind == "archive":
            content, size = cached_file_digest(it.src, cache)
        elif it.kind == "data":
            content, size = hashlib.sha256(it.data).hexdigest(), len(it.data)
        else:
            content, size = it.link, 0
        files.append(SourceFile(it.dest, it.kind, it.mode, 0, 0, size, content))
    files.append(SourceFile("", "options", opts.chmod or 0, *(opts.chown or (0, 0)), 0, ""))
    return sources_digest(files)


# --- writing -------------------------------------------------------------------------


def _make_parents(root: str, dest: str, opts: Options) -> str:
    """Host path for ``dest`` inside ``root``, its missing parents created."""
    parent = secure_join(root, posixpath.dirname(dest.rstrip("/")) or "/")
    if not os.path.isdir(parent):
        missing = []
        p = parent
        while not os.path.isdir(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            if os.path.lexists(d):
                os.unlink(d)
            os.mkdir(d, 0o755)
            _own(d, opts)
    return os.path.join(parent, posixpath.basename(dest.rstrip("/"))) if dest.rstrip("/") else root


def _own(path: str, opts: Options, default: tuple[int, int] = (0, 0)) -> None:
    uid, gid = opts.chown or default
    os.lchown(path, uid, gid)


def apply(root: str, items: Iterable[Item], opts: Options) -> None:
    """Create every item under the mounted image root ``root``."""
    for it in items:
        target = _make_parents(root, it.dest, opts)
        if it.kind == "archive":
            if not os.path.isdir(target):
                os.makedirs(target, 0o755, exist_ok=True)
            extract_archive(root, it.src, it.dest.rstrip("/") or "/", opts)
            continue
        if it.kind == "dir":
            if os.path.lexists(target) and not os.path.isdir(target):
                os.unlink(target)
            if not os.path.isdir(target):
                os.mkdir(target)
            os.chmod(target, opts.chmod if opts.chmod is not None else it.mode)
            _own(target, opts)
            if it.mtime is not None:
                os.utime(target, (it.mtime, it.mtime))
            continue
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.unlink(target)
        if it.kind == "symlink":
            os.symlink(it.link, target)
        else:
            if it.kind == "data":
                with open(target, "wb") as f:
                    f.write(it.data)
            else:
                shutil.copyfile(it.src, target, follow_symlinks=True)
            os.chmod(target, opts.chmod if opts.chmod is not None else it.mode)
        _own(target, opts)
        if it.mtime is not None:
            os.utime(target, (it.mtime, it.mtime), follow_symlinks=False)


def extract_archive(root: str, archive: str, dest: str, opts: Options) -> None:
    """ADD's auto-extraction: members land under ``dest``, resolved inside ``root``."""
    import tarfile

    with tarfile.open(archive, "r:*") as tar:
        for m in tar:
            name = posixpath.normpath("/" + m.name).lstrip("/")
            if not name or name == ".":
                continue
            path = _make_parents(root, posixpath.join(dest, name), opts)
            if m.isdir():
                if not os.path.isdir(path):
                    if os.path.lexists(path):
                        os.unlink(path)
                    os.mkdir(path)
            else:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
                if m.issym():
                    os.symlink(m.linkname, path)
                elif m.islnk():
                    link = secure_join(root, posixpath.join(dest, m.linkname.lstrip("/")))
                    os.link(link, path)
                elif m.isreg():
                    src = tar.extractfile(m)
                    assert src is not None
                    with open(path, "wb") as f:
                        shutil.copyfileobj(src, f, 1 << 20)
                else:
                    continue
            if not m.issym():
                os.chmod(path, m.mode & 0o7777)
            os.lchown(path, *(opts.chown or (m.uid, m.gid)))
            if not m.issym():
                os.utime(path, (m.mtime, m.mtime))
