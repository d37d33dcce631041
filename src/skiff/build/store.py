"""What the builder needs from the image store and the runtime, as Protocols.

The executor never touches the content store, snapshotter or runtime
directly; it talks to these roles:

* :class:`LayerStore` — resolve a base image to its config (whose
  ``rootfs.diff_ids`` are its layer chain); prepare a *working snapshot*
  (a writable layer over a parent chain, as root mounts); turn a working
  snapshot's changes into a new layer (its diff ID; the snapshot is then
  kept, read-only, under the new chain ID); read-only layer directories of a
  chain (to read a stage's or image's files); write an image config +
  manifest and tag it; a small key/value cache index; directories for
  ``RUN --mount=type=cache``.
* :class:`Runner` — run one RUN step: a real container over the working
  snapshot, stdout/stderr streamed to a callback, its exit status returned.

``skiff.build.imagestore.ImageServiceStore`` implements ``LayerStore`` on
skiff's image store (``skiff.images.ImageService``: content store, overlay
snapshotter, names); ``skiff.build.runner.RuntimeRunner`` implements
``Runner`` with ``skiff.runtime``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:  # annotations only: importing them costs the cached build ~10 ms
    from skiff.oci.runtime_spec import Spec
    from skiff.runtime.rootfs import RootMount


class ImageInfo(NamedTuple):
    id: str  # "sha256:<hex>" of the config blob
    config: dict[str, Any]  # the OCI image config document

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])


class Snapshot(NamedTuple):
    """A writable layer over a parent chain."""

    key: str
    mounts: tuple[RootMount, ...]  # what forms the root: an overlay, or a bind of ``upper``
    upper: str  # host directory holding this layer's changes


class Layer(NamedTuple):
    diff_id: str  # sha256 of the uncompressed layer tar
    chain_id: str
    size: int  # bytes of the uncompressed tar


class LayerStore(Protocol):
    def resolve_image(self, ref: str) -> ImageInfo:
        """The image ``ref`` names (name, name:tag, ID or ID prefix); ``NotFound`` otherwise."""
        ...

    def has_chain(self, chain_id: str) -> bool:
        """Whether the layers up to ``chain_id`` are present (a cache hit is usable)."""
        ...

    def prepare(self, key: str, parent: str) -> Snapshot:
        """A new working snapshot ``key`` over chain ``parent`` (``""``: empty)."""
        ...

    def commit(self, key: str, parent: str) -> Layer | None:
        """The working snapshot's changes as a layer (``None`` if it changed nothing).

        Always removes the working snapshot; the layer's files stay available
        under the new chain ID.
        """
        ...

    def remove(self, key: str) -> None:
        """Discard a working snapshot (idempotent)."""
        ...

    def layer_dirs(self, chain_id: str) -> list[str]:
        """Read-only directories of every layer up to ``chain_id``, top first (overlay lowerdir order)."""
        ...

    def create_image(self, config: dict[str, Any], tags: list[str]) -> str:
        """Store config + manifest for ``config`` (its diff IDs must exist), tag it; the image ID."""
        ...

    def cache_get(self, key: str) -> str | None:
        ...

    def cache_put(self, key: str, value: str) -> None:
        ...

    def cache_mount_dir(self, cache_id: str) -> str:
        """A persistent directory for ``RUN --mount=type=cache,id=<cache_id>``."""
        ...


OutputCallback = Callable[[int, bytes], None]  # (1 = stdout | 2 = stderr, data)


class Runner(Protocol):
    async def run(self, container_id: str, spec: Spec, root_mounts: tuple[RootMount, ...],
                  output: OutputCallback) -> int:
        """Run the container to completion; its exit code (128+N for signal N)."""
        ...
