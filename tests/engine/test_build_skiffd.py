"""``docker build`` against the real ``skiffd`` process, and ``skiff build`` into the store it serves.

The image a build writes is an ordinary image of the daemon's store: listed,
inspected, its history shown, run, pushed to a registry, removed, pulled back
and garbage-collected like any other, whether the daemon built it (``POST
/build``) or ``skiff build`` did in its own process while the daemon ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engine.test_skiffd import CGROUP_PARENT, Skiffd, skiffd  # noqa: F401 - fixture
from tests.imagekit import busybox_tar, registry  # noqa: F401 - fixtures

pytestmark = pytest.mark.root
SKIFF = os.path.join(os.path.dirname(sys.executable), "skiff")

DOCKERFILE = """\
FROM busybox AS tool
RUN echo made-by-tool > /made
FROM busybox
ARG WHO=world
COPY --from=tool /made /made
COPY hello.txt /hello.txt
RUN echo "hi $WHO" > /greeting
CMD ["cat", "/hello.txt", "/made", "/greeting"]
"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    os.environ.pop("DOCKER_BUILDKIT", None)  # the CLI falls back to the legacy POST /build
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "hello.txt").write_text("hello\n")
    return tmp_path


def test_docker_build_then_images_history_run_push_pull(skiffd: Skiffd, context: Path,  # noqa: F811
                                                        registry: Any) -> None:  # noqa: F811
    out = skiffd.docker("build", "-t", "app:1", "--build-arg", "WHO=docker", str(context)).stdout
    assert "Step 1/8 : FROM busybox AS tool" in out and "Successfully tagged app:1" in out
    image_id = json.loads(skiffd.docker("image", "inspect", "app:1").stdout)[0]["Id"]
    assert out.split("Successfully built ")[1][:12] == image_id[7:19]
    assert skiffd.docker("run", "--rm", "app:1").stdout == "hello\nmade-by-tool\nhi docker\n"
    rows = skiffd.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    assert f"app:1 {image_id[7:19]}" in rows
    history = skiffd.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "app:1").stdout
    lines = history.strip().split("\n")
    assert lines[0].startswith('/bin/sh -c #(nop)  CMD ["cat" "/hello.txt" "/made" "/greeting"]|0B')
    assert lines[1] == '|1 WHO=docker /bin/sh -c echo "hi $WHO" > /greeting|' + lines[1].split("|")[2]
    doc = json.loads(skiffd.docker("image", "inspect", "app:1").stdout)[0]
    assert len(doc["RootFS"]["Layers"]) == 4 and doc["Config"]["Cmd"] == ["cat", "/hello.txt", "/made", "/greeting"]
    again = skiffd.docker("build", "-t", "app:1", "--build-arg", "WHO=docker", str(context)).stdout
    assert again.count("Using cache") == 4 and f"Successfully built {image_id[7:19]}" in again
    # through a registry and back
    ref = f"{registry.host}/skiff/app:1"
    skiffd.docker("tag", "app:1", ref)
    assert "digest: sha256:" in skiffd.docker("push", ref).stdout
    skiffd.docker("rmi", ref, "app:1")
    assert "app" not in skiffd.docker("images", "--format", "{{.Repository}}").stdout.split("\n")
    skiffd.docker("pull", ref)
    assert json.loads(skiffd.docker("image", "inspect", ref).stdout)[0]["Id"] == image_id
    assert skiffd.docker("run", "--rm", ref).stdout == "hello\nmade-by-tool\nhi docker\n"
    skiffd.docker("rmi", ref)
    # a base image the daemon does not have is pulled, as docker build does
    (context / "Dockerfile.child").write_text(f"FROM {ref}\nRUN cat /greeting\n")
    child = skiffd.docker("build", "-q", "-f", str(context / "Dockerfile.child"), str(context)).stdout.strip()
    assert skiffd.docker("run", "--rm", child, "cat", "/made").stdout == "made-by-tool\n"
    assert ref in skiffd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_skiff_build_into_the_daemons_store(skiffd: Skiffd, context: Path) -> None:  # noqa: F811
    """``skiff build --root <the daemon's root>``: a second process writing the store the daemon serves."""
    p = subprocess.run([SKIFF, "build", "-q", "--root", os.path.join(skiffd.base, "root"), "--run-root",
                        os.path.join(skiffd.base, "build-run"), "--cgroup-parent", f"{CGROUP_PARENT}/cli-build",
                        "-t", "cli-built:1", "--build-arg", "WHO=cli", str(context)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    image_id = p.stdout.strip()
    assert json.loads(skiffd.docker("image", "inspect", "cli-built:1").stdout)[0]["Id"] == image_id
    assert skiffd.docker("run", "--rm", "cli-built:1").stdout == "hello\nmade-by-tool\nhi cli\n"
    # the daemon's own build of the same Dockerfile hits the cache the CLI filled
    out = skiffd.docker("build", "-t", "cli-built:2", "--build-arg", "WHO=cli", str(context)).stdout
    assert out.count("Using cache") == 4 and f"Successfully built {image_id[7:19]}" in out
    skiffd.docker("rmi", "cli-built:1", "cli-built:2")
    pruned = skiffd.docker("image", "prune", "-f").stdout
    assert "Total reclaimed space" in pruned


def test_docker_builder_prune(skiffd: Skiffd, context: Path) -> None:  # noqa: F811
    skiffd.docker("build", "-q", "-t", "pruned:1", str(context))
    out = skiffd.docker("builder", "prune", "-f").stdout
    assert "Deleted build cache objects" in out and "Total reclaimed space" in out
    again = skiffd.docker("build", "-t", "pruned:1", str(context)).stdout
    assert "Using cache" not in again and "Successfully tagged pruned:1" in again
    skiffd.docker("rmi", "pruned:1")
