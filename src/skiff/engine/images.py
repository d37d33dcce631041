"""What the engine needs from the image store, as a Protocol.

The engine never touches layers itself: it asks the image backend for an
image by reference, for the mounts that form a container's root (an active
copy-on-write snapshot over the image's read-only layers, keyed by the
container ID), and for the snapshot's directories when it must read or diff
the container's filesystem (``cp``, ``diff``, ``export``, ``commit``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from skiff.runtime.rootfs import RootMount


class ImageRecord(NamedTuple):
    id: str  # "sha256:<hex>" of the config blob
    repo_tags: tuple[str, ...]
    config: dict[str, Any]  # the OCI image config (its "config" key holds Env, Cmd, ...)
    size: int = 0

    @property
    def run_config(self) -> dict[str, Any]:
        """The image's container defaults (Env, Cmd, Entrypoint, WorkingDir, User, ...)."""
        cfg = self.config.get("config") or {}
        return cfg if isinstance(cfg, dict) else {}


class Image(Protocol):
    """What the engine reads of an image (both stores' records have it)."""

    @property
    def id(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def run_config(self) -> dict[str, Any]: ...


class ImageBackend(Protocol):
    def resolve(self, ref: str) -> Any:
        """The ``Image`` ``ref`` names; ``NotFound("No such image: <ref>")`` otherwise."""
        ...

    def prepare_rootfs(self, key: str, image: Any) -> list[RootMount]:
        """Create (or reuse) the container's writable snapshot; the mounts for its root."""
        ...

    def remove_rootfs(self, key: str) -> None:
        ...

    def container_rootfs_keys(self) -> list[str]:
        """Keys of every container writable snapshot (to find those no container owns)."""
        ...

    def rootfs_layers(self, key: str) -> tuple[list[str], str]:
        """(lower directories, top first; the upper directory) of a container's snapshot."""
        ...
