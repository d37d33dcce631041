"""Persistent network namespaces as bind-mounted files (what ``ip netns add`` does).

A sandbox's network lives in a namespace of its own, pinned by a bind mount
of its nsfs inode on a file such as ``/run/skiff/netns/<id>``. The namespace
then outlives any process: a container restarted in it keeps its address,
the containers of a pod all join the same file, and the network can be set
up before the container exists (the runtime joins it by path:
``linux.namespaces: [{"type": "network", "path": ...}]``).

Lifecycle:

- ``create(path)``: a short-lived *thread* (not a process: no fork of a
  multi-threaded daemon, no new interpreter) unshares CLONE_NEWNET, which
  only moves that thread, and bind-mounts ``/proc/self/task/<tid>/ns/net``
  on the file; then it brings ``lo`` up and exits. ~1 ms.
- ``run_in(path, fn)``: call ``fn`` in a thread that ``setns``-ed into the
  namespace; sockets ``fn`` opens (netlink, the DNS responder's) stay in it
  for their whole life, whichever thread uses them later. The thread never
  returns to the pool, so no other code ever runs in the wrong namespace.
- ``delete(path)``: lazy unmount + unlink. The kernel frees the namespace,
  and every device in it (a veth's peer included), once the last process
  and mount holding it are gone.

The directory holding the files is made a shared mount point (as ``ip
netns`` does), so an unmount here also reaches copies of it in mount
namespaces created later.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

from skiff.errors import AlreadyExists
from skiff.runtime import syscalls as sc

T = TypeVar("T")

NS_GET_NSTYPE = 0xB703  # ioctl: which kind of namespace an nsfs fd is
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def prepare_dir(directory: str) -> None:
    """Create ``directory`` and make it a shared mount point (idempotent)."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    try:
        sc.mount(None, directory, None, sc.MS_SHARED | sc.MS_REC)
        if _is_mountpoint(directory):
            return
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
    sc.mount(directory, directory, None, sc.MS_BIND | sc.MS_REC)
    sc.mount(None, directory, None, sc.MS_SHARED | sc.MS_REC)


def release_dir(directory: str) -> None:
    """Undo ``prepare_dir``: unmount the directory's self bind mount."""
    while _is_mountpoint(directory):
        sc.umount2(directory, sc.MNT_DETACH)


def _is_mountpoint(path: str) -> bool:
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def _in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh thread and return its result (or raise its error)."""
    box: list[T] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            box.append(fn())
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=body, name="skiff-netns")
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return box[0]


def create(path: str) -> str:
    """A new network namespace pinned at ``path`` (which must not exist), lo up."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    except FileExistsError:
        raise AlreadyExists(f"network namespace {path} exists already") from None

    def body() -> None:
        sc.unshare(sc.CLONE_NEWNET)
        sc.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, sc.MS_BIND)
        _loopback_up()

    try:
        _in_thread(body)
    except BaseException:
        delete(path)
        raise
    return path


def _loopback_up() -> None:
    """``ip link set lo up`` in the calling thread's namespace (two ioctls:
    cheaper than a netlink socket for one flag)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sh22x", b"lo", 0))
        flags = struct.unpack("16sh22x", ifreq)[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


def delete(path: str) -> None:
    """Unpin and remove the namespace file; no error if it is already gone."""
    try:
        sc.umount2(path, sc.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def is_netns(path: str) -> bool:
    """Whether ``path`` is (a bind mount of) a network namespace."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == sc.CLONE_NEWNET
    except OSError:
        return False
    finally:
        os.close(fd)


def run_in(path: str, fn: Callable[[], T]) -> T:
    """``fn()`` evaluated inside the network namespace at ``path``."""
    def body() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(fd, sc.CLONE_NEWNET)
        finally:
            os.close(fd)
        return fn()

    return _in_thread(body)
