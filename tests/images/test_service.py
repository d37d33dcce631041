"""ImageService: import, names, removal and GC, shared base layers, commit of a container's changes."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from typing import Any

import pytest

from skiff.errors import Conflict, Invalid, NotFound
from skiff.images.layers import open_blob
from skiff.images.service import ImageService
from skiff.oci import mediatypes as mt
from skiff.snapshots.mount import mounted
from tests.images.unpack.tarmaker import E, make_tar


def test_import_busybox(svc: ImageService, busybox_image: Any) -> None:
    rec = busybox_image
    assert rec.repo_tags == ("localhost/busybox:latest",)
    assert rec.run_config["Cmd"] == ["/bin/sh"]
    assert len(rec.layers) == 1 and rec.layers[0].media_type == mt.OCI_LAYER_GZIP
    assert rec.config["os"] == "linux" and rec.config["history"][0]["created_by"] == "skiff import"
    assert rec.size == rec.layers[0].size + rec.manifest.config.size
    assert svc.snapshots.exists(rec.top_layer)  # unpacked while importing
    assert os.path.exists(os.path.join(svc.snapshots.upper_dir(rec.top_layer), "bin", "busybox"))
    assert svc.content.exists(rec.id) and svc.content.exists(rec.target.digest)
    assert svc.inspect("localhost/busybox")["Skiff"]["Unpacked"] is True


def test_compressed_input_is_stored_as_is(svc: ImageService, busybox_tar: str, tmp_path: Any) -> None:
    gz = tmp_path / "bb.tar.gz"
    with open(busybox_tar, "rb") as src:
        raw = src.read()
    gz.write_bytes(gzip.compress(raw, 1))
    rec = svc.import_tar(str(gz), "localhost/gz")
    assert rec.layers[0].digest == "sha256:" + hashlib.sha256(gz.read_bytes()).hexdigest()  # no recompression
    assert rec.diff_ids == ["sha256:" + hashlib.sha256(raw).hexdigest()]


def test_lookup_by_name_id_prefix_and_digest(svc: ImageService, busybox_image: Any) -> None:
    rec = busybox_image
    for ref in ("localhost/busybox", "localhost/busybox:latest", rec.id, rec.short_id, rec.id[7:20],
                f"localhost/busybox@{rec.target.digest}"):
        assert svc.get(ref).id == rec.id
    with pytest.raises(NotFound):
        svc.get("localhost/nope")
    with pytest.raises(NotFound):
        svc.get("deadbeef")


def test_tag_remove_and_gc(svc: ImageService, busybox_image: Any) -> None:
    rec = busybox_image
    svc.tag("localhost/busybox", "example.com/team/bb:v1")
    assert set(svc.get(rec.id).repo_tags) == {"localhost/busybox:latest", "example.com/team/bb:v1"}
    with pytest.raises(Conflict, match="multiple repositories"):
        svc.remove(rec.short_id)
    assert svc.remove("example.com/team/bb:v1") == ["Untagged: example.com/team/bb:v1"]
    assert svc.content.exists(rec.layers[0].digest)
    lines = svc.remove("localhost/busybox")
    assert lines == ["Untagged: localhost/busybox:latest", f"Deleted: {rec.id}"]
    assert svc.list() == []
    assert list(svc.content.walk()) == []  # GC took every blob
    assert list(svc.snapshots.walk()) == []  # and every layer directory


def test_image_in_use_is_kept(svc: ImageService, busybox_image: Any) -> None:
    svc.prepare_rootfs("ctr1", busybox_image)
    assert svc.containers_using(busybox_image) == ["ctr1"]
    with pytest.raises(Conflict, match="being used"):
        svc.remove("localhost/busybox")
    svc.remove("localhost/busybox", force=True)  # names go, content stays for the container
    assert svc.snapshots.exists(busybox_image.top_layer)
    svc.remove_rootfs("ctr1")
    removed, gc = svc.prune()
    assert removed == [busybox_image.id] and gc.snapshots == [busybox_image.top_layer]


def test_retag_leaves_a_dangling_image(svc: ImageService, busybox_tar: str, tmp_path: Any) -> None:
    first = svc.import_tar(busybox_tar, "localhost/app")
    other = tmp_path / "other.tar"
    other.write_bytes(make_tar([E("hello", data=b"world")]))
    second = svc.import_tar(str(other), "localhost/app")
    assert second.id != first.id
    listed = {r.id: r.repo_tags for r in svc.list()}
    assert listed == {first.id: (), second.id: ("localhost/app:latest",)}
    removed, gc = svc.prune()
    assert removed == [first.id] and first.layers[0].digest in gc.blobs
    assert [r.id for r in svc.list()] == [second.id]


def _add(svc: ImageService, base: Any, name: str, entries: list[E]) -> Any:
    layer = svc.add_layer(base, io.BytesIO(make_tar(entries)))
    return svc.create_image_from(base, [layer], name, changes=[f"LABEL name={name}"],
                                 history=[{"created_by": f"add {name}"}])


def test_images_on_one_base_share_its_layer_on_disk(svc: ImageService, busybox_image: Any) -> None:
    a = _add(svc, busybox_image, "localhost/a", [E("a.txt", data=b"a")])
    b = _add(svc, busybox_image, "localhost/b", [E("b.txt", data=b"b")])
    assert a.diff_ids[0] == b.diff_ids[0] == busybox_image.diff_ids[0]
    svc.prepare_rootfs("ca", a)
    svc.prepare_rootfs("cb", b)
    lowers_a, upper_a = svc.rootfs_layers("ca")
    lowers_b, upper_b = svc.rootfs_layers("cb")
    assert lowers_a[-1] == lowers_b[-1] == svc.snapshots.upper_dir(busybox_image.top_layer)
    assert lowers_a[0] != lowers_b[0] and upper_a != upper_b
    bb = os.path.join(lowers_a[-1], "bin", "busybox")
    assert os.stat(os.path.join(lowers_b[-1], "bin", "busybox")).st_ino == os.stat(bb).st_ino
    committed = [i for i in svc.snapshots.walk() if i.kind.value == "committed"]
    assert len(committed) == 3  # one base + one layer each, not two copies of the base
    assert svc.get("localhost/a").run_config["Labels"] == {"name": "localhost/a"}
    assert [h.get("created_by") for h in a.config["history"]] == ["skiff import", "add localhost/a"]


def test_diff_id_mismatch_is_refused(svc: ImageService, busybox_image: Any) -> None:
    cfg = dict(busybox_image.config)
    cfg["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}
    rec = svc.create_image(cfg, list(busybox_image.layers), "localhost/liar")
    with pytest.raises(Invalid, match="unpacks to"):
        svc.ensure_unpacked(rec)
    assert not any(i.name.startswith("extract-") for i in svc.snapshots.walk())


@pytest.mark.root
def test_commit_a_container(svc: ImageService, busybox_image: Any, tmp_path: Any) -> None:
    mounts = svc.prepare_rootfs("ctr", busybox_image)
    with mounted(mounts, str(tmp_path)) as root:  # act as the container would
        with open(os.path.join(root, "etc", "motd"), "w") as f:
            f.write("committed\n")
        os.unlink(os.path.join(root, "etc", "hostname"))
        shutil.rmtree(os.path.join(root, "usr"))
        os.makedirs(os.path.join(root, "usr", "fresh"))
        os.link(os.path.join(root, "etc", "motd"), os.path.join(root, "etc", "motd2"))
    new = svc.commit("ctr", busybox_image, "localhost/committed:1", changes=['CMD ["cat", "/etc/motd"]'],
                     message="my change", author="tester")
    assert new.diff_ids[:1] == busybox_image.diff_ids and len(new.diff_ids) == 2
    assert new.run_config["Cmd"] == ["cat", "/etc/motd"] and new.config["author"] == "tester"
    with open_blob(svc.content, new.layers[1].digest) as f, tarfile.open(fileobj=f, mode="r|gz") as tf:
        names = {m.name: m for m in tf}
    assert "etc/.wh.hostname" in names and "usr/.wh..wh..opq" in names
    assert names["etc/motd2"].islnk() or names["etc/motd"].islnk()
    svc.remove_rootfs("ctr")
    with mounted(svc.prepare_rootfs("ctr2", new), str(tmp_path)) as root:
        with open(os.path.join(root, "etc", "motd")) as f:
            assert f.read() == "committed\n"
        assert not os.path.exists(os.path.join(root, "etc", "hostname"))
        assert os.listdir(os.path.join(root, "usr")) == ["fresh"]
        assert os.path.exists(os.path.join(root, "bin", "busybox"))
    svc.remove_rootfs("ctr2")
