"""Real builds as root: an ``ImageService`` store (through ``ImageServiceStore``)
with the busybox base image, a runtime runner, a private cgroup parent;
everything removed afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skiff.build.context import BuildContext
from skiff.build.executor import Builder, BuildOptions, BuildResult
from skiff.build.imagestore import ImageServiceStore
from skiff.build.instparse import parse_dockerfile
from skiff.build.runner import RuntimeRunner
from skiff.images.service import ImageService
from tests.imagekit import registry, run_image, state_root, svc  # noqa: F401  (fixtures: the store's own tests')


class Recorder:
    """A Reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def step(self, stage: str, number: int, total: int, text: str) -> None:
        self.events.append(("step", stage, number, total, text))

    def cached(self, stage: str) -> None:
        self.events.append(("cached", stage))

    def running(self, stage: str, container_id: str) -> None:
        self.events.append(("running", stage))

    def output(self, stage: str, stream: int, data: bytes) -> None:
        self.events.append(("output", stream, data))

    def removed(self, stage: str, container_id: str) -> None:
        self.events.append(("removed", stage))

    def step_done(self, stage: str, image_id: str, seconds: float) -> None:
        self.events.append(("done", stage, image_id))

    def message(self, text: str) -> None:
        self.events.append(("message", text))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]

    def text(self) -> str:
        return b"".join(e[2] for e in self.of("output")).decode()


class Env:
    def __init__(self, base: str, busybox: str) -> None:
        self.base = base
        self.service = ImageService(os.path.join(base, "store"))
        self.store = ImageServiceStore(self.service)
        self.busybox_id = self.store.import_rootfs("busybox", busybox)
        self.runner = RuntimeRunner(os.path.join(base, "runtime"), os.path.join(base, "bundle"))
        self.cgroup_parent = f"/skiff-test-build-{os.getpid()}"

    def build(self, ctx_dir: Path, dockerfile: str | None = None, store: ImageServiceStore | None = None,
              **opts: Any) -> tuple[BuildResult, Recorder]:
        if dockerfile is not None:
            (ctx_dir / "Dockerfile").write_text(dockerfile)
        rec = Recorder()
        store = store or self.store
        builder = Builder(store, self.runner, os.path.join(self.base, "work"), rec)
        text = (ctx_dir / "Dockerfile").read_text()
        with BuildContext(str(ctx_dir)) as ctx, store:
            result = asyncio.run(builder.build(parse_dockerfile(text), ctx,
                                               BuildOptions(cgroup_parent=self.cgroup_parent, **opts)))
        return result, rec

    def leftovers(self) -> list[str]:
        """Working snapshots, runtime state or mounts a build left behind."""
        out = [f"snapshot/{i.name}" for i in self.service.snapshots.walk() if i.kind.value != "committed"]
        out += [f"ingest/{i.ref}" for i in self.service.content.ingests()]
        runtime = os.path.join(self.base, "runtime")
        if os.path.isdir(runtime):
            out += [f"runtime/{n}" for n in os.listdir(runtime) if not n.startswith(".")]
        with open("/proc/self/mountinfo") as f:
            out += [line.split()[4] for line in f if self.base in line.split()[4]]
        work = os.path.join(self.base, "work")
        if os.path.isdir(work):
            out += [f"work/{n}" for n in os.listdir(work)]
        return out


@pytest.fixture(scope="session")
def build_env(busybox_rootfs: str) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.skip("real builds need root")
    base = tempfile.mkdtemp(prefix="skiff-test-build-")
    os.chmod(base, 0o755)
    env = Env(base, busybox_rootfs)
    yield env
    env.service.close()
    from tests.engine.conftest import _cleanup_cgroups

    _cleanup_cgroups(env.cgroup_parent)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ctx_dir(tmp_path: Path) -> Path:
    d = tmp_path / "ctx"
    d.mkdir()
    return d


def run_in(env: Env, image_id: str, *argv: str) -> str:
    """Run a command in a built image, on a container snapshot of the store (as the engine
    does: ``prepare_rootfs``), with the build's runner; its stdout."""
    from skiff.build.runner import run_spec
    from skiff.oci.runtime_spec import Spec

    rec = env.service.get(image_id)
    key = "test-" + os.urandom(8).hex()
    mounts = env.service.prepare_rootfs(key, rec)
    out: list[bytes] = []
    cfg = rec.run_config
    spec = run_spec(list(argv), env=cfg.get("Env") or [], cwd=cfg.get("WorkingDir") or "/", uid=0, gid=0,
                    cgroups_path=f"{env.cgroup_parent}/{key}")
    try:
        code = asyncio.run(env.runner.run(key, Spec.parse(spec), tuple(mounts),
                                          lambda s, d: out.append(d) if s == 1 else None))
    finally:
        env.service.remove_rootfs(key)
    assert code == 0
    return b"".join(out).decode()
