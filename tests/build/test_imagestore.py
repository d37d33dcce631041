"""Builds into skiff's real image store (``ImageServiceStore``): what they leave there.

The images are ordinary store images: listed, inspected, their history and
layers as Docker shows them, layers shared with the base by chain ID, run
by the runtime on an engine-style container snapshot, pushed to a real
registry and pulled back into an empty store, saved and loaded. A failed
build leaves no working snapshot or half-written blob, and what it did
commit is garbage once nothing names it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from skiff.build.imagestore import ImageServiceStore
from skiff.build.progress import StepError
from skiff.errors import FailedPrecondition, NotFound
from skiff.images.service import ImageService
from skiff.oci import mediatypes as mt
from tests.build.conftest import Env, run_in
from tests.imagekit import RegistryProc, RunResult

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM busybox
ENV GREETING=hi
WORKDIR /app
RUN echo $GREETING > msg
COPY data.txt /app/data.txt
LABEL k=v
CMD ["/bin/sh", "-c", "cat /app/msg /app/data.txt"]
"""
CMD = ["/bin/sh", "-c", "cat /app/msg /app/data.txt"]


def _build(env: Env, ctx_dir: Path, *tags: str) -> str:
    (ctx_dir / "data.txt").write_text("data\n")
    result, _ = env.build(ctx_dir, DOCKERFILE, tags=tags)
    return result.image_id


def _blob_diff_id(svc: ImageService, digest: str) -> str:
    with open(svc.content.path(digest), "rb") as f:
        return "sha256:" + hashlib.sha256(gzip.decompress(f.read())).hexdigest()


def test_built_image_is_an_ordinary_image(build_env: Env, ctx_dir: Path,
                                          run_image: Callable[..., RunResult]) -> None:
    svc = build_env.service
    image_id = _build(build_env, ctx_dir, "store-test:1", "store-test:alias")
    rec = svc.get("store-test:1")
    assert rec.id == image_id and {"store-test:1", "store-test:alias"} <= set(rec.repo_tags)
    assert image_id in {r.id for r in svc.list()}
    base = svc.get("busybox")
    assert rec.diff_ids[:1] == base.diff_ids and len(rec.diff_ids) == 4  # + WORKDIR, RUN, COPY
    # one gzip blob per new layer, holding exactly that diff ID; the base's blob reused
    assert rec.layers[0] == base.layers[0]
    assert [d.media_type for d in rec.layers[1:]] == [mt.OCI_LAYER_GZIP] * 3
    for desc, diff in zip(rec.layers, rec.diff_ids, strict=True):
        assert desc.size == svc.content.info(desc.digest).size and _blob_diff_id(svc, desc.digest) == diff
    # Docker's history: metadata steps are empty layers; every entry has its time
    new = svc.history("store-test:1")[len(base.config["history"]):]
    assert [bool(h.get("empty_layer")) for h in new] == [True, False, False, False, True, True]
    assert new[2]["created_by"] == "/bin/sh -c echo $GREETING > msg" and all(h.get("created") for h in new)
    doc = svc.inspect("store-test:1")
    assert doc["Created"] == rec.config["created"] and doc["RootFS"]["Layers"] == rec.diff_ids
    assert doc["Config"]["Cmd"] == CMD and doc["Config"]["WorkingDir"] == "/app"
    assert "GREETING=hi" in doc["Config"]["Env"] and doc["Config"]["Labels"] == {"k": "v"}
    # the layers are committed snapshots on top of the base's own (shared by chain ID)
    chain, parents = rec.top_layer, []
    while chain:
        info = svc.snapshots.stat(chain)
        assert info.kind.value == "committed"
        parents.append(chain)
        chain = info.parent
    assert parents == list(reversed(rec.chain_ids)) and parents[-1] == base.top_layer
    # it runs as the engine runs images: a container snapshot (prepare_rootfs) and the runtime
    assert run_image(svc, "store-test:1", CMD) == RunResult(0, "hi\ndata\n")


