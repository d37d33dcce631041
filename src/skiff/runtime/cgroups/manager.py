"""The cgroup of one container: the role both v1 and v2 implementations play.

Lifecycle: ``create`` (make the directories and apply the limits) before the
container's first process exists; the process joins by writing its own pid
to each of ``procs_files()`` (done in the child, so it is born inside);
``stats``/``freeze``/``thaw``/``kill_all`` while it runs; ``destroy`` after
every process has exited.
"""

from __future__ import annotations

import os
from typing import Protocol

from skiff.errors import Invalid
from skiff.oci.runtime_spec import Resources
from skiff.runtime.cgroups.layout import Layout
from skiff.runtime.cgroups.stats import Stats
from skiff.runtime.rootfs import CgroupBind


class CgroupManager(Protocol):
    path: str

    def create(self, resources: Resources) -> None: ...
    def update(self, resources: Resources) -> None: ...
    def procs_files(self) -> list[str]: ...
    def add(self, pid: int) -> None: ...
    def pids(self) -> list[int]: ...
    def stats(self) -> Stats: ...
    def oom_kills(self) -> int: ...
    def freeze(self) -> None: ...
    def thaw(self) -> None: ...
    def frozen(self) -> bool: ...
    def kill_all(self, sig: int) -> None: ...
    def destroy(self) -> None: ...
    def binds(self) -> list[CgroupBind]: ...
    def paths(self) -> dict[str, str]: ...


def container_path(cgroups_path: str, container_id: str) -> str:
    """The cgroup path of a container (``/skiff/<id>`` unless the spec says).

    systemd's ``slice:prefix:name`` form is mapped to a plain path
    (``/system.slice/prefix-name.scope``) since skiff drives cgroupfs itself.
    """
    if not cgroups_path:
        return f"/skiff/{container_id}"
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise Invalid.field("linux.cgroupsPath", "expected slice:prefix:name", cgroups_path)
        slice_, prefix, name = parts
        return f"/{slice_ or 'system.slice'}/{prefix}-{name}.scope"
    if ".." in cgroups_path.split("/"):
        raise Invalid.field("linux.cgroupsPath", "must not contain ..", cgroups_path)
    return cgroups_path


def join(base: str, own: str, path: str) -> str:
    """Directory of ``path`` in a hierarchy mounted at ``base``.

    Absolute paths start at the hierarchy root; relative ones at the caller's
    own cgroup ``own`` (as runc treats them).
    """
    rel = path if path.startswith("/") else os.path.join(own, path)
    return os.path.join(base, rel.lstrip("/"))


def new_manager(layout: Layout, path: str) -> CgroupManager:
    """The v1 or v2 manager for ``path`` under ``layout``."""
    from skiff.runtime.cgroups.v1 import V1Manager
    from skiff.runtime.cgroups.v2 import V2Manager

    if layout.mode == "v2":
        return V2Manager(layout, path)
    return V1Manager(layout, path)
