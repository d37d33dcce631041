"""A directory-backed ``ImageBackend`` for engine tests.

Images are plain root directories (the busybox rootfs) registered under
names; a container's root is a real overlay of that directory plus a
writable upper layer, mounted by the runtime inside the container. It
exercises everything the engine does with images except the content store,
which the images package tests on its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from skiff.engine.images import ImageRecord
from skiff.errors import NotFound
from skiff.runtime.rootfs import RootMount


class DirImages:
    def __init__(self, root: str) -> None:
        self.root = root
        self.images: dict[str, tuple[ImageRecord, str]] = {}  # name -> (record, rootfs dir)
        os.makedirs(os.path.join(root, "snapshots"), exist_ok=True)

    def add(self, name: str, rootfs: str, config: dict[str, Any] | None = None) -> ImageRecord:
        cfg = {"architecture": "amd64", "os": "linux",
               "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                          "Cmd": ["sh"], **(config or {})},
               "rootfs": {"type": "layers", "diff_ids": []}}
        digest = "sha256:" + hashlib.sha256(json.dumps(cfg, sort_keys=True).encode() + rootfs.encode()).hexdigest()
        full = name if ":" in name else f"{name}:latest"
        rec = ImageRecord(digest, (full,), cfg, 2_000_000)
        self.images[full] = (rec, rootfs)
        return rec

    def resolve(self, ref: str) -> ImageRecord:
        full = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
        for name, (rec, _) in self.images.items():
            if name == full or rec.id == ref or rec.id.removeprefix("sha256:").startswith(ref):
                return rec
        raise NotFound(f"No such image: {full}")

    def _dir_of(self, image_id: str) -> str:
        for rec, d in self.images.values():
            if rec.id == image_id:
                return d
        raise NotFound(f"No such image: {image_id}")

    def _snap(self, key: str) -> str:
        return os.path.join(self.root, "snapshots", key)

    def prepare_rootfs(self, key: str, image: ImageRecord) -> list[RootMount]:
        snap = self._snap(key)
        os.makedirs(os.path.join(snap, "fs"), exist_ok=True)
        os.makedirs(os.path.join(snap, "work"), exist_ok=True)
        with open(os.path.join(snap, "lower"), "w") as f:
            f.write(self._dir_of(image.id))
        lower = self._dir_of(image.id)
        return [RootMount("overlay", "overlay", (f"lowerdir={lower}", f"upperdir={snap}/fs", f"workdir={snap}/work"))]

    def remove_rootfs(self, key: str) -> None:
        shutil.rmtree(self._snap(key), ignore_errors=True)

    def container_rootfs_keys(self) -> list[str]:
        return sorted(os.listdir(os.path.join(self.root, "snapshots")))

    def rootfs_layers(self, key: str) -> tuple[list[str], str]:
        snap = self._snap(key)
        try:
            with open(os.path.join(snap, "lower")) as f:
                lower = f.read()
        except FileNotFoundError:
            raise NotFound(f"no snapshot for {key}") from None
        return [lower], os.path.join(snap, "fs")
