"""``load``: images from a ``docker save`` archive or an OCI image layout.

One sequential pass over the archive (a tar, gzip'd or not, or an unpacked
directory) copies every file that may be a blob into the content store,
hashing as it copies; JSON documents are also kept in memory. Member names
are only ever used as dictionary keys, never as filesystem paths, so a
hostile archive cannot write anywhere; a file under ``blobs/sha256/<hex>``
whose bytes do not hash to ``<hex>`` is refused.

Then the archive's own index decides what the images are:

- OCI layout (``oci-layout`` + ``index.json``; also what Docker 25+ and
  skiff write): manifests are kept byte for byte (digests survive);
  names come from ``io.containerd.image.name`` or a fully qualified
  ``org.opencontainers.image.ref.name``, or from ``manifest.json``'s
  ``RepoTags`` for the same config;
- Docker archive (``manifest.json`` only: podman, Docker < 25): the config
  is kept byte for byte (the image ID survives) and skiff writes an OCI
  manifest over the layer files, each typed by sniffing its compression.

Loaded images are unpacked (which also checks every layer against the
config's diff IDs) unless ``unpack=False``.
"""

from __future__ import annotations

import json
import os
import posixpath
import tarfile
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from skiff.errors import Invalid, NotFound
from skiff.images.archive.save import NAME_ANNOTATION, REF_ANNOTATION
from skiff.images.record import ImageRecord
from skiff.images.unpack.compression import decompressing, detect
from skiff.oci import mediatypes as mt
from skiff.oci import reference
from skiff.oci.descriptor import Descriptor
from skiff.oci.manifest import Index, Manifest, parse, select

if TYPE_CHECKING:
    from skiff.images.service import ImageService

CHUNK = 1 << 20
SMALL = 4 << 20
_DOCS = ("manifest.json", "index.json", "oci-layout", "repositories")


class Blob(NamedTuple):
    digest: str
    size: int


