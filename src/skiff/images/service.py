"""``ImageService``: the one facade over content, snapshots, names, registries and archives.

State under ``root`` (default ``/var/lib/skiff``)::

    content/     blobs (``skiff.content.LocalStore``)
    snapshots/   layer and container directories (``skiff.snapshots.OverlaySnapshotter``)
    images/      names → manifests (``skiff.images.store.ImageStore``)

What the engine calls, in-process:

- ``get(ref)``/``resolve(ref)`` → ``ImageRecord`` (by name, ID or ID prefix, or repo@digest);
- ``prepare_rootfs(key, image)`` → the ``RootMount`` list of a new active
  snapshot on top of the image (unpacking it first if needed), for
  ``Runtime.create(root_mounts=...)``; ``remove_rootfs(key)``;
  ``rootfs_layers(key)`` → (lower dirs, upper dir);
- ``diff(key)`` → a new layer blob from a container's changes;
  ``commit(key, base, ...)`` and ``create_image(...)`` → new images
  (``docker commit``, the builder);
- ``pull``/``push`` are ``async`` (network); every other method is
  synchronous filesystem work that an asyncio daemon runs with
  ``asyncio.to_thread``.

The methods are thin where the work lives elsewhere: image creation in
``skiff.images.create``, garbage collection in ``skiff.images.gc``,
unpacking in ``skiff.images.unpacker``, archives in
``skiff.images.archive``, registries in ``skiff.registry``.

Untagged ("dangling") images keep a name of the form ``sha256:<image id>``
so that the content stays rooted until ``prune``; a tag that moves to a new
image leaves its old image dangling, as Docker does.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from skiff.content.local import LocalStore
from skiff.errors import Conflict, Invalid, NotFound, SkiffError
from skiff.images.record import ImageRecord, familiar_tags, repo_digests
from skiff.images.store import ImageStore, NamedImage
from skiff.oci import reference
from skiff.oci.descriptor import Descriptor
from skiff.oci.image_config import ImageConfig
from skiff.oci.manifest import Index, Manifest, parse
from skiff.oci.platform import Platform, host
from skiff.snapshots.overlay import OverlaySnapshotter

if TYPE_CHECKING:
    from skiff.images.layers import Layer
    from skiff.runtime.rootfs import RootMount

# Imported where used: image creation, unpacking (tarfile, threads) and GC
# cost import time that ``skiff images`` should not pay.
DEFAULT_ROOT = "/var/lib/skiff"
CONTAINER_LABEL = "skiff.io/container"


class GcResult(NamedTuple):
    blobs: list[str]
    bytes: int
    snapshots: list[str]


def is_dangling_name(name: str) -> bool:
    return name.startswith("sha256:")


class ImageService:
    def __init__(self, root: str = DEFAULT_ROOT, *, platform: Platform | None = None,
                 compression: str = "gzip", compression_level: int | None = None,
                 insecure_registries: tuple[str, ...] = (), auth_file: str | None = None) -> None:
        self.root = os.path.abspath(root)
        self.content = LocalStore(os.path.join(self.root, "content"))
        self.snapshots = OverlaySnapshotter(os.path.join(self.root, "snapshots"))
        os.makedirs(os.path.join(self.root, "images"), exist_ok=True)
        self.store = ImageStore(os.path.join(self.root, "images", "images.db"))
        self.platform = platform or host()
        self.compression = compression
        self.compression_level = compression_level
        self.insecure_registries = insecure_registries
        self.auth_file = auth_file
        self._docs: dict[str, Any] = {}  # digest -> parsed manifest/config (blobs are immutable)

    def close(self) -> None:
        self.store.close()
        self.snapshots.close()

    # --- reading content -------------------------------------------------------

    def manifest(self, digest: str) -> Manifest | Index:
        doc = self._docs.get(digest)
        if doc is None:
            doc = parse(self.content.read(digest))
            self._docs[digest] = doc
        return doc

    def image_manifest(self, target: Descriptor) -> Manifest:
        m = self.manifest(target.digest)
        if isinstance(m, Index):  # stored indexes resolve to this machine's entry
            from skiff.oci.manifest import select

            return self.image_manifest(select(m, self.platform))
        return m

    def config(self, digest: str) -> dict[str, Any]:
        key = "config:" + digest
        doc = self._docs.get(key)
        if doc is None:
            doc = ImageConfig.parse(self.content.read(digest)).raw
            self._docs[key] = doc
        return doc

    def _record(self, target: Descriptor, named: builtins.list[NamedImage]) -> ImageRecord:
        m = self.image_manifest(target)
        cfg = self.config(m.config.digest)
        names = [n.name for n in named if not is_dangling_name(n.name)]
        labels = [n.labels for n in named if not is_dangling_name(n.name)]
        size = m.config.size + sum(layer.size for layer in m.layers)
        return ImageRecord(m.config.digest, familiar_tags(names), cfg, size, tuple(names),
                           repo_digests(names, target.digest, labels), target, m)

    # --- names -------------------------------------------------------------------

    def list(self) -> builtins.list[ImageRecord]:
        """One record per image ID, newest first."""
        groups: dict[str, list[NamedImage]] = {}
        targets: dict[str, Descriptor] = {}
        for n in self.store.list():
            try:
                image_id = self.image_manifest(n.target).config.digest
            except (SkiffError, OSError):
                continue  # content missing: invisible until pulled again
            groups.setdefault(image_id, []).append(n)
            if image_id not in targets or not is_dangling_name(n.name):
                targets[image_id] = n.target
        records = [self._record(targets[i], g) for i, g in groups.items()]
        return sorted(records, key=lambda r: r.created_ts, reverse=True)

    def get(self, ref: str) -> ImageRecord:
        """The image ``ref`` names: a name, ``name@digest``, an image ID or an ID prefix."""
        named, _ = self._lookup(ref)
        image_id = self.image_manifest(named[0].target).config.digest
        same = [n for n in self.store.list() if n.target.digest == named[0].target.digest
                or self.image_id_of(n) == image_id]
        return self._record(named[0].target, same or named)

    resolve = get

    def image_id_of(self, n: NamedImage) -> str:
        try:
            return self.image_manifest(n.target).config.digest
        except (SkiffError, OSError):
            return ""

    def _lookup(self, ref: str) -> tuple[builtins.list[NamedImage], bool]:
        """(the names ``ref`` matches, whether it matched as an image ID)."""
        with contextlib.suppress(Invalid, NotFound):
            r = reference.parse_normalized(ref)
            if r.digest:
                found = [n for n in self.store.list() if not is_dangling_name(n.name)
                         and reference.parse(n.name).name == r.name
                         and r.digest in (n.target.digest, n.labels.get("skiff.io/index-digest"))]
                if found:
                    return found, False
            else:
                return [self.store.get(str(r))], False
        hexpart = ref.removeprefix("sha256:")
        if hexpart and len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart):
            matches: dict[str, list[NamedImage]] = {}
            for n in self.store.list():
                iid = self.image_id_of(n)
                if iid.removeprefix("sha256:").startswith(hexpart):
                    matches.setdefault(iid, []).append(n)
            if len(matches) == 1:
                return next(iter(matches.values())), True
            if len(matches) > 1:
                raise Conflict(f"image ID prefix {ref!r} is ambiguous")
        raise NotFound(f"No such image: {ref}")

    def set_name(self, name: str, target: Descriptor, labels: dict[str, str] | None = None) -> None:
        """Point ``name`` at ``target``; an image left without names becomes dangling."""
        old: NamedImage | None = None
        with contextlib.suppress(NotFound):
            old = self.store.get(name)
        self.store.put(name, target, labels)
        if not is_dangling_name(name):
            with contextlib.suppress(NotFound, SkiffError, OSError):
                self.store.delete(self._dangling_name(target))
        if old is not None and old.target.digest != target.digest and not self.store.by_digest(old.target.digest):
            with contextlib.suppress(SkiffError, OSError):
                self.store.put(self._dangling_name(old.target), old.target)

    def _dangling_name(self, target: Descriptor) -> str:
        return self.image_manifest(target).config.digest

    def tag(self, source: str, target: str) -> ImageRecord:
        rec = self.get(source)
        name = str(reference.parse_normalized(target))
        self.set_name(name, rec.target)
        return self.get(name)

    def remove(self, ref: str, *, force: bool = False) -> builtins.list[str]:
        """``docker rmi``: untag a name; delete the image once no name is left.

        Returns Docker's report lines (``Untagged: …``, ``Deleted: …``).
        Removing by ID an image with several names needs ``force``; an
        image a container runs on is never deleted (``Conflict``) unless
        ``force``, and then only its names go.
        """
        named, by_id = self._lookup(ref)
        rec = self.get(ref)
        all_names = [n for n in self.store.list() if self.image_id_of(n) == rec.id]
        real = [n for n in all_names if not is_dangling_name(n.name)]
        if by_id and len(real) > 1 and not force:
            raise Conflict(f"unable to delete {rec.short_id} (must be forced) - image is referenced in "
                           "multiple repositories")
        users = self.containers_using(rec)
        doomed = all_names if by_id else named
        remaining = [n for n in all_names if n not in doomed]
        if users and not remaining and not force:
            raise Conflict(f"unable to remove {ref}: image is being used by container(s) {', '.join(users)}")
        lines = []
        for n in doomed:
            self.store.delete(n.name)
            if not is_dangling_name(n.name):
                lines.append(f"Untagged: {reference.parse(n.name).familiar}")
        if not remaining and not users:
            lines.append(f"Deleted: {rec.id}")
            self.gc()
        elif not remaining and users:
            self.store.put(rec.id, rec.target)  # keep it (dangling) while containers use it
        return lines

    def containers_using(self, rec: ImageRecord) -> builtins.list[str]:
        top = rec.top_layer
        return [i.name for i in self.snapshots.walk()
                if i.kind.value == "active" and i.labels.get(CONTAINER_LABEL) and top and i.parent == top]

    # --- creating images (skiff.images.create) ---------------------------------------

    def create_image(self, config: dict[str, Any], layers: builtins.list[Descriptor], ref: str | None = None,
                     *, docker: bool = False, annotations: dict[str, str] | None = None) -> ImageRecord:
        """Store ``config`` and a manifest for ``layers``; name it ``ref`` (or leave it dangling)."""
        from skiff.images import create

        return create.create_image(self, config, layers, ref, docker=docker, annotations=annotations)

    def import_tar(self, src: str | BinaryIO, ref: str | None = None, *,
                   changes: builtins.list[str] | tuple[str, ...] = (), message: str = "",
                   platform: Platform | None = None) -> ImageRecord:
        """A one-layer image from a plain rootfs tar (any compression): ``docker import``."""
        from skiff.images import create

        return create.import_tar(self, src, ref, changes=changes, message=message, platform=platform)

    def add_layer(self, base: ImageRecord | None, tar: BinaryIO) -> Layer:
        """Store a layer tar meant to go on top of ``base`` (unpacked on the way): for builders."""
        from skiff.images import create

        return create.add_layer(self, base, tar)

    def diff(self, key: str, *, compression: str | None = None) -> Layer:
        """The changes of active snapshot ``key`` as a new layer blob (``docker commit``/``diff``)."""
        from skiff.images import create

        return create.diff(self, key, compression=compression)

    def commit(self, key: str, base: ImageRecord | str | None, ref: str | None = None, *,
               changes: builtins.list[str] | tuple[str, ...] = (), run_config: dict[str, Any] | None = None,
               author: str = "", message: str = "", created_by: str = "") -> ImageRecord:
        """A new image: ``base`` plus the changes of container snapshot ``key``."""
        from skiff.images import create

        parent = self.get(base) if isinstance(base, str) else base
        return create.commit(self, key, parent, ref, changes=changes, run_config=run_config, author=author,
                             message=message, created_by=created_by)

    def create_image_from(self, base: ImageRecord | None, layers: builtins.list[Layer], ref: str | None = None, *,
                          changes: builtins.list[str] | tuple[str, ...] = (), run_config: dict[str, Any] | None = None,
                          history: builtins.list[dict[str, Any]] | None = None, author: str = "",
                          empty_history: builtins.list[dict[str, Any]] | None = None) -> ImageRecord:
        """``base`` + ``layers`` (+ config changes) as a new image: what commit and build produce.

        ``history`` has one entry per new layer; ``empty_history`` entries
        (config-only build steps) are appended with ``empty_layer: true``.
        """
        from skiff.images import create

        return create.create_image_from(self, base, layers, ref, changes=changes, run_config=run_config,
                                        history=history, author=author, empty_history=empty_history)

    # --- snapshots for containers ------------------------------------------------

    def ensure_unpacked(self, image: ImageRecord) -> str:
        """Unpack ``image`` if needed; its top chain ID."""
        from skiff.images.unpacker import unpack

        with self.content.lease():
            return unpack(self.content, self.snapshots, image.layers, image.diff_ids)

    def prepare_rootfs(self, key: str, image: ImageRecord | str) -> builtins.list[RootMount]:
        """The container's writable snapshot ``key`` on ``image``; its mounts (reused if it exists)."""
        rec = self.get(image) if isinstance(image, str) else image
        top = self.ensure_unpacked(rec)
        if self.snapshots.exists(key):
            info = self.snapshots.stat(key)
            if info.kind.value != "active" or info.parent != top:
                raise Conflict(f"snapshot {key} exists and is not a container layer of {rec.id}")
            return self.snapshots.mounts(key)
        return self.snapshots.prepare(key, top, labels={CONTAINER_LABEL: "1", "skiff.io/image": rec.id})

    def prepare_container_rootfs(self, image: ImageRecord | str, key: str) -> builtins.list[RootMount]:
        return self.prepare_rootfs(key, image)

    def remove_rootfs(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            self.snapshots.remove(key)

    def container_rootfs_keys(self) -> builtins.list[str]:
        return [i.name for i in self.snapshots.walk()
                if i.kind.value == "active" and i.labels.get(CONTAINER_LABEL)]

    def rootfs_layers(self, key: str) -> tuple[builtins.list[str], str]:
        """(lower directories, nearest first; the upper directory) of a container's snapshot."""
        return self.snapshots.lower_dirs(key), self.snapshots.upper_dir(key)

    # --- registries ----------------------------------------------------------------

    async def pull(self, ref: str, *, platform: Platform | None = None, creds: tuple[str, str] | None = None,
                   insecure: bool | None = None, progress: Callable[[Any], None] | None = None,
                   unpack: bool = True) -> ImageRecord:
        """Fetch ``ref`` from its registry, store and (by default) unpack it."""
        from skiff.registry.puller import Puller

        async with Puller(self, creds=creds, insecure=insecure, progress=progress) as p:
            return await p.pull(ref, platform=platform or self.platform, unpack=unpack)

    async def push(self, ref: str, dest: str | None = None, *, creds: tuple[str, str] | None = None,
                   insecure: bool | None = None, progress: Callable[[Any], None] | None = None,
                   chunk_size: int | None = None) -> str:
        """Upload image ``ref`` to ``dest`` (default: the name itself); the manifest digest."""
        from skiff.registry.pusher import Pusher

        async with Pusher(self, creds=creds, insecure=insecure, progress=progress, chunk_size=chunk_size) as p:
            return await p.push(ref, dest)

    # --- archives ------------------------------------------------------------------

    def save(self, refs: builtins.list[str], out: str | BinaryIO, *, format: str = "docker") -> None:
        """Write ``refs`` as a ``docker save`` archive (``docker``) or an OCI layout (``oci``/``oci-dir``)."""
        from skiff.images.archive.save import save

        save(self, refs, out, format=format)

    def load(self, src: str | BinaryIO, *, unpack: bool = True) -> builtins.list[ImageRecord]:
        """Load a docker-archive or OCI layout (tar, gzip'd tar, or directory); the images loaded."""
        from skiff.images.archive.load import load

        return load(self, src, unpack=unpack)

    # --- garbage collection (skiff.images.gc) -----------------------------------------

    def gc(self) -> GcResult:
        """Delete blobs and snapshots no image name or container reaches."""
        from skiff.images import gc

        return gc.collect(self)

    def prune(self, *, all: bool = False) -> tuple[builtins.list[str], GcResult]:
        """Remove dangling images (``all``: every image no container uses); then GC."""
        from skiff.images import gc

        return gc.prune(self, all=all)

    def forget_docs(self, digest: str) -> None:
        """Drop a deleted blob from the parsed-document cache."""
        self._docs.pop(digest, None)
        self._docs.pop("config:" + digest, None)

    # --- inspect -------------------------------------------------------------------

    def inspect(self, ref: str) -> dict[str, Any]:
        """``docker image inspect``-shaped document (plus a ``Skiff`` section)."""
        rec = self.get(ref)
        cfg = rec.config
        return {
            "Id": rec.id,
            "RepoTags": list(rec.repo_tags),
            "RepoDigests": list(rec.repo_digests),
            "Parent": "",
            "Comment": next((h.get("comment", "") for h in reversed(cfg.get("history") or []) if h.get("comment")), ""),
            "Created": rec.created,
            "Author": cfg.get("author", ""),
            "Config": rec.run_config,
            "Architecture": cfg.get("architecture", ""),
            "Variant": cfg.get("variant", ""),
            "Os": cfg.get("os", ""),
            "Size": rec.size,
            "RootFS": {"Type": "layers", "Layers": rec.diff_ids},
            "Metadata": {"LastTagTime": ""},
            "Skiff": {"ManifestDigest": rec.target.digest, "MediaType": rec.manifest.media_type,
                      "ChainIDs": rec.chain_ids, "Layers": [d.to_json() for d in rec.layers],
                      "Unpacked": not rec.chain_ids or self.snapshots.exists(rec.top_layer)},
        }

    def history(self, ref: str) -> builtins.list[dict[str, Any]]:
        return list(self.get(ref).config.get("history") or [])


__all__ = ["DEFAULT_ROOT", "GcResult", "ImageService"]
