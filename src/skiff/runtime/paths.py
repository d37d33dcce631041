"""Resolving untrusted paths inside a container root without escaping it.

A container's root is a tree the image author controls: ``/etc`` may be a
symlink to ``/``, ``/proc/../..`` may be spelled in a mount destination, and a
symlink may point at ``../../../host``. ``secure_join`` resolves such a path
*as the container would see it* (symlinks re-rooted at the container root,
``..`` clamped at the root), so the result always lies under ``root``.

``secure_join`` is pure apart from the ``readlink`` callback it is given, so
its one invariant (never outside ``root``) is property-tested without a
filesystem.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

MAX_SYMLINKS = 255


def os_readlink(path: str) -> str | None:
    """The symlink target at ``path``, or ``None`` if it is not a symlink."""
    try:
        return os.readlink(path)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def secure_join(root: str, unsafe: str, readlink: Callable[[str], str | None] = os_readlink) -> str:
    """``root`` joined with ``unsafe``, every symlink resolved inside ``root``.

    Components that do not exist are kept as plain names (they will be
    created), so the result is where a mount or file *should* go.

    Worked example, with ``root/etc -> /`` and ``root/a -> ../../b``:
    ``secure_join(root, "/etc/passwd") == root + "/passwd"`` and
    ``secure_join(root, "a/c") == root + "/b/c"``.
    """
    root = os.path.normpath(root)
    pending = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        target = readlink(candidate)
        if target is None:
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", unsafe)
        if target.startswith("/"):
            resolved = []
        pending = [p for p in target.split("/") if p] + pending
    return os.path.join(root, *resolved) if resolved else root


def within(root: str, path: str) -> bool:
    """Whether normalised ``path`` is ``root`` or below it."""
    root = os.path.normpath(root)
    path = os.path.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")
