"""Unpacking an image: its layer blobs into a chain of committed snapshots.

Layer *i* is applied into a fresh active snapshot on top of layer *i-1*'s
committed snapshot and then committed under its chain ID; a chain ID that
is already committed is skipped, which is how images on a shared base
share that base on disk. The diff ID measured while applying must equal
the config's, or the layer is refused (a registry or archive served other
bytes than the config promises).

Two unpacks of the same layer may race (two pulls); the loser's commit
finds the name taken and discards its copy. Synchronous filesystem work:
run it in a thread from asyncio code.
"""

from __future__ import annotations

import contextlib
import uuid

from skiff.content.local import LocalStore
from skiff.errors import AlreadyExists, Invalid, SkiffError
from skiff.images.layers import open_blob
from skiff.images.unpack.apply import apply_layer
from skiff.oci.descriptor import Descriptor
from skiff.oci.image_config import chain_ids
from skiff.snapshots.overlay import OverlaySnapshotter

EXTRACT_LABEL = "skiff.io/extract"


def unpack_layer(content: LocalStore, snapshots: OverlaySnapshotter, layer: Descriptor, diff_id: str,
                 chain_id: str, parent: str) -> None:
    """Make snapshot ``chain_id`` from ``layer`` on ``parent`` (no-op if it exists)."""
    if snapshots.exists(chain_id):
        return
    key = f"extract-{uuid.uuid4().hex[:12]}-{chain_id}"
    snapshots.prepare_dir(key, parent, labels={EXTRACT_LABEL: "1"})
    try:
        with open_blob(content, layer.digest) as f:
            result = apply_layer(f, snapshots.upper_dir(key), snapshots.lower_dirs(key))
        if result.diff_id != diff_id:
            raise Invalid.field("layer", f"layer {layer.digest} unpacks to {result.diff_id}, "
                                f"but the image config says {diff_id}")
        try:
            snapshots.commit(chain_id, key, labels={"skiff.io/diff-id": diff_id,
                                                     "skiff.io/blob": layer.digest})
        except AlreadyExists:
            snapshots.remove(key)
    except BaseException:
        with contextlib.suppress(SkiffError, OSError):
            snapshots.remove(key)
        raise


def unpack(content: LocalStore, snapshots: OverlaySnapshotter, layers: tuple[Descriptor, ...] | list[Descriptor],
           diff_ids: list[str]) -> str:
    """Unpack every layer in order; returns the top chain ID ("" for no layers)."""
    if len(layers) != len(diff_ids):
        raise Invalid.field("manifest.layers", f"{len(layers)} layers but {len(diff_ids)} diff IDs in the config")
    parent = ""
    for layer, diff_id, chain_id in zip(layers, diff_ids, chain_ids(diff_ids), strict=True):
        unpack_layer(content, snapshots, layer, diff_id, chain_id, parent)
        parent = chain_id
    return parent


def is_unpacked(snapshots: OverlaySnapshotter, diff_ids: list[str]) -> bool:
    ids = chain_ids(diff_ids)
    return not ids or snapshots.exists(ids[-1])
