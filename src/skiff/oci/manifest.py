"""Image manifests and indexes (OCI and Docker schema 2), parsed and written.

A *manifest* names one image: its config blob and its ordered layer blobs
(base first). An *index* (Docker: manifest list) names one manifest per
platform. ``parse`` accepts the bytes of either family, decides the kind from
the document's own ``mediaType`` (falling back to the HTTP Content-Type the
caller got), and refuses Docker schema 1 with a message that says why.
``select`` picks this machine's entry from an index.

Bytes matter: a manifest's digest is the digest of the exact bytes received,
so skiff stores what it fetched and only ever serialises documents it
creates itself (``to_bytes``).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from skiff.errors import Invalid, NotFound
from skiff.oci import mediatypes as mt
from skiff.oci.descriptor import Descriptor
from skiff.oci.platform import Platform, host, score


class Manifest(NamedTuple):
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = {}

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type,
                               "config": self.config.to_json(),
                               "layers": [d.to_json() for d in self.layers]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())


class Index(NamedTuple):
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 2, "mediaType": self.media_type,
                               "manifests": [d.to_json() for d in self.manifests]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical(self.to_json())


def canonical(doc: dict[str, Any]) -> bytes:
    """The bytes skiff writes for a JSON document it creates (compact, key order kept)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def parse(data: bytes, content_type: str = "") -> Manifest | Index:
    """A manifest or index from its bytes; ``Invalid`` for anything else."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise Invalid.field("manifest", f"is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise Invalid.field("manifest", "must be a JSON object")
    kind = doc.get("mediaType") or content_type.split(";")[0].strip()
    if doc.get("schemaVersion") == 1 or kind in mt.SCHEMA1:
        raise Invalid.field("manifest", "Docker schema 1 manifests are not supported "
                            "(deprecated; re-push the image with a current client)")
    if doc.get("schemaVersion") != 2:
        raise Invalid.field("manifest.schemaVersion", "must be 2", doc.get("schemaVersion"))
    if not kind or kind == "application/json":
        # OCI allows omitting mediaType: the shape tells.
        kind = mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST
    annotations = {str(k): str(v) for k, v in (doc.get("annotations") or {}).items()}
    if kind in mt.INDEXES:
        items = doc.get("manifests")
        if not isinstance(items, list):
            raise Invalid.field("index.manifests", "must be a list", items)
        return Index(kind, tuple(Descriptor.from_json(d, f"manifests[{i}]") for i, d in enumerate(items)),
                     annotations)
    if kind in mt.MANIFESTS:
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise Invalid.field("manifest.layers", "must be a list", layers)
        return Manifest(kind, Descriptor.from_json(doc.get("config"), "config"),
                        tuple(Descriptor.from_json(d, f"layers[{i}]") for i, d in enumerate(layers)),
                        annotations)
    raise Invalid.field("manifest.mediaType", "is not an image manifest or index", kind)


def select(index: Index, want: Platform | None = None) -> Descriptor:
    """The index entry that best runs on ``want`` (default: this machine).

    Entries that are not manifests (attestations carry ``unknown/unknown``
    platforms) never match. Ties keep the index order, as containerd does.
    """
    want = want or host()
    best: tuple[int, Descriptor] | None = None
    for d in index.manifests:
        if d.media_type not in mt.MANIFESTS and d.media_type not in mt.INDEXES:
            continue
        s = score(want, d.platform)
        if s and (best is None or s > best[0]):
            best = (s, d)
    if best is None:
        have = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
        raise NotFound(f"no image for platform {want} in the index (it has: {have})")
    return best[1]
