"""A ``Kernel`` that records calls instead of making them, for unit tests.

It keeps a tiny model of the filesystem (which paths exist and whether they
are directories) so that logic that checks before it creates behaves as it
would on a real tree, and records every call as a tuple in ``calls``.
"""

from __future__ import annotations

import os


class RecordingKernel:
    """Records ``Kernel`` calls; paths in ``dirs``/``files`` "exist"."""

    def __init__(self, dirs: set[str] | None = None, files: set[str] | None = None) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.dirs: set[str] = set(dirs or ()) | {"/"}
        self.files: set[str] = set(files or ())
        self.links: dict[str, str] = {}
        self.flags: dict[str, int] = {}  # path -> mount flags reported by mount_flags
        self.fail: dict[str, OSError] = {}  # op name -> error to raise once
        self._next_fd = 100

    def _record(self, *call: object) -> None:
        op = str(call[0])
        self.calls.append(call)
        if op in self.fail:
            raise self.fail.pop(op)

    def ops(self, name: str) -> list[tuple[object, ...]]:
        """The recorded calls of one operation."""
        return [c for c in self.calls if c[0] == name]

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        self._record("umount", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def chdir(self, path: str) -> None:
        self._record("chdir", path)

    def fchdir(self, fd: int) -> None:
        self._record("fchdir", fd)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._record("mkdir", path, mode)
        self.dirs.add(path)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, mode, device)
        self.files.add(path)

    def symlink(self, target: str, link: str) -> None:
        self._record("symlink", target, link)
        self.files.add(link)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._record("chown", path, uid, gid)

    def chmod(self, path: str, mode: int) -> None:
        self._record("chmod", path, mode)

    def touch(self, path: str) -> None:
        self._record("touch", path)
        self.files.add(path)

    def exists(self, path: str) -> bool:
        path = os.path.normpath(path)
        return path in self.dirs or path in self.files

    def is_dir(self, path: str) -> bool:
        return os.path.normpath(path) in self.dirs

    def write_file(self, path: str, data: str) -> None:
        self._record("write_file", path, data)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)

    def readlink(self, path: str) -> str | None:
        return self.links.get(os.path.normpath(path))

    def open_dir(self, path: str) -> int:
        self._next_fd += 1
        self._record("open_dir", path, self._next_fd)
        return self._next_fd

    def close(self, fd: int) -> None:
        self._record("close", fd)

    def mount_flags(self, path: str) -> int:
        return self.flags.get(os.path.normpath(path), 0)
