"""Garbage collection and pruning of an image store.

``collect`` marks from the roots (every name's target) through the content
graph (index → manifests → config and layers) and deletes every blob not
reached, then the snapshots: roots are each image's top chain ID and each
active snapshot that is not an interrupted extraction (containers, views),
parents are kept through the parent edges, the rest goes deepest first.
It holds the content store's exclusive lock, so no writer with unnamed new
content (they hold a shared lease) runs meanwhile.

``prune`` first drops the names of dangling images (``all``: of every image
no container runs on), then collects.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from skiff.content.gc import garbage
from skiff.errors import FailedPrecondition, Invalid, NotFound, SkiffError
from skiff.images.unpacker import EXTRACT_LABEL
from skiff.oci import mediatypes as mt
from skiff.oci.descriptor import Descriptor
from skiff.oci.image_config import ImageConfig
from skiff.oci.manifest import Index

if TYPE_CHECKING:
    from skiff.images.service import GcResult, ImageService


def collect(svc: ImageService) -> GcResult:
    from skiff.images.service import GcResult

    with svc.content.gc_lock():
        roots = [n.target.digest for n in svc.store.list()]
        blobs = garbage((i.digest for i in svc.content.walk()), roots, lambda d: _children(svc, d))
        freed = 0
        for b in blobs:
            with contextlib.suppress(NotFound):
                freed += svc.content.info(b).size
                svc.content.delete(b)
            svc.forget_docs(b)
        snaps = _collect_snapshots(svc, roots)
        for ing in svc.content.ingests():
            svc.content.abort(ing.ref)
    return GcResult(blobs, freed, snaps)


def _children(svc: ImageService, digest: str) -> list[str]:
    try:
        m = svc.manifest(digest)
    except (Invalid, SkiffError):
        return []
    if isinstance(m, Index):
        return [d.digest for d in m.manifests]
    return [m.config.digest, *(d.digest for d in m.layers)]


def _collect_snapshots(svc: ImageService, roots: list[str]) -> list[str]:
    infos = {i.name: i for i in svc.snapshots.walk()}
    keep = [i.name for i in infos.values() if i.kind.value != "committed" and not i.labels.get(EXTRACT_LABEL)]
    for r in roots:
        with contextlib.suppress(SkiffError, OSError):
            m = svc.image_manifest(Descriptor(mt.OCI_MANIFEST, r, 0))
            ids = ImageConfig(svc.config(m.config.digest)).chain_ids
            if ids:
                keep.append(ids[-1])
    dead = garbage(infos, keep, lambda n: [infos[n].parent] if n in infos and infos[n].parent else [])
    removed = []
    depth = {n: _depth(infos, n) for n in dead}
    for name in sorted(dead, key=lambda n: -depth[n]):  # children before their parents
        with contextlib.suppress(NotFound, FailedPrecondition):
            svc.snapshots.remove(name)
            removed.append(name)
    return removed


def _depth(infos: dict[str, Any], name: str) -> int:
    d = 0
    while name in infos and infos[name].parent:
        name = infos[name].parent
        d += 1
    return d


def prune(svc: ImageService, *, all: bool = False) -> tuple[list[str], GcResult]:
    removed: list[str] = []
    for rec in svc.list():
        if (not rec.names or all) and not svc.containers_using(rec):
            for n in svc.store.list():
                if svc.image_id_of(n) == rec.id:
                    svc.store.delete(n.name)
            removed.append(rec.id)
    return removed, collect(svc)