def test_push_to_a_registry_and_pull_into_an_empty_store(build_env: Env, ctx_dir: Path,
                                                         registry: RegistryProc,
                                                         svc: ImageService,
                                                         run_image: Callable[..., RunResult]) -> None:
    image_id = _build(build_env, ctx_dir, "pushme:1")
    dest = f"{registry.host}/skiff/pushme:1"
    asyncio.run(build_env.service.push("pushme:1", dest, insecure=True))
    assert "skiff/pushme" in registry.catalog()
    pulled = asyncio.run(svc.pull(dest, insecure=True))
    assert pulled.id == image_id and pulled.diff_ids == build_env.service.get(image_id).diff_ids
    assert run_image(svc, dest, CMD) == RunResult(0, "hi\ndata\n")


def test_save_and_load(build_env: Env, ctx_dir: Path, tmp_path: Path, svc: ImageService,
                       run_image: Callable[..., RunResult]) -> None:
    image_id = _build(build_env, ctx_dir, "saveme:1")
    archive = str(tmp_path / "saved.tar")
    build_env.service.save(["saveme:1"], archive)
    (loaded,) = svc.load(archive)
    assert loaded.id == image_id and "saveme:1" in loaded.repo_tags
    assert svc.history("saveme:1") == build_env.service.history("saveme:1")
    assert run_image(svc, "saveme:1", CMD).out == "hi\ndata\n"


def test_failed_build_leaves_no_snapshot_or_blob(build_env: Env, ctx_dir: Path) -> None:
    svc = build_env.service
    snaps_before = {i.name for i in svc.snapshots.walk()}
    blobs_before = {i.digest for i in svc.content.walk()}
    marker = os.urandom(6).hex()
    df = f"FROM busybox\nRUN echo kept > /kept-{marker}\nRUN echo partial > /partial && exit 4\n"
    with pytest.raises(StepError) as e:
        build_env.build(ctx_dir, df)
    assert e.value.code == 4
    snaps = list(svc.snapshots.walk())
    assert [i.name for i in snaps if i.kind.value != "committed"] == []  # no working snapshot
    assert svc.content.ingests() == [] and build_env.leftovers() == []  # no half-written blob
    new_snaps = {i.name for i in snaps} - snaps_before
    new_blobs = {i.digest for i in svc.content.walk()} - blobs_before
    assert len(new_snaps) == 1 and len(new_blobs) == 1  # the first RUN's layer: cache for the next attempt
    svc.gc()  # ... which no image names: garbage
    assert not new_snaps & {i.name for i in svc.snapshots.walk()}
    assert not new_blobs & {i.digest for i in svc.content.walk()}
    # its cache entry now points at nothing: a miss, and the step runs again
    result, rec = build_env.build(ctx_dir, df.replace("&& exit 4", ""))
    assert rec.of("cached") == [] and len(rec.of("running")) == 2
    assert run_in(build_env, result.image_id, "cat", f"/kept-{marker}", "/partial") == "kept\npartial\n"


def test_cache_is_persistent_and_blobs_are_rewritten(build_env: Env, ctx_dir: Path) -> None:
    """A new store object (a new process) hits the cache; a layer whose blob went is stored again."""
    svc = build_env.service
    df = f"FROM busybox\nRUN echo {os.urandom(6).hex()} > /r\nCMD [\"cat\", \"/r\"]\n"
    first, _ = build_env.build(ctx_dir, df, tags=("rewrite:1",))
    layer = svc.get("rewrite:1").layers[-1]
    svc.content.delete(layer.digest)
    again, rec = build_env.build(ctx_dir, df, store=ImageServiceStore(svc), tags=("rewrite:2",))
    assert len(rec.of("cached")) == 1 and again.image_id == first.image_id
    assert svc.content.exists(layer.digest)  # written again from the layer's snapshot, byte for byte
    assert _blob_diff_id(svc, layer.digest) == svc.get("rewrite:2").diff_ids[-1]


