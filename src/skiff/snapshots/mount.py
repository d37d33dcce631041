"""Performing snapshot mounts on the host, for the few callers that need a merged view there.

Containers never need this: the runtime performs ``RootMount``s inside the
container's own mount namespace. Host-side code that must *read* a merged
image (tests, ``export`` of an image, a builder's ``COPY --from``) uses
``mounted(mounts)``: a temporary directory with the mounts applied,
unmounted (lazily, so an open file cannot pin it) and removed on exit.
Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skiff.runtime.rootfs import RootMount


def mount_all(mounts: list[RootMount], target: str) -> None:
    from skiff.runtime import syscalls as s
    from skiff.runtime.mountopts import parse_options

    for m in mounts:
        opts = parse_options(m.options)
        if opts.bind:
            s.mount(m.source, target, None, opts.flags & (s.MS_BIND | s.MS_REC))
            if opts.flags & s.MS_RDONLY:
                s.mount(None, target, None, s.MS_BIND | s.MS_REMOUNT | s.MS_RDONLY)
        else:
            s.mount(m.source, target, m.type, opts.flags, opts.data or None)


@contextlib.contextmanager
def mounted(mounts: list[RootMount], parent: str | None = None) -> Iterator[str]:
    from skiff.runtime import syscalls as s

    target = tempfile.mkdtemp(prefix="skiff-mnt-", dir=parent)
    try:
        mount_all(mounts, target)
        try:
            yield target
        finally:
            for _ in mounts:
                with contextlib.suppress(OSError):
                    s.umount2(target, s.MNT_DETACH)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(target)
        if os.path.exists(target) and not os.path.ismount(target):
            shutil.rmtree(target, ignore_errors=True)
