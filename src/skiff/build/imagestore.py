"""``ImageServiceStore``: the builder's ``LayerStore`` on skiff's real image store.

A build writes into the same content store, snapshotter and name store as
``skiff pull``/``docker commit``, so what it produces is an ordinary image
(``skiff image ls/inspect/history/save/push``, runnable by the engine) and
its layers are shared by chain ID with every other image:

- a base image is unpacked if needed (``ImageService.ensure_unpacked``) and
  its top chain ID is the parent of the first step;
- a working snapshot is an *active* snapshot of the ``OverlaySnapshotter``
  over the parent chain; RUN containers run on its mounts, COPY writes into
  them mounted on the host;
- committing a step: its upper directory becomes a layer blob
  (``ImageService.diff``: the overlay → OCI whiteout translation, hashed and
  compressed in one pass), and the snapshot itself is committed under the
  layer's chain ID with the same labels the unpacker writes (``skiff.io/diff-id``,
  ``skiff.io/blob``), so it is indistinguishable from a pulled layer; a chain
  that already exists is reused and the duplicate directory dropped;
- the final image: the executor's config (history with ``empty_layer``
  entries, diff IDs, ``created``) is stored as is, with an OCI manifest over
  the layer blobs (``ImageService.create_image``), then tagged;
- the build cache index is a SQLite table in ``<root>/build/cache.db``
  (key → value, as the executor keys it), and ``RUN --mount=type=cache``
  directories live in ``<root>/build/cachemounts/<id hash>/``.

Garbage collection: new layers are unreferenced until the image is named,
so a build holds a content lease (``with store:``, required) for its whole
duration, and ``gc`` waits for it. Working snapshots carry the unpacker's
``skiff.io/extract`` label (plus ``skiff.io/build``): GC only ever sees one
when its build died, and removes it like an interrupted extraction. Cache
entries whose layers were collected later are simply misses (``has_chain``);
a layer whose snapshot survived its blob (another image still uses the
layer) gets its blob written again from the snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

from skiff import sqlitedb
from skiff.build.cachekey import chain_id
from skiff.build.store import ImageInfo, Layer, Snapshot
from skiff.errors import AlreadyExists, FailedPrecondition, NotFound
from skiff.images.labels import SIZE_LABEL
from skiff.oci import mediatypes as mt

if TYPE_CHECKING:
    from skiff.images.service import ImageService
    from skiff.oci.descriptor import Descriptor

BUILD_LABEL = "skiff.io/build"
EXTRACT_LABEL = "skiff.io/extract"  # = skiff.images.unpacker.EXTRACT_LABEL (not imported: it is heavy)
DIFF_LABEL = "skiff.io/diff-id"
BLOB_LABEL = "skiff.io/blob"
_SCHEMA = "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"


class ImageServiceStore:
    def __init__(self, service: ImageService, *, compression: str | None = None) -> None:
        self.service = service
        self.snapshots = service.snapshots
        self.compression = compression  # None: the service's own (gzip by default)
        self.root = os.path.join(service.root, "build")
        self._layers: dict[str, Descriptor] = {}  # diff ID -> a blob of it (this build's and its bases')
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._leases: list[contextlib.AbstractContextManager[None]] = []

    # --- lifetime: hold off GC while the build's layers are unnamed ------------------

    def __enter__(self) -> ImageServiceStore:
        lease = self.service.content.lease()
        lease.__enter__()
        self._leases.append(lease)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._leases:
            self._leases.pop().__exit__(None, None, None)
        if not self._leases:
            self.close()

    def close(self) -> None:
        """Release every lease and close the cache index (it reopens when used again)."""
        while self._leases:
            self._leases.pop().__exit__(None, None, None)
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- images ------------------------------------------------------------------

    def resolve_image(self, ref: str) -> ImageInfo:
        rec = self.service.get(ref)
        if not self.has_chain(rec.top_layer):  # its top chain is the parent of the first step
            self.service.ensure_unpacked(rec)  # (not imported when unpacked: the unpacker is heavy)
        for desc, diff in zip(rec.layers, rec.diff_ids, strict=False):
            self._layers.setdefault(diff, desc)
        return ImageInfo(rec.id, rec.config)

    async def pull_image(self, ref: str) -> ImageInfo:
        """Fetch ``ref`` from its registry (a base image the store has not got), unpacked."""
        import asyncio

        await self.service.pull(ref)
        return await asyncio.to_thread(self.resolve_image, ref)

    def create_image(self, config: dict[str, Any], tags: list[str]) -> str:
        diffs = list((config.get("rootfs") or {}).get("diff_ids") or [])
        descs, parent = [], ""
        for diff in diffs:
            parent = chain_id(parent, diff)
            descs.append(self._descriptor(diff, parent))
        rec = self.service.create_image(config, [_oci_layer(d) for d in descs], tags[0] if tags else None)
        for tag in tags[1:]:
            self.service.tag(rec.id, tag)
        return rec.id

    def _descriptor(self, diff: str, chain: str) -> Descriptor:
        """A blob holding layer ``diff``: one seen in this build, else the snapshot's, else a new one."""
        desc = self._layers.get(diff)
        if desc is not None and self.service.content.exists(desc.digest):
            return desc
        blob = self.snapshots.stat(chain).labels.get(BLOB_LABEL, "")
        if blob and self.service.content.exists(blob):
            desc = _blob_descriptor(self.service, blob)
        else:  # the blob was collected (its image removed) but the layer is still in use: write it again
            desc = self._rewrite(diff, chain)
        self._layers[diff] = desc
        return desc

    def _rewrite(self, diff: str, chain: str) -> Descriptor:
        from skiff.images.diff import write_diff
        from skiff.images.layers import LayerWriter

        lw = LayerWriter(self.service.content, self.compression or self.service.compression,
                         self.service.compression_level)
        try:
            write_diff(self.snapshots.upper_dir(chain), lw)
        except BaseException:
            lw.abort()
            raise
        layer = lw.close()
        if layer.diff_id != diff:
            raise NotFound(f"layer {diff} is no longer stored (its snapshot now reads as {layer.diff_id})")
        return layer.descriptor

    # --- layers ----------------------------------------------------------------------

    def has_chain(self, chain: str) -> bool:
        if not chain:
            return True
        try:
            info = self.snapshots.stat(chain)
        except NotFound:
            return False
        return info.kind.value == "committed"

    def layer_dirs(self, chain: str) -> list[str]:
        if not chain:
            return []
        return [self.snapshots.upper_dir(chain), *self.snapshots.lower_dirs(chain)]

    def prepare(self, key: str, parent: str) -> Snapshot:
        if not self._leases:
            raise FailedPrecondition("ImageServiceStore: build inside `with store:` (GC must wait for the build)")
        mounts = self.snapshots.prepare(key, parent, labels={BUILD_LABEL: "1", EXTRACT_LABEL: "1"})
        return Snapshot(key, tuple(mounts), self.snapshots.upper_dir(key))

    def commit(self, key: str, parent: str) -> Layer | None:
        committed = False
        try:
            upper = self.snapshots.upper_dir(key)
            with os.scandir(upper) as it:
                if next(it, None) is None:
                    return None  # the step changed nothing: no layer
            layer = self.service.diff(key, compression=self.compression)
            chain = chain_id(parent, layer.diff_id)
            with contextlib.suppress(AlreadyExists):  # the same layer exists already: keep that one
                self.snapshots.commit(chain, key, labels={DIFF_LABEL: layer.diff_id,
                                                          BLOB_LABEL: layer.descriptor.digest,
                                                          SIZE_LABEL: str(layer.size)})
                committed = True
            self._layers[layer.diff_id] = layer.descriptor
            return Layer(layer.diff_id, chain, layer.size)
        finally:
            if not committed:
                self.remove(key)

    def remove(self, key: str) -> None:
        with contextlib.suppress(NotFound):
            self.snapshots.remove(key)

    # --- the cache index and cache mounts -------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            os.makedirs(self.root, exist_ok=True)
            self._db = sqlitedb.connect(os.path.join(self.root, "cache.db"), _SCHEMA)
        return self._db

    def cache_get(self, key: str) -> str | None:
        with self._lock:
            row = self._conn().execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def cache_put(self, key: str, value: str) -> None:
        import time

        with self._lock:
            self._conn().execute("INSERT OR REPLACE INTO cache (key, value, created) VALUES (?, ?, ?)",
                                 (key, value, time.time()))

    def prune(self) -> tuple[list[str], int]:
        """``docker builder prune``: forget the cache, drop cache mounts, collect the layers
        only the cache kept; (cache keys removed, bytes freed). Not inside ``with store:``."""
        import shutil

        from skiff.snapshots.overlay import dir_usage

        mounts = os.path.join(self.root, "cachemounts")
        with self.service.content.gc_lock():  # no build is running (each holds a lease)
            with self._lock:
                db = self._conn()
                entries = [str(r[0]) for r in db.execute("SELECT key FROM cache WHERE key NOT LIKE 'file-%'")]
                db.execute("DELETE FROM cache")
            freed = dir_usage(mounts).size if os.path.isdir(mounts) else 0
            shutil.rmtree(mounts, ignore_errors=True)
        return entries, freed + self.service.gc().bytes

    def cache_mount_dir(self, cache_id: str) -> str:
        path = os.path.join(self.root, "cachemounts", hashlib.sha256(cache_id.encode()).hexdigest()[:32])
        os.makedirs(path, exist_ok=True)
        return path

    # --- bootstrap: a directory as a one-layer image ----------------------------------------

    def import_rootfs(self, name: str, rootfs: str, changes: tuple[str, ...] = ('CMD ["sh"]',)) -> str:
        """Import directory ``rootfs`` as image ``name`` (how the offline busybox base is made)."""
        import tempfile

        from skiff.images.diff import write_tree

        with tempfile.TemporaryFile(dir=self.service.root) as tar:
            write_tree(rootfs, tar)
            tar.seek(0)
            env = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            return self.service.import_tar(tar, name, changes=[env, *changes]).id


_DOCKER_TO_OCI = {mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER: mt.OCI_LAYER,
                  mt.DOCKER_LAYER_FOREIGN: mt.OCI_LAYER_NONDIST_GZIP}


def _oci_layer(desc: Descriptor) -> Descriptor:
    """A base layer from a Docker-typed image, typed for the OCI manifest a build writes (as BuildKit does)."""
    media = _DOCKER_TO_OCI.get(desc.media_type)
    return desc if media is None else desc._replace(media_type=media)


def _blob_descriptor(service: ImageService, digest: str) -> Descriptor:
    from skiff.oci.descriptor import Descriptor

    with open(service.content.path(digest), "rb") as f:
        head = f.read(4)
    # the magic numbers skiff.images.unpack.compression.detect knows (not imported: a fully cached
    # build needs nothing else from it)
    kind = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head == b"\x28\xb5\x2f\xfd" else "none"
    return Descriptor(mt.layer_type(kind), digest, service.content.info(digest).size)


__all__ = ["ImageServiceStore"]