class Archive:
    """What one pass over an archive found (see the module docstring)."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}
        self.blobs: dict[str, Blob] = {}
        self.links: dict[str, str] = {}

    def resolve(self, path: str) -> str:
        path = _norm(path)
        for _ in range(16):
            if path not in self.links:
                return path
            path = self.links[path]
        raise Invalid.field("archive", f"too many links at {path}")

    def blob(self, path: str) -> Blob:
        p = self.resolve(path)
        if p not in self.blobs:
            raise Invalid.field("archive", f"{path} is missing from the archive")
        return self.blobs[p]

    def doc(self, path: str) -> bytes | None:
        return self.docs.get(self.resolve(path))


def _norm(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def _ingest(svc: ImageService, arc: Archive, name: str, reader: Any, size: int) -> None:
    name = _norm(name)
    base = posixpath.basename(name)
    if name in _DOCS or base in ("json", "VERSION"):
        if name in _DOCS:
            arc.docs[name] = _read_all(reader, size)
        return
    w = svc.content.writer(f"load-{uuid.uuid4().hex}")
    keep = bytearray() if size <= SMALL else None
    try:
        remaining = size
        while remaining > 0:
            chunk = reader(min(CHUNK, remaining))
            if not chunk:
                raise Invalid.field("archive", f"{name} is truncated")
            w.write(chunk)
            if keep is not None:
                keep += chunk
            remaining -= len(chunk)
        dg = w.commit(size)
    except BaseException:
        w.abort()
        raise
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "blobs" and dg != f"{parts[1]}:{parts[2]}":
        raise Invalid.field("archive", f"{name} holds content with digest {dg}")
    arc.blobs[name] = Blob(dg, size)
    if keep is not None and (base.endswith(".json") or parts[0] == "blobs"):
        arc.docs[name] = bytes(keep)


def _read_all(reader: Any, size: int) -> bytes:
    if size > 64 << 20:
        raise Invalid.field("archive", "an index document is implausibly large")
    out = bytearray()
    while len(out) < size:
        chunk = reader(size - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def _scan_tar(svc: ImageService, f: BinaryIO, arc: Archive) -> None:
    fd = -1
    try:
        if f.seekable():
            start = f.tell()
            head = f.read(8)
            f.seek(start)
            if start == 0 and detect(head) == "none":
                fd = f.fileno()
    except (OSError, AttributeError, ValueError):
        fd = -1
    if fd >= 0:
        tf = tarfile.open(fileobj=f, mode="r:")  # noqa: SIM115 - closed with f
        for m in _members(tf):
            if m.isreg():
                pos = [m.offset_data]

                def pread(n: int, _pos: list[int] = pos) -> bytes:
                    data = os.pread(fd, n, _pos[0])
                    _pos[0] += len(data)
                    return data

                _ingest(svc, arc, m.name, pread, m.size)
            else:
                _link(arc, m)
        return
    reader, _ = decompressing(f)
    tf = tarfile.open(fileobj=reader, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
    for m in _members(tf):
        if m.isreg():
            src = tf.extractfile(m)
            assert src is not None
            _ingest(svc, arc, m.name, src.read, m.size)
        else:
            _link(arc, m)


def _members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    try:
        while (m := tf.next()) is not None:
            yield m
            tf.members.clear()  # type: ignore[attr-defined]
    except tarfile.TarError as e:
        raise Invalid.field("archive", f"not a valid tar: {e}") from None


def _link(arc: Archive, m: tarfile.TarInfo) -> None:
    name = _norm(m.name)
    if m.issym():
        arc.links[name] = _norm(posixpath.join(posixpath.dirname(name), m.linkname))
    elif m.islnk():
        arc.links[name] = _norm(m.linkname)


def _scan_dir(svc: ImageService, root: str, arc: Archive) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for fn in files:
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                arc.links[_norm(rel)] = _norm(posixpath.join(posixpath.dirname(rel), os.readlink(path)))
                continue
            with open(path, "rb") as f:
                _ingest(svc, arc, rel, f.read, os.fstat(f.fileno()).st_size)


def load(svc: ImageService, src: str | BinaryIO, *, unpack: bool = True) -> list[ImageRecord]:
    arc = Archive()
    with svc.content.lease():
        if isinstance(src, str) and os.path.isdir(src):
            _scan_dir(svc, src, arc)
        elif isinstance(src, str):
            with open(src, "rb") as f:
                _scan_tar(svc, f, arc)
        else:
            _scan_tar(svc, src, arc)
        if "index.json" in arc.docs and "oci-layout" in arc.docs:
            named = _from_oci(svc, arc)
        elif "manifest.json" in arc.docs:
            named = _from_docker(svc, arc)
        else:
            raise Invalid.field("archive", "neither a docker archive (manifest.json) nor an OCI layout (index.json)")
        records = []
        for target, names in named:
            for n in names:
                svc.set_name(n, target)
            key = names[0] if names else svc._dangling_name(target)
            if not names:
                svc.set_name(key, target)
            rec = svc.get(key)
            if unpack:
                svc.ensure_unpacked(rec)
            records.append(rec)
    return records


def _repo_tags(arc: Archive) -> dict[str, list[str]]:
    """config digest → names, from manifest.json."""
    out: dict[str, list[str]] = {}
    raw = arc.doc("manifest.json")
    if not raw:
        return out
    for entry in _docker_manifest(raw):
        cfg = arc.blob(str(entry.get("Config", ""))).digest
        out.setdefault(cfg, []).extend(_names(entry.get("RepoTags") or []))
    return out


def _names(tags: list[Any]) -> list[str]:
    out = []
    for t in tags:
        try:
            out.append(str(reference.parse_normalized(str(t))))
        except Invalid:
            continue
    return out


def _docker_manifest(raw: bytes) -> list[dict[str, Any]]:
    try:
        doc = json.loads(raw)
    except ValueError:
        raise Invalid.field("manifest.json", "is not JSON") from None
    if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
        raise Invalid.field("manifest.json", "must be a list of objects")
    return doc


def _from_oci(svc: ImageService, arc: Archive) -> list[tuple[Descriptor, list[str]]]:
    index = parse(arc.docs["index.json"], mt.OCI_INDEX)
    if not isinstance(index, Index):
        raise Invalid.field("index.json", "is not an image index")
    tags = _repo_tags(arc)
    out: dict[str, tuple[Descriptor, list[str]]] = {}
    for desc in index.manifests:
        target, manifest = _manifest_for(svc, arc, desc)
        for d in (manifest.config, *manifest.layers):
            if not svc.content.exists(d.digest):
                raise Invalid.field("archive", f"blob {d.digest} is missing from the archive")
        names = []
        ann = desc.annotations
        candidate = ann.get(NAME_ANNOTATION) or ann.get(REF_ANNOTATION, "")
        if candidate and ("/" in candidate or ":" in candidate or "@" in candidate):
            names = _names([candidate])
        names += [n for n in tags.get(manifest.config.digest, []) if n not in names]
        entry = out.setdefault(target.digest, (target, []))
        entry[1].extend(n for n in names if n not in entry[1])
    return list(out.values())


def _manifest_for(svc: ImageService, arc: Archive, desc: Descriptor) -> tuple[Descriptor, Manifest]:
    for _ in range(4):
        try:
            body = svc.content.read(desc.digest)
        except NotFound:
            raise Invalid.field("archive", f"manifest {desc.digest} is missing from the archive") from None
        doc = parse(body, desc.media_type)
        if isinstance(doc, Manifest):
            return Descriptor(doc.media_type, desc.digest, len(body)), doc
        desc = select(doc, svc.platform)
    raise Invalid.field("index.json", "indexes nested too deeply")


def _from_docker(svc: ImageService, arc: Archive) -> list[tuple[Descriptor, list[str]]]:
    out = []
    for i, entry in enumerate(_docker_manifest(arc.docs["manifest.json"])):
        cfg_blob = arc.blob(str(entry.get("Config", "")))
        layers = []
        for path in entry.get("Layers") or []:
            b = arc.blob(str(path))
            with svc.content.open(b.digest) as f:
                kind = detect(f.read(8))
            if kind not in ("none", "gzip", "zstd"):
                raise Invalid.field(f"manifest.json[{i}].Layers", f"{path}: {kind} layers are not supported")
            layers.append(Descriptor(mt.layer_type(kind), b.digest, b.size))
        cfg_doc = svc.config(cfg_blob.digest)
        if len(cfg_doc["rootfs"]["diff_ids"]) != len(layers):
            raise Invalid.field(f"manifest.json[{i}]", "layer count does not match the config's diff IDs")
        m = Manifest(mt.OCI_MANIFEST, Descriptor(mt.OCI_CONFIG, cfg_blob.digest, cfg_blob.size), tuple(layers))
        body = m.to_bytes()
        target = Descriptor(mt.OCI_MANIFEST, svc.content.write_blob(body), len(body))
        out.append((target, _names(entry.get("RepoTags") or [])))
    return out
