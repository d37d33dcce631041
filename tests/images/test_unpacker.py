"""Parallel unpacking: layers applied concurrently, committed in order, lowers awaited only when needed."""

from __future__ import annotations

import io
import os
import stat
from typing import Any

import pytest

from skiff.errors import Invalid
from skiff.images.service import ImageService
from tests.images.unpack.tarmaker import E, make_tar


def _image(svc: ImageService, tmp_path: Any) -> Any:
    base_tar = tmp_path / "base.tar"
    base_tar.write_bytes(make_tar([E("etc/", "dir", mode=0o711, uid=7, gid=8, mtime=1_234_567_890),
                                   E("etc/old", data=b"old")]))
    base = svc.import_tar(str(base_tar), "localhost/base")
    layers = [svc.add_layer(base, io.BytesIO(make_tar([E("etc/new", data=b"new"), E("etc/.wh.old")]))),
              svc.add_layer(base, io.BytesIO(make_tar([E("big.bin", data=os.urandom(3 << 20))]))),
              svc.add_layer(base, io.BytesIO(make_tar([E("usr/bin/tool", data=b"#!/bin/sh\n", mode=0o755)])))]
    return svc.create_image_from(base, layers, "localhost/stack")


def test_parallel_unpack_copies_lower_attributes(svc: ImageService, tmp_path: Any) -> None:
    rec = _image(svc, tmp_path)
    archive = str(tmp_path / "stack.tar")
    svc.save(["localhost/stack"], archive, format="oci")
    other = ImageService(str(tmp_path / "other"))
    try:
        [loaded] = other.load(archive)  # unpacks all four layers, three of them concurrently
        assert loaded.chain_ids == rec.chain_ids
        assert [i.name for i in other.snapshots.walk() if i.kind.value == "committed"] == rec.chain_ids
        for parent, child in zip(rec.chain_ids, rec.chain_ids[1:], strict=False):
            assert other.snapshots.stat(child).parent == parent  # committed in order, parents set
        etc = os.stat(os.path.join(other.snapshots.upper_dir(rec.chain_ids[1]), "etc"))
        assert stat.S_IMODE(etc.st_mode) == 0o711 and (etc.st_uid, etc.st_gid) == (7, 8)
        assert etc.st_mtime == 1_234_567_890  # the implied directory matches the lower one exactly
        wh = os.lstat(os.path.join(other.snapshots.upper_dir(rec.chain_ids[1]), "etc", "old"))
        assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
        assert not any(i.name.startswith("extract-") for i in other.snapshots.walk())
    finally:
        other.close()


def test_a_bad_layer_leaves_no_partial_snapshots(svc: ImageService, tmp_path: Any) -> None:
    rec = _image(svc, tmp_path)
    cfg = dict(rec.config)
    diff_ids = list(rec.diff_ids)
    diff_ids[2] = "sha256:" + "f" * 64
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    other = ImageService(str(tmp_path / "other"))
    try:
        for d in (*rec.layers, rec.manifest.config):
            other.content.write_blob(svc.content.read(d.digest))
        bad = other.create_image(cfg, list(rec.layers), "localhost/bad")
        with pytest.raises(Invalid, match="unpacks to"):
            other.ensure_unpacked(bad)
        names = [i.name for i in other.snapshots.walk()]
        assert not any(n.startswith("extract-") for n in names)
        assert bad.chain_ids[2] not in names and bad.chain_ids[3] not in names
    finally:
        other.close()
