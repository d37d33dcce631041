"""Steps shared by the v1 and v2 managers: making, emptying, removing dirs."""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable

from skiff.runtime.cgroups import fs


def makedirs(path: str, stop: str, on_new: Callable[[str], None] | None = None) -> None:
    """``mkdir -p path`` below ``stop``, calling ``on_new`` for each new dir, top down."""
    missing = []
    d = path
    while d != stop and not os.path.isdir(d):
        missing.append(d)
        d = os.path.dirname(d)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue
        if on_new:
            on_new(d)


def read_pids(d: str) -> list[int]:
    try:
        return [int(x) for x in fs.read(d, "cgroup.procs").split()]
    except FileNotFoundError:
        return []


def kill_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def rmdir_retry(d: str, timeout: float = 5.0) -> None:
    """Remove a cgroup dir, waiting out EBUSY while exiting tasks drain.

    A cgroup can't be removed while it has tasks, and a killed task leaves
    only once its parent has reaped it; so we retry with a short back-off,
    SIGKILLing stragglers, before reporting the directory as busy.
    """
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OSError(e.errno, f"removing cgroup: {e.strerror}", d) from None
        kill_pids(read_pids(d), signal.SIGKILL)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
