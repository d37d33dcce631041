"""Descriptors: the typed pointer (media type, digest, size) every manifest is built of.

A descriptor says *what* a blob is, *which* bytes (digest) and *how many*
(size); the size lets a reader refuse an oversized download before it
starts. ``from_json`` validates a decoded descriptor and reports every bad
field with its path; ``to_json`` writes the canonical OCI field names.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from skiff.errors import Invalid
from skiff.oci import digest as _digest
from skiff.oci.platform import Platform


class Descriptor(NamedTuple):
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = {}  # never mutated in place
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    @classmethod
    def from_json(cls, doc: object, path: str = "descriptor") -> Descriptor:
        if not isinstance(doc, dict):
            raise Invalid.field(path, "must be an object", doc)
        media_type = doc.get("mediaType")
        dg = doc.get("digest")
        size = doc.get("size")
        if not isinstance(media_type, str) or not media_type:
            raise Invalid.field(f"{path}.mediaType", "is required", media_type)
        if not isinstance(dg, str) or not _digest.is_digest(dg):
            raise Invalid.field(f"{path}.digest", "must be a valid digest", dg)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Invalid.field(f"{path}.size", "must be a non-negative integer", size)
        annotations = doc.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise Invalid.field(f"{path}.annotations", "must be an object", annotations)
        urls = doc.get("urls") or []
        return cls(media_type, dg, size, {str(k): str(v) for k, v in annotations.items()},
                   Platform.from_json(doc.get("platform")), tuple(str(u) for u in urls))

    def with_annotations(self, extra: dict[str, str]) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, {**self.annotations, **extra},
                          self.platform, self.urls)

    def without_annotations(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size, {}, self.platform, self.urls)
