"""``save``: images to a ``docker save`` archive or an OCI image layout.

``format="docker"`` (the default) writes what Docker 25+ writes::

    oci-layout                       {"imageLayoutVersion": "1.0.0"}
    index.json                       one manifest per image, named by annotations
    manifest.json                    [{"Config": "blobs/sha256/<id>", "RepoTags": [...], "Layers": [...]}]
    repositories                     {"busybox": {"latest": "<top diff id hex>"}}
    blobs/sha256/<config>            the config, byte for byte (the image ID is kept)
    blobs/sha256/<diff id>           each layer, uncompressed
    blobs/sha256/<manifest>          an OCI manifest over those uncompressed layers

so every loader finds what it looks for. ``format="oci"`` writes an OCI
layout with the blobs and manifests exactly as stored (compressed layers,
original digests), as a tar; ``format="oci-dir"`` writes the same into a
directory.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, BinaryIO

from skiff.errors import Invalid, SkiffError
from skiff.images.archive.tarwriter import TarWriter
from skiff.images.labels import SIZE_LABEL
from skiff.images.record import ImageRecord
from skiff.oci import mediatypes as mt
from skiff.oci.descriptor import Descriptor
from skiff.oci.manifest import Index, Manifest, canonical
from skiff.oci.reference import parse as parse_ref

if TYPE_CHECKING:
    from skiff.images.service import ImageService

FORMATS = ("docker", "oci", "oci-dir")
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


def _images(svc: ImageService, refs: list[str]) -> list[tuple[ImageRecord, list[str]]]:
    """(record, the requested names of it) per distinct image, in request order."""
    out: dict[str, tuple[ImageRecord, list[str]]] = {}
    for ref in refs:
        rec = svc.get(ref)
        entry = out.setdefault(rec.target.digest, (rec, []))
        try:
            r = parse_ref(ref).with_default_tag()
        except Invalid:
            entry[1].extend(rec.names)  # by ID: all its names
            continue
        full = str(r)
        if full in rec.names and full not in entry[1]:
            entry[1].append(full)
    return list(out.values())


def _index(entries: list[tuple[Descriptor, list[str]]]) -> bytes:
    manifests = []
    for desc, names in entries:
        for name in names or [""]:
            ann = {}
            if name:
                ann = {NAME_ANNOTATION: name, REF_ANNOTATION: parse_ref(name).tag or parse_ref(name).digest}
            manifests.append(Descriptor(desc.media_type, desc.digest, desc.size, ann))
    return Index(mt.OCI_INDEX, tuple(manifests)).to_bytes()


def save(svc: ImageService, refs: list[str], out: str | BinaryIO, *, format: str = "docker") -> None:
    if format not in FORMATS:
        raise Invalid.field("format", f"must be one of {', '.join(FORMATS)}", format)
    if not refs:
        raise Invalid.field("images", "name at least one image")
    images = _images(svc, refs)
    if format == "oci-dir":
        if not isinstance(out, str):
            raise Invalid.field("output", "oci-dir needs a directory path")
        _save_oci_dir(svc, images, out)
        return
    if isinstance(out, str):
        tmp = f"{out}.skiff-tmp"
        with open(tmp, "wb") as f:
            _save_tar(svc, images, f, format)
        os.rename(tmp, out)
    else:
        _save_tar(svc, images, out, format)


def _save_tar(svc: ImageService, images: list[tuple[ImageRecord, list[str]]], f: BinaryIO, format: str) -> None:
    tw = TarWriter(f)
    tw.bytes("oci-layout", json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}).encode())
    tw.dir("blobs/")
    tw.dir("blobs/sha256/")
    if format == "oci":
        entries = []
        for rec, names in images:
            for d in [rec.manifest.config, *rec.layers]:
                _blob(tw, svc, d.digest)
            _blob(tw, svc, rec.target.digest)
            entries.append((rec.target, names))
        tw.bytes("index.json", _index(entries))
        tw.close()
        return
    docker_manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    entries = []
    sizes: dict[str, int] = {}
    for rec, names in images:
        _blob(tw, svc, rec.manifest.config.digest)
        layers = []
        for layer, diff_id, chain in zip(rec.layers, rec.diff_ids, rec.chain_ids, strict=True):
            name = f"blobs/sha256/{diff_id.partition(':')[2]}"
            if name not in sizes:
                path = svc.content.path(layer.digest)
                if mt.layer_compression(layer.media_type) == "none":
                    sizes[name] = tw.file(name, path)
                else:
                    # The size unpacking recorded spares a stream (a pipe, an HTTP
                    # response) decompressing the layer twice: once to count.
                    sizes[name] = tw.decompressed(name, path, unpacked_size(svc.snapshots, chain))
            layers.append(Descriptor(mt.OCI_LAYER, diff_id, sizes[name]))
        m = Manifest(mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, rec.manifest.config.digest, rec.manifest.config.size),
                     tuple(layers))
        body = m.to_bytes()
        desc = Descriptor(mt.OCI_MANIFEST, _digest(body), len(body))
        mname = f"blobs/sha256/{desc.digest.partition(':')[2]}"
        if mname not in tw.names:
            tw.bytes(mname, body)
        entries.append((desc, names))
        tags = [parse_ref(n).familiar for n in names if parse_ref(n).tag]
        docker_manifest.append({"Config": f"blobs/sha256/{rec.id.partition(':')[2]}", "RepoTags": tags,
                                "Layers": [f"blobs/sha256/{d.partition(':')[2]}" for d in rec.diff_ids]})
        for n in names:
            r = parse_ref(n)
            if r.tag and rec.diff_ids:
                repositories.setdefault(r.familiar_name, {})[r.tag] = rec.diff_ids[-1].partition(":")[2]
    tw.bytes("index.json", _index(entries))
    tw.bytes("manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
    if repositories:
        tw.bytes("repositories", json.dumps(repositories, separators=(",", ":")).encode())
    tw.close()


def _digest(body: bytes) -> str:
    from skiff.oci.digest import sha256_of

    return sha256_of(body)


def _blob(tw: TarWriter, svc: ImageService, digest: str) -> None:
    name = f"blobs/sha256/{digest.partition(':')[2]}"
    if name not in tw.names:
        tw.file(name, svc.content.path(digest))


def _save_oci_dir(svc: ImageService, images: list[tuple[ImageRecord, list[str]]], out: str) -> None:
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}, f)
    entries = []
    for rec, names in images:
        for d in [rec.manifest.config, *rec.layers, rec.target]:
            dst = os.path.join(blobs, d.digest.partition(":")[2])
            if not os.path.exists(dst):
                src = svc.content.path(d.digest)
                try:
                    os.link(src, dst)
                except OSError:
                    import shutil

                    shutil.copyfile(src, dst)
        entries.append((rec.target, names))
    old: list[dict[str, Any]] = []
    try:
        with open(os.path.join(out, "index.json")) as f:
            old = json.load(f).get("manifests") or []
    except (OSError, ValueError):
        pass
    new = json.loads(_index(entries))
    keep = [m for m in old if (m.get("annotations") or {}).get(NAME_ANNOTATION) not in
            {(n.get("annotations") or {}).get(NAME_ANNOTATION) for n in new["manifests"]}]
    new["manifests"] = keep + new["manifests"]
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(canonical(new))


def unpacked_size(snapshots: Any, chain_id: str) -> int:
    """The uncompressed size unpacking recorded for the layer committed as ``chain_id``; -1 if none."""
    try:
        return int(snapshots.stat(chain_id).labels.get(SIZE_LABEL, -1))
    except (SkiffError, ValueError):
        return -1
