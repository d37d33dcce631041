"""``skiff build`` as a user runs it: steps with timings, cache, -q, errors naming the line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skiff.busybox import BUSYBOX

pytestmark = pytest.mark.root
SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")
CGROUP_PARENT = f"/skiff-test-cli-build-{os.getpid()}"


@pytest.fixture(autouse=True)
def _cgroups() -> Iterator[None]:
    yield
    from tests.engine.conftest import _cleanup_cgroups

    _cleanup_cgroups(CGROUP_PARENT)


def skiff_build(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [SKIFF, "build", "--root", str(tmp / "store"), "--run-root", str(tmp / "run"),
           "--cgroup-parent", CGROUP_PARENT, *args]
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_skiff_build(tmp_path: Path) -> None:
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nARG MSG=hi\nRUN echo $MSG > /msg && echo said-$MSG\n"
                                    "COPY . /ctx/\nCMD [\"cat\", \"/msg\"]\n")
    first = skiff_build(tmp_path, "-t", "cli-test", "--build-arg", "MSG=hello", str(ctx))
    assert first.returncode == 0, first.stderr
    assert "[3/5]" in first.stdout and "RUN echo $MSG" in first.stdout and "said-hello" in first.stdout
    assert "Built " in first.stdout and "Tagged cli-test:latest" in first.stdout
    quiet = skiff_build(tmp_path, "-q", "-t", "cli-test", "--build-arg", "MSG=hello", str(ctx))
    assert quiet.returncode == 0 and quiet.stdout.startswith("sha256:") and len(quiet.stdout.strip()) == 71
    again = skiff_build(tmp_path, "-t", "cli-test", "--build-arg", "MSG=hello", str(ctx))
    assert again.stdout.count("cached") == 2 and "said-hello" not in again.stdout
    assert quiet.stdout.strip()[7:19] in again.stdout  # the same image
    (ctx / "Dockerfile.fail").write_text("FROM busybox\n\nRUN exit 9\n")
    failed = skiff_build(tmp_path, "-f", str(ctx / "Dockerfile.fail"), str(ctx))
    assert failed.returncode == 9
    assert "Dockerfile.fail:3: The command '/bin/sh -c exit 9' returned a non-zero code: 9" in failed.stderr
    (ctx / "Dockerfile.bad").write_text("FROM busybox\nCOPY\n")
    bad = skiff_build(tmp_path, "-f", str(ctx / "Dockerfile.bad"), str(ctx))
    assert bad.returncode == 1 and "Dockerfile.bad:2: COPY requires at least two arguments" in bad.stderr
