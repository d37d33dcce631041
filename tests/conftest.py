"""Fixtures shared by the whole suite: root checks and a busybox root filesystem."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator

import pytest

from skiff.busybox import BUSYBOX, build_rootfs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``root`` are skipped (with a reason) when not run as root."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: real namespaces, cgroups and mounts")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


_TEST_CGROUP = re.compile(r"skiff-test-(?:[a-z]+-)*(\d+)$")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove the cgroup parents of earlier test runs that were killed before their teardown.

    Every test run puts its containers under ``/skiff-test-[<part>-]<pid>``; a
    run killed by a timeout leaves those (empty) directories behind. Only
    parents whose process is gone are touched, so a run in progress beside
    this one keeps its own.
    """
    _remove_test_cgroups(lambda pid: not os.path.exists(f"/proc/{pid}"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """This run's cgroup parents, whichever tests made them (their containers are gone by now)."""
    me = str(os.getpid())
    _remove_test_cgroups(lambda pid: pid == me)


def _remove_test_cgroups(whose: Callable[[str], bool]) -> None:
    if os.geteuid() != 0:
        return
    for top in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            roots = [os.path.join(top, d) for d in os.listdir(top)] if top == "/sys/fs/cgroup" else [top]
        except OSError:
            continue
        for root in [top, *roots]:
            try:
                names = os.listdir(root)
            except OSError:
                continue
            for name in names:
                m = _TEST_CGROUP.match(name)
                if m and whose(m.group(1)):
                    _rmdir_tree(os.path.join(root, name))


def _rmdir_tree(path: str) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda w: -len(w[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass  # still in use (a process inside) or not a cgroup directory: leave it


@pytest.fixture(scope="session")
def busybox_rootfs() -> Iterator[str]:
    """A busybox root filesystem shared (read-only) by every test of the session.

    It lives in a world-traversable directory (pytest's temp dirs are 0700),
    so containers whose root is an unprivileged id in a user namespace can
    still reach it.
    """
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    base = tempfile.mkdtemp(prefix="skiff-test-busybox-")
    os.chmod(base, 0o755)
    path = build_rootfs(os.path.join(base, "rootfs"))
    yield path
    shutil.rmtree(base, ignore_errors=True)