def test_working_snapshots_need_the_lease_and_gc_collects_orphans(build_env: Env) -> None:
    svc = build_env.service
    store = ImageServiceStore(svc)
    with pytest.raises(FailedPrecondition, match="with store"):
        store.prepare("build-unleased", "")
    with store:
        snap = store.prepare("build-orphan", svc.get("busybox").top_layer)  # a build killed mid-step
    assert os.path.isdir(snap.upper)
    svc.gc()
    assert not svc.snapshots.exists("build-orphan")


def test_cache_mounts_and_index_live_under_the_store_root(build_env: Env) -> None:
    store = build_env.store
    path = store.cache_mount_dir("npm")
    assert path.startswith(os.path.join(build_env.service.root, "build", "cachemounts") + "/")
    assert store.cache_mount_dir("npm") == path and os.path.isdir(path)
    with store:
        store.cache_put("k-" + os.urandom(4).hex(), "v")
    assert os.path.exists(os.path.join(build_env.service.root, "build", "cache.db"))


def test_prune_forgets_the_cache_and_collects_what_only_it_kept(build_env: Env, ctx_dir: Path) -> None:
    svc = build_env.service
    before = {i.name for i in svc.snapshots.walk()}
    df = f"FROM busybox AS tool\nRUN echo {os.urandom(6).hex()} > /t\nFROM busybox\nCOPY --from=tool /t /copied\n"
    build_env.build(ctx_dir, df, tags=("pruneme:1",))
    assert len({i.name for i in svc.snapshots.walk()} - before) == 2  # the tool stage's layer, the image's
    keys, freed = build_env.store.prune()
    assert len(keys) >= 2 and freed > 0
    assert {i.name for i in svc.snapshots.walk()} - before == {svc.get("pruneme:1").top_layer}
    _, rec = build_env.build(ctx_dir, df, tags=("pruneme:1",))
    assert rec.of("cached") == []


def test_missing_base_images_are_pulled(build_env: Env, ctx_dir: Path, registry: RegistryProc) -> None:
    svc = build_env.service
    base = f"{registry.host}/skiff/base:1"
    build_env.build(ctx_dir, "FROM busybox\nRUN echo from-registry > /origin\n", tags=("regbase:1",))
    asyncio.run(svc.push("regbase:1", base))
    svc.remove("regbase:1")  # now only the registry has it
    with pytest.raises(NotFound):
        svc.get(base)
    _, rec = build_env.build(ctx_dir, f"FROM {base}\nCOPY --from={base} /origin /copied\nRUN cat /origin /copied\n")
    assert rec.of("message") == [("message", f"Pulling {base}")]
    assert rec.text() == "from-registry\nfrom-registry\n" and svc.get(base).repo_tags == (base,)
    with pytest.raises(StepError, match=r"No such image: .*nothere:1, and pulling it failed: .*not found"):
        build_env.build(ctx_dir, f"FROM {registry.host}/skiff/nothere:1\n")


def test_docker_typed_base_layers_get_oci_types(build_env: Env, ctx_dir: Path) -> None:
    """A build writes an OCI manifest; layers of a Docker-typed base are retyped, as BuildKit does."""
    svc = build_env.service
    bb = svc.get("busybox")
    layers = [d._replace(media_type=mt.DOCKER_LAYER_GZIP) for d in bb.layers]
    svc.create_image(bb.config, layers, "dockertyped:1", docker=True)
    assert svc.get("dockertyped:1").manifest.media_type == mt.DOCKER_MANIFEST
    result, _ = build_env.build(ctx_dir, "FROM dockertyped:1\nRUN echo x > /x\n", tags=("fromdocker:1",))
    rec = svc.get("fromdocker:1")
    assert rec.manifest.media_type == mt.OCI_MANIFEST
    assert [d.media_type for d in rec.layers] == [mt.OCI_LAYER_GZIP] * 2
    assert run_in(build_env, result.image_id, "cat", "/x") == "x\n"
