"""``ImageRecord``: one image as the engine and the CLI see it.

Built from the store's names and the content they point at: the manifest
(layers as stored), the config (run defaults, diff IDs, history) and what
follows from them: the image ID (the config digest), chain IDs, size. It
has the attributes the engine's ``ImageBackend`` protocol reads (``id``,
``repo_tags``, ``config``, ``size``, ``run_config``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from skiff.oci.descriptor import Descriptor
from skiff.oci.image_config import chain_ids, parse_time
from skiff.oci.manifest import Manifest
from skiff.oci.reference import parse as parse_ref

INDEX_DIGEST_LABEL = "skiff.io/index-digest"


class ImageRecord(NamedTuple):
    id: str  # "sha256:<hex>" of the config blob
    repo_tags: tuple[str, ...]  # familiar names with a tag: "busybox:latest"
    config: dict[str, Any]  # the whole config document
    size: int  # config + layer blobs, as stored
    names: tuple[str, ...]  # the store names (fully qualified)
    repo_digests: tuple[str, ...]  # "busybox@sha256:<manifest or index digest>"
    target: Descriptor  # the manifest
    manifest: Manifest

    @property
    def run_config(self) -> dict[str, Any]:
        cfg = self.config.get("config") or {}
        return cfg if isinstance(cfg, dict) else {}

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def top_layer(self) -> str:
        """The chain ID of the whole stack: the snapshot containers start from ("" if no layers)."""
        ids = self.chain_ids
        return ids[-1] if ids else ""

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    @property
    def created(self) -> str:
        return str(self.config.get("created") or "")

    @property
    def created_ts(self) -> float:
        return parse_time(self.created)

    @property
    def short_id(self) -> str:
        return self.id.partition(":")[2][:12]


def familiar_tags(names: list[str]) -> tuple[str, ...]:
    out = []
    for n in names:
        ref = parse_ref(n)
        if ref.tag and not ref.digest:
            out.append(ref.familiar)
    return tuple(out)


def repo_digests(names: list[str], manifest_digest: str, labels: list[dict[str, str]]) -> tuple[str, ...]:
    out: list[str] = []
    for n, lab in zip(names, labels, strict=True):
        repo = parse_ref(n).familiar_name
        for dg in (lab.get(INDEX_DIGEST_LABEL, ""), manifest_digest):
            if dg and f"{repo}@{dg}" not in out:
                out.append(f"{repo}@{dg}")
    return tuple(out)
