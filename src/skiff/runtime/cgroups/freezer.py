"""Freezing a container's processes (pause/resume, and a stable kill-all).

v1 writes ``FROZEN``/``THAWED`` to ``freezer.state`` and polls until the state
is no longer ``FREEZING``; v2 writes 1/0 to ``cgroup.freeze`` and polls the
``frozen`` key of ``cgroup.events``.
"""

from __future__ import annotations

import time

from skiff.runtime.cgroups import fs

_TIMEOUT = 5.0


def _wait(check: object, what: str) -> None:
    deadline = time.monotonic() + _TIMEOUT
    delay = 0.0005
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"cgroup did not become {what} within {_TIMEOUT}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def freeze_v1(d: str) -> None:
    fs.write(d, "freezer.state", "FROZEN")
    _wait(lambda: fs.read(d, "freezer.state") == "FROZEN", "frozen")


def thaw_v1(d: str) -> None:
    fs.write(d, "freezer.state", "THAWED")
    _wait(lambda: fs.read(d, "freezer.state") == "THAWED", "thawed")


def frozen_v1(d: str) -> bool:
    try:
        return fs.read(d, "freezer.state") == "FROZEN"
    except FileNotFoundError:
        return False


def freeze_v2(d: str) -> None:
    fs.write(d, "cgroup.freeze", 1)
    _wait(lambda: frozen_v2(d), "frozen")


def thaw_v2(d: str) -> None:
    fs.write(d, "cgroup.freeze", 0)
    _wait(lambda: not frozen_v2(d), "thawed")


def frozen_v2(d: str) -> bool:
    return fs.read_keyed(d, "cgroup.events").get("frozen", 0) == 1
