"""Runtime fixtures: a private state root, bundles from the default spec,
and running a container with its output captured.

Every container a test creates lives under its own runtime root and its own
cgroup parent (``/skiff-test-<pid>``); teardown force-deletes whatever is
left and checks that no cgroup directory survived.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from skiff.oci.defaults import default_spec
from skiff.oci.runtime_spec import Spec
from skiff.runtime import Runtime
from skiff.runtime.cgroups import detect
from skiff.runtime.container import ExitStatus

CGROUP_PARENT = f"/skiff-test-{os.getpid()}"


@dataclass
class Result:
    status: ExitStatus
    out: str
    err: str


class Bundles:
    """Makes bundles (config.json + the shared busybox rootfs) in a temp dir."""

    def __init__(self, base: str, rootfs: str) -> None:
        self.base = base
        self.rootfs = rootfs

    def spec(self, args: list[str], mutate: Callable[[dict[str, Any]], None] | None = None,
             **kw: Any) -> dict[str, Any]:
        doc = default_spec(args=args, rootfs=self.rootfs, **kw)
        doc["root"]["readonly"] = True  # the rootfs is shared by the whole session
        doc["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "mode=1777"]})
        doc["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{uuid.uuid4().hex[:12]}"
        if mutate:
            mutate(doc)
        return doc

    def write(self, doc: dict[str, Any]) -> str:
        d = os.path.join(self.base, uuid.uuid4().hex[:8])
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(doc, f)
        return d

    def make(self, args: list[str], mutate: Callable[[dict[str, Any]], None] | None = None,
             **kw: Any) -> str:
        return self.write(self.spec(args, mutate, **kw))


@pytest.fixture
def bundles(tmp_path: Any, busybox_rootfs: str) -> Bundles:
    return Bundles(str(tmp_path / "bundles"), busybox_rootfs)


def _leftover_cgroups() -> list[str]:
    layout = detect()
    roots = [h.mountpoint for h in layout.hierarchies] or [layout.unified or ""]
    out = []
    for root in roots:
        d = os.path.join(root, CGROUP_PARENT.lstrip("/"))
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d) if os.path.isdir(os.path.join(d, n))]
    return out


@pytest.fixture
def rt(tmp_path: Any) -> Iterator[Runtime]:
    runtime = Runtime(str(tmp_path / "state"))
    yield runtime
    for cid in runtime.states.ids():
        try:
            runtime.delete(cid, force=True)
        except Exception:  # best effort, then report below
            pass
    leftovers = _leftover_cgroups()
    for d in leftovers:
        try:
            os.rmdir(d)
        except OSError:
            pass
    assert not leftovers, f"cgroups left behind: {leftovers}"


@pytest.fixture(scope="session", autouse=True)
def _remove_cgroup_parent() -> Iterator[None]:
    yield
    if os.geteuid() != 0:
        return
    layout = detect()
    for root in [h.mountpoint for h in layout.hierarchies] + [layout.unified or ""]:
        d = os.path.join(root, CGROUP_PARENT.lstrip("/"))
        if os.path.isdir(d):
            try:
                os.rmdir(d)
            except OSError:
                pass


def run(rt: Runtime, doc: dict[str, Any], bundle_dir: str, stdin: bytes = b"") -> Result:
    """Run a container from ``doc`` to completion, capturing stdout and stderr."""
    spec = Spec.parse(copy.deepcopy(doc))
    cid = "t" + uuid.uuid4().hex[:10]
    out_path = os.path.join(bundle_dir, f"{cid}.out")
    err_path = os.path.join(bundle_dir, f"{cid}.err")
    in_path = os.path.join(bundle_dir, f"{cid}.in")
    with open(in_path, "wb") as f:
        f.write(stdin)
    with open(in_path, "rb") as i, open(out_path, "wb") as o, open(err_path, "wb") as e:
        status = rt.run(cid, bundle_dir, spec=spec, stdio=(i.fileno(), o.fileno(), e.fileno()))
    with open(out_path) as o, open(err_path) as e:
        return Result(status, o.read(), e.read())


@pytest.fixture
def run_container(rt: Runtime, bundles: Bundles, tmp_path: Any) -> Callable[..., Result]:
    """``run_container(["sh", "-c", "..."], mutate=...)`` -> Result."""
    os.makedirs(tmp_path / "io", exist_ok=True)

    def _run(args: list[str], mutate: Callable[[dict[str, Any]], None] | None = None,
             stdin: bytes = b"", **kw: Any) -> Result:
        return run(rt, bundles.spec(args, mutate, **kw), str(tmp_path / "io"), stdin)

    return _run
