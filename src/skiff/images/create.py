"""Making new images: from a rootfs tarball, from a container's changes, from layers on a base.

Every path ends in ``create_image``: the config is stored as a blob, an
OCI manifest over the layer descriptors is stored as a blob, and the name
(or a dangling ``sha256:<id>`` name) points at the manifest. New layers are
unpacked and stored in one pass (``layers.ingest_layer``), so an imported or
built image is ready to run without a second extraction; a container's
changes are read from its upper directory (``diff.write_diff``) and
compressed on a worker thread (``layers.LayerWriter``).

Functions of an ``ImageService`` (its methods delegate here).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any, BinaryIO

from skiff.errors import AlreadyExists, SkiffError
from skiff.images.record import ImageRecord
from skiff.oci import mediatypes as mt
from skiff.oci import reference
from skiff.oci.descriptor import Descriptor
from skiff.oci.image_config import new_config, rfc3339
from skiff.oci.manifest import Manifest, canonical
from skiff.oci.platform import Platform

if TYPE_CHECKING:
    from skiff.images.layers import Layer
    from skiff.images.service import ImageService

# The layer writers and the unpacker (tarfile, threads, uuid) are imported
# where a layer is made: ``create_image`` (a build whose every step was a
# cache hit) needs none of them.


def create_image(svc: ImageService, config: dict[str, Any], layers: list[Descriptor], ref: str | None = None,
                 *, docker: bool = False, annotations: dict[str, str] | None = None) -> ImageRecord:
    cfg_bytes = canonical(config)
    cfg_desc = Descriptor(mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, svc.content.write_blob(cfg_bytes),
                          len(cfg_bytes))
    m = Manifest(mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST, cfg_desc, tuple(layers), annotations or {})
    body = m.to_bytes()
    target = Descriptor(m.media_type, svc.content.write_blob(body), len(body))
    name = str(reference.parse_normalized(ref)) if ref else cfg_desc.digest
    svc.set_name(name, target)
    return svc.get(name)


def import_tar(svc: ImageService, src: str | BinaryIO, ref: str | None = None, *,
               changes: list[str] | tuple[str, ...] = (), message: str = "",
               platform: Platform | None = None) -> ImageRecord:
    f = open(src, "rb") if isinstance(src, str) else src  # noqa: SIM115 - closed below
    try:
        with svc.content.lease():
            layer = ingest_new_layer(svc, f)
            plat = platform or svc.platform
            history = [{"created": rfc3339(), "created_by": "skiff import",
                        **({"comment": message} if message else {})}]
            from skiff.images.changes import apply_changes

            cfg = new_config([layer.diff_id], run=apply_changes({}, changes), arch=plat.architecture,
                             os_name=plat.os, history=history)
            if plat.variant:
                cfg["variant"] = plat.variant
            return create_image(svc, cfg, [layer.descriptor], ref)
    finally:
        if isinstance(src, str):
            f.close()


def ingest_new_layer(svc: ImageService, f: BinaryIO, parent: str = "") -> Layer:
    """Unpack ``f`` on committed snapshot ``parent`` and store it; commit it under its chain ID."""
    from skiff.images.labels import SIZE_LABEL
    from skiff.images.layers import ingest_layer
    from skiff.images.unpacker import EXTRACT_LABEL

    key = f"extract-{os.urandom(6).hex()}-new"
    root = svc.snapshots.prepare_dir(key, parent, labels={EXTRACT_LABEL: "1"})
    try:
        layer, _ = ingest_layer(f, svc.content, root, svc.snapshots.lower_dirs(key), svc.compression,
                                svc.compression_level)
        chain = layer.diff_id if not parent else "sha256:" + hashlib.sha256(
            f"{parent} {layer.diff_id}".encode()).hexdigest()
        try:
            svc.snapshots.commit(chain, key, labels={"skiff.io/diff-id": layer.diff_id,
                                                     "skiff.io/blob": layer.descriptor.digest,
                                                     SIZE_LABEL: str(layer.size)})
        except AlreadyExists:
            svc.snapshots.remove(key)
    except BaseException:
        with contextlib.suppress(SkiffError, OSError):
            svc.snapshots.remove(key)
        raise
    return layer


def add_layer(svc: ImageService, base: ImageRecord | None, tar: BinaryIO) -> Layer:
    with svc.content.lease():
        parent = svc.ensure_unpacked(base) if base else ""
        return ingest_new_layer(svc, tar, parent)


def diff(svc: ImageService, key: str, *, compression: str | None = None) -> Layer:
    from skiff.images.diff import write_diff
    from skiff.images.layers import LayerWriter

    with svc.content.lease():
        lw = LayerWriter(svc.content, compression or svc.compression, svc.compression_level)
        try:
            write_diff(svc.snapshots.upper_dir(key), lw)
        except BaseException:
            lw.abort()
            raise
        return lw.close()


def commit(svc: ImageService, key: str, base: ImageRecord | None, ref: str | None = None, *,
           changes: list[str] | tuple[str, ...] = (), run_config: dict[str, Any] | None = None,
           author: str = "", message: str = "", created_by: str = "") -> ImageRecord:
    with svc.content.lease():
        layer = diff(svc, key)
        return create_image_from(svc, base, [layer], ref, changes=changes, run_config=run_config, author=author,
                                 history=[{"created_by": created_by, "comment": message, "author": author}])


def create_image_from(svc: ImageService, base: ImageRecord | None, layers: list[Layer], ref: str | None = None, *,
                      changes: list[str] | tuple[str, ...] = (), run_config: dict[str, Any] | None = None,
                      history: list[dict[str, Any]] | None = None, author: str = "",
                      empty_history: list[dict[str, Any]] | None = None) -> ImageRecord:
    base_cfg: dict[str, Any] = json.loads(json.dumps(base.config)) if base else {}
    run = run_config if run_config is not None else (base.run_config if base else {})
    from skiff.images.changes import apply_changes

    run = apply_changes(run, changes)
    now = rfc3339()
    hist = list(base_cfg.get("history") or [])
    for i in range(len(layers)):
        h = (history or [])[i] if history and i < len(history) else {}
        hist.append({"created": now, **{k: v for k, v in h.items() if v}})
    for h in empty_history or []:
        hist.append({"created": now, **{k: v for k, v in h.items() if v}, "empty_layer": True})
    diff_ids = (base.diff_ids if base else []) + [layer.diff_id for layer in layers]
    plat = Platform(base_cfg.get("os", "linux"), base_cfg.get("architecture", ""), base_cfg.get("variant", "")) \
        if base else svc.platform
    cfg = new_config(diff_ids, run=run, arch=plat.architecture or svc.platform.architecture, os_name=plat.os,
                     history=hist, created=now, author=author)
    if plat.variant:
        cfg["variant"] = plat.variant
    descs = list(base.layers if base else []) + [layer.descriptor for layer in layers]
    return create_image(svc, cfg, descs, ref)
