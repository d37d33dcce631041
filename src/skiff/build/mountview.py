"""Temporary host mounts of layer stacks, for steps that touch files directly.

COPY and ADD write into a working snapshot, and ``COPY --from`` reads a
stage's or image's files; both need the layers merged as overlayfs merges
them (whiteouts, opaque directories). :func:`mounted` mounts root mounts
(a working snapshot's overlay) on a fresh directory; :func:`view` mounts a
read-only overlay of layer directories. Both unmount (lazily, so an open fd
can't pin it) and remove the directory when the block ends, whatever
happens in it.

Overlayfs needs two or more lower directories when it has no upper one, so
a one-layer view is the layer directory itself and an empty stack is an
empty directory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from skiff.runtime import syscalls
from skiff.runtime.mountopts import parse_options
from skiff.runtime.rootfs import RootMount


@contextlib.contextmanager
def mounted(mounts: tuple[RootMount, ...] | list[RootMount], base: str) -> Iterator[str]:
    target = tempfile.mkdtemp(prefix="mnt-", dir=base)
    count = 0
    try:
        for m in mounts:
            opts = parse_options(m.options)
            syscalls.mount(m.source, target, m.type, opts.flags, opts.data or None)
            count += 1
        yield target
    finally:
        for _ in range(count):
            syscalls.umount2(target, syscalls.MNT_DETACH)
        os.rmdir(target)


@contextlib.contextmanager
def view(layer_dirs: list[str], base: str) -> Iterator[str]:
    """A read-only merged view of ``layer_dirs`` (top first)."""
    if len(layer_dirs) == 1:
        yield layer_dirs[0]
        return
    if not layer_dirs:
        empty = tempfile.mkdtemp(prefix="empty-", dir=base)
        try:
            yield empty
        finally:
            os.rmdir(empty)
        return
    with mounted([RootMount("overlay", "overlay", ("ro", "lowerdir=" + ":".join(layer_dirs)))], base) as path:
        yield path
