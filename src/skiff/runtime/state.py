"""Container state on disk: ``<root>/<id>/state.json`` and its exec fifo.

The on-disk record is written once at create (atomically: temp file and
rename) and read by every later command, possibly from another process. The
*status* is never stored; it is derived each time from the kernel, as runc
does:

* no live process with the recorded pid **and** start time -> ``stopped``
  (the start time guards against a recycled pid);
* the exec fifo still exists -> ``created`` (init is waiting for ``start``);
* the freezer says frozen -> ``paused``;
* otherwise -> ``running``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from skiff.errors import AlreadyExists, Invalid, NotFound

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
STATE_FILE = "state.json"
FIFO = "exec.fifo"


def validate_id(container_id: str) -> None:
    if not ID_PATTERN.match(container_id):
        raise Invalid.field("id", f"invalid container id {container_id!r}: use letters, digits, "
                            "'_', '.', '+', '-' (at most 128)", container_id)


class Record(NamedTuple):
    """What a container's state file holds (dict fields are never mutated)."""

    id: str
    bundle: str
    rootfs: str
    created: str
    pid: int = 0
    start_time: int = 0  # field 22 of /proc/<pid>/stat
    owner: str = ""
    annotations: dict[str, str] = {}
    cgroup_path: str = ""
    cgroup_mode: str = ""
    cgroup_dirs: dict[str, str] = {}
    namespaces: dict[str, str] = {}  # type -> path to join for exec
    process: dict[str, Any] = {}  # the spec's process, for exec
    seccomp_flags: int = 0
    oci_version: str = ""

    def public(self, status: str) -> dict[str, Any]:
        """The OCI ``state`` document (what ``runc state`` prints)."""
        return {"ociVersion": self.oci_version, "id": self.id, "pid": self.pid if status != "stopped" else 0,
                "status": status, "bundle": self.bundle, "rootfs": self.rootfs,
                "created": self.created, "owner": self.owner, "annotations": self.annotations}


def proc_start_time(pid: int) -> tuple[int, str] | None:
    """(start time, state letter) of ``pid``, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = raw[raw.rfind(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


class StateDir:
    """The state directory of one runtime root (``/run/skiff/runtime``)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def fifo(self, container_id: str) -> str:
        return os.path.join(self.root, container_id, FIFO)

    def reserve(self, container_id: str) -> str:
        """Make the container's directory; ``AlreadyExists`` if taken."""
        validate_id(container_id)
        os.makedirs(self.root, mode=0o711, exist_ok=True)
        d = self.path(container_id)
        try:
            os.mkdir(d, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container with id {container_id!r} already exists") from None
        fifo = os.path.join(d, FIFO)
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)  # not subject to umask: a non-root init must open it
        return d

    def save(self, rec: Record) -> None:
        d = self.path(rec.id)
        tmp = os.path.join(d, f".{STATE_FILE}.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps(rec._asdict()))  # one C-encoded write: json.dump encodes in Python
        os.replace(tmp, os.path.join(d, STATE_FILE))

    def load(self, container_id: str) -> Record:
        validate_id(container_id)
        try:
            with open(os.path.join(self.path(container_id), STATE_FILE)) as f:
                return Record(**json.load(f))
        except FileNotFoundError:
            raise NotFound(f"container {container_id!r} does not exist") from None

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.exists(os.path.join(self.root, n, STATE_FILE)))

    def remove(self, container_id: str) -> None:
        """Delete the state directory (a few flat files; no shutil import on this path)."""
        d = self.path(container_id)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(d, name))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(d)

    @contextlib.contextmanager
    def lock(self, container_id: str) -> Iterator[None]:
        """Serialise state changes of one container across processes."""
        try:
            fd = os.open(self.path(container_id), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"container {container_id!r} does not exist") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def process_alive(rec: Record) -> bool:
    """Whether the recorded init process still runs (and is not a zombie)."""
    if not rec.pid:
        return False
    info = proc_start_time(rec.pid)
    return info is not None and info[0] == rec.start_time and info[1] not in ("Z", "X")
