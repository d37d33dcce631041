"""``OverlaySnapshotter``: snapshots as plain directories stacked by overlayfs.

Layout under ``root``::

    metadata.db              names, kinds, parents (``metadata.MetaStore``)
    snapshots/<id>/fs        the snapshot's own files: a layer, or a container's upper dir
    snapshots/<id>/work      overlayfs' work dir (active snapshots only)

A committed snapshot's ``fs`` holds exactly one layer, with deletions in
overlayfs' own format (a 0/0 character device per deleted name, the xattr
``trusted.overlay.opaque=y`` on a directory that hides everything below
it), so it can be a lower directory as it is. Layers are unpacked straight
into ``fs`` of a fresh active snapshot (``skiff.images.unpack``), with no
mount at all, and then committed under the layer's chain ID: two images
on the same base therefore share the base's directories.

Mounts returned (data for ``skiff.runtime``, which mounts them inside the
container's mount namespace):

- active, no parent: ``bind`` of ``fs``;
- active with parents: ``overlay`` with ``lowerdir`` = the parents' ``fs``
  (nearest first), ``upperdir`` = ``fs``, ``workdir`` = ``work``;
- view of one layer: read-only ``bind`` of the parent's ``fs``;
- view of several: ``overlay`` with only ``lowerdir`` (read-only by nature).

The overlay option string is limited to one page (4096 bytes) by the
kernel; with ~45-byte paths that allows about 90 layers, and ``prepare``
raises ``Invalid`` beyond it instead of failing at container start.

All methods are synchronous filesystem work; an asyncio caller runs them
in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from skiff.errors import Invalid, NotFound
from skiff.snapshots.metadata import MetaStore, Row
from skiff.snapshots.snapshotter import Info, Kind, Usage

if TYPE_CHECKING:
    from skiff.runtime.rootfs import RootMount

MAX_OPTIONS = 4095


def _module_default_on(param: str) -> bool:
    try:
        with open(f"/sys/module/overlay/parameters/{param}") as f:
            return f.read().strip() in ("Y", "y", "on", "1")
    except OSError:
        return False


def overlay_extra_options() -> tuple[str, ...]:
    """Turn off overlay features that would make upper dirs unreadable as layers.

    With ``metacopy`` a chown copies up only metadata, and with
    ``redirect_dir`` a renamed directory is a pointer: neither upper dir is
    a self-contained diff. Both are off by default on Debian; ask for "off"
    only where the module defaults to on (older kernels reject the option).
    """
    opts = []
    if _module_default_on("metacopy"):
        opts.append("metacopy=off")
    if _module_default_on("redirect_dir"):
        opts.append("redirect_dir=off")
    return tuple(opts)


class OverlaySnapshotter:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._dirs = os.path.join(self.root, "snapshots")
        os.makedirs(self._dirs, exist_ok=True)
        self.meta = MetaStore(os.path.join(self.root, "metadata.db"))
        self._extra = overlay_extra_options()

    def close(self) -> None:
        self.meta.close()

    # --- paths ---------------------------------------------------------------

    def _dir(self, row: Row) -> str:
        return os.path.join(self._dirs, str(row.id))

    def _fs(self, row: Row) -> str:
        return os.path.join(self._dirs, str(row.id), "fs")

    def upper_dir(self, key: str) -> str:
        return self._fs(self.meta.get(key))

    def lower_dirs(self, key: str) -> list[str]:
        row = self.meta.get(key)
        return [self._fs(r) for r in self.meta.chain(row.parent)] if row.parent else []

    # --- queries -------------------------------------------------------------

    def stat(self, key: str) -> Info:
        r = self.meta.get(key)
        return Info(r.name, Kind(r.kind), r.parent, r.created, r.labels)

    def exists(self, key: str) -> bool:
        try:
            self.meta.get(key)
        except NotFound:
            return False
        return True

    def walk(self) -> Iterator[Info]:
        for r in self.meta.all():
            yield Info(r.name, Kind(r.kind), r.parent, r.created, r.labels)

    def usage(self, key: str) -> Usage:
        return dir_usage(self._fs(self.meta.get(key)))

    # --- lifecycle -------------------------------------------------------------

    def prepare(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[RootMount]:
        return self._create(Kind.ACTIVE, key, parent, labels)

    def view(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[RootMount]:
        return self._create(Kind.VIEW, key, parent, labels)

    def prepare_dir(self, key: str, parent: str = "", labels: dict[str, str] | None = None) -> str:
        """``prepare`` for unpacking: the new snapshot's directory instead of its mounts.

        Nothing is mounted while a layer is applied (the layer directory is
        written directly), so callers that only unpack never need the mount
        descriptions, nor the runtime module that defines them.
        """
        row = self._make(Kind.ACTIVE, key, parent, labels)
        return self._fs(row)

    def _create(self, kind: Kind, key: str, parent: str, labels: dict[str, str] | None) -> list[RootMount]:
        row = self._make(kind, key, parent, labels)
        try:
            return self._mounts(row)
        except Invalid:
            self.remove(key)
            raise

    def _make(self, kind: Kind, key: str, parent: str, labels: dict[str, str] | None) -> Row:
        if not key:
            raise Invalid.field("key", "must not be empty")
        with self.meta.transaction() as db:
            row = self.meta.create(db, key, kind.value, parent, labels or {})
            d = self._dir(row)
            shutil.rmtree(d, ignore_errors=True)  # a leftover of a crashed remove
            os.makedirs(os.path.join(d, "fs"), mode=0o755)
            if kind is Kind.ACTIVE:
                os.mkdir(os.path.join(d, "work"), 0o700)
        return row

    def mounts(self, key: str) -> list[RootMount]:
        return self._mounts(self.meta.get(key))

    def _mounts(self, row: Row) -> list[RootMount]:
        from skiff.runtime.rootfs import RootMount
        lowers = [self._fs(r) for r in self.meta.chain(row.parent)] if row.parent else []
        if row.kind == Kind.COMMITTED.value:
            raise Invalid.field("key", f"snapshot {row.name} is committed: make a view or an active one on it")
        if row.kind == Kind.VIEW.value:
            if not lowers:
                return [RootMount("bind", self._fs(row), ("rbind", "ro"))]
            if len(lowers) == 1:
                return [RootMount("bind", lowers[0], ("rbind", "ro"))]
            return [self._overlay([f"lowerdir={':'.join(lowers)}"])]
        if not lowers:
            return [RootMount("bind", self._fs(row), ("rbind", "rw"))]
        d = self._dir(row)
        return [self._overlay([f"lowerdir={':'.join(lowers)}", f"upperdir={d}/fs", f"workdir={d}/work"])]

    def _overlay(self, opts: list[str]) -> RootMount:
        from skiff.runtime.rootfs import RootMount
        options = (*opts, *self._extra)
        if len(",".join(options)) > MAX_OPTIONS:
            raise Invalid.field("parent", "too many layers: the overlay mount options exceed one page")
        return RootMount("overlay", "overlay", options)

    def commit(self, name: str, key: str, labels: dict[str, str] | None = None, *, parent: str | None = None) -> None:
        """Freeze ``key`` as ``name``; ``parent`` (an extension) sets the parent at this point.

        Layers are unpacked in parallel, each into a parentless directory
        (``prepare_dir``), and committed in order: only then do they get
        their parent. Nothing mounts a snapshot before it is committed, so
        no overlay ever sees the directory without its lowers.
        """
        with self.meta.transaction() as db:
            row = self.meta.rename_commit(db, key, name, labels, parent)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(os.path.join(self._dir(row), "work"))

    def remove(self, key: str) -> None:
        with self.meta.transaction() as db:
            row = self.meta.delete(db, key)
            # Move the directory aside inside the transaction, delete it after:
            # a crash leaves a "rm-" directory that the next remove sweeps.
            trash = os.path.join(self._dirs, f"rm-{row.id}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(self._dir(row), trash)
        shutil.rmtree(trash, ignore_errors=True)
        self._sweep_trash()

    def _sweep_trash(self) -> None:
        for entry in os.scandir(self._dirs):
            if entry.name.startswith("rm-"):
                shutil.rmtree(entry.path, ignore_errors=True)


def dir_usage(path: str) -> Usage:
    """Blocks and inodes under ``path`` (hardlinked inodes counted once), like ``du``."""
    size = inodes = 0
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            st = e.stat(follow_symlinks=False)
            if st.st_nlink > 1 and not e.is_dir(follow_symlinks=False):
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            inodes += 1
            size += st.st_blocks * 512
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
    return Usage(size, inodes)
