"""Unpacking an image: its layer blobs into a chain of committed snapshots, layers in parallel.

Layer *i* becomes the committed snapshot named by its chain ID; a chain ID
that is already committed is skipped, which is how images on a shared base
share that base on disk. The diff ID measured while applying must equal
the config's, or the layer is refused (a registry or archive served other
bytes than the config promises).

Layers are *applied* in parallel, each into its own fresh directory, and
*committed* strictly in order (a snapshot's parent must be committed
first). A layer reads its lower layers only to copy the attributes of a
directory it implies but does not contain; at that point, and only then,
it waits until all its lowers are complete (``apply_layer(lowers_ready=)``).
Layer sizes vary a lot (a base of thousands of small files under a layer
with one big file), so on two cores the overlap saves most of the smaller
layers' time. Pull passes ``blob_ready`` so that a layer starts the moment
its blob is downloaded.

Two unpacks of the same layer may race (two pulls); the loser's commit
finds the name taken and discards its copy. Synchronous (threads): run it
with ``asyncio.to_thread`` from asyncio code.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from skiff.content.local import LocalStore
from skiff.errors import AlreadyExists, Invalid, SkiffError, Unavailable
from skiff.images.labels import SIZE_LABEL
from skiff.images.layers import open_blob
from skiff.images.unpack.apply import apply_layer
from skiff.oci.descriptor import Descriptor
from skiff.oci.image_config import chain_ids
from skiff.snapshots.overlay import OverlaySnapshotter

EXTRACT_LABEL = "skiff.io/extract"
MAX_THREADS = 4


def unpack_layer(content: LocalStore, snapshots: OverlaySnapshotter, layer: Descriptor, diff_id: str,
                 chain_id: str, parent: str) -> None:
    """Make snapshot ``chain_id`` from ``layer`` on committed ``parent`` (no-op if it exists)."""
    if not snapshots.exists(chain_id):
        unpack(content, snapshots, [layer], [diff_id], base=parent)


def _extract_key() -> str:
    return f"extract-{os.urandom(6).hex()}"


def unpack(content: LocalStore, snapshots: OverlaySnapshotter, layers: tuple[Descriptor, ...] | list[Descriptor],
           diff_ids: list[str], *, base: str = "", blob_ready: Callable[[int], None] | None = None,
           on_layer: Callable[[int, str], None] | None = None) -> str:
    """Unpack ``layers`` on top of committed snapshot ``base``; the top chain ID ("" for none).

    ``blob_ready(i)`` blocks until layer *i*'s blob is in the content store
    (or raises); ``on_layer(i, "Extracting" | "Pull complete")`` reports.
    """
    if len(layers) != len(diff_ids):
        raise Invalid.field("manifest.layers", f"{len(layers)} layers but {len(diff_ids)} diff IDs in the config")
    if base:
        import hashlib

        chains, prev = [], base
        for d in diff_ids:
            prev = "sha256:" + hashlib.sha256(f"{prev} {d}".encode()).hexdigest()
            chains.append(prev)
    else:
        chains = chain_ids(diff_ids)
    n = len(chains)
    first = n
    while first > 0 and not snapshots.exists(chains[first - 1]):
        first -= 1  # a committed chain implies all of its parents are committed
    for i in range(first):
        if blob_ready is not None:
            blob_ready(i)
        if on_layer is not None:
            on_layer(i, "Pull complete")
    if first == n:
        return chains[-1] if chains else base
    return _Unpack(content, snapshots, layers, diff_ids, chains, first, base, blob_ready, on_layer).run()


class _Unpack:
    def __init__(self, content: LocalStore, snapshots: OverlaySnapshotter,
                 layers: tuple[Descriptor, ...] | list[Descriptor], diff_ids: list[str], chains: list[str],
                 first: int, base: str, blob_ready: Callable[[int], None] | None,
                 on_layer: Callable[[int, str], None] | None) -> None:
        self.content, self.snapshots = content, snapshots
        self.layers, self.diff_ids, self.chains = layers, diff_ids, chains
        self.first, self.base = first, base
        self.blob_ready, self.on_layer = blob_ready, on_layer
        n = len(chains)
        self.keys: list[str] = [""] * n
        # the directories under the first new layer, nearest first
        top = chains[first - 1] if first else base
        self.committed_lowers = [snapshots.upper_dir(top), *snapshots.lower_dirs(top)] if top else []
        self.dirs: list[str] = [""] * n
        self.sizes = [0] * n  # uncompressed tar bytes: what `save` needs before streaming a layer
        self.done = [threading.Event() for _ in range(n)]
        self.failed = False

    def run(self) -> str:
        n, first = len(self.chains), self.first
        try:
            for i in range(first, n):
                self.keys[i] = _extract_key()
                self.dirs[i] = self.snapshots.prepare_dir(self.keys[i], "", labels={EXTRACT_LABEL: "1"})
            if n - first == 1:
                self._extract(first)
                self._commit(first)
            else:
                with ThreadPoolExecutor(max_workers=min(MAX_THREADS, n - first),
                                        thread_name_prefix="unpack") as pool:
                    futures: list[Future[None]] = [pool.submit(self._extract, i) for i in range(first, n)]
                    try:
                        for i, fut in zip(range(first, n), futures, strict=True):
                            fut.result()
                            self._commit(i)
                    except BaseException:
                        self._fail()
                        raise
        except BaseException:
            self._fail()
            for key in self.keys:
                if key:
                    with contextlib.suppress(SkiffError, OSError):
                        self.snapshots.remove(key)
            raise
        return self.chains[-1]

    def _fail(self) -> None:
        self.failed = True
        for ev in self.done:
            ev.set()  # wake layers waiting for their lowers: they will see the failure

    def _wait_lowers(self, i: int) -> None:
        for j in range(self.first, i):
            self.done[j].wait()
        if self.failed:
            raise Unavailable("a lower layer failed to unpack")

    def _extract(self, i: int) -> None:
        try:
            if self.blob_ready is not None:
                self.blob_ready(i)
            if self.failed:
                raise Unavailable("unpacking was abandoned")
            if self.on_layer is not None:
                self.on_layer(i, "Extracting")
            lowers = [self.dirs[j] for j in range(i - 1, self.first - 1, -1)] + self.committed_lowers
            layer = self.layers[i]
            with open_blob(self.content, layer.digest) as f:
                result = apply_layer(f, self.dirs[i], lowers, lowers_ready=lambda: self._wait_lowers(i))
            if result.diff_id != self.diff_ids[i]:
                raise Invalid.field("layer", f"layer {layer.digest} unpacks to {result.diff_id}, "
                                    f"but the image config says {self.diff_ids[i]}")
            self.sizes[i] = result.size
        except BaseException:
            self.failed = True
            raise
        finally:
            self.done[i].set()

    def _commit(self, i: int) -> None:
        parent = self.chains[i - 1] if i else self.base
        try:
            self.snapshots.commit(self.chains[i], self.keys[i], parent=parent,
                                  labels={"skiff.io/diff-id": self.diff_ids[i], "skiff.io/blob": self.layers[i].digest,
                                          SIZE_LABEL: str(self.sizes[i])})
        except AlreadyExists:  # a concurrent unpack of the same layer won
            self.snapshots.remove(self.keys[i])
        self.keys[i] = ""
        if self.on_layer is not None:
            self.on_layer(i, "Pull complete")


def is_unpacked(snapshots: OverlaySnapshotter, diff_ids: list[str]) -> bool:
    ids = chain_ids(diff_ids)
    return not ids or snapshots.exists(ids[-1])
