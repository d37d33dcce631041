"""RUN steps as real containers, through ``skiff.runtime`` in-process.

Each RUN is one short-lived container: its root is the step's working
snapshot (the overlay is mounted inside the container's own mount
namespace, so nothing is left on the host), stdout and stderr are pipes
read from the event loop and handed to the caller as they arrive, stdin is
``/dev/null``. The container is always deleted — on success, failure or
cancellation — and its cgroup with it.

Networking: RUN shares the host's network namespace (Docker's
``--network=host`` for builds). That needs no bridge, works offline and
gives RUN whatever network access the host has; the host's
``/etc/resolv.conf`` and ``/etc/hosts`` are bound read-only into the
container. The spec itself is built by the pure :func:`run_spec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

from skiff.build.store import OutputCallback
from skiff.fdread import read_ready

if TYPE_CHECKING:
    from skiff.oci.runtime_spec import Spec
    from skiff.runtime import Runtime
    from skiff.runtime.rootfs import RootMount

HOST_FILES = ("/etc/resolv.conf", "/etc/hosts")


def run_spec(args: list[str], *, env: list[str], cwd: str, uid: int, gid: int, groups: tuple[int, ...] = (),
             mounts: list[dict[str, Any]] | None = None, hostname: str = "buildkitsandbox",
             cgroups_path: str = "", host_network: bool = True) -> dict[str, Any]:
    """The OCI spec of one RUN container (Docker defaults, host network)."""
    from skiff.oci.defaults import default_spec

    spec = default_spec(args=args, rootfs="rootfs", hostname=hostname)
    proc = spec["process"]
    proc["env"] = list(env)
    proc["cwd"] = cwd or "/"
    proc["user"] = {"uid": uid, "gid": gid, **({"additionalGids": list(groups)} if groups else {})}
    linux = spec["linux"]
    if host_network:
        linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
        # sysfs can't be mounted fresh without owning the netns: bind the host's, read-only
        for m in spec["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="bind", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
        for path in HOST_FILES:
            if os.path.exists(path):
                spec["mounts"].append({"destination": path, "type": "bind", "source": path,
                                       "options": ["rbind", "ro"]})
    spec["mounts"] += mounts or []
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    return spec


class RuntimeRunner:
    """``Runner`` on :class:`skiff.runtime.Runtime`; state under ``runtime_root``."""

    def __init__(self, runtime_root: str, bundle_dir: str) -> None:
        self.runtime_root = runtime_root
        self.bundle_dir = bundle_dir
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        """Created on the first RUN (a fully cached build never loads the runtime)."""
        if self._runtime is None:
            from skiff.runtime import Runtime

            os.makedirs(os.path.join(self.bundle_dir, "rootfs"), exist_ok=True)
            self._runtime = Runtime(self.runtime_root)
        return self._runtime

    async def run(self, container_id: str, spec: Spec, root_mounts: tuple[RootMount, ...],
                  output: OutputCallback) -> int:
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        done = [loop.create_future(), loop.create_future()]
        readers = []
        container = None
        try:
            try:
                container = await asyncio.to_thread(self.runtime.create, container_id, self.bundle_dir, spec=spec,
                                                    stdio=(null, out_w, err_w), root_mounts=root_mounts)
            finally:
                for fd in (null, out_w, err_w):
                    os.close(fd)
            for n, (fd, fut) in enumerate(zip((out_r, err_r), done, strict=True), start=1):
                os.set_blocking(fd, False)
                loop.add_reader(fd, _drain, fd, n, output, fut)
                readers.append(fd)
            self.runtime.start(container_id)
            status = await container.wait_async()
            await asyncio.gather(*done)
            return status.code
        finally:
            for fd in readers:
                loop.remove_reader(fd)
            for fd in (out_r, err_r):
                os.close(fd)
            if container is not None:
                with contextlib.suppress(Exception):
                    self.runtime.delete(container_id, force=True)
                if container.status is None:
                    with contextlib.suppress(ChildProcessError, OSError):
                        container.wait()


def _drain(fd: int, stream: int, output: OutputCallback, fut: asyncio.Future[None]) -> None:
    data = read_ready(fd)
    if data is None:
        return
    if data:
        output(stream, data)
        return
    asyncio.get_running_loop().remove_reader(fd)
    if not fut.done():
        fut.set_result(None)
