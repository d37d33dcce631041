"""Fixtures shared by the whole suite: root checks and a busybox root filesystem."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

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
